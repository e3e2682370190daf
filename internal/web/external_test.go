package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"caduceus/internal/audit"
	"caduceus/internal/auth"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// clock is a test clock the core reads.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// newClockEnv is newEnv with a clock the test moves, and the app's base
// URL set to the test server's, for the links it mails.
func newClockEnv(t *testing.T, c *clock) *env {
	t.Helper()
	svc, st := coretest.NewWithStore(t, coretest.Options{MessageLimit: 4 << 20, Now: c.now})
	coretest.User(t, svc, "alice", "Alice Martin")
	e := &env{t: t, svc: svc, outbox: t.TempDir()}
	e.srv = httptest.NewUnstartedServer(nil)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	h, err := New(svc, Options{Mailer: e, Auth: auth.NewSQLStore(st), DevOutboxDir: e.outbox, BaseURL: e.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = h
	return e
}

// mailTo returns the text of the newest mail in the outbox for addr.
func (e *env) mailTo(addr string) string {
	e.t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.outbox, "*.eml"))
	for i := len(files) - 1; i >= 0; i-- {
		b, _ := os.ReadFile(files[i])
		if !bytes.Contains(b, []byte(addr)) {
			continue
		}
		p, err := parseMessage(bytes.NewReader(b))
		if err != nil {
			e.t.Fatal(err)
		}
		return p.Subject + "\n" + p.Text
	}
	e.t.Fatalf("no mail for %s in the outbox", addr)
	return ""
}

// TestExternalRecipientInBrowser: Alice sends a report to a patient outside
// the trust space by secure link. The patient's mail holds only the link;
// the page asks for a code mailed to them; a wrong code counts; the right
// one opens the message; they download the attachment and reply securely;
// five wrong codes lock another link; after link_lifetime the link is
// expired. Every step is in the audit trail.
func TestExternalRecipientInBrowser(t *testing.T) {
	c := &clock{t: time.Now()}
	e := newClockEnv(t, c)
	ctx := context.Background()
	patient, other := "jeanne.durand@mail.example", "paul.roux@mail.example"
	box := coretest.Mailbox(t, e.svc, alice)
	file := filepath.Join(t.TempDir(), "ordonnance.txt")
	if err := os.WriteFile(file, []byte("Ordonnance : paracétamol 1 g"), 0o600); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, 1280, 900)
	e.browserLogin(t, b, alice)
	do(t, b,
		chromedp.Navigate(fmt.Sprintf("%s/mail/%d/compose", e.srv.URL, box.ID)),
		chromedp.WaitVisible(chromedp.ID("to")), ready,
		chromedp.SendKeys(chromedp.ID("to"), patient+", "+other),
		chromedp.SendKeys(chromedp.ID("subject"), "Résultats de biologie"),
		chromedp.SendKeys(chromedp.ID("body"), "Vos résultats sont normaux."),
		chromedp.SetUploadFiles(`#files`, []string{file}),
		click(chromedp.CSS(`input[name=external]`)),
		click(chromedp.Search(`//button[text()="Envoyer"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-list]`)), ready,
	)
	notice := e.mailTo(patient)
	if strings.Contains(notice, "biologie") || strings.Contains(notice, "normaux") || strings.Contains(notice, "ordonnance") || strings.Contains(notice, alice) {
		t.Fatalf("the notification holds health data or the sender:\n%s", notice)
	}
	link := regexp.MustCompile(`https://\S+/x/[A-Z0-9]+`).FindString(notice)
	if link == "" {
		t.Fatalf("no link in the notification:\n%s", notice)
	}
	otherLink := regexp.MustCompile(`https://\S+/x/[A-Z0-9]+`).FindString(e.mailTo(other))
	if otherLink == "" || otherLink == link {
		t.Fatalf("second link %q", otherLink)
	}

	t.Log("the patient opens the link, gets a code, types a wrong one, then the right one")
	p := newBrowser(t, 1280, 900)
	do(t, p,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`[data-send-code]`)),
		click(chromedp.CSS(`[data-send-code]`)),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	code := e.lastCode(patient)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	do(t, p,
		chromedp.SendKeys(chromedp.ID("code"), wrong),
		chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS(`[data-failures="1"]`)),
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.ID("ext-subject")),
	)
	if got := run(t, p, chromedp.Text(chromedp.ID("ext-subject"))); got != "Résultats de biologie" {
		t.Fatalf("subject %q", got)
	}
	if got := run(t, p, chromedp.Text(chromedp.CSS(`[data-ext-text]`))); !strings.Contains(got, "Vos résultats sont normaux.") {
		t.Fatalf("text %q", got)
	}
	href := run(t, p, chromedp.Evaluate[string](`document.querySelector(".attachments a").getAttribute("href")`))
	body := run(t, p, chromedp.Evaluate[string]("fetch(`"+href+"`).then(r => r.text())", chromedp.EvalAwaitPromise))
	if body != "Ordonnance : paracétamol 1 g" {
		t.Fatalf("downloaded %q", body)
	}
	do(t, p,
		chromedp.SendKeys(chromedp.ID("reply"), "Merci docteur, bien reçu."),
		chromedp.Submit(chromedp.ID("reply")),
		chromedp.WaitVisible(chromedp.CSS(`[data-replied]`)),
	)
	reply, ok := e.find(alice, "INBOX", "Résultats de biologie")
	if !ok || !strings.Contains(reply.From, patient) || !strings.HasPrefix(reply.Subject, "Re: ") {
		t.Fatalf("reply in Alice's inbox: %v %+v", ok, reply)
	}
	if txt := e.content(reply.ID).plainText(); !strings.Contains(txt, "Merci docteur") {
		t.Fatalf("reply text %q", txt)
	}
	sent, _ := e.find(alice, "Sent", "Résultats de biologie")
	rs, err := e.svc.Receipts(ctx, core.System("test"), sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, r := range rs {
		states[r.Recipient] = r.State
	}
	if states[patient] != core.ReceiptRead || states[other] != core.ReceiptSent {
		t.Fatalf("receipts %v", states)
	}

	t.Log("five wrong codes lock the other link")
	q := newBrowser(t, 1280, 900)
	do(t, q,
		chromedp.Navigate(otherLink),
		chromedp.WaitVisible(chromedp.CSS(`[data-send-code]`)),
		click(chromedp.CSS(`[data-send-code]`)),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	good := e.lastCode(other)
	bad := "999999"
	if good == bad {
		bad = "888888"
	}
	for i := 1; i < 5; i++ {
		do(t, q,
			chromedp.SendKeys(chromedp.ID("code"), bad),
			chromedp.Submit(chromedp.ID("code")),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-failures="%d"]`, i))),
		)
	}
	do(t, q,
		chromedp.SendKeys(chromedp.ID("code"), bad),
		chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS(`[data-link-locked]`)),
		chromedp.Navigate(otherLink),
		chromedp.WaitVisible(chromedp.CSS(`[data-link-locked]`)),
	)
	if _, err := e.svc.VerifyExternal(ctx, core.System("test"), strings.TrimPrefix(otherLink[strings.LastIndex(otherLink, "/"):], "/"), good); err == nil {
		t.Fatal("the right code opens a locked link")
	}

	t.Log("after link_lifetime the link is expired, even with its session")
	c.add(core.DefaultLinkLifetime + time.Minute)
	do(t, p,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`[data-link-expired]`)),
	)

	entries, err := e.svc.Audit().List(ctx, audit.Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, en := range entries {
		seen[en.Action+"/"+en.Result] = true
		if strings.Contains(en.Detail+en.Target, "biologie") {
			t.Fatalf("health data in the trail: %+v", en)
		}
	}
	for _, want := range []string{"external.open/ok", "external.code/ok", "external.verify/denied", "external.verify/ok", "external.read/ok", "external.download/ok", "external.reply/ok", "external.open/error"} {
		if !seen[want] {
			t.Errorf("no %s in the audit trail", want)
		}
	}
}
