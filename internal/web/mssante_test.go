package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/xdm/xdmtest"
)

func TestDisplaySubject(t *testing.T) {
	for in, want := range map[string]string{
		"XDM/1.0/DDM Lettre de liaison": "Lettre de liaison",
		"XDM/1.0/DDM+Résultats DUPONT":  "Résultats DUPONT",
		"xdm/1.0/ddm  CR":               "CR",
		"Re: XDM/1.0/DDM Lettre":        "Re: XDM/1.0/DDM Lettre",
		"Compte rendu":                  "Compte rendu",
		"XDM/1.0/DDM":                   "",
	} {
		if got := displaySubject(in); got != want {
			t.Errorf("displaySubject(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReadReceiptsInBrowser: two domains on one node (the two-node trust
// mode runs in internal/server). Alice asks for a read receipt; the
// receipts panel of her Sent copy says "Remis"; Dr Petit, on the other
// domain, is asked, sends it; Alice's panel says "Lu" and the IMAP keywords
// of the Sent copy follow.
func TestReadReceiptsInBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sys := core.System("test")
	if err := e.svc.AddDomain(ctx, sys, "autre.mssante.fr"); err != nil {
		t.Fatal(err)
	}
	dr := "dr.petit@autre.mssante.fr"
	if _, err := e.svc.AddUser(ctx, sys, core.NewUser{Address: dr, Name: "Dr Petit", Password: coretest.Password}); err != nil {
		t.Fatal(err)
	}
	aliceBox := coretest.Mailbox(t, e.svc, alice)

	b := newBrowser(t, 1280, 900)
	e.browserLogin(t, b, alice)
	do(t, b,
		chromedp.Navigate(fmt.Sprintf("%s/mail/%d/compose", e.srv.URL, aliceBox.ID)),
		chromedp.WaitVisible(chromedp.ID("to")), ready,
		chromedp.SendKeys(chromedp.ID("to"), dr),
		chromedp.SendKeys(chromedp.ID("subject"), "Compte rendu opératoire"),
		chromedp.SendKeys(chromedp.ID("body"), "Bonjour, voici le compte rendu."),
		click(chromedp.CSS(`input[name=read_receipt]`)),
		click(chromedp.Search(`//button[text()="Envoyer"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-list]`)), ready,
	)
	sent, ok := e.find(alice, "Sent", "Compte rendu opératoire")
	if !ok {
		t.Fatal("not in Sent")
	}
	sentURL := fmt.Sprintf("%s/mail/%d/%d/%d", e.srv.URL, aliceBox.ID, sent.FolderID, sent.ID)
	state := func() string {
		t.Helper()
		do(t, b, chromedp.Navigate(sentURL), chromedp.WaitVisible(chromedp.CSS(`[data-receipts]`)))
		return run(t, b, chromedp.Text(chromedp.CSS(`[data-receipts] tr[data-recipient="`+dr+`"] td:nth-child(2)`)))
	}
	if got := state(); got != "Remis" {
		t.Fatalf("receipts panel says %q, want Remis", got)
	}

	other := newBrowser(t, 1280, 900)
	e.browserLogin(t, other, dr)
	got, ok := e.find(dr, "INBOX", "Compte rendu opératoire")
	if !ok {
		t.Fatal("not delivered to Dr Petit")
	}
	drBox := coretest.Mailbox(t, e.svc, dr)
	do(t, other,
		chromedp.Navigate(fmt.Sprintf("%s/mail/%d/%d/%d", e.srv.URL, drBox.ID, got.FolderID, got.ID)),
		chromedp.WaitVisible(chromedp.CSS(`[data-mdn-prompt]`)), ready,
	)
	prompt := run(t, other, chromedp.Text(chromedp.CSS(`[data-mdn-prompt] p`)))
	if !strings.Contains(prompt, alice) {
		t.Fatalf("prompt %q does not name the address", prompt)
	}
	do(t, other,
		click(chromedp.Search(`//button[text()="Envoyer l'accusé de lecture"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-mdn-prompt]`)),
	)
	if got := state(); got != "Lu" {
		t.Fatalf("receipts panel says %q after the MDN, want Lu", got)
	}
	sent, _ = e.find(alice, "Sent", "Compte rendu opératoire")
	if strings.Join(sent.Keywords, " ") != "$Accepted $Delivered $Read" {
		t.Fatalf("Sent keywords %v", sent.Keywords)
	}
	got, _ = e.find(dr, "INBOX", "Compte rendu opératoire")
	if strings.Join(got.Keywords, " ") != core.KeywordMDNSent {
		t.Fatalf("reader's keywords %v", got.Keywords)
	}
	do(t, other, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("msg-subject")), ready)
	if n := run(t, other, chromedp.Evaluate[int](`document.querySelectorAll("[data-mdn-prompt]").length`)); n != 0 {
		t.Fatal("asked again after sending")
	}
}

// TestXDMInBrowser: a message with an IHE_XDM.ZIP and its PDF shows the
// subject without its prefix and the documents with the PDF beside them.
func TestXDMInBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := xdmtest.Message("dr.x@autre.mssante.fr", alice, "XDM/1.0/DDM Lettre de liaison", "Message-ID: <xdm-1@autre>\r\n",
		xdmtest.Archive(xdmtest.Qualified("11490-0", "Lettre de liaison de sortie")))
	if err := e.svc.Deliver(ctx, core.System("smtp"), core.Delivery{MailFrom: "dr.x@autre.mssante.fr", Recipients: []string{alice}, Data: data}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 1280, 900)
	e.browserLogin(t, b, alice)
	m, _ := e.find(alice, "INBOX", "Lettre de liaison")
	box := coretest.Mailbox(t, e.svc, alice)
	do(t, b,
		chromedp.Navigate(fmt.Sprintf("%s/mail/%d/%d", e.srv.URL, box.ID, m.FolderID)),
		chromedp.WaitVisible(chromedp.CSS(`[data-list]`)), ready,
	)
	if row := run(t, b, chromedp.Text(chromedp.CSS(`.row .row-subject`))); strings.Contains(row, "XDM/1.0/DDM") || !strings.Contains(row, "Lettre de liaison") {
		t.Fatalf("list shows subject %q", row)
	}
	do(t, b,
		chromedp.Navigate(fmt.Sprintf("%s/mail/%d/%d/%d", e.srv.URL, box.ID, m.FolderID, m.ID)),
		chromedp.WaitVisible(chromedp.CSS(`[data-documents]`)),
	)
	for sel, want := range map[string]string{
		`#msg-subject`: "Lettre de liaison",
		`.doc-title`:   "Lettre de liaison de sortie",
		`.doc-patient`: "DUPONT Jeanne (15/03/1979) · INS qualifié",
		`.doc-type`:    "Lettre de liaison de sortie",
		`.doc-pdf`:     "lettre.pdf",
	} {
		if got := strings.TrimSpace(run(t, b, chromedp.Text(chromedp.CSS(sel)))); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if d := run(t, b, chromedp.Text(chromedp.CSS(`.doc-date`))); !strings.Contains(d, "2026") {
		t.Errorf("document date %q", d)
	}
}
