// Package trusttest builds a small IGC-Santé-like certificate hierarchy for
// tests: a root, an intermediate that issues operators' certificates, CRLs
// and the national whitelist, plain or signed, written to files the way an
// operator installs them.
package trusttest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// CA is a certification authority of the test hierarchy.
type CA struct {
	Cert   *x509.Certificate
	Key    *rsa.PrivateKey
	parent *CA

	mu      sync.Mutex
	revoked []x509.RevocationListEntry
	crlNum  int64
}

// Leaf is a certificate issued by a CA, with its key.
type Leaf struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
	// Chain is the certificate then its issuers up to, not including, the root.
	Chain []*x509.Certificate
}

// TLS returns the leaf as a tls.Certificate with its intermediates.
func (l Leaf) TLS() tls.Certificate {
	c := tls.Certificate{PrivateKey: l.Key, Leaf: l.Cert}
	for _, x := range l.Chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

func key(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// NewRoot returns a self-signed root named cn.
func NewRoot(t testing.TB, cn string) *CA {
	t.Helper()
	k := key(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: cn, Organization: []string{"ASIP-SANTE TEST"}, Country: []string{"FR"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(5, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &CA{Cert: c, Key: k}
}

// Sub returns an intermediate CA named cn under ca.
func (ca *CA) Sub(t testing.TB, cn string) *CA {
	t.Helper()
	k := key(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: cn, Organization: []string{"ASIP-SANTE TEST"}, Country: []string{"FR"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(4, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &k.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &CA{Cert: c, Key: k, parent: ca}
}

// Issue returns an operator certificate for cn, valid for servers and
// clients, with hosts (names or IP addresses) as subject alternative names.
func (ca *CA) Issue(t testing.TB, cn string, hosts ...string) Leaf {
	t.Helper()
	return ca.IssueValid(t, cn, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), hosts...)
}

// IssueValid is Issue with a validity period.
func (ca *CA) IssueValid(t testing.TB, cn string, from, until time.Time, hosts ...string) Leaf {
	t.Helper()
	k := key(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Operateur de test"}, OrganizationalUnit: []string{"MSSante"}, Country: []string{"FR"}},
		NotBefore:    from, NotAfter: until,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &k.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	l := Leaf{Cert: c, Key: k, Chain: []*x509.Certificate{c}}
	for p := ca; p != nil && p.parent != nil; p = p.parent {
		l.Chain = append(l.Chain, p.Cert)
	}
	return l
}

// Revoke puts c on the CA's next CRL.
func (ca *CA) Revoke(c *x509.Certificate) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.revoked = append(ca.revoked, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
}

// CRL returns a fresh DER CRL of the CA, valid a day.
func (ca *CA) CRL(t testing.TB) []byte {
	t.Helper()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.crlNum++
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(ca.crlNum), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(24 * time.Hour),
		RevokedCertificateEntries: ca.revoked,
	}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Whitelist returns the national whitelist XML listing domains.
func Whitelist(domains ...string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<ListeBlanche xmlns="https://listeblanche.mssante.fr/schema">` + "\n")
	for i, d := range domains {
		fmt.Fprintf(&b, "  <Domaine><Identifiant>%d</Identifiant><Nom>%s</Nom><Denomination>Opérateur %d</Denomination></Domaine>\n", i+1, d, i+1)
	}
	b.WriteString("</ListeBlanche>\n")
	return []byte(b.String())
}

// Sign returns the XML document signed (enveloped XML-DSig, RSA-SHA256)
// with signer's key, its certificate in KeyInfo.
func Sign(t testing.TB, doc []byte, signer Leaf) []byte {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	var certs [][]byte
	for _, c := range signer.Chain {
		certs = append(certs, c.Raw)
	}
	ctx, err := dsig.NewSigningContext(signer.Key, certs)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	d.SetRoot(signed)
	out, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// CertPEM returns certs as PEM.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// WriteLeaf writes the leaf's chain and key as PEM files name.crt and
// name.key in dir and returns their paths.
func WriteLeaf(t testing.TB, dir, name string, l Leaf) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	Write(t, certFile, CertPEM(l.Chain...))
	kder, err := x509.MarshalPKCS8PrivateKey(l.Key)
	if err != nil {
		t.Fatal(err)
	}
	Write(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	return certFile, keyFile
}

// Write writes data to path, failing the test on error.
func Write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
