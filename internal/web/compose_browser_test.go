package web

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestComposeKeys types as a person does in "Nouveau message": Enter after
// an address in A:, CC: or CCI: completes the address and never sends the
// half-written message (the browser's implicit submission would press the
// first submit button, "Envoyer"), and after part of a name it takes the
// first suggestion; Tab moves on; "Envoyer" with no subject
// or no text asks first, in the page.
func TestComposeKeys(t *testing.T) {
	e := newEnv(t)
	ctx := newBrowser(t, 1280, 900)
	e.browserLogin(t, ctx, alice)
	focused := func() string {
		t.Helper()
		return run(t, ctx, chromedp.Evaluate[string](`document.activeElement.id`))
	}
	nothingSent := func(when string) {
		t.Helper()
		do(t, ctx, chromedp.Sleep(700*time.Millisecond)) // what an XHR send and its redirect would take
		if loc := run(t, ctx, chromedp.Location()); !regexpMust(`/compose`).MatchString(loc) {
			t.Fatalf("%s: the page left the compose form for %s", when, loc)
		}
		if n := len(e.messagesIn(bob, "INBOX")); n != 0 {
			t.Fatalf("%s: bob received %d messages", when, n)
		}
	}

	do(t, ctx,
		click(chromedp.Search(`//a[text()="Nouveau message"]`)),
		chromedp.WaitVisible(chromedp.ID("to")), ready,
		chromedp.Focus(chromedp.ID("to")),
		chromedp.KeyEvent(bob),
		chromedp.KeyEvent(kb.Enter),
	)
	nothingSent("Enter after an address in A:")
	if to, at := run(t, ctx, chromedp.Value(chromedp.ID("to"))), focused(); to != bob+", " || at != "to" {
		t.Fatalf("after Enter: A: %q, focus on %q; want the address completed and the cursor after it", to, at)
	}

	t.Log("Enter with nothing typed moves to the next field; Tab moves on too")
	do(t, ctx, chromedp.KeyEvent(kb.Enter))
	if at := focused(); at != "cc" {
		t.Fatalf("Enter in an A: with nothing new typed: focus on %q, want CC:", at)
	}
	t.Log("Enter after part of a name takes the first suggestion")
	do(t, ctx,
		chromedp.KeyEvent("lagar"),
		chromedp.WaitVisible(chromedp.CSS(`#cc-suggest li[data-address="`+celia+`"]`)),
		chromedp.KeyEvent(kb.Enter),
	)
	nothingSent("Enter after a name in CC:")
	do(t, ctx, chromedp.KeyEvent(kb.Tab))
	if cc, at := run(t, ctx, chromedp.Value(chromedp.ID("cc"))), focused(); cc != celia+", " || at != "bcc" {
		t.Fatalf("after Enter and Tab in CC: %q, focus on %q, want CCI:", cc, at)
	}
	do(t, ctx, chromedp.KeyEvent(secret), chromedp.KeyEvent(kb.Enter))
	nothingSent("Enter after an address in CCI:")
	do(t, ctx, chromedp.KeyEvent(kb.Tab))
	if at := focused(); at != "subject" {
		t.Fatalf("Tab from CCI: focus on %q, want the subject", at)
	}

	t.Log("Envoyer with no subject and no text asks first; Revenir au message keeps it")
	do(t, ctx,
		click(chromedp.Search(`//button[text()="Envoyer"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-confirm-send]`)),
	)
	question := run(t, ctx, chromedp.Text(chromedp.CSS(`[data-confirm-send]`)))
	for _, want := range []string{"sans objet", "vide", "Envoyer quand même", "Revenir au message"} {
		if !regexpMust(want).MatchString(question) {
			t.Errorf("the confirmation lacks %q: %q", want, question)
		}
	}
	do(t, ctx,
		click(chromedp.Search(`//button[text()="Revenir au message"]`)),
		chromedp.WaitNotVisible(chromedp.CSS(`[data-confirm-send]`)),
	)
	nothingSent("Revenir au message")

	t.Log("with text but no subject it asks again; Envoyer quand même sends")
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("body"), "Patient vu ce matin."),
		click(chromedp.Search(`//button[text()="Envoyer"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-confirm-send]`)),
	)
	if question := run(t, ctx, chromedp.Text(chromedp.CSS(`[data-confirm-send]`))); regexpMust("vide").MatchString(question) || !regexpMust("sans objet").MatchString(question) {
		t.Errorf("with a text, the confirmation says %q", question)
	}
	do(t, ctx,
		click(chromedp.Search(`//button[text()="Envoyer quand même"]`)),
		chromedp.WaitVisible(chromedp.Search(sentOK)),
	)
	if n := len(e.messagesIn(bob, "INBOX")); n != 1 {
		t.Fatalf("bob received %d messages after Envoyer quand même, want 1", n)
	}
}
