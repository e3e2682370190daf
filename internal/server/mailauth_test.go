package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"caduceus/internal/audit"
	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/server"
	"caduceus/internal/server/servertest"
)

// devicesOnly starts a node as production runs by default: the bare
// account password is refused by IMAP and submission.
func devicesOnly(t *testing.T, users ...string) *server.Server {
	t.Helper()
	return servertest.Start(t, servertest.Options{Users: users, Configure: func(c *config.Config) {
		c.Auth.AccountPasswordForMail = false
	}})
}

// clientCert makes a self-signed client certificate, as an application's
// software would hold.
func clientCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"CH de Test"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func imapDial(t *testing.T, srv *server.Server, cert *tls.Certificate) *imapclient.Client {
	t.Helper()
	cfg := servertest.ClientTLS(t, srv)
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := imapclient.DialTLS(srv.Addr("imaps"), &imapclient.Options{TLSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func submissionDial(t *testing.T, srv *server.Server, cert *tls.Certificate) *gosmtp.Client {
	t.Helper()
	cfg := servertest.ClientTLS(t, srv)
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := gosmtp.DialTLS(srv.Addr("submissions"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sendTo(t *testing.T, c *gosmtp.Client, from, to, subject string) error {
	t.Helper()
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nCompte rendu.\r\n", from, to, subject)
	return c.SendMail(from, []string{to}, strings.NewReader(msg))
}

// A device credential opens IMAP and SMTP submission; the bare account
// password is refused on both with the advice to enrol a device.
func TestDeviceCredentialOverIMAPAndSubmission(t *testing.T) {
	srv := devicesOnly(t, "alice", "bob")
	ctx := context.Background()
	alice := "alice@" + servertest.Domain
	_, token, err := srv.Core.AddDevice(ctx, core.System("test"), alice, "Thunderbird du cabinet")
	if err != nil {
		t.Fatal(err)
	}

	c := imapDial(t, srv, nil)
	err = c.Login(alice, servertest.Password).Wait()
	if err == nil || !strings.Contains(err.Error(), "enrol a device") {
		t.Fatalf("IMAP bare password: %v, want a refusal that says to enrol a device", err)
	}
	if err := c.Login(alice, token).Wait(); err != nil {
		t.Fatalf("IMAP device credential: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	s := submissionDial(t, srv, nil)
	err = s.Auth(sasl.NewPlainClient("", alice, servertest.Password))
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 535 || !strings.Contains(se.Message, "enrol a device") {
		t.Fatalf("submission bare password: %v, want 535 saying to enrol a device", err)
	}
	s = submissionDial(t, srv, nil)
	if err := s.Auth(sasl.NewLoginClient(alice, token)); err != nil {
		t.Fatalf("submission device credential (LOGIN): %v", err)
	}
	if err := sendTo(t, s, alice, "bob@"+servertest.Domain, "Resultats"); err != nil {
		t.Fatalf("send with a device credential: %v", err)
	}
	// The trail names the method of each login.
	entries, err := srv.Core.Audit().List(ctx, audit.Query{Action: "login", Actor: alice})
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]int{}
	for _, e := range entries {
		if e.Actor == alice {
			methods[e.Door+" "+e.Result+" "+strings.Fields(e.Detail)[0]]++
		}
	}
	for _, want := range []string{"imap ok method=device", "imap failed method=password", "submissions ok method=device", "submissions failed method=password"} {
		if methods[want] == 0 {
			t.Errorf("no %q login in the trail: %v", want, methods)
		}
	}
}

// Revoking a device closes its open submission sessions at once, a
// transaction under way included: its message is not taken.
func TestRevokedDeviceCutsSubmission(t *testing.T) {
	srv := devicesOnly(t, "alice", "bob")
	ctx := context.Background()
	alice, bob := "alice@"+servertest.Domain, "bob@"+servertest.Domain
	dev, token, err := srv.Core.AddDevice(ctx, core.System("test"), alice, "Téléphone")
	if err != nil {
		t.Fatal(err)
	}
	s := submissionDial(t, srv, nil)
	if err := s.Auth(sasl.NewPlainClient("", alice, token)); err != nil {
		t.Fatal(err)
	}
	if err := s.Mail(alice, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Rcpt(bob, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.Core.RevokeDevice(ctx, core.System("test"), alice, dev.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for s.Noop() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the submission session of a revoked device is still open after 1 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if w, err := s.Data(); err == nil {
		fmt.Fprintf(w, "Subject: after revocation\r\n\r\nnot to be sent\r\n")
		if err := w.Close(); err == nil {
			t.Fatal("a message was accepted on a revoked device's session")
		}
	}
	again := submissionDial(t, srv, nil)
	if err := again.Auth(sasl.NewPlainClient("", alice, token)); err == nil {
		t.Fatal("a revoked device credential logged in again")
	}
}

// An application's mailbox logs in with its client certificate (SASL
// EXTERNAL) over IMAP and submission; an unpinned certificate gets nothing,
// and an unpinned one's connection is closed.
func TestExternalForAppMailbox(t *testing.T) {
	srv := devicesOnly(t, "alice")
	ctx := context.Background()
	sys := core.System("test")
	lab := "labo@" + servertest.Domain
	if _, err := srv.Core.AddMailbox(ctx, sys, lab, core.KindApplicative, "Laboratoire du CH", ""); err != nil {
		t.Fatal(err)
	}
	cert := clientCert(t, "labo.ch-test.fr")
	mc, err := srv.Core.AddMailboxCert(ctx, sys, lab, cert.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	stranger := clientCert(t, "intrus.example")

	c := imapDial(t, srv, &cert)
	if !c.Caps().Has(imap.AuthCap(sasl.External)) {
		t.Fatalf("caps with a client certificate lack AUTH=EXTERNAL: %v", c.Caps())
	}
	if err := c.Authenticate(sasl.NewExternalClient("")); err != nil {
		t.Fatalf("IMAP EXTERNAL: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("select the application's INBOX: %v", err)
	}
	if c2 := imapDial(t, srv, nil); c2.Caps().Has(imap.AuthCap(sasl.External)) {
		t.Error("AUTH=EXTERNAL offered without a client certificate")
	}
	if err := imapDial(t, srv, &stranger).Authenticate(sasl.NewExternalClient("")); err == nil {
		t.Error("an unpinned certificate logged in")
	}
	if err := imapDial(t, srv, &cert).Authenticate(sasl.NewExternalClient("alice@" + servertest.Domain)); err == nil {
		t.Error("the application's certificate logged in as alice")
	}

	s := submissionDial(t, srv, &cert)
	if err := s.Auth(sasl.NewExternalClient("")); err != nil {
		t.Fatalf("submission EXTERNAL: %v", err)
	}
	if err := sendTo(t, s, lab, "alice@"+servertest.Domain, "CR biologie"); err != nil {
		t.Fatalf("send as the application's mailbox: %v", err)
	}
	if err := sendTo(t, submissionDialAuthed(t, srv, &cert), "alice@"+servertest.Domain, "bob@"+servertest.Domain, "usurpation"); err == nil {
		t.Error("the application sent as alice")
	}

	// Unpinning the certificate closes the IMAP connection it opened.
	if err := srv.Core.RemoveMailboxCert(ctx, sys, lab, mc.Fingerprint); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		if err := c.Noop().Wait(); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unpinned certificate's connection still works after 1s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func submissionDialAuthed(t *testing.T, srv *server.Server, cert *tls.Certificate) *gosmtp.Client {
	t.Helper()
	s := submissionDial(t, srv, cert)
	if err := s.Auth(sasl.NewExternalClient("")); err != nil {
		t.Fatal(err)
	}
	return s
}

// The HTTPS listener answers Thunderbird's and Outlook's questions with the
// ports the node really listens on.
func TestAutoconfigOnTheNode(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: servertest.ClientTLS(t, srv)}}
	_, imapsPort, _ := net.SplitHostPort(srv.Addr("imaps"))
	_, subsPort, _ := net.SplitHostPort(srv.Addr("submissions"))
	resp, err := client.Get("https://" + srv.Addr("https") + "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@" + servertest.Domain)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<port>"+imapsPort+"</port>") || !strings.Contains(string(body), "<port>"+subsPort+"</port>") {
		t.Fatalf("autoconfig = %d\n%s\nwant ports %s and %s", resp.StatusCode, body, imapsPort, subsPort)
	}
	req := `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>alice@` + servertest.Domain + `</EMailAddress></Request></Autodiscover>`
	resp, err = client.Post("https://"+srv.Addr("https")+"/autodiscover/autodiscover.xml", "text/xml", strings.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<Port>"+imapsPort+"</Port>") {
		t.Fatalf("autodiscover = %d\n%s", resp.StatusCode, body)
	}
}
