package queue_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"caduceus/internal/certs/certstest"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/queue"
	"caduceus/internal/smtp"
	"caduceus/internal/smtp/smtptest"
)

const domain = coretest.Domain

var system = core.System("test")

func TestScheduleBacksOff(t *testing.T) {
	tests := []struct {
		s       queue.Schedule
		attempt int
		want    time.Duration
	}{
		{queue.Schedule{}, 1, 5 * time.Minute},
		{queue.Schedule{}, 2, 10 * time.Minute},
		{queue.Schedule{}, 4, 40 * time.Minute},
		{queue.Schedule{}, 6, 160 * time.Minute},
		{queue.Schedule{}, 7, 4 * time.Hour},
		{queue.Schedule{}, 1000, 4 * time.Hour},
		{queue.Schedule{First: time.Second, Max: 5 * time.Second}, 3, 4 * time.Second},
		{queue.Schedule{First: time.Second, Max: 5 * time.Second}, 4, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := tt.s.Delay(tt.attempt); got != tt.want {
			t.Errorf("%+v.Delay(%d) = %v, want %v", tt.s, tt.attempt, got, tt.want)
		}
	}
	// Five days of retries take a few dozen attempts, not thousands.
	var total time.Duration
	n := 0
	for total < 5*24*time.Hour {
		n++
		total += queue.Schedule{}.Delay(n)
	}
	if n < 20 || n > 40 {
		t.Errorf("%d attempts in five days", n)
	}
}

// resolver sends every domain to 127.0.0.1.
type resolver struct{}

func (resolver) LookupMX(context.Context, string) ([]*net.MX, error) {
	return []*net.MX{{Host: "127.0.0.1.", Pref: 10}}, nil
}

// fixture is a core with a submission door, a remote SMTP server on
// loopback with STARTTLS, and a queue delivering to it.
type fixture struct {
	svc    *core.Service
	sub    string
	remote *smtptest.Server
	tls    *gosmtp.Client
	alice  core.Actor
}

func newFixture(t *testing.T, opts queue.Options) *fixture {
	t.Helper()
	svc := coretest.New(t, coretest.Options{})
	f := &fixture{svc: svc, alice: coretest.User(t, svc, "alice", "Alice")}
	serverTLS, clientTLS := certstest.TLS(t)
	f.remote = smtptest.NewServer(t, serverTLS)
	_, port, _ := net.SplitHostPort(f.remote.Addr)
	if opts.Transport == nil {
		opts.Transport = &smtp.Outbound{Hostname: "mx." + domain, Port: port, Resolver: resolver{}, TLS: clientTLS}
	}
	opts.Schedule = queue.Schedule{First: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	opts.Poll = 200 * time.Millisecond

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	door := smtp.NewServer(svc, smtp.Options{Mode: smtp.Submission, TLS: serverTLS})
	go door.Serve(ln)
	f.sub = ln.Addr().String()
	c, err := gosmtp.DialStartTLS(f.sub, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@"+domain, coretest.Password)); err != nil {
		t.Fatal(err)
	}
	f.tls = c

	ctx, cancel := context.WithCancel(context.Background())
	q := queue.New(svc, opts)
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		door.Shutdown(context.Background())
	})
	return f
}

const body = "Résultats confidentiels du patient.\r\n"

// submit sends a message from alice to rcpt through the submission door.
func (f *fixture) submit(t *testing.T, rcpt string, opts *gosmtp.RcptOptions) {
	t.Helper()
	c := f.tls
	if err := c.Mail("alice@"+domain, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpt, opts); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: Alice <alice@" + domain + ">\r\nTo: <" + rcpt + ">\r\nSubject: Bilan\r\n\r\n" + body))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds; the test fails after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) queueLen(t *testing.T) int {
	t.Helper()
	l, err := f.svc.OutboundList(context.Background(), system)
	if err != nil {
		t.Fatal(err)
	}
	return len(l)
}

func (f *fixture) inbox(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	folder := coretest.Folder(t, f.svc, "alice@"+domain, "INBOX")
	msgs, err := f.svc.Messages(ctx, system, folder.ID, core.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		raw, err := f.svc.ReadMessage(ctx, system, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(raw))
	}
	return out
}

func TestRelayRetriesAfterTemporaryFailure(t *testing.T) {
	f := newFixture(t, queue.Options{})
	var rcptCalls atomic.Int32
	f.remote.OnRcpt(func(string) error {
		if rcptCalls.Add(1) == 1 {
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "Greylisted, try again"}
		}
		return nil
	})
	f.submit(t, "confrere@remote.example", nil)
	m := f.remote.Wait(t, 1)[0]
	if !m.TLS {
		t.Error("relayed in plain text though the server offers STARTTLS")
	}
	if m.From != "alice@"+domain || m.To[0] != "confrere@remote.example" {
		t.Errorf("envelope = %s -> %v", m.From, m.To)
	}
	if !strings.Contains(string(m.Data), "Message-Id: <") || !strings.HasSuffix(string(m.Data), body) {
		t.Errorf("relayed message:\n%s", m.Data)
	}
	if n := rcptCalls.Load(); n != 2 {
		t.Errorf("RCPT tried %d times, want 2", n)
	}
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if n := len(f.inbox(t)); n != 0 {
		t.Errorf("alice got %d notices for a delivered message", n)
	}
}

func TestFailureNoticeAfterPermanentFailure(t *testing.T) {
	f := newFixture(t, queue.Options{})
	f.remote.OnRcpt(func(string) error {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	})
	f.submit(t, "nobody@remote.example", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyFailure}})
	waitFor(t, "the failure notice", func() bool { return len(f.inbox(t)) == 1 })
	dsn := f.inbox(t)[0]
	for _, want := range []string{
		"From: Mail Delivery System <MAILER-DAEMON@mx." + domain + ">",
		"report-type=delivery-status", "Final-Recipient: rfc822; nobody@remote.example", "Action: failed",
		"Status: 5.1.1", "Remote-MTA: dns; 127.0.0.1", "Diagnostic-Code: smtp; 550 5.1.1 No such user here",
		"Subject: Bilan", "In-Reply-To: <",
	} {
		if !strings.Contains(dsn, want) {
			t.Errorf("notice lacks %q:\n%s", want, dsn)
		}
	}
	if strings.Contains(dsn, "confidentiels") {
		t.Error("the notice carries the message body")
	}
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if n := len(f.remote.Messages()); n != 0 {
		t.Errorf("remote got %d messages", n)
	}
}

func TestNoNoticeWhenNotifyNever(t *testing.T) {
	f := newFixture(t, queue.Options{})
	f.remote.OnRcpt(func(to string) error {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	})
	f.submit(t, "nobody@remote.example", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyNever}})
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if n := len(f.inbox(t)); n != 0 {
		t.Errorf("alice got %d notices though she asked for none", n)
	}
}

func TestExpiry(t *testing.T) {
	// The queue's clock runs six days ahead: every entry has expired.
	f := newFixture(t, queue.Options{Now: func() time.Time { return time.Now().Add(6 * 24 * time.Hour) }})
	f.remote.OnRcpt(func(string) error {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 2, 1}, Message: "Too busy"}
	})
	f.submit(t, "confrere@remote.example", nil)
	waitFor(t, "the expiry notice", func() bool { return len(f.inbox(t)) == 1 })
	dsn := f.inbox(t)[0]
	for _, want := range []string{"Status: 5.4.7", "Diagnostic-Code: smtp; 451 4.2.1 Too busy", "Action: failed"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("notice lacks %q:\n%s", want, dsn)
		}
	}
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
}

func TestDevOutbox(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, queue.Options{Transport: queue.DevOutbox{Dir: dir}})
	f.submit(t, "confrere@remote.example", nil)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	msgs, err := queue.ReadOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("outbox holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "alice@"+domain || len(m.To) != 1 || m.To[0] != "confrere@remote.example" || m.Subject != "Bilan" || m.Size == 0 {
		t.Errorf("outbox message = %+v", m)
	}
	if n := len(f.remote.Messages()); n != 0 {
		t.Errorf("dev mode sent %d messages off the machine", n)
	}
}

func TestReadOutboxMissingDir(t *testing.T) {
	msgs, err := queue.ReadOutbox(t.TempDir() + "/none")
	if err != nil || len(msgs) != 0 {
		t.Fatalf("ReadOutbox = %v, %v; want an empty outbox", msgs, err)
	}
}

func TestListRetryDrop(t *testing.T) {
	svc := coretest.New(t, coretest.Options{})
	alice := coretest.User(t, svc, "alice", "Alice")
	ctx := context.Background()
	for _, rcpt := range []string{"a@remote.example", "b@remote.example"} {
		_, err := svc.Submit(ctx, alice, core.Submission{MailFrom: "alice@" + domain, Recipients: []string{rcpt},
			Data: []byte("From: alice@" + domain + "\r\nSubject: x\r\n\r\nhi\r\n")})
		if err != nil {
			t.Fatal(err)
		}
	}
	q := queue.New(svc, queue.Options{Transport: queue.DevOutbox{Dir: t.TempDir()}})
	list, err := q.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if list[0].Rcpt != "a@remote.example" || list[0].MailFrom != "alice@"+domain || list[0].Size == 0 {
		t.Errorf("first entry = %+v", list[0])
	}
	if err := q.Retry(ctx, list[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := q.Drop(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if list, _ = q.List(ctx); len(list) != 1 || list[0].Rcpt != "b@remote.example" {
		t.Errorf("after drop: %+v", list)
	}
	if err := q.Retry(ctx, 9999); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Retry of a missing entry: %v, want ErrNotFound", err)
	}
	if problems, err := svc.Check(ctx, nil); err != nil || len(problems) != 0 {
		t.Errorf("check after drop: %v %v", problems, err)
	}
}

func TestRunNeedsTransport(t *testing.T) {
	svc := coretest.New(t, coretest.Options{})
	if err := queue.New(svc, queue.Options{}).Run(context.Background()); err == nil {
		t.Fatal("Run without a transport succeeded")
	}
}
