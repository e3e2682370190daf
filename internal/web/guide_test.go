package web

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// messagesIn lists a folder of a mailbox, newest first, as the system sees it.
func (e *env) messagesIn(addr, folder string) []core.Message {
	e.t.Helper()
	f := coretest.Folder(e.t, e.svc, addr, folder)
	msgs, err := e.svc.Messages(context.Background(), core.System("test"), f.ID, core.MessageQuery{Order: core.ByDateDesc})
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

// find returns the message of a folder whose subject contains s.
func (e *env) find(addr, folder, s string) (core.Message, bool) {
	for _, m := range e.messagesIn(addr, folder) {
		if strings.Contains(m.Subject, s) {
			return m, true
		}
	}
	return core.Message{}, false
}

// content returns the parsed content of a message.
func (e *env) content(id int64) *parsed {
	e.t.Helper()
	rd, err := e.svc.Open(context.Background(), core.System("test"), id)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := parseMessage(rd)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// TestGuide walks the user guide in a real browser: log in with the code
// from the outbox, through a deep link; read from the inbox; reply, reply
// all, forward with the attachment; write with an attachment and a
// signature; save a draft and send it later; switch to the organisational
// mailbox and send from it; search; and see new mail arrive.
func TestGuide(t *testing.T) {
	e := newEnv(t)
	e.seedDemo()
	ctx := newBrowser(t, 1280, 900)
	lab, _ := e.find(alice, "INBOX", "biologie")

	t.Log("deep link before login, then password and e-mailed code")
	do(t, ctx,
		chromedp.Navigate(e.srv.URL+"/m/"+strconv.FormatInt(lab.ID, 10)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	e.browserCredentials(t, ctx, alice)
	do(t, ctx, chromedp.WaitVisible(chromedp.ID("msg-subject")), ready)
	if got := run(t, ctx, chromedp.Text(chromedp.ID("msg-subject"))); got != "Compte rendu de biologie" {
		t.Fatalf("deep link opened %q", got)
	}
	if got := run(t, ctx, chromedp.Text(chromedp.CSS(".attachments"))); !strings.Contains(got, "compte-rendu.pdf") {
		t.Fatalf("attachments: %q", got)
	}

	t.Log("open a message from the inbox")
	do(t, ctx,
		click(chromedp.CSS(`.folder[data-folder]`)),
		chromedp.WaitVisible(chromedp.CSS(".reader-empty")),
		click(chromedp.Search(`//a[.//span[contains(., "Planning des consultations")]]`)),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="msg-subject" and contains(., "Planning")]`)),
	)
	if got := run(t, ctx, chromedp.Text(chromedp.CSS(".plain"))); !strings.Contains(got, "deux créneaux") {
		t.Fatalf("plain body: %q", got)
	}

	t.Log("Répondre")
	do(t, ctx,
		click(chromedp.Search(`//a[text()="Répondre"]`)),
		chromedp.WaitVisible(chromedp.ID("body")), ready,
		chromedp.Evaluate[chromedp.Void](`document.getElementById("body").setSelectionRange(0, 0)`),
		chromedp.SendKeys(chromedp.ID("body"), "Merci, je prends le jeudi."),
		click(chromedp.Search(`//button[text()="Envoyer"]`)),
		chromedp.WaitVisible(chromedp.Search(sentOK)),
		ready,
	)
	reply, ok := e.find(celia, "INBOX", "RE : Planning")
	if !ok {
		t.Fatal("Célia did not get the reply")
	}
	if reply.InReplyTo != "demo-3@test.mssante.fr" && !strings.Contains(reply.InReplyTo, "demo-3@test.mssante.fr") {
		t.Fatalf("reply In-Reply-To = %q", reply.InReplyTo)
	}
	if body := e.content(reply.ID).Text; !strings.Contains(body, "Merci, je prends le jeudi.") || !strings.Contains(body, "> Le planning de mars") {
		t.Fatalf("reply body: %q", body)
	}

	t.Log("Répondre à tous")
	do(t, ctx,
		click(chromedp.Search(`//a[.//span[contains(., "Avis cardiologique")]]`)),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="msg-subject" and contains(., "Avis")]`)),
		click(chromedp.Search(`//a[text()="Répondre à tous"]`)),
		chromedp.WaitVisible(chromedp.ID("cc")), ready,
	)
	to := run(t, ctx, chromedp.Value(chromedp.ID("to")))
	cc := run(t, ctx, chromedp.Value(chromedp.ID("cc")))
	if !strings.Contains(to, "paul.roux@chu-nord.example") || !strings.Contains(cc, bob) || strings.Contains(to+cc, alice) {
		t.Fatalf("reply all: To %q, CC %q", to, cc)
	}
	do(t, ctx,
		click(chromedp.Search(`//button[text()="Envoyer"]`)),
		chromedp.WaitVisible(chromedp.Search(sentOK)),
		ready,
	)
	if _, ok := e.find(bob, "INBOX", "RE : Avis cardiologique"); !ok {
		t.Fatal("Bob, in copy, did not get the reply to all")
	}

	t.Log("Transférer with the attachment")
	do(t, ctx,
		click(chromedp.Search(`//a[.//span[contains(., "Compte rendu de biologie")]]`)),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="msg-subject" and contains(., "biologie")]`)),
		click(chromedp.Search(`//a[text()="Transférer"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=keep]:checked`)), ready,
		chromedp.SendKeys(chromedp.ID("to"), bob),
		click(chromedp.Search(`//button[text()="Envoyer"]`)),
		chromedp.WaitVisible(chromedp.Search(sentOK)),
		ready,
	)
	fwd, ok := e.find(bob, "INBOX", "TR : Compte rendu")
	if !ok || !fwd.HasAttachments || !strings.Contains(strings.Join(fwd.Attachments, ","), "compte-rendu.pdf") {
		t.Fatalf("forward: found %v, attachments %v", ok, fwd.Attachments)
	}

	t.Log("Nouveau message with an attachment and a signature, recipient from the suggestions")
	file := filepath.Join(t.TempDir(), "ordonnance.txt")
	if err := os.WriteFile(file, []byte("Ordonnance de test"), 0o600); err != nil {
		t.Fatal(err)
	}
	do(t, ctx,
		click(chromedp.Search(`//a[text()="Nouveau message"]`)),
		chromedp.WaitVisible(chromedp.ID("to")), ready,
		chromedp.SendKeys(chromedp.ID("to"), "lagar"),
		chromedp.WaitVisible(chromedp.CSS(`#to-suggest li[data-address="`+celia+`"]`)),
		click(chromedp.CSS(`#to-suggest li[data-address="`+celia+`"]`)),
		chromedp.SendKeys(chromedp.ID("subject"), "Ordonnance"),
		chromedp.SendKeys(chromedp.ID("body"), "Voici l'ordonnance."),
		chromedp.Evaluate[chromedp.Void](`(s => { s.value = "`+sigValue(t, e)+`"; s.dispatchEvent(new Event("change")); })(document.getElementById("signature"))`),
		chromedp.SetUploadFiles(chromedp.ID("files"), []string{file}),
		chromedp.WaitVisible(chromedp.Search(`//ul[@data-picked]/li[contains(., "ordonnance.txt")]`)),
	)
	if got := run(t, ctx, chromedp.Value(chromedp.ID("to"))); !strings.Contains(got, celia) {
		t.Fatalf("suggestion did not fill A: %q", got)
	}
	do(t, ctx,
		click(chromedp.Search(`//button[text()="Envoyer"]`)),
		chromedp.WaitVisible(chromedp.Search(sentOK)),
		ready,
	)
	sent, ok := e.find(celia, "INBOX", "Ordonnance")
	if !ok || !sent.HasAttachments {
		t.Fatalf("new message: found %v, attachments %v", ok, sent.Attachments)
	}
	if body := e.content(sent.ID).Text; !strings.Contains(body, "-- \nDr Alice Martin") && !strings.Contains(body, "-- \r\nDr Alice Martin") {
		t.Fatalf("signature missing: %q", body)
	}

	t.Log("Enregistrer comme brouillon, the recipient picked in the directory behind A:; send it later from Drafts")
	do(t, ctx,
		click(chromedp.Search(`//a[text()="Nouveau message"]`)),
		chromedp.WaitVisible(chromedp.ID("to")), ready,
		click(chromedp.ID("to-label")),
		chromedp.WaitVisible(chromedp.ID("picker-q")),
		chromedp.SendKeys(chromedp.ID("picker-q"), "durand"),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="A: `+bob+`"]`)),
		click(chromedp.CSS(`button[aria-label="A: `+bob+`"]`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@data-picker-to and contains(., "`+bob+`")]`)),
		click(chromedp.Search(`//button[text()="Valider"]`)),
		chromedp.WaitNotVisible(chromedp.ID("picker")),
	)
	if got := run(t, ctx, chromedp.Value(chromedp.ID("to"))); got != bob {
		t.Fatalf("the directory picker filled A: with %q", got)
	}
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("subject"), "Garde du week-end"),
		chromedp.SendKeys(chromedp.ID("body"), "À compléter."),
		click(chromedp.Search(`//button[text()="Enregistrer comme brouillon"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(@class,"flash") and contains(., "Brouillon enregistré")]`)),
	)
	drafts := e.messagesIn(alice, "Drafts")
	if len(drafts) != 1 || drafts[0].Flags&core.FlagDraft == 0 || drafts[0].Subject != "Garde du week-end" {
		t.Fatalf("Drafts holds %+v", drafts)
	}
	do(t, ctx,
		click(chromedp.Search(`//a[contains(@class,"folder") and contains(., "Brouillons")]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[.//span[contains(., "Garde du week-end")]]`)),
		click(chromedp.Search(`//a[.//span[contains(., "Garde du week-end")]]`)),
		chromedp.WaitVisible(chromedp.ID("body")), ready,
	)
	if got := run(t, ctx, chromedp.Value(chromedp.ID("body"))); !strings.Contains(got, "À compléter.") {
		t.Fatalf("draft body reopened as %q", got)
	}
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("body"), " Je suis de garde samedi."),
		click(chromedp.Search(`//button[text()="Envoyer"]`)),
		chromedp.WaitVisible(chromedp.Search(sentOK)),
		ready,
	)
	if got, ok := e.find(bob, "INBOX", "Garde du week-end"); !ok || !strings.Contains(e.content(got.ID).Text, "samedi") {
		t.Fatal("the draft was not sent as finished")
	}
	if left := e.messagesIn(alice, "Drafts"); len(left) != 0 {
		t.Fatalf("Drafts still holds %d messages after sending", len(left))
	}

	t.Log("Changer de compte: the organisational mailbox, and send from it")
	do(t, ctx,
		click(chromedp.ID("account-button")),
		chromedp.WaitVisible(chromedp.Search(`//p[text()="Changer de compte"]`)),
		click(chromedp.Search(`//a[contains(@class,"menu-item") and contains(., "`+secret+`")]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class="box-title" and text()="`+secret+`"]`)),
		click(chromedp.Search(`//a[text()="Nouveau message"]`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@class="from-address" and text()="`+secret+`"]`)),
		chromedp.SendKeys(chromedp.ID("to"), bob),
		chromedp.SendKeys(chromedp.ID("subject"), "Convocation"),
		chromedp.SendKeys(chromedp.ID("body"), "Merci de passer au secrétariat."),
		click(chromedp.Search(`//button[text()="Envoyer"]`)),
		chromedp.WaitVisible(chromedp.Search(sentOK)),
		ready,
	)
	conv, ok := e.find(bob, "INBOX", "Convocation")
	if !ok || !strings.Contains(conv.From, secret) {
		t.Fatalf("from the organisational mailbox: found %v, From %q", ok, conv.From)
	}
	if _, ok := e.find(secret, "Sent", "Convocation"); !ok {
		t.Fatal("no copy in the organisational mailbox's Sent folder")
	}

	t.Log("Rechercher")
	do(t, ctx,
		chromedp.Navigate(e.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("q")),
		chromedp.SendKeys(chromedp.ID("q"), "biologie"+kb.Enter),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Résultats de la recherche")]`)),
	)
	if got := run(t, ctx, chromedp.Text(chromedp.CSS(".messages"))); !strings.Contains(got, "Compte rendu de biologie") || strings.Contains(got, "Planning") {
		t.Fatalf("search results: %q", got)
	}
	do(t, ctx,
		chromedp.Navigate(e.srv.URL+"/"), ready,
		chromedp.SendKeys(chromedp.ID("q"), "créneaux"+kb.Enter),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Résultats de la recherche")]`)),
	)
	if got := run(t, ctx, chromedp.Text(chromedp.CSS(".messages"))); !strings.Contains(got, "Planning des consultations") {
		t.Fatalf("search in bodies: %q", got)
	}

	t.Log("new mail shows without a reload")
	do(t, ctx,
		chromedp.Navigate(e.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(".row")), ready,
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`),
	)
	// Wait until the page listens, so that the delivery below is heard.
	do(t, ctx, chromedp.Poll[chromedp.Void](`document.body.dataset.listening === "1"`))
	e.deliver("From: Urgences <urgences@hopital-sud.example>\nTo: alice@test.mssante.fr\nSubject: Patient transféré\nMessage-ID: <live-1@hopital-sud.example>\n\nArrivée prévue à 14 h.\n", alice)
	do(t, ctx, chromedp.WaitVisible(chromedp.Search(`//span[@class="row-subject" and contains(., "Patient transféré")]`)))
	if !run(t, ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Fatal("the page reloaded")
	}
}

// ready waits until the page's script has set up its handlers.
var ready = chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`))

// sentOK finds the notice shown once a message is sent.
const sentOK = `//p[contains(@class,"flash") and contains(., "Message envoyé")]`

func sigValue(t *testing.T, e *env) string {
	sigs, err := e.svc.Signatures(context.Background(), core.System("test"), e.accountID(alice))
	if err != nil || len(sigs) == 0 {
		t.Fatalf("no signature: %v", err)
	}
	return sigs[0].ID
}
