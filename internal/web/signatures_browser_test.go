package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// TestSignaturePickerKeys writes a message with the keyboard only: the
// default signature is already in the text; Tab from the text reaches the
// picker, the arrows switch to the HTML signature (in place of the other)
// and to "Aucune signature" (which takes it out); the message sent has
// the chosen signature in both its parts.
func TestSignaturePickerKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sys := core.System("test")
	id := e.accountID(alice)
	for _, s := range []core.Signature{
		{Name: "Cabinet", Text: "Dr Alice Martin\nCardiologue", Default: true},
		{Name: "Hôpital", Text: "Dr A. Martin\nHôpital Sud", HTML: "<b>Dr A. Martin</b><br>Hôpital Sud"},
	} {
		if _, err := e.svc.SaveSignature(ctx, sys, id, s); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, 1280, 900)
	e.browserLogin(t, b, alice)
	box := coretest.Mailbox(t, e.svc, alice).ID
	body := func() string {
		t.Helper()
		return run(t, b, chromedp.Value(chromedp.ID("body")))
	}
	do(t, b,
		chromedp.Navigate(fmt.Sprintf("%s/mail/%d/compose", e.srv.URL, box)),
		chromedp.WaitVisible(chromedp.ID("to")), ready,
		chromedp.SendKeys(chromedp.ID("to"), bob),
		chromedp.SendKeys(chromedp.ID("subject"), "Signature au clavier"),
	)
	if got := body(); got != "\n\n-- \nDr Alice Martin\nCardiologue" {
		t.Fatalf("a new message's text = %q, want the default signature", got)
	}
	do(t, b,
		chromedp.Focus(chromedp.ID("body")),
		chromedp.KeyEvent(kb.Home),
		chromedp.KeyEvent("Bonjour."),
		chromedp.KeyEvent(kb.Tab),
	)
	if at := run(t, b, chromedp.Evaluate[string](`document.activeElement.id`)); at != "signature" {
		t.Fatalf("Tab from the text: focus on %q, want the signature picker", at)
	}
	do(t, b, chromedp.KeyEvent(kb.ArrowDown))
	if got := body(); !strings.Contains(got, "-- \nDr A. Martin\nHôpital Sud") || strings.Contains(got, "Cardiologue") || !strings.HasPrefix(got, "Bonjour.") {
		t.Fatalf("after choosing Hôpital: %q", got)
	}
	do(t, b, chromedp.KeyEvent(kb.ArrowUp), chromedp.KeyEvent(kb.ArrowUp))
	if got := body(); strings.Contains(got, "-- ") {
		t.Fatalf("after choosing no signature: %q", got)
	}
	do(t, b, chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown))
	if got := run(t, b, chromedp.Value(chromedp.ID("signature"))); got == "" {
		t.Fatal("the picker came back to no signature")
	}
	do(t, b,
		click(chromedp.Search(`//button[text()="Envoyer"]`)),
		chromedp.WaitVisible(chromedp.Search(sentOK)),
	)
	m, ok := e.find(bob, "INBOX", "Signature au clavier")
	if !ok {
		t.Fatal("not received")
	}
	p := e.content(m.ID)
	if text := strings.ReplaceAll(p.Text, "\r\n", "\n"); !strings.Contains(text, "Bonjour.\n\n-- \nDr A. Martin\nHôpital Sud") || strings.Count(text, "-- \n") != 1 {
		t.Errorf("text/plain part: %q", text)
	}
	if !strings.Contains(p.HTML, "-- <br><b>Dr A. Martin</b><br>Hôpital Sud") {
		t.Errorf("text/html part: %q", p.HTML)
	}
}
