package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/server"
	"caduceus/internal/server/servertest"
	"caduceus/internal/trust"
	"caduceus/internal/trust/trusttest"
)

// peerDomain is the other operator's domain in these tests.
const peerDomain = "peer.mssante.fr"

// trustNode starts a node in trust mode with an operator certificate of f
// named name, for the loopback addresses.
func trustNode(t *testing.T, f *trusttest.Fixture, name string, users []string, configure func(*config.Config)) *server.Server {
	t.Helper()
	_, cert, key := f.Operator(t, name, name, "localhost", "127.0.0.1")
	return servertest.Start(t, servertest.Options{Users: users, Configure: func(c *config.Config) {
		f.Configure(c, cert, key)
		if configure != nil {
			configure(c)
		}
	}})
}

// peerTLS is the TLS an operator client uses towards the node: its own
// certificate (none when leaf is nil), the test root as the only anchor.
func peerTLS(f *trusttest.Fixture, leaf *trusttest.Leaf) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(f.Root.Cert)
	c := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if leaf != nil {
		c.Certificates = []tls.Certificate{leaf.TLS()}
	}
	return c
}

// smtpCode returns the reply code and enhanced code of err.
func smtpCode(err error) (int, gosmtp.EnhancedCode, string) {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, se.EnhancedCode, se.Message
	}
	return 0, gosmtp.EnhancedCode{}, ""
}

// inbox returns the raw messages of addr's INBOX on srv.
func inbox(t *testing.T, srv *server.Server, addr string) []string {
	t.Helper()
	ctx := context.Background()
	sys := core.System("test")
	mb, err := srv.Core.MailboxByAddress(ctx, sys, addr)
	if err != nil {
		t.Fatal(err)
	}
	f, err := srv.Core.FolderByName(ctx, sys, mb.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := srv.Core.Messages(ctx, sys, f.ID, core.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		r, err := srv.Core.Open(ctx, sys, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// waitInbox waits until addr's INBOX on srv holds n messages, watching the
// mailbox's events, and returns them.
func waitInbox(t *testing.T, srv *server.Server, addr string, n int, within time.Duration) []string {
	t.Helper()
	mb, err := srv.Core.MailboxByAddress(context.Background(), core.System("test"), addr)
	if err != nil {
		t.Fatal(err)
	}
	w := srv.Core.Watch(mb.ID)
	defer w.Close()
	deadline := time.After(within)
	for {
		if msgs := inbox(t, srv, addr); len(msgs) >= n {
			return msgs
		}
		select {
		case <-w.C:
		case <-deadline:
			t.Fatalf("%s: fewer than %d messages after %v", addr, n, within)
		}
	}
}

// TestTrustInbound: the MX in trust mode refuses, with a reply naming the
// rule, a log line and a metric, every peer that breaks a rule, and takes
// mail from a whitelisted operator with a valid certificate, recording its
// subject in the Received field.
func TestTrustInbound(t *testing.T) {
	f := trusttest.NewFixture(t, servertest.Domain, peerDomain)
	good := f.Sub.Issue(t, "mx."+peerDomain, "mx."+peerDomain)
	revoked := f.Sub.Issue(t, "mx.revoque.mssante.fr")
	stranger := f.Other.Issue(t, "Clinique Sainte-Thérèse")
	f.Sub.Revoke(revoked.Cert)
	f.WriteCRL(t)
	srv := trustNode(t, f, "mx."+servertest.Domain, []string{"alice"}, nil)
	rcpt := "alice@" + servertest.Domain
	for _, c := range []struct {
		name     string
		starttls bool
		leaf     *trusttest.Leaf
		from     string
		code     int
		enhanced gosmtp.EnhancedCode
		rule     string
	}{
		{"no STARTTLS", false, &good, "doc@" + peerDomain, 530, gosmtp.EnhancedCode{5, 7, 0}, trust.RuleStartTLS},
		{"no client certificate", true, nil, "doc@" + peerDomain, 530, gosmtp.EnhancedCode{5, 7, 0}, trust.RuleClientCert},
		{"certificate of another CA", true, &stranger, "doc@" + peerDomain, 550, gosmtp.EnhancedCode{5, 7, 1}, trust.RuleChain},
		{"revoked certificate", true, &revoked, "doc@" + peerDomain, 550, gosmtp.EnhancedCode{5, 7, 1}, trust.RuleRevoked},
		{"sender off the whitelist", true, &good, "doc@gmail.com", 550, gosmtp.EnhancedCode{5, 7, 1}, trust.RuleWhitelist},
		{"accepted", true, &good, "doc@" + peerDomain, 0, gosmtp.EnhancedCode{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var cl *gosmtp.Client
			var err error
			if c.starttls {
				cl, err = gosmtp.DialStartTLS(srv.Addr("smtp"), peerTLS(f, c.leaf))
			} else {
				cl, err = gosmtp.Dial(srv.Addr("smtp"))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			before := srv.Trust.RefusalCount("smtp", c.rule)
			err = cl.Mail(c.from, nil)
			if c.code != 0 {
				code, enh, msg := smtpCode(err)
				if code != c.code || enh != c.enhanced {
					t.Fatalf("MAIL: %v, want %d %v", err, c.code, c.enhanced)
				}
				if c.rule != trust.RuleStartTLS && !strings.Contains(msg, "["+c.rule+"]") {
					t.Errorf("reply %q does not name rule %s", msg, c.rule)
				}
				if strings.ContainsFunc(msg, func(r rune) bool { return r >= 0x80 }) {
					t.Errorf("reply %q is not ASCII (RFC 5321 §4.2)", msg)
				}
				if c.rule == trust.RuleChain && !strings.Contains(msg, "CN=Clinique Sainte-Therese") {
					t.Errorf("reply %q does not name the certificate", msg)
				}
				if n := srv.Trust.RefusalCount("smtp", c.rule); n != before+1 {
					t.Errorf("refusals of %s: %v, want %v", c.rule, n, before+1)
				}
				return
			}
			if err != nil {
				t.Fatalf("MAIL: %v", err)
			}
			if err := cl.Rcpt(rcpt, nil); err != nil {
				t.Fatal(err)
			}
			w, err := cl.Data()
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, "From: doc@"+peerDomain+"\r\nTo: "+rcpt+"\r\nSubject: CR\r\n\r\nCompte rendu.\r\n")
			if err := w.Close(); err != nil {
				t.Fatalf("DATA: %v", err)
			}
			msgs := inbox(t, srv, rcpt)
			if len(msgs) != 1 || !strings.Contains(msgs[0], `client certificate "CN=mx.peer.mssante.fr,OU=MSSante,O=Operateur de test,C=FR" issued by "CN=AC IGC-SANTE TEST ORGANISATIONS`) {
				t.Fatalf("received messages: %q", msgs)
			}
		})
	}

	// TLS older than 1.2, or 1.2 without an allowed suite, fails the
	// handshake; the refusal is counted under its rule.
	for _, c := range []struct {
		name string
		cfg  func(*tls.Config)
		rule string
	}{
		{"TLS 1.1", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }, trust.RuleTLSVersion},
		{"CBC-SHA1 suite", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}
		}, trust.RuleCipher},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := peerTLS(f, &good)
			c.cfg(cfg)
			before := srv.Trust.RefusalCount("smtp", c.rule)
			cl, err := gosmtp.DialStartTLS(srv.Addr("smtp"), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.Noop(); err == nil { // the handshake happens here
				t.Fatal("handshake succeeded")
			}
			if n := srv.Trust.RefusalCount("smtp", c.rule); n != before+1 {
				t.Errorf("refusals of %s: %v, want %v", c.rule, n, before+1)
			}
		})
	}
}

// submit sends a message from user@servertest.Domain through srv's
// submission port and returns the error of the first step that fails.
func submit(t *testing.T, f *trusttest.Fixture, srv *server.Server, user, to, subject string) error {
	t.Helper()
	cl, err := gosmtp.DialStartTLS(srv.Addr("submission"), peerTLS(f, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	from := user + "@" + servertest.Domain
	if err := cl.Auth(sasl.NewPlainClient("", from, servertest.Password)); err != nil {
		t.Fatal(err)
	}
	return cl.SendMail(from, []string{to}, strings.NewReader("From: "+from+"\r\nTo: "+to+"\r\nSubject: "+subject+"\r\n\r\nBonjour.\r\n"))
}

// TestTrustOutbound: submission refuses a domain off the whitelist; mail to
// a whitelisted operator goes over mutual TLS and arrives with our
// certificate recorded; a peer whose certificate is not from the bundle
// never gets the message, which waits in the queue and bounces at expiry
// with a DSN that says why.
func TestTrustOutbound(t *testing.T) {
	f := trusttest.NewFixture(t, servertest.Domain, peerDomain)
	peer := trustNode(t, f, "mx."+peerDomain, nil, nil)
	if err := peer.Core.AddDomain(t.Context(), core.System("test"), peerDomain); err != nil {
		t.Fatal(err)
	}
	bob := "bob@" + peerDomain
	if _, err := peer.Core.AddUser(t.Context(), core.System("test"), core.NewUser{Address: bob, Name: "Bob", Password: servertest.Password, NotifyEmail: "bob@notify.example"}); err != nil {
		t.Fatal(err)
	}
	srv := trustNode(t, f, "mx."+servertest.Domain, []string{"alice"}, func(c *config.Config) {
		c.Delivery.Relay = peer.Addr("smtp")
	})

	err := submit(t, f, srv, "alice", "someone@gmail.com", "hors espace")
	if code, enh, msg := smtpCode(err); code != 550 || enh != (gosmtp.EnhancedCode{5, 7, 1}) || !strings.Contains(msg, "gmail.com is not on the MSSante whitelist") {
		t.Fatalf("submission to gmail.com: %v", err)
	}

	if err := submit(t, f, srv, "alice", bob, "dans l'espace"); err != nil {
		t.Fatalf("submission to %s: %v", bob, err)
	}
	msgs := waitInbox(t, peer, bob, 1, 20*time.Second)
	if !strings.Contains(msgs[0], `client certificate "CN=mx.test.mssante.fr`) || !strings.Contains(msgs[0], "Subject: dans l'espace") {
		t.Fatalf("at the peer: %q", msgs[0])
	}

	// A peer with a certificate from another authority.
	stranger := f.Other.Issue(t, "mx.imposteur.example", "localhost", "127.0.0.1")
	sc, sk := trusttest.WriteLeaf(t, f.Dir, "imposteur", stranger)
	impostor := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) {
		c.TLS.Cert, c.TLS.Key = sc, sk
	}})
	srv2 := trustNode(t, f, "mx2."+servertest.Domain, []string{"carol"}, func(c *config.Config) {
		c.Delivery.Relay = impostor.Addr("smtp")
		c.Delivery.RetryFirst = config.Duration{Duration: time.Second}
		c.Delivery.Expire = config.Duration{Duration: 3 * time.Second}
	})
	if err := submit(t, f, srv2, "carol", bob, "imposteur"); err != nil {
		t.Fatal(err)
	}
	carol := "carol@" + servertest.Domain
	dsn := waitInbox(t, srv2, carol, 1, 30*time.Second)[0]
	for _, want := range []string{"Status: 5.4.7", "not issued by a trusted authority", "certificate_chain"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn)
		}
	}
}
