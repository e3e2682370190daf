package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"caduceus/internal/trust/trusttest"
)

// TestTwoNodesReceipts is the read-receipt round trip between two
// operators in trust mode, as two `caduceus serve` processes: Alice, on A,
// asks Bob, on B, for a read receipt; Bob's mail client sends the MDN (RFC
// 8098) through B; and Alice, logged in to A's web app in Chromium (her
// login code mailed through the trust space to a mailbox on B, read there
// over IMAP as she would on her phone), sees "Lu" for Bob in the receipts
// panel of her Sent copy.
func TestTwoNodesReceipts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes and Chromium")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed")
	}
	const domainA, domainB = "chu-a.mssante.fr", "clinique-b.mssante.fr"
	f := trusttest.NewFixture(t, domainA, domainB)
	a := newNode(t, f, domainA, "alice", "--notify-email", "codes@"+domainB)
	b := newNode(t, f, domainB, "bob")
	if _, _, err := runCLI(t, b.config, "un mot de passe long\n", "user", "add", "codes@"+domainB, "--name", "Codes", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	a.serve(t, b.smtp)
	b.serve(t, a.smtp)

	alice, bob := "alice@"+domainA, "bob@"+domainB
	a.submit(t, f, "alice", bob, "From: "+alice+"\r\nTo: "+bob+"\r\nSubject: Compte rendu avec accusé\r\n"+
		"Message-ID: <cr-1@"+domainA+">\r\nDisposition-Notification-To: "+alice+"\r\n\r\nBonjour.\r\n")
	if got := b.waitMessage(t, f, "bob", "Compte rendu avec accusé"); !strings.Contains(got, "Disposition-Notification-To: "+alice) {
		t.Fatalf("at B, the request for a receipt is lost:\n%s", got)
	}
	b.submit(t, f, "bob", alice, "From: "+bob+"\r\nTo: "+alice+"\r\nSubject: Lu : Compte rendu avec accusé\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=\"mdn\"\r\n\r\n"+
		"--mdn\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLe message a été affiché.\r\n"+
		"--mdn\r\nContent-Type: message/disposition-notification\r\n\r\n"+
		"Reporting-UA: mail.clinique-b; Thunderbird\r\nFinal-Recipient: rfc822;"+bob+"\r\n"+
		"Original-Message-ID: <cr-1@"+domainA+">\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n"+
		"--mdn--\r\n")

	ctx := receiptsBrowser(t, chromium)
	base := "https://" + a.https
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), alice),
		chromedp.SendKeys(chromedp.ID("password"), "un mot de passe long"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("code")),
	); err != nil {
		t.Fatalf("login page: %v", err)
	}
	codeMail := b.waitMessage(t, f, "codes", "code de connexion")
	code := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(codeMail)
	if code == "" {
		t.Fatalf("no code in the mail that reached B:\n%s", codeMail)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS("[data-folders]")),
		chromedp.Click(chromedp.Search(`//a[@data-folder]//span[text()="Envoyés"]`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@class="row-subject" and contains(., "Compte rendu avec accusé")]`)),
		chromedp.Click(chromedp.Search(`//span[@class="row-subject" and contains(., "Compte rendu avec accusé")]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-receipts]`)),
	); err != nil {
		t.Fatalf("Sent copy: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		state, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-receipts] tr[data-recipient="`+bob+`"] td:nth-child(2)`)))
		if err != nil {
			t.Fatal(err)
		}
		if state == "Lu" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receipts panel says %q for %s, want Lu", state, bob)
		}
		time.Sleep(500 * time.Millisecond)
		if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-receipts]`))); err != nil {
			t.Fatal(err)
		}
	}
}

// submit sends msg as user through n's submission port.
func (n *node) submit(t *testing.T, f *trusttest.Fixture, user, to, msg string) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(f.Root.Cert)
	c, err := gosmtp.DialStartTLS(n.sub, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	from := user + "@" + n.domain
	if err := c.Auth(sasl.NewPlainClient("", from, "un mot de passe long")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatalf("%s sends to %s: %v", from, to, err)
	}
}

// receiptsBrowser starts Debian's Chromium, headless, for the test.
func receiptsBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.IgnoreCertErrors,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTime)
	return ctx
}
