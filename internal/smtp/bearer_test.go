package smtp_test

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"

	"caduceus/internal/auth"
	"caduceus/internal/auth/psctest"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/smtp"
)

// lateBearer lets a test build the PSC verifier after the core, over the
// core's own store.
type lateBearer struct{ b core.BearerVerifier }

func (l *lateBearer) VerifyBearer(ctx context.Context, token string) (int64, error) {
	return l.b.VerifyBearer(ctx, token)
}

// A Pro Santé Connect access token from a real OpenID Connect provider
// started here logs its professional in to submission with OAUTHBEARER
// (RFC 7628) and XOAUTH2, and sends; a forged token and another account's
// address are refused.
func TestSubmissionOAuthBearer(t *testing.T) {
	ctx := context.Background()
	provider := psctest.Start(t)
	psc, err := auth.NewPSC(ctx, auth.PSCOptions{Issuer: provider.Issuer, ClientID: "caduceus", ClientSecret: "s",
		RedirectURL: "https://mail.test/login/psc/callback", Client: provider.Client()})
	if err != nil {
		t.Fatal(err)
	}
	lb := &lateBearer{}
	svc, st := coretest.NewWithStore(t, coretest.Options{DevicesOnly: true, Bearer: lb, MessageLimit: 64 << 10})
	factors, err := auth.NewFactors(st, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	lb.b = auth.PSCBearer{PSC: psc, Factors: factors}
	e := newEnvOver(t, svc, smtp.Options{})
	alice := "alice@" + domain
	acct, err := svc.User(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	person := psctest.Person{SubjectNameID: "810002813839", GivenName: "Alice", FamilyName: "Martin"}
	if err := factors.LinkPSC(ctx, acct.ID, person.SubjectNameID, "Alice Martin"); err != nil {
		t.Fatal(err)
	}
	token, err := provider.AccessToken(ctx, person)
	if err != nil {
		t.Fatal(err)
	}

	c := e.dial(t, e.sub, true)
	if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(mechs, "OAUTHBEARER") || !strings.Contains(mechs, "XOAUTH2") {
		t.Fatalf("AUTH mechanisms %q lack OAUTHBEARER and XOAUTH2", mechs)
	}
	// go-sasl's client stops at the server's error challenge (RFC 7628
	// §3.2.3), leaving its connection mid-exchange: a connection per try.
	if err := e.dial(t, e.sub, true).Auth(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: alice, Token: "forged." + token})); err == nil {
		t.Fatal("a forged token logged in")
	}
	if err := e.dial(t, e.sub, true).Auth(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: "bob@" + domain, Token: token})); err == nil {
		t.Fatal("alice's token logged in as bob")
	}
	if err := c.Auth(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: alice, Token: token})); err != nil {
		t.Fatalf("OAUTHBEARER: %v", err)
	}
	if err := send(c, alice, []string{"bob@" + domain}, "From: "+alice+"\r\nTo: bob@"+domain+"\r\nSubject: PSC\r\n\r\nEnvoyé avec un jeton.\r\n"); err != nil {
		t.Fatalf("send after OAUTHBEARER: %v", err)
	}
	if f := coretest.Folder(t, svc, "bob@"+domain, "INBOX"); f.Messages != 1 {
		t.Fatalf("bob's INBOX holds %d messages after the send, want 1", f.Messages)
	}

	x := e.dial(t, e.sub, true)
	if err := x.Auth(xoauth2{user: alice, token: token}); err != nil {
		t.Fatalf("XOAUTH2: %v", err)
	}
	if err := e.dial(t, e.sub, true).Auth(xoauth2{user: alice, token: token + "x"}); err == nil {
		t.Fatal("XOAUTH2 with a forged token logged in")
	}
}

// xoauth2 is the client side of Google's XOAUTH2, which go-sasl lacks: the
// user and the bearer token in one initial response.
type xoauth2 struct{ user, token string }

func (x xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next answers the server's error challenge with an empty response, as
// the mechanism asks, so that the server ends the exchange.
func (x xoauth2) Next(challenge []byte) ([]byte, error) { return []byte{}, nil }
