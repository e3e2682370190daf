// Package cardtest builds a certificate hierarchy shaped like IGC-Santé's
// for tests: a root, an "AC IGC-SANTE FORT PERSONNES" intermediate, and CPx
// card certificates with the subject forms real cards carry (a multi-valued
// CN+SN+GN RDN whose CN is the national identifier, then title and C). It
// also signs CRLs and runs an OCSP responder, so that revocation is tested
// end to end.
package cardtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Hierarchy is a root and its FORT PERSONNES intermediate.
type Hierarchy struct {
	Root, Inter       *x509.Certificate
	rootKey, interKey crypto.Signer
	// Bundle is the PEM of both, as an operator configures ca_bundle.
	Bundle []byte

	mu     sync.Mutex
	serial int64
}

// New makes a hierarchy. Two calls give two unrelated hierarchies with the
// same names: the second one plays a foreign authority.
func New(t testing.TB) *Hierarchy {
	t.Helper()
	h := &Hierarchy{serial: 1000}
	now := time.Now()
	h.rootKey = newKey(t)
	root := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{Country: []string{"FR"}, Organization: []string{"ASIP-SANTE"}, OrganizationalUnit: []string{"IGC-SANTE"}, CommonName: "AC RACINE IGC-SANTE FORT"},
		NotBefore:    now.Add(-24 * time.Hour), NotAfter: now.Add(20 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	h.Root = sign(t, root, root, h.rootKey.Public(), h.rootKey)
	h.interKey = newKey(t)
	inter := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject: pkix.Name{Country: []string{"FR"}, Organization: []string{"ASIP-SANTE"},
			OrganizationalUnit: []string{"0002 187512751", "IGC-SANTE"}, CommonName: "AC IGC-SANTE FORT PERSONNES"},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	h.Inter = sign(t, inter, h.Root, h.interKey.Public(), h.rootKey)
	h.Bundle = append(pemOf(h.Root), pemOf(h.Inter)...)
	return h
}

// CardOptions describe a card certificate. Zero dates mean valid from
// yesterday for three years.
type CardOptions struct {
	CN         string // national identifier: "8" + RPPS, "0" + ADELI, or anything
	GivenName  string
	Surname    string
	Title      string // profession, "Médecin"
	NotBefore  time.Time
	NotAfter   time.Time
	OCSPServer string // responder URL named in the AIA, if any
}

// Card is a card certificate and its key.
type Card struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// TLS is what a client presents: the card and the intermediate.
	TLS tls.Certificate
}

// Card issues a card certificate under the intermediate.
func (h *Hierarchy) Card(t testing.TB, o CardOptions) Card {
	t.Helper()
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-24 * time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(3 * 365 * 24 * time.Hour)
	}
	if o.Title == "" {
		o.Title = "Médecin"
	}
	h.mu.Lock()
	h.serial++
	serial := h.serial
	h.mu.Unlock()
	// CN=<idNat>+SN=<NOM>+GN=<PRÉNOM>,title=<profession>,C=FR, most
	// significant RDN first in the DER.
	rdns := pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "FR"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 12}, Value: o.Title}},
		{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: o.CN},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 4}, Value: o.Surname},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 42}, Value: o.GivenName},
		},
	}
	raw, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), RawSubject: raw,
		NotBefore: o.NotBefore, NotAfter: o.NotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if o.OCSPServer != "" {
		tmpl.OCSPServer = []string{o.OCSPServer}
	}
	cert := sign(t, tmpl, h.Inter, key.Public(), h.interKey)
	return Card{Cert: cert, Key: key, TLS: tls.Certificate{Certificate: [][]byte{cert.Raw, h.Inter.Raw}, PrivateKey: key, Leaf: cert}}
}

// CRL returns a DER revocation list of the intermediate naming the cards
// given, numbered number.
func (h *Hierarchy) CRL(t testing.TB, number int64, revoked ...Card) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.Cert.SerialNumber, RevocationTime: time.Now().Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(number), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, h.Inter, h.interKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Responder is an OCSP responder for the intermediate's cards (RFC 6960).
type Responder struct {
	URL     string
	mu      sync.Mutex
	revoked map[string]bool
	asked   int
}

// Revoke makes the responder answer "revoked" for c.
func (r *Responder) Revoke(c Card) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked[c.Cert.SerialNumber.String()] = true
}

// Asked counts the requests answered.
func (r *Responder) Asked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.asked
}

// Responder starts an OCSP responder on loopback for the test.
func (h *Hierarchy) Responder(t testing.TB) *Responder {
	t.Helper()
	r := &Responder{revoked: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(io.LimitReader(req.Body, 1<<16))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		q, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.asked++
		status := ocsp.Good
		if r.revoked[q.SerialNumber.String()] {
			status = ocsp.Revoked
		}
		r.mu.Unlock()
		resp, err := ocsp.CreateResponse(h.Inter, h.Inter, ocsp.Response{
			Status: status, SerialNumber: q.SerialNumber, ThisUpdate: time.Now().Add(-time.Minute),
			NextUpdate: time.Now().Add(time.Hour), RevokedAt: time.Now().Add(-time.Hour),
		}, h.interKey)
		if err != nil {
			http.Error(w, "sign", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// PEM returns the card's certificate and key as PEM, for tools that import
// them (a browser's certificate store).
func (c Card) PEM(t testing.TB) (cert, key []byte) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(c.Cert), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
