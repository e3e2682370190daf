package web

import (
	"context"
	"crypto/tls"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/emersion/go-imap/v2/imapclient"

	"caduceus/internal/audit"
	"caduceus/internal/certs/certstest"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/imap"
)

// TestOrganisationalWalk is the organisational mailbox from end to end, in
// two browsers and with the keys a person presses: a manager creates the
// mailbox in /admin and lets a nurse send on behalf of it; the nurse
// switches to it through "Changer de compte", reads what came in and
// answers from it; the recipient's copy is From: the mailbox, Sender: the
// nurse, and the trail names the nurse; the manager takes the right back
// and the mailbox leaves the nurse's menu and IMAP LIST at once. Each page
// is shot (docs/screenshots with -update).
func TestOrganisationalWalk(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.SetRole(ctx, core.System("test"), alice, coretest.Domain, core.RoleManager); err != nil {
		t.Fatal(err)
	}
	const accueil = "accueil@" + coretest.Domain
	imapAddr := startIMAP(t, e.svc)

	t.Log("the manager creates the mailbox and adds Bob, who sends on behalf of it")
	mgr := newBrowser(t, 1280, 900)
	e.browserLogin(t, mgr, alice)
	do(t, mgr,
		chromedp.Navigate(e.srv.URL+"/admin"),
		chromedp.WaitVisible(chromedp.ID("box-name")),
		chromedp.Focus(chromedp.ID("box-name")),
		chromedp.KeyEvent("Accueil des consultations"+kb.Tab+"accueil"+kb.Enter),
	)
	boxDiv := `//div[@class="admin-box"][h3[contains(., "` + accueil + `")]]`
	do(t, mgr, chromedp.WaitVisible(chromedp.Search(boxDiv+`//select[@name="member"]`)))
	waitText(t, mgr, ".flash", "Enregistré")
	do(t, mgr, chromedp.ScrollIntoView(chromedp.Search(boxDiv)))
	shoot(t, mgr, "org-admin-created-desktop")
	// Type-ahead picks Bob in the list, as a person typing his name does;
	// Tab leaves the level at its default, send on behalf, and reaches the
	// button.
	do(t, mgr,
		chromedp.Focus(chromedp.Search(boxDiv+`//select[@name="member"]`)),
		chromedp.KeyEvent("Bob"),
	)
	if got := run(t, mgr, chromedp.Value(chromedp.Search(boxDiv+`//select[@name="member"]`))); got != bob {
		t.Fatalf("typing Bob picked %q", got)
	}
	do(t, mgr, chromedp.KeyEvent(kb.Tab+kb.Tab))
	if got := run(t, mgr, chromedp.Evaluate[string](`document.activeElement.textContent`)); !strings.Contains(got, "Donner l’accès") {
		t.Fatalf("Tab reached %q, not the grant button", got)
	}
	do(t, mgr,
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.Search(boxDiv+`//ul[@class="member-list"]//li[contains(., "`+bob+`")]`)),
	)
	if got := run(t, mgr, chromedp.Text(chromedp.Search(boxDiv+`//ul[@class="member-list"]`))); !strings.Contains(got, "Envoi de la part de la boîte") {
		t.Fatalf("the member list says %q", got)
	}
	do(t, mgr, chromedp.ScrollIntoView(chromedp.Search(boxDiv)))
	shoot(t, mgr, "org-admin-member-desktop")

	e.deliver(`
From: Mme Paule Girard <paule.girard@example.org>
To: `+accueil+`
Subject: Rendez-vous de suivi
Date: Fri, 4 Dec 2026 09:00:00 +0100
Message-ID: <rdv-1@example.org>

Bonjour, je souhaite avancer mon rendez-vous de suivi.
`, accueil)

	t.Log("Bob switches to the mailbox, reads, and answers on behalf of it")
	imapBob := dialIMAP(t, imapAddr, bob)
	shared := "Shared/" + accueil + "/INBOX"
	if !imapLists(t, imapBob, shared) {
		t.Fatalf("Bob's IMAP LIST lacks %s once he is a member", shared)
	}
	nurse := newBrowser(t, 1280, 900)
	e.browserLogin(t, nurse, bob)
	switchItem := `//ul[@aria-labelledby="switch-heading"]//a[contains(., "` + accueil + `")]`
	do(t, nurse, ready,
		chromedp.Focus(chromedp.ID("account-button")),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.Search(switchItem)),
	)
	shoot(t, nurse, "org-switch-desktop")
	do(t, nurse,
		chromedp.Focus(chromedp.Search(switchItem)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.Search(`//p[@class="box-title" and text()="`+accueil+`"]`)), ready,
	)
	shoot(t, nurse, "org-mailbox-desktop")
	boxURL := run(t, nurse, chromedp.Location())
	do(t, nurse,
		chromedp.Focus(chromedp.Search(`//a[.//span[contains(., "Rendez-vous de suivi")]]`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="msg-subject" and contains(., "Rendez-vous de suivi")]`)), ready,
	)
	if got := run(t, nurse, chromedp.Text(chromedp.CSS(".plain"))); !strings.Contains(got, "avancer mon rendez-vous") {
		t.Fatalf("the message reads %q", got)
	}
	shoot(t, nurse, "org-read-desktop")
	do(t, nurse,
		chromedp.Focus(chromedp.Search(`//a[text()="Nouveau message"]`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.Search(`//span[@class="from-address" and text()="`+accueil+`"]`)), ready,
	)
	if got := run(t, nurse, chromedp.Text(chromedp.ID("on-behalf"))); !strings.Contains(got, "Bob Durand") {
		t.Fatalf("the compose page does not say Bob sends on behalf of the mailbox: %q", got)
	}
	do(t, nurse, chromedp.Focus(chromedp.ID("to")), chromedp.KeyEvent(celia))
	tabUntil(t, nurse, "#subject")
	// The suggestions of the To field close when the person moves on, even
	// when they typed faster than the directory answered.
	time.Sleep(500 * time.Millisecond)
	if open := run(t, nurse, chromedp.Evaluate[bool](`!document.getElementById("to-suggest").hidden`)); open {
		t.Fatal("the To suggestions stay open over the next fields after Tab")
	}
	do(t, nurse, chromedp.KeyEvent("Rendez-vous avancé"))
	tabUntil(t, nurse, "#body")
	do(t, nurse, chromedp.KeyEvent("Mme Girard demande à avancer son rendez-vous de suivi."))
	shoot(t, nurse, "org-compose-desktop")
	tabUntil(t, nurse, `button[value="send"]`)
	do(t, nurse,
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.Search(sentOK)), ready,
	)

	t.Log("the recipient's copy and the trail")
	got, ok := e.find(celia, "INBOX", "Rendez-vous avancé")
	if !ok {
		t.Fatal("Célia did not get the message")
	}
	h := rawHeader(t, e, got.ID)
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != accueil {
		t.Fatalf("From: %q (%v), want %s", h.Get("From"), err, accueil)
	}
	if sender, err := h.AddressList("Sender"); err != nil || len(sender) != 1 || sender[0].Address != bob {
		t.Fatalf("Sender: %q (%v), want %s", h.Get("Sender"), err, bob)
	}
	if _, ok := e.find(accueil, "Sent", "Rendez-vous avancé"); !ok {
		t.Fatal("no copy in the mailbox's Sent folder")
	}
	sends, err := e.svc.Audit().List(ctx, audit.Query{Action: "send", Actor: bob})
	if err != nil || len(sends) != 1 || sends[0].Target != accueil || !strings.Contains(sends[0].Detail, "on behalf") {
		t.Fatalf("the trail of Bob's sending: %+v, %v", sends, err)
	}
	if reads, err := e.svc.Audit().List(ctx, audit.Query{Action: "read", Actor: bob}); err != nil || len(reads) == 0 {
		t.Fatalf("the trail of Bob's reading: %+v, %v", reads, err)
	}
	do(t, mgr,
		chromedp.Navigate(e.srv.URL+"/admin?domain="+coretest.Domain+"&actor="+bob+"#adm-audit-h"),
		chromedp.WaitVisible(chromedp.CSS("table.audit")),
	)
	trail := run(t, mgr, chromedp.Text(chromedp.CSS("table.audit tbody")))
	sendRow := false
	for _, row := range strings.Split(trail, "\n") {
		sendRow = sendRow || (strings.Contains(row, bob) && strings.Contains(row, "send") && strings.Contains(row, accueil))
	}
	if !sendRow {
		t.Fatalf("the console's trail has no row of Bob sending from %s: %q", accueil, trail)
	}
	do(t, mgr, chromedp.ScrollIntoView(chromedp.ID("adm-audit-h")))
	shoot(t, mgr, "org-audit-desktop")

	t.Log("the manager takes the right back; the mailbox leaves Bob's menu and IMAP at once")
	do(t, mgr,
		chromedp.Navigate(e.srv.URL+"/admin"),
		chromedp.WaitVisible(chromedp.Search(boxDiv+`//button[@value="revoke"]`)),
		chromedp.Focus(chromedp.Search(boxDiv+`//button[@value="revoke"]`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.Search(boxDiv+`//p[@class="empty"]`)),
	)
	do(t, mgr, chromedp.ScrollIntoView(chromedp.Search(boxDiv)))
	shoot(t, mgr, "org-admin-revoked-desktop")
	if imapLists(t, imapBob, shared) {
		t.Fatalf("Bob's open IMAP session still lists %s after the revocation", shared)
	}
	do(t, nurse,
		chromedp.Navigate(e.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("account-button")), ready,
		chromedp.Focus(chromedp.ID("account-button")),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.ID("account-menu")),
	)
	if menu := run(t, nurse, chromedp.Text(chromedp.ID("account-menu"))); strings.Contains(menu, accueil) {
		t.Fatalf("Bob's menu still offers %s: %q", accueil, menu)
	}
	shoot(t, nurse, "org-revoked-menu-desktop")
	do(t, nurse, chromedp.Navigate(boxURL), chromedp.WaitVisible(chromedp.CSS("h1, .box-title")))
	if title := run(t, nurse, chromedp.Evaluate[string](`document.querySelector(".box-title")?.textContent ?? ""`)); title == accueil {
		t.Fatalf("Bob still opens %s at %s after the revocation", accueil, boxURL)
	}
}

// tabUntil presses Tab until the focused element matches the CSS
// selector, as a keyboard user would, and fails if it never does.
func tabUntil(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	for range 40 {
		if run(t, ctx, chromedp.Evaluate[bool](`document.activeElement.matches(`+"`"+selector+"`"+`)`)) {
			return
		}
		do(t, ctx, chromedp.KeyEvent(kb.Tab))
	}
	t.Fatalf("Tab never reached %s", selector)
}

// startIMAP serves IMAP over svc on a loopback port for the test and
// returns its address.
func startIMAP(t *testing.T, svc *core.Service) string {
	t.Helper()
	serverTLS, _ := certstest.TLS(t)
	srv := imap.NewServer(svc, imap.Options{Hostname: "imap.test", TLS: serverTLS})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// dialIMAP logs in to the IMAP server at addr as a desktop client would.
func dialIMAP(t *testing.T, addr, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, coretest.Password).Wait(); err != nil {
		t.Fatalf("IMAP login as %s: %v", user, err)
	}
	return c
}

// imapLists tells whether LIST "" "*" on c names mailbox.
func imapLists(t *testing.T, c *imapclient.Client, mailbox string) bool {
	t.Helper()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	for _, m := range list {
		if m.Mailbox == mailbox {
			return true
		}
	}
	return false
}

// rawHeader reads the header of a stored message as its recipient's client
// would get it.
func rawHeader(t *testing.T, e *env, id int64) mail.Header {
	t.Helper()
	rd, err := e.svc.Open(context.Background(), core.System("test"), id)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(rd)
	if err != nil {
		t.Fatal(err)
	}
	return m.Header
}
