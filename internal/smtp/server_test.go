package smtp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"caduceus/internal/certs/certstest"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/smtp"
)

const domain = coretest.Domain

var system = core.System("test")

// testEnv is a core with an MX and a submission server on loopback.
type testEnv struct {
	svc       *core.Service
	mx        string
	sub       string
	clientTLS *tls.Config
	serverTLS *tls.Config
}

func newEnv(t *testing.T, opts smtp.Options) *testEnv {
	t.Helper()
	return newEnvOver(t, coretest.New(t, coretest.Options{MessageLimit: 64 << 10}), opts)
}

// newEnvOver is newEnv over a core the test made itself (with its own clock).
func newEnvOver(t *testing.T, svc *core.Service, opts smtp.Options) *testEnv {
	t.Helper()
	for _, u := range []string{"alice", "bob", "secretaire"} {
		coretest.User(t, svc, u, u)
	}
	serverTLS, clientTLS := certstest.TLS(t)
	e := &testEnv{svc: svc, clientTLS: clientTLS, serverTLS: serverTLS}
	opts.TLS = serverTLS
	opts.Mode = smtp.MX
	e.mx = serve(t, svc, opts)
	opts.Mode = smtp.Submission
	e.sub = serve(t, svc, opts)
	return e
}

func serve(t testing.TB, svc *core.Service, opts smtp.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(svc, opts)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// dial opens a client on addr; with tls it first says STARTTLS.
func (e *testEnv) dial(t *testing.T, addr string, useTLS bool) *gosmtp.Client {
	t.Helper()
	var c *gosmtp.Client
	var err error
	if useTLS {
		c, err = gosmtp.DialStartTLS(addr, e.clientTLS)
	} else {
		c, err = gosmtp.Dial(addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login opens an authenticated submission client for user.
func (e *testEnv) login(t *testing.T, user string) *gosmtp.Client {
	t.Helper()
	c := e.dial(t, e.sub, true)
	if err := c.Auth(sasl.NewPlainClient("", user+"@"+domain, coretest.Password)); err != nil {
		t.Fatalf("AUTH as %s: %v", user, err)
	}
	return c
}

// send runs one transaction and returns the error of the first command
// that failed.
func send(c *gosmtp.Client, from string, to []string, data string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(data)); err != nil {
		return err
	}
	return w.Close()
}

// wantCode checks that err is an SMTP reply with the given code and
// enhanced status.
func wantCode(t *testing.T, err error, code int, status string) {
	t.Helper()
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want reply %d %s", err, code, status)
	}
	got := fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	if se.Code != code || got != status {
		t.Fatalf("got reply %d %s %q, want %d %s", se.Code, got, se.Message, code, status)
	}
}

// folder returns the raw messages of one folder of a mailbox.
func (e *testEnv) folder(t *testing.T, user, name string) []string {
	t.Helper()
	ctx := context.Background()
	mb := coretest.Mailbox(t, e.svc, user+"@"+domain)
	var f core.Folder
	var err error
	if strings.HasPrefix(name, `\`) {
		f, err = e.svc.FolderByUse(ctx, system, mb.ID, name)
	} else {
		f, err = e.svc.FolderByName(ctx, system, mb.ID, name)
	}
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.svc.Messages(ctx, system, f.ID, core.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		raw, err := e.svc.ReadMessage(ctx, system, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(raw))
	}
	return out
}

func message(from, to, id string) string {
	return "From: " + from + "\r\nTo: " + to + "\r\nSubject: Bilan\r\nMessage-ID: <" + id + ">\r\n" +
		"Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n\r\nCorps du message.\r\n"
}

func TestMXDeliversToInbox(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	for _, useTLS := range []bool{false, true} {
		c := e.dial(t, e.mx, useTLS)
		data := message("x@remote.example", "alice@"+domain, fmt.Sprintf("mx-%v@remote.example", useTLS))
		if err := send(c, "x@remote.example", []string{"alice@" + domain, "bob@" + domain}, data); err != nil {
			t.Fatalf("TLS %v: %v", useTLS, err)
		}
	}
	for _, user := range []string{"alice", "bob"} {
		msgs := e.folder(t, user, "INBOX")
		if len(msgs) != 2 {
			t.Fatalf("%s has %d messages, want 2", user, len(msgs))
		}
		for i, with := range []string{"with ESMTP ", "with ESMTPS (TLS1.3"} {
			m := msgs[i]
			if !strings.HasPrefix(m, "Return-Path: <x@remote.example>\r\nReceived: from localhost ([127.0.0.1])\r\n") {
				t.Errorf("%s message %d does not start with our trace fields:\n%s", user, i, m)
			}
			if !strings.Contains(m, with) {
				t.Errorf("%s message %d: Received lacks %q:\n%s", user, i, with, m)
			}
			if strings.Contains(m, "for <") {
				t.Errorf("Received names a recipient of a message with two:\n%s", m)
			}
			if !strings.HasSuffix(m, "\r\n\r\nCorps du message.\r\n") {
				t.Errorf("body changed:\n%s", m)
			}
		}
	}
}

func TestMXNullSenderAndOneRecipient(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	c := e.dial(t, e.mx, false)
	if err := send(c, "", []string{"alice@" + domain}, message("MAILER-DAEMON@remote.example", "alice@"+domain, "b@r")); err != nil {
		t.Fatal(err)
	}
	m := e.folder(t, "alice", "INBOX")[0]
	if !strings.HasPrefix(m, "Return-Path: <>\r\n") || !strings.Contains(m, "for <alice@"+domain+">;") {
		t.Errorf("trace fields wrong:\n%s", m)
	}
}

func TestMXRefusals(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	tests := []struct {
		name, from, to string
		code           int
		status         string
	}{
		{"unknown recipient", "x@remote.example", "nobody@" + domain, 550, "5.1.1"},
		{"relaying", "x@remote.example", "someone@elsewhere.example", 550, "5.7.1"},
		{"bad recipient syntax", "x@remote.example", "a..b@" + domain, 553, "5.1.3"},
		{"bad sender syntax", "x@@remote.example", "alice@" + domain, 553, "5.1.7"},
		{"UTF-8 without SMTPUTF8", "médecin@remote.example", "alice@" + domain, 553, "5.6.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(t, e.mx, false)
			wantCode(t, send(c, tt.from, []string{tt.to}, message(tt.from, tt.to, "r@x")), tt.code, tt.status)
		})
	}
	if n := len(e.folder(t, "alice", "INBOX")); n != 0 {
		t.Errorf("alice got %d messages from refused transactions", n)
	}
}

func TestMXQuota(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	ctx := context.Background()
	alice := coretest.Mailbox(t, e.svc, "alice@"+domain)
	if err := e.svc.SetQuota(ctx, system, alice.ID, 600); err != nil {
		t.Fatal(err)
	}
	c := e.dial(t, e.mx, false)
	// A message larger than the room left is refused at the end of DATA.
	big := message("x@remote.example", "alice@"+domain, "big@x") + strings.Repeat("x", 700) + "\r\n"
	wantCode(t, send(c, "x@remote.example", []string{"alice@" + domain}, big), 452, "4.2.2")
	// One that fits is taken; then the mailbox is full and RCPT says so.
	if err := send(c, "x@remote.example", []string{"alice@" + domain}, message("x@remote.example", "alice@"+domain, "small@x")+strings.Repeat("y", 200)); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetQuota(ctx, system, alice.ID, 100); err != nil {
		t.Fatal(err)
	}
	wantCode(t, send(c, "x@remote.example", []string{"alice@" + domain}, message("x@remote.example", "alice@"+domain, "more@x")), 452, "4.2.2")
	if n := len(e.folder(t, "alice", "INBOX")); n != 1 {
		t.Errorf("alice has %d messages, want 1", n)
	}
}

func TestMXSizeLimit(t *testing.T) {
	e := newEnv(t, smtp.Options{MaxMessageBytes: 8 << 10})
	c := e.dial(t, e.mx, false)
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if size, ok := c.MaxMessageSize(); !ok || size != 8<<10 {
		t.Fatalf("SIZE = %d, %v; want 8192", size, ok)
	}
	// Declared too big: refused at MAIL, before any data is sent. RFC 1870 §6.1.
	err := c.Mail("x@remote.example", &gosmtp.MailOptions{Size: 9 << 10})
	wantCode(t, err, 552, "5.3.4")
	// Not declared: refused at the end of DATA, and not stored.
	big := message("x@remote.example", "alice@"+domain, "big@x") + strings.Repeat(strings.Repeat("z", 98)+"\r\n", 90)
	wantCode(t, send(c, "x@remote.example", []string{"alice@" + domain}, big), 552, "5.3.4")
	// The session goes on.
	if err := send(c, "x@remote.example", []string{"alice@" + domain}, message("x@remote.example", "alice@"+domain, "ok@x")); err != nil {
		t.Fatal(err)
	}
	if n := len(e.folder(t, "alice", "INBOX")); n != 1 {
		t.Errorf("alice has %d messages, want only the small one", n)
	}
}

func TestCapabilities(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	common := []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN", "SIZE", "CHUNKING"}
	tests := []struct {
		name    string
		addr    string
		tls     bool
		has     []string
		hasNot  []string
		authArg string
	}{
		{"MX", e.mx, false, append([]string{"STARTTLS"}, common...), []string{"AUTH"}, ""},
		{"MX over TLS", e.mx, true, common, []string{"AUTH", "STARTTLS"}, ""},
		{"submission before TLS", e.sub, false, append([]string{"STARTTLS"}, common...), []string{"AUTH"}, ""},
		{"submission over TLS", e.sub, true, append([]string{"AUTH"}, common...), []string{"STARTTLS"}, "PLAIN LOGIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(t, tt.addr, tt.tls)
			for _, ext := range tt.has {
				if ok, _ := c.Extension(ext); !ok {
					t.Errorf("%s not advertised", ext)
				}
			}
			for _, ext := range tt.hasNot {
				if ok, _ := c.Extension(ext); ok {
					t.Errorf("%s advertised", ext)
				}
			}
			if tt.authArg != "" {
				if _, arg := c.Extension("AUTH"); arg != tt.authArg {
					t.Errorf("AUTH %q, want %q", arg, tt.authArg)
				}
			}
		})
	}
}

// raw is a plain-text SMTP connection for what go-smtp's client does not
// do: pipelining, BDAT.
type raw struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := &raw{t: t, conn: conn, r: bufio.NewReader(conn)}
	r.expect("220")
	return r
}

func (r *raw) write(s string) {
	r.t.Helper()
	if _, err := r.conn.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

// expect reads one reply, skipping continuation lines, and checks its start.
func (r *raw) expect(prefix string) string {
	r.t.Helper()
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			r.t.Fatalf("reading reply: %v", err)
		}
		if len(line) > 3 && line[3] == '-' {
			continue
		}
		if !strings.HasPrefix(line, prefix) {
			r.t.Fatalf("reply %q, want %q", strings.TrimSpace(line), prefix)
		}
		return line
	}
}

func TestPipelining(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	r := dialRaw(t, e.mx)
	r.write("EHLO client.example\r\n")
	r.expect("250 ")
	// RFC 2920 §3.1: the whole envelope in one write, one reply each.
	r.write("MAIL FROM:<x@remote.example>\r\nRCPT TO:<alice@" + domain + ">\r\nRCPT TO:<nobody@" + domain + ">\r\nRCPT TO:<bob@" + domain + ">\r\nDATA\r\n")
	r.expect("250 2.0.0")
	r.expect("250 2.0.0")
	r.expect("550 5.1.1")
	r.expect("250 2.0.0")
	r.expect("354")
	r.write(message("x@remote.example", "alice@"+domain, "pipe@x") + ".\r\nQUIT\r\n")
	r.expect("250 2.0.0")
	r.expect("221")
	for _, u := range []string{"alice", "bob"} {
		if n := len(e.folder(t, u, "INBOX")); n != 1 {
			t.Errorf("%s has %d messages, want 1", u, n)
		}
	}
}

func TestChunking(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	r := dialRaw(t, e.mx)
	r.write("EHLO client.example\r\n")
	r.expect("250 ")
	data := message("x@remote.example", "alice@"+domain, "bdat@x")
	half := len(data) / 2
	// RFC 3030 §2: the message in two chunks, the last one marked LAST.
	r.write("MAIL FROM:<x@remote.example>\r\nRCPT TO:<alice@" + domain + ">\r\n")
	r.expect("250")
	r.expect("250")
	r.write(fmt.Sprintf("BDAT %d\r\n%s", half, data[:half]))
	r.expect("250")
	r.write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(data)-half, data[half:]))
	r.expect("250 2.0.0")
	msgs := e.folder(t, "alice", "INBOX")
	if len(msgs) != 1 || !strings.HasSuffix(msgs[0], data) {
		t.Fatalf("inbox = %q", msgs)
	}
}

func TestSMTPUTF8(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	c := e.dial(t, e.mx, false)
	if err := c.Mail("médecin@hôpital.example", &gosmtp.MailOptions{UTF8: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@"+domain, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: Médecin <médecin@hôpital.example>\r\nSubject: Résultat\r\n\r\nÉté\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m := e.folder(t, "alice", "INBOX")[0]
	if !strings.Contains(m, "with UTF8SMTP ") || !strings.HasPrefix(m, "Return-Path: <médecin@hôpital.example>") {
		t.Errorf("trace fields do not show SMTPUTF8:\n%s", m)
	}
}

func TestSubmission(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	c := e.login(t, "alice")
	from := "alice@" + domain
	// No Message-ID, no Date: the submission server adds them (RFC 6409 §8).
	data := "From: Alice <" + from + ">\r\nTo: bob@" + domain + ", x@remote.example\r\nSubject: Bilan\r\n\r\nCorps.\r\n"
	if err := send(c, from, []string{"bob@" + domain, "x@remote.example"}, data); err != nil {
		t.Fatal(err)
	}
	bob := e.folder(t, "bob", "INBOX")
	if len(bob) != 1 {
		t.Fatalf("bob has %d messages, want 1", len(bob))
	}
	for _, f := range []string{"Message-Id: <", "Date: ", "Received: from localhost ([127.0.0.1])\r\n\tby ", "with ESMTPSA (TLS1.3"} {
		if !strings.Contains(bob[0], f) {
			t.Errorf("delivered message lacks %q:\n%s", f, bob[0])
		}
	}
	if sent := e.folder(t, "alice", `\Sent`); len(sent) != 1 || !strings.HasSuffix(sent[0], "\r\n\r\nCorps.\r\n") {
		t.Errorf("Sent folder = %q, want the copy", sent)
	}
	queued, err := e.svc.OutboundList(context.Background(), system)
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) != 1 || queued[0].Rcpt != "x@remote.example" || queued[0].MailFrom != from {
		t.Errorf("outbound queue = %+v, want x@remote.example from alice", queued)
	}
}

func TestSubmissionAuth(t *testing.T) {
	e := newEnv(t, smtp.Options{AuthFailureDelay: time.Millisecond})
	t.Run("LOGIN", func(t *testing.T) {
		c := e.dial(t, e.sub, true)
		if err := c.Auth(sasl.NewLoginClient("bob@"+domain, coretest.Password)); err != nil {
			t.Fatal(err)
		}
		if err := send(c, "bob@"+domain, []string{"alice@" + domain}, message("bob@"+domain, "alice@"+domain, "login@x")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no AUTH before TLS", func(t *testing.T) {
		c := e.dial(t, e.sub, false)
		err := c.Auth(sasl.NewPlainClient("", "bob@"+domain, coretest.Password))
		if err == nil {
			t.Fatal("AUTH accepted in plain text")
		}
	})
	t.Run("no MAIL before AUTH", func(t *testing.T) {
		c := e.dial(t, e.sub, true)
		wantCode(t, c.Mail("bob@"+domain, nil), 530, "5.7.0")
	})
	t.Run("wrong password", func(t *testing.T) {
		c := e.dial(t, e.sub, true)
		wantCode(t, c.Auth(sasl.NewPlainClient("", "bob@"+domain, "wrong")), 535, "5.7.8")
	})
	t.Run("authorization identity of another user", func(t *testing.T) {
		c := e.dial(t, e.sub, true)
		wantCode(t, c.Auth(sasl.NewPlainClient("alice@"+domain, "bob@"+domain, coretest.Password)), 535, "5.7.8")
	})
}

func TestSubmissionAuthLockout(t *testing.T) {
	// A stopped core clock: under load argon2id checks can take longer than
	// the delays the core imposes.
	clock := coretest.NewClock(time.Now())
	e := newEnvOver(t, coretest.New(t, coretest.Options{MessageLimit: 64 << 10, Now: clock.Now}), smtp.Options{AuthFailureDelay: 20 * time.Millisecond})
	// Failures are slowed down; after the free ones the core makes the
	// account wait. (go-smtp's client answers a failed AUTH with a stray
	// "*", which its server counts as a protocol error: each attempt gets its
	// own connection, as a guessing client's would.)
	free := core.DefaultLoginPolicy().AccountFree
	for i := range free {
		c := e.dial(t, e.sub, true)
		start := time.Now()
		wantCode(t, c.Auth(sasl.NewPlainClient("", "bob@"+domain, fmt.Sprint("guess", i))), 535, "5.7.8")
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Errorf("failure %d answered in %v: not slowed down", i, d)
		}
	}
	c := e.dial(t, e.sub, true)
	wantCode(t, c.Auth(sasl.NewPlainClient("", "bob@"+domain, coretest.Password)), 454, "4.7.0")
	// Another account from the same address still logs in.
	c2 := e.dial(t, e.sub, true)
	if err := c2.Auth(sasl.NewLoginClient("alice@"+domain, coretest.Password)); err != nil {
		t.Fatalf("alice after bob's failures: %v", err)
	}
}

func TestSubmissionRights(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	ctx := context.Background()
	bob := coretest.Mailbox(t, e.svc, "bob@"+domain)
	alice := coretest.Mailbox(t, e.svc, "alice@"+domain)
	// secretaire may send on behalf of bob, and as alice.
	if err := e.svc.SetRights(ctx, system, bob.ID, "secretaire@"+domain, core.RightSendOnBehalf); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetRights(ctx, system, alice.ID, "secretaire@"+domain, core.RightSendAs); err != nil {
		t.Fatal(err)
	}
	self := "secretaire@" + domain
	tests := []struct {
		name, mailFrom, fromField string
		code                      int
		status, sender            string
	}{
		{"own address", self, self, 0, "", ""},
		{"send-as", "alice@" + domain, "alice@" + domain, 0, "", ""},
		{"send-on-behalf adds Sender", "bob@" + domain, "bob@" + domain, 0, "", self},
		{"MAIL FROM without the right", "x@remote.example", self, 550, "5.7.1", ""},
		{"MAIL FROM of a local user without the right", "bob@" + domain, "bob@" + domain, 0, "", ""},
		{"From: without the right", self, "x@remote.example", 550, "5.7.1", ""},
	}
	// bob's right is revoked for the fifth case; run it after the others.
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if i == 4 {
				if err := e.svc.SetRights(ctx, system, bob.ID, "secretaire@"+domain, 0); err != nil {
					t.Fatal(err)
				}
				tt.code, tt.status = 550, "5.7.1"
			}
			c := e.login(t, "secretaire")
			id := fmt.Sprintf("rights-%d@x", i)
			err := send(c, tt.mailFrom, []string{"alice@" + domain}, message(tt.fromField, "alice@"+domain, id))
			if tt.code != 0 {
				wantCode(t, err, tt.code, tt.status)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, m := range e.folder(t, "alice", "INBOX") {
				if strings.Contains(m, "<"+id+">") {
					got = m
				}
			}
			if got == "" {
				t.Fatal("message not delivered")
			}
			if !strings.HasPrefix(got, "Received: from localhost ([127.0.0.1])\r\n") {
				t.Errorf("our Received field is not on top:\n%s", got)
			}
			got = "\r\n" + got
			hasSender := strings.Contains(got, "\r\nSender: ")
			if tt.sender == "" && hasSender || tt.sender != "" && !strings.Contains(got, "\r\nSender: "+tt.sender) {
				t.Errorf("Sender field wrong (want %q):\n%s", tt.sender, got)
			}
		})
	}
}

func TestSubmissions(t *testing.T) {
	svc := coretest.New(t, coretest.Options{})
	coretest.User(t, svc, "alice", "Alice")
	serverTLS, clientTLS := certstest.TLS(t)
	addr := serve(t, svc, smtp.Options{Mode: smtp.Submissions, TLS: serverTLS})
	c, err := gosmtp.DialTLS(addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "alice@"+domain, coretest.Password)); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "alice@"+domain, []string{"alice@" + domain}, message("alice@"+domain, "alice@"+domain, "465@x")); err != nil {
		t.Fatal(err)
	}
}

func TestSubmissionNeedsTLS(t *testing.T) {
	svc := coretest.New(t, coretest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := smtp.NewServer(svc, smtp.Options{Mode: smtp.Submission}).Serve(ln); err == nil {
		t.Fatal("submission served without TLS")
	}
}

func TestDeliveredNotices(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	ctx := context.Background()
	success := &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess}, OriginalRecipient: "Bob@" + domain, OriginalRecipientType: gosmtp.DSNAddressTypeRFC822}

	// Through submission, to a local recipient: the notice lands in the
	// sender's Inbox.
	c := e.login(t, "alice")
	if err := c.Mail("alice@"+domain, &gosmtp.MailOptions{EnvelopeID: "env-42"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@"+domain, success); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(message("alice@"+domain, "bob@"+domain, "dsn-1@x")))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	inbox := e.folder(t, "alice", "INBOX")
	if len(inbox) != 1 {
		t.Fatalf("alice has %d messages, want the delivered notice", len(inbox))
	}
	for _, want := range []string{"Action: delivered", "Status: 2.0.0", "Final-Recipient: rfc822; bob@" + domain,
		"Original-Recipient: rfc822; Bob@" + domain, "Original-Envelope-Id: env-42", "In-Reply-To: <dsn-1@x>"} {
		if !strings.Contains(inbox[0], want) {
			t.Errorf("notice lacks %q:\n%s", want, inbox[0])
		}
	}
	if strings.Contains(inbox[0], "Corps du message") {
		t.Error("the notice carries the body")
	}

	// Through the MX, from a remote sender: the notice is queued for them,
	// with a null reverse-path.
	mx := e.dial(t, e.mx, false)
	if err := mx.Mail("x@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := mx.Rcpt("bob@"+domain, success); err != nil {
		t.Fatal(err)
	}
	if err := mx.Rcpt("alice@"+domain, nil); err != nil {
		t.Fatal(err)
	}
	w, err = mx.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(message("x@remote.example", "bob@"+domain, "dsn-2@x")))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	queued, err := e.svc.OutboundList(ctx, system)
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) != 1 || queued[0].MailFrom != "" || queued[0].Rcpt != "x@remote.example" {
		t.Fatalf("queue = %+v, want one notice to x@remote.example from <>", queued)
	}
}

func TestShutdown(t *testing.T) {
	svc := coretest.New(t, coretest.Options{})
	coretest.User(t, svc, "alice", "Alice")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(svc, smtp.Options{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	c, err := gosmtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := send(c, "x@remote.example", []string{"alice@" + domain}, message("x@remote.example", "alice@"+domain, "before@x")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if err := c.Noop(); err == nil {
		t.Error("an idle connection survived Shutdown")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the listener still accepts")
	}
}

// Each connection runs on a context of its own: a client that goes away in
// the middle of DATA ends its session's context, and nothing of its
// half-sent message is stored, while another session goes on and delivers;
// Shutdown ends the contexts of the sessions left.
func TestSessionContextPerConnection(t *testing.T) {
	svc := coretest.New(t, coretest.Options{})
	coretest.User(t, svc, "alice", "Alice")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(svc, smtp.Options{})
	started := smtp.SessionContexts(srv)
	go srv.Serve(ln)
	session := func() (*gosmtp.Client, context.Context) {
		t.Helper()
		c, err := gosmtp.Dial(ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Hello("client.example"); err != nil {
			t.Fatal(err)
		}
		select {
		case ctx := <-started:
			return c, ctx
		case <-time.After(5 * time.Second):
			t.Fatal("no session started")
		}
		return nil, nil
	}
	quitter, quitterCtx := session()
	stayer, stayerCtx := session()

	// The quitter sends half a message and hangs up.
	if err := quitter.Mail("x@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := quitter.Rcpt("alice@"+domain, nil); err != nil {
		t.Fatal(err)
	}
	w, err := quitter.Data()
	if err != nil {
		t.Fatal(err)
	}
	half := message("x@remote.example", "alice@"+domain, "half@x")
	if _, err := w.Write([]byte(half[:len(half)/2])); err != nil {
		t.Fatal(err)
	}
	quitter.Close()
	select {
	case <-quitterCtx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the session's context lives on after its client hung up in the middle of DATA")
	}
	if err := stayerCtx.Err(); err != nil {
		t.Fatalf("another session's context ended with the quitter's: %v", err)
	}
	if err := send(stayer, "x@remote.example", []string{"alice@" + domain}, message("x@remote.example", "alice@"+domain, "whole@x")); err != nil {
		t.Fatalf("the other session: %v", err)
	}
	f := coretest.Folder(t, svc, "alice@"+domain, "INBOX")
	msgs, err := svc.Messages(t.Context(), system, f.ID, core.MessageQuery{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("inbox holds %d messages (%v), want the whole one only", len(msgs), err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if stayerCtx.Err() == nil {
		t.Error("Shutdown left a session's context alive")
	}
}
