package web

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// hostileSignature is a signature's HTML with all it may hold (bold,
// italic, a link, a line break, a logo by https) and what it must never
// keep: a script, event handlers, javascript: links, CSS, images by http
// or data: URL.
const hostileSignature = `<b>Dr Alice</b> <i>Martin</i><br>` +
	`<a href="https://cabinet.example/">Cabinet</a><script>alert(1)</script>` +
	`<img src="https://cabinet.example/logo.png" alt="Logo" width="80" onerror="alert(2)">` +
	`<a href="javascript:alert(3)">clic</a><span style="background:url(https://evil.example/x)" class="x">s</span>` +
	`<img src="http://plain.example/x.png"><img src="data:image/png;base64,AAAA"><style>body{color:red}</style>` +
	`<p onclick="steal()">Tél 04 00 00 00 00</p><iframe src="https://evil.example/"></iframe>`

// mustNotKeep is what hostileSignature must lose.
var mustNotKeep = []string{"<script", "alert", "onerror", "onclick", "javascript:", "style", "class=", "http://plain", "data:", "iframe", "evil"}

// Signatures on "Vos paramètres de messagerie": several, one default per
// mailbox, HTML sanitised on save and on send, and compose inserting the
// default above the quoted text, with the sent message's text and HTML
// parts.
func TestSignatures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sys := core.System("test")
	c := e.login(alice)
	aliceID := e.accountID(alice)
	own := coretest.Mailbox(t, e.svc, alice).ID
	org := coretest.Mailbox(t, e.svc, secret).ID
	bobBox := coretest.Mailbox(t, e.svc, bob).ID

	e.settingsSteps(c, []settingsStep{
		{"plain, default", "/account/signatures", url.Values{"name": {"Cabinet"}, "text": {"Dr Alice Martin\r\nCardiologue"}, "box": {"0"}, "default": {"1"}}, "done=signature_added"},
		{"HTML", "/account/signatures", url.Values{"name": {"Hôpital"}, "html": {hostileSignature}, "box": {"0"}}, "done=signature_added"},
		{"for the organisational mailbox", "/account/signatures", url.Values{"name": {"Secrétariat"}, "text": {"Secrétariat de cardiologie"}, "box": {fmt.Sprint(org)}, "default": {"1"}}, "done=signature_added"},
		{"nothing to show", "/account/signatures", url.Values{"name": {"Vide"}, "text": {" "}}, "error=signature"},
		{"nothing left of the HTML", "/account/signatures", url.Values{"name": {"Vide"}, "html": {"<script>alert(1)</script><style>p{}</style>"}}, "error=signature"},
		{"no name", "/account/signatures", url.Values{"text": {"texte"}}, "error=signature"},
	})
	if res := e.post(c, "/account/signatures", url.Values{"name": {"Bob"}, "text": {"x"}, "box": {fmt.Sprint(bobBox)}}); res.StatusCode/100 != 4 {
		t.Fatalf("a signature for a mailbox alice cannot send from: %s", res.Status)
	}

	sigs, err := e.svc.Signatures(ctx, sys, aliceID)
	if err != nil || len(sigs) != 3 {
		t.Fatalf("signatures = %+v, %v; want 3", sigs, err)
	}
	plain, rich, secretariat := sigs[0], sigs[1], sigs[2]
	if plain.Text != "Dr Alice Martin\nCardiologue" || plain.HTML != "" || !plain.Default {
		t.Errorf("plain signature kept as %+v", plain)
	}
	for _, bad := range mustNotKeep {
		if strings.Contains(rich.HTML, bad) || strings.Contains(rich.Text, bad) {
			t.Errorf("the saved signature keeps %q: %q / %q", bad, rich.HTML, rich.Text)
		}
	}
	for _, good := range []string{"<b>Dr Alice</b>", "<i>Martin</i>", "<br", `href="https://cabinet.example/"`, `src="https://cabinet.example/logo.png"`, `width="80"`, "Tél 04"} {
		if !strings.Contains(rich.HTML, good) {
			t.Errorf("the saved signature lost %q: %q", good, rich.HTML)
		}
	}
	if want := "Dr Alice Martin\nCabinet <https://cabinet.example/> Logo clics\nTél 04 00 00 00 00"; rich.Text != want {
		t.Errorf("text made from the HTML = %q, want %q", rich.Text, want)
	}

	// One default per mailbox: making the HTML one the default of every
	// mailbox takes the mark from the plain one, not from the secretariat's.
	e.settingsSteps(c, []settingsStep{{"default", "/account/signatures/" + rich.ID + "/default", nil, "done=signature_default"}})
	for _, tt := range []struct {
		box  int64
		want string
		n    int
	}{{own, rich.ID, 2}, {org, secretariat.ID, 3}} {
		list, def, err := e.svc.SignaturesFor(ctx, sys, aliceID, tt.box)
		if err != nil || def != tt.want || len(list) != tt.n {
			t.Errorf("mailbox %d: default %q of %d, %v; want %q of %d", tt.box, def, len(list), err, tt.want, tt.n)
		}
	}
	e.settingsSteps(c, []settingsStep{{"edit", "/account/signatures", url.Values{"id": {plain.ID}, "name": {"Cabinet médical"}, "text": {"Dr Alice Martin"}, "box": {"0"}}, "done=signature_saved"}})
	if sigs, _ := e.svc.Signatures(ctx, sys, aliceID); sigs[0].Name != "Cabinet médical" || sigs[0].Text != "Dr Alice Martin" || sigs[0].Default {
		t.Errorf("edited signature: %+v", sigs[0])
	}
	if res := e.post(e.login(bob), "/account/signatures", url.Values{"id": {plain.ID}, "name": {"x"}, "text": {"x"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("bob edited alice's signature: %s", res.Status)
	}
	_, page := e.get(c, "/account/messaging")
	if strings.Count(page, "data-default") != 2 || !strings.Contains(page, "<b>Dr Alice</b>") || strings.Contains(page, "alert(") {
		t.Error("the settings page does not show the defaults and the sanitised HTML")
	}

	// Compose: the default is in the text and picked; in a reply and a
	// forward, above the quoted text.
	e.deliver("From: Bob Durand <sender@example.org>\nTo: alice@test.mssante.fr\nSubject: Patient\n\nQuestion sur le patient.\n", alice)
	orig, ok := e.find(alice, "INBOX", "Patient")
	if !ok {
		t.Fatal("no message to answer")
	}
	block := html.EscapeString("-- \n" + rich.Text)
	for _, q := range []string{"", fmt.Sprintf("?reply=%d", orig.ID), fmt.Sprintf("?forward=%d", orig.ID)} {
		_, page := e.get(c, fmt.Sprintf("/mail/%d/compose%s", own, q))
		at := strings.Index(page, block)
		if at < 0 || !strings.Contains(page, `value="`+rich.ID+`" data-text=`) || !regexpMust(`value="`+rich.ID+`" data-text="[^"]*" selected`).MatchString(page) {
			t.Fatalf("compose%s: the default signature is not in the text nor picked", q)
		}
		if quoted := strings.Index(page, "Question sur le patient"); q != "" && (quoted < 0 || quoted < at) {
			t.Errorf("compose%s: the signature is not above the quoted text", q)
		}
	}
	_, page = e.get(c, fmt.Sprintf("/mail/%d/compose", org))
	if !strings.Contains(page, html.EscapeString("-- \nSecrétariat de cardiologie")) {
		t.Error("compose from the organisational mailbox lacks its default signature")
	}

	// Sending sanitises again whatever is kept: a signature written past
	// the web app, by the core's own API.
	if _, err := e.svc.SaveSignature(ctx, sys, aliceID, core.Signature{ID: rich.ID, Name: rich.Name, Text: rich.Text, HTML: rich.HTML + `<img src="x" onerror="alert(4)"><script>alert(5)</script>`, Default: true}); err != nil {
		t.Fatal(err)
	}
	send := func(box int64, subject, sig string) *parsed {
		t.Helper()
		body := "Bonjour <Bob> & merci.\n\n-- \n" + rich.Text + "\n\n> cité"
		res := e.post(c, fmt.Sprintf("/mail/%d/compose", box), url.Values{"to": {bob}, "subject": {subject}, "body": {body}, "signature": {sig}, "action": {"send"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("send %s: %s", subject, res.Status)
		}
		m, ok := e.find(bob, "INBOX", subject)
		if !ok {
			t.Fatalf("%s not received", subject)
		}
		return e.content(m.ID)
	}
	p := send(own, "Avec signature", rich.ID)
	text := strings.ReplaceAll(p.Text, "\r\n", "\n")
	if !strings.Contains(text, "Bonjour <Bob> & merci.\n\n-- \nDr Alice Martin\nCabinet <https://cabinet.example/>") {
		t.Errorf("text/plain part: %q", text)
	}
	for _, bad := range mustNotKeep {
		if strings.Contains(p.HTML, bad) {
			t.Errorf("the sent HTML keeps %q: %q", bad, p.HTML)
		}
	}
	for _, good := range []string{"Bonjour &lt;Bob&gt; &amp; merci.", "-- <br>", "<b>Dr Alice</b>", `href="https://cabinet.example/"`, "&gt; cité"} {
		if !strings.Contains(p.HTML, good) {
			t.Errorf("the sent HTML lacks %q: %q", good, p.HTML)
		}
	}
	if strings.Contains(p.HTML, "Dr Alice Martin\n") {
		t.Errorf("the sent HTML holds the signature's text as well as its HTML: %q", p.HTML)
	}
	// A draft keeps its signature: reopened, the same one is picked (not
	// the one whose text begins it) and the text holds it once.
	res := e.post(c, fmt.Sprintf("/mail/%d/compose", own), url.Values{"to": {bob}, "subject": {"Brouillon"}, "body": {"À finir.\n\n-- \n" + rich.Text}, "signature": {rich.ID}, "action": {"draft"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save draft: %s", res.Status)
	}
	_, page = e.get(c, res.Header.Get("Location"))
	if !regexpMust(`value="`+rich.ID+`" data-text="[^"]*" selected`).MatchString(page) || strings.Count(page, html.EscapeString("-- \n"+rich.Text)) != 1 {
		t.Error("the reopened draft lost its signature or has it twice")
	}
	// A plain-text signature, from the organisational mailbox, added at
	// the end: no HTML part.
	p = send(org, "Du secrétariat", secretariat.ID)
	if text := strings.ReplaceAll(p.Text, "\r\n", "\n"); !strings.HasSuffix(strings.TrimSpace(text), "-- \nSecrétariat de cardiologie") || p.HTML != "" {
		t.Errorf("plain signature from the organisational mailbox: %q, HTML %q", text, p.HTML)
	}
}
