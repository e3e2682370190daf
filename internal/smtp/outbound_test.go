package smtp_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"caduceus/internal/certs/certstest"
	"caduceus/internal/smtp"
	"caduceus/internal/smtp/smtptest"
)

// noSuchHost is a dialer for which no host name exists.
type noSuchHost struct{}

func (noSuchHost) DialContext(_ context.Context, _, addr string) (net.Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}}
}

// resolver answers MX lookups from a table; a missing domain does not exist.
type resolver map[string][]*net.MX

func (r resolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if name == "dns-broken.example" {
		return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	mx, ok := r[name]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return mx, nil
}

func content(s string) smtp.Content {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}

const testMessage = "From: a@caduceus.example\r\nTo: b@remote.example\r\nSubject: test\r\n\r\nhello\r\n"

func rcpts(addrs ...string) []smtp.Recipient {
	var r []smtp.Recipient
	for _, a := range addrs {
		r = append(r, smtp.Recipient{Address: a})
	}
	return r
}

func TestOutboundDeliversOverSTARTTLS(t *testing.T) {
	serverTLS, clientTLS := certstest.TLS(t)
	srv := smtptest.NewServer(t, serverTLS)
	_, port, _ := net.SplitHostPort(srv.Addr)
	o := &smtp.Outbound{
		Hostname: "out.caduceus.example",
		Port:     port,
		TLS:      clientTLS,
		Resolver: resolver{
			// The first exchanger refuses connections: the next one is tried.
			"remote.example": {{Host: "127.0.0.2.", Pref: 5}, {Host: "127.0.0.1.", Pref: 10}},
		},
	}
	res := o.Deliver(context.Background(), smtp.Envelope{From: "a@caduceus.example", To: rcpts("b@remote.example", "c@REMOTE.example")}, content(testMessage))
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Recipient, r.Err)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1 transaction for the domain", len(msgs))
	}
	m := msgs[0]
	if !m.TLS {
		t.Error("message was sent in plain text though the server offers STARTTLS")
	}
	if m.From != "a@caduceus.example" || strings.Join(m.To, ",") != "b@remote.example,c@REMOTE.example" {
		t.Errorf("envelope = %s -> %v", m.From, m.To)
	}
	if string(m.Data) != testMessage {
		t.Errorf("data = %q", m.Data)
	}
}

func TestOutboundRelayWithAuthNeedsTLS(t *testing.T) {
	srv := smtptest.NewServer(t, nil)
	o := &smtp.Outbound{Relay: srv.Addr, RelayUsername: "u", RelayPassword: "p"}
	res := o.Deliver(context.Background(), smtp.Envelope{From: "a@caduceus.example", To: rcpts("b@x.example")}, content(testMessage))
	if res[0].Err == nil || !res[0].Err.Temporary() || res[0].Err.Status() != "4.7.10" {
		t.Fatalf("result = %v, want a temporary 4.7.10 failure", res[0].Err)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("relay got the message in plain text")
	}
}

func TestOutboundRelay(t *testing.T) {
	srv := smtptest.NewServer(t, nil)
	o := &smtp.Outbound{Relay: srv.Addr, Resolver: resolver{}}
	env := smtp.Envelope{
		From:       "a@caduceus.example",
		To:         []smtp.Recipient{{Address: "b@x.example", Notify: []string{"SUCCESS", "FAILURE"}, Original: "B@x.example"}, {Address: "c@y.example"}},
		EnvelopeID: "env-1",
		Return:     "HDRS",
		Size:       int64(len(testMessage)),
	}
	res := o.Deliver(context.Background(), env, content(testMessage))
	for _, r := range res {
		if r.Err != nil || r.Remote == "" {
			t.Fatalf("%s: %v (remote %q)", r.Recipient, r.Err, r.Remote)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("relay got %d transactions, want 1 for both domains", len(msgs))
	}
	m := msgs[0]
	if m.Opts.EnvelopeID != "env-1" || m.Opts.Return != gosmtp.DSNReturnHeaders || m.Opts.Size != int64(len(testMessage)) {
		t.Errorf("MAIL options = %+v, want ENVID, RET and SIZE passed on", m.Opts)
	}
	if got := m.Rcpt[0]; len(got.Notify) != 2 || got.OriginalRecipient != "B@x.example" {
		t.Errorf("RCPT options = %+v, want NOTIFY and ORCPT passed on", got)
	}
}

func TestOutboundPerRecipientReplies(t *testing.T) {
	srv := smtptest.NewServer(t, nil)
	srv.OnRcpt(func(to string) error {
		switch {
		case strings.HasPrefix(to, "busy"):
			return &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
		case strings.HasPrefix(to, "nobody"):
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		return nil
	})
	o := &smtp.Outbound{Relay: srv.Addr}
	res := o.Deliver(context.Background(), smtp.Envelope{From: "a@caduceus.example", To: rcpts("busy@x.example", "ok@x.example", "nobody@x.example")}, content(testMessage))
	want := []struct {
		rcpt, status string
		temporary    bool
	}{
		{"busy@x.example", "4.2.2", true},
		{"ok@x.example", "", false},
		{"nobody@x.example", "5.1.1", false},
	}
	for i, w := range want {
		r := res[i]
		if r.Recipient != w.rcpt {
			t.Fatalf("result %d for %s, want %s", i, r.Recipient, w.rcpt)
		}
		if w.status == "" {
			if r.Err != nil {
				t.Errorf("%s: %v, want delivered", w.rcpt, r.Err)
			}
			continue
		}
		if r.Err == nil || r.Err.Status() != w.status || r.Err.Temporary() != w.temporary || r.Err.Remote == "" {
			t.Errorf("%s: %v, want %s from the remote", w.rcpt, r.Err, w.status)
		}
	}
	if msgs := srv.Messages(); len(msgs) != 1 || strings.Join(msgs[0].To, ",") != "ok@x.example" {
		t.Errorf("server got %+v, want one message for ok@x.example", msgs)
	}
}

func TestOutboundFailures(t *testing.T) {
	plain := smtptest.NewServer(t, nil)
	_, plainPort, _ := net.SplitHostPort(plain.Addr)
	serverTLS, _ := certstest.TLS(t)
	tlsSrv := smtptest.NewServer(t, serverTLS)
	_, tlsPort, _ := net.SplitHostPort(tlsSrv.Addr)
	dataRefused := smtptest.NewServer(t, nil)
	dataRefused.OnData(func(string, []string) error {
		return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "Content refused"}
	})
	_, dataPort, _ := net.SplitHostPort(dataRefused.Addr)
	mailRefused := smtptest.NewServer(t, nil)
	mailRefused.OnRcpt(func(string) error {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Try later"}
	})
	_, busyPort, _ := net.SplitHostPort(mailRefused.Addr)

	local := []*net.MX{{Host: "127.0.0.1.", Pref: 10}}
	mxs := resolver{
		"nullmx.example": {{Host: ".", Pref: 0}},
		"down.example":   {{Host: "127.0.0.2.", Pref: 10}},
		"ok.example":     local,
	}
	tests := []struct {
		name      string
		o         smtp.Outbound
		to        string
		utf8      bool
		status    string
		temporary bool
	}{
		{"null MX", smtp.Outbound{Resolver: mxs}, "x@nullmx.example", false, "5.1.10", false},
		{"DNS failure", smtp.Outbound{Resolver: mxs}, "x@dns-broken.example", false, "4.4.3", true},
		{"no server", smtp.Outbound{Resolver: mxs, Port: plainPort}, "x@down.example", false, "4.4.1", true},
		{"domain does not exist", smtp.Outbound{Resolver: mxs, Dialer: noSuchHost{}}, "x@does-not-exist.invalid", false, "5.1.2", false},
		{"untrusted certificate", smtp.Outbound{Resolver: mxs, Port: tlsPort}, "x@ok.example", false, "4.7.0", true},
		{"TLS required", smtp.Outbound{Resolver: mxs, Port: plainPort, RequireTLS: true}, "x@ok.example", false, "4.7.10", true},
		{"DATA refused", smtp.Outbound{Resolver: mxs, Port: dataPort}, "x@ok.example", false, "5.6.0", false},
		{"RCPT deferred", smtp.Outbound{Resolver: mxs, Port: busyPort}, "x@ok.example", false, "4.3.0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.o.Deliver(context.Background(), smtp.Envelope{From: "a@caduceus.example", To: rcpts(tt.to), UTF8: tt.utf8}, content(testMessage))
			if len(res) != 1 {
				t.Fatalf("%d results, want 1", len(res))
			}
			e := res[0].Err
			if e == nil || e.Status() != tt.status || e.Temporary() != tt.temporary {
				t.Fatalf("result = %v, want status %s (temporary %v)", e, tt.status, tt.temporary)
			}
		})
	}
	if n := len(tlsSrv.Messages()); n != 0 {
		t.Errorf("server with an untrusted certificate got %d messages: fell back to plain text", n)
	}
}

func TestOutboundUTF8(t *testing.T) {
	srv := smtptest.NewServer(t, nil)
	o := &smtp.Outbound{Relay: srv.Addr}
	env := smtp.Envelope{From: "médecin@caduceus.example", To: rcpts("patient@hôpital.example"), UTF8: true}
	res := o.Deliver(context.Background(), env, content(testMessage))
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if m := srv.Messages(); len(m) != 1 || !m[0].Opts.UTF8 || m[0].To[0] != "patient@hôpital.example" {
		t.Fatalf("server got %+v, want one SMTPUTF8 message", m)
	}
}

func TestOutboundHonoursContext(t *testing.T) {
	srv := smtptest.NewServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := &smtp.Outbound{Relay: srv.Addr}
	res := o.Deliver(ctx, smtp.Envelope{From: "a@caduceus.example", To: rcpts("b@x.example")}, content(testMessage))
	if res[0].Err == nil || !res[0].Err.Temporary() {
		t.Fatalf("result = %v, want a temporary failure", res[0].Err)
	}
}
