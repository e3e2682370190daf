package web

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// TestBrowserSettings walks "Gérer votre compte" with the keyboard alone:
// from the index, Tab to each section and Enter opens its page; then it
// turns the automatic reply on, and takes each page on a desktop and on a
// phone (docs/screenshots with -update).
func TestBrowserSettings(t *testing.T) {
	e := newDirEnv(t)
	ctx := newBrowser(t, 1280, 900)
	if err := e.svc.SetManagerContact(context.Background(), core.System("test"), core.ManagerContact{
		Domain: coretest.Domain, Name: "Célia Lagarde", Address: celia, Phone: "04 72 00 00 00"}); err != nil {
		t.Fatal(err)
	}
	e.browserLogin(t, ctx, alice)
	focused := func() string {
		t.Helper()
		return run(t, ctx, chromedp.Evaluate[string](`document.activeElement.id`))
	}
	// tabTo presses Tab until the element is focused, as a keyboard user
	// would, and fails if it never is.
	tabTo := func(id string) {
		t.Helper()
		for range 60 {
			if focused() == id {
				return
			}
			do(t, ctx, chromedp.KeyEvent(kb.Tab))
		}
		t.Fatalf("Tab never reached #%s", id)
	}
	sections := []struct{ link, title, shot, ready string }{
		{"security-link", "", "", "#totp-begin"},
		{"profile-link", "Vos informations personnelles", "settings-profile", "#pr-city"},
		{"messaging-link", "Vos paramètres de messagerie", "settings-messaging", "#folder-name"},
		{"correspondance-link", "Votre correspondance MSSanté", "settings-correspondance", "#corr-switch"},
		{"vacation-link", "Votre réponse automatique", "settings-vacation", "#vac-save"},
		{"manager-link", "Vos informations Gestionnaire", "settings-manager", "#mgr-subject"},
		{"devices-link", "", "", "#dev-name"},
	}
	do(t, ctx, chromedp.Navigate(e.srv.URL+"/account"), chromedp.WaitVisible(chromedp.ID("messaging-link")))
	shoot(t, ctx, "settings-index-desktop")
	for _, s := range sections {
		do(t, ctx, chromedp.Navigate(e.srv.URL+"/account"), chromedp.WaitVisible(chromedp.ID(s.link)))
		tabTo(s.link)
		do(t, ctx, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS(s.ready)))
		if s.title != "" {
			if h1 := waitText(t, ctx, "h1", s.title); !strings.Contains(h1, s.title) {
				t.Fatalf("%s opened %q", s.link, h1)
			}
			shoot(t, ctx, s.shot+"-desktop")
		}
	}

	// The automatic reply, typed in and saved from the keyboard.
	do(t, ctx, chromedp.Navigate(e.srv.URL+"/account/vacation"), chromedp.WaitVisible(chromedp.ID("vac-on")))
	tabTo("vac-off")
	do(t, ctx, chromedp.KeyEvent(kb.ArrowUp))
	if on := run(t, ctx, chromedp.Evaluate[bool](`document.getElementById("vac-on").checked`)); !on {
		t.Fatal("the arrow key did not turn the reply on")
	}
	do(t, ctx,
		// Chromium's date and time field takes its parts one by one; the
		// value is what a person picks.
		chromedp.SetValue(chromedp.ID("vac-start"), "2026-12-24T18:00"),
		chromedp.SetValue(chromedp.ID("vac-end"), "2027-01-04T08:00"),
		chromedp.SendKeys(chromedp.ID("vac-subject"), "Absence"),
		chromedp.SendKeys(chromedp.ID("vac-text"), "Je suis absente jusqu’au 4 janvier."+kb.Enter+"Pour une urgence, écrivez au secrétariat."),
	)
	tabTo("vac-days")
	do(t, ctx, chromedp.KeyEvent(kb.ArrowDown))
	tabTo("vac-save")
	do(t, ctx, chromedp.KeyEvent(kb.Enter))
	waitText(t, ctx, ".flash", "Réponse automatique activée.")
	shoot(t, ctx, "settings-vacation-saved-desktop")
	v, err := e.svc.Vacation(context.Background(), core.System("test"), coretest.Mailbox(t, e.svc, alice).ID)
	if err != nil || !v.Enabled || v.Subject != "Absence" || v.Days != 6 || v.Start.IsZero() || !strings.Contains(v.Text, "\nPour une urgence") {
		t.Fatalf("vacation kept: %+v, %v", v, err)
	}

	// On a phone, every page fits its width.
	do(t, ctx, chromedp.EmulateViewport(390, 844))
	for _, page := range []struct{ path, shot string }{
		{"/account", "settings-index"},
		{"/account/messaging", "settings-messaging"},
		{"/account/correspondance", "settings-correspondance"},
		{"/account/vacation", "settings-vacation"},
		{"/account/manager", "settings-manager"},
	} {
		do(t, ctx, chromedp.Navigate(e.srv.URL+page.path), chromedp.WaitVisible(chromedp.CSS("h1")))
		if wide := run(t, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); wide {
			over := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("*")].filter(n => n.getBoundingClientRect().right > window.innerWidth + 1).map(n => n.tagName + "." + n.className + "#" + n.id + " " + Math.round(n.getBoundingClientRect().right))`))
			t.Errorf("%s is wider than a phone: %v", page.path, over)
		}
		shoot(t, ctx, page.shot+"-phone")
	}
}
