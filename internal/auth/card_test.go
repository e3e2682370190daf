package auth_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"caduceus/internal/auth"
	"caduceus/internal/auth/cardtest"
)

func TestCardVerify(t *testing.T) {
	ctx := context.Background()
	h := cardtest.New(t)
	ocspSrv := h.Responder(t)
	good := h.Card(t, cardtest.CardOptions{CN: "810002813839", GivenName: "JEANNE", Surname: "DUPONT"})
	adeli := h.Card(t, cardtest.CardOptions{CN: "00B7010446", GivenName: "PAUL", Surname: "MARTIN", Title: "Masseur-Kinésithérapeute"})
	revokedCRL := h.Card(t, cardtest.CardOptions{CN: "810002813840"})
	revokedOCSP := h.Card(t, cardtest.CardOptions{CN: "810002813841", OCSPServer: ocspSrv.URL})
	goodOCSP := h.Card(t, cardtest.CardOptions{CN: "810002813842", OCSPServer: ocspSrv.URL})
	deadOCSP := h.Card(t, cardtest.CardOptions{CN: "810002813843", OCSPServer: "http://127.0.0.1:1/ocsp"})
	expired := h.Card(t, cardtest.CardOptions{CN: "810002813844", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	structure := h.Card(t, cardtest.CardOptions{CN: "3123456789/EMPLOYE01", Title: "Carte de service santé ou social"})
	foreign := cardtest.New(t).Card(t, cardtest.CardOptions{CN: "810002813839"})
	ocspSrv.Revoke(revokedOCSP)

	crl := filepath.Join(t.TempDir(), "fort-personnes.crl")
	if err := os.WriteFile(crl, h.CRL(t, 1, revokedCRL), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewCardVerifier(ctx, auth.CardOptions{CABundle: h.Bundle, CRLs: []string{crl}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		card cardtest.Card
		want error
		id   string
	}{
		{"RPPS card", good, nil, "810002813839"},
		{"ADELI card", adeli, nil, "00B7010446"},
		{"good by OCSP", goodOCSP, nil, "810002813842"},
		{"dead responder, CRL vouches", deadOCSP, nil, "810002813843"},
		{"revoked by CRL", revokedCRL, auth.ErrCardRevoked, ""},
		{"revoked by OCSP", revokedOCSP, auth.ErrCardRevoked, ""},
		{"expired", expired, auth.ErrCardExpired, ""},
		{"foreign authority", foreign, auth.ErrCardUntrusted, ""},
		{"structure card", structure, auth.ErrCardNoID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(ctx, chainOf(t, tt.card))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && (c.NationalID != tt.id || len(c.Fingerprint) != 64 || c.Serial == "" ||
				!strings.HasPrefix(c.Issuer, "CN=AC IGC-SANTE FORT PERSONNES,")) {
				t.Fatalf("card = %+v", c)
			}
		})
	}
	if c, _ := v.Verify(ctx, []*x509.Certificate{good.Cert}); c.Holder != "JEANNE DUPONT" {
		t.Fatalf("holder = %q", c.Holder)
	}
	if ocspSrv.Asked() == 0 {
		t.Fatal("the OCSP responder was never asked")
	}

	// Without a CRL for the issuer, a responder that does not answer means
	// the card cannot be checked: it is refused.
	noCRL, err := auth.NewCardVerifier(ctx, auth.CardOptions{CABundle: h.Bundle})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noCRL.Verify(ctx, []*x509.Certificate{deadOCSP.Cert}); !errors.Is(err, auth.ErrCardUnchecked) {
		t.Fatalf("dead responder, no CRL: err = %v, want ErrCardUnchecked", err)
	}
}

// TestCardCRLRefresh fetches the CRL over HTTP: a newer list revokes a card
// at the next refresh, and a publisher that fails keeps the last good copy,
// also across a restart (the cache).
func TestCardCRLRefresh(t *testing.T) {
	ctx := context.Background()
	h := cardtest.New(t)
	card := h.Card(t, cardtest.CardOptions{CN: "810002813839"})
	var mu sync.Mutex
	body, status := h.CRL(t, 1), http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
		w.Write(body)
	}))
	defer srv.Close()
	cache := t.TempDir()
	opts := auth.CardOptions{CABundle: h.Bundle, CRLs: []string{srv.URL + "/fort-personnes.crl"}, CacheDir: cache}
	v, err := auth.NewCardVerifier(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, []*x509.Certificate{card.Cert}); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	mu.Lock()
	body = h.CRL(t, 2, card)
	mu.Unlock()
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, []*x509.Certificate{card.Cert}); !errors.Is(err, auth.ErrCardRevoked) {
		t.Fatalf("after refresh: err = %v, want ErrCardRevoked", err)
	}
	mu.Lock()
	body, status = []byte("maintenance"), http.StatusServiceUnavailable
	mu.Unlock()
	if err := v.Refresh(ctx); err == nil {
		t.Fatal("a failed refresh reported no error")
	}
	if _, err := v.Verify(ctx, []*x509.Certificate{card.Cert}); !errors.Is(err, auth.ErrCardRevoked) {
		t.Fatalf("after a failed refresh: err = %v, want the last good copy to revoke", err)
	}
	restarted, err := auth.NewCardVerifier(ctx, opts)
	if err != nil {
		t.Fatalf("restart with the publisher down: %v", err)
	}
	if _, err := restarted.Verify(ctx, []*x509.Certificate{card.Cert}); !errors.Is(err, auth.ErrCardRevoked) {
		t.Fatalf("after a restart: err = %v, want the cached copy to revoke", err)
	}
	// A CRL signed by another authority is refused.
	mu.Lock()
	body, status = cardtest.New(t).CRL(t, 3), http.StatusOK
	mu.Unlock()
	if err := v.Refresh(ctx); err == nil {
		t.Fatal("a CRL of a foreign authority was accepted")
	}
}

func FuzzNationalIDFromCN(f *testing.F) {
	for _, s := range []string{"810002813839", "00B7010446", "899700075122", "3123456789/EMPLOYE01", "", "8", "mx.example.fr"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cn string) {
		id, err := auth.NationalIDFromCN(cn)
		if err == nil && (len(id) < 10 || (id[0] != '8' && id[0] != '0')) {
			t.Fatalf("%q accepted as %q", cn, id)
		}
	})
}

// chainOf is what a browser presents: the card, then the intermediate.
func chainOf(t *testing.T, c cardtest.Card) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, der := range c.TLS.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}
