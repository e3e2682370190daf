package trusttest

import (
	"os"
	"path/filepath"
	"testing"

	"caduceus/internal/config"
)

// Fixture is a trust space on disk: the hierarchy, its bundle, the CRL of
// the issuing CA and a whitelist, in a directory of the test.
type Fixture struct {
	Dir string
	// Root issues Sub, which issues operators' certificates; Other is an
	// unrelated authority.
	Root, Sub, Other *CA
	// Bundle, CRL and Whitelist are the files' paths.
	Bundle, CRL, Whitelist string
}

// NewFixture builds a hierarchy and writes its files, listing domains.
func NewFixture(t testing.TB, domains ...string) *Fixture {
	t.Helper()
	root := NewRoot(t, "AC RACINE IGC-SANTE TEST")
	f := &Fixture{Dir: t.TempDir(), Root: root, Sub: root.Sub(t, "AC IGC-SANTE TEST ORGANISATIONS"), Other: NewRoot(t, "AC HORS ESPACE DE CONFIANCE")}
	f.Bundle = filepath.Join(f.Dir, "igc-sante-test.pem")
	f.CRL = filepath.Join(f.Dir, "organisations.crl")
	f.Whitelist = filepath.Join(f.Dir, "listeblanche.xml")
	Write(t, f.Bundle, CertPEM(f.Root.Cert, f.Sub.Cert))
	f.WriteCRL(t)
	f.WriteWhitelist(t, domains...)
	return f
}

// WriteCRL writes the issuing CA's current CRL.
func (f *Fixture) WriteCRL(t testing.TB) { Write(t, f.CRL, f.Sub.CRL(t)) }

// WriteWhitelist replaces the whitelist.
func (f *Fixture) WriteWhitelist(t testing.TB, domains ...string) {
	t.Helper()
	tmp := f.Whitelist + ".tmp"
	Write(t, tmp, Whitelist(domains...))
	if err := os.Rename(tmp, f.Whitelist); err != nil {
		t.Fatal(err)
	}
}

// Operator issues an operator certificate from Sub for the hosts and writes
// it as name.crt and name.key.
func (f *Fixture) Operator(t testing.TB, name string, hosts ...string) (Leaf, string, string) {
	t.Helper()
	l := f.Sub.Issue(t, name, hosts...)
	c, k := WriteLeaf(t, f.Dir, name, l)
	return l, c, k
}

// Configure turns trust mode on in c with the fixture's files, and the
// certificate pair as both the [tls] pair and the client certificate.
func (f *Fixture) Configure(c *config.Config, certFile, keyFile string) {
	c.TLS.Cert, c.TLS.Key = certFile, keyFile
	c.Trust.Enabled = true
	c.Trust.CABundle = f.Bundle
	c.Trust.CRLs = []string{f.CRL}
	c.Trust.Whitelist = f.Whitelist
}
