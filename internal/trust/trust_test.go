package trust_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"caduceus/internal/trust"
	"caduceus/internal/trust/trusttest"
)

// pki is a test hierarchy: a root, the intermediate that issues operators'
// certificates, and an unrelated CA.
type pki struct {
	root, sub, other *trusttest.CA
}

func newPKI(t *testing.T) pki {
	root := trusttest.NewRoot(t, "AC RACINE IGC-SANTE TEST")
	return pki{root: root, sub: root.Sub(t, "AC IGC-SANTE TEST ORGANISATIONS"), other: trusttest.NewRoot(t, "Autre AC")}
}

func TestParseBundle(t *testing.T) {
	p := newPKI(t)
	p7b, err := trust.MarshalPKCS7([]*x509.Certificate{p.root.Cert, p.sub.Cert})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		want int
		err  string
	}{
		{"pem", trusttest.CertPEM(p.root.Cert, p.sub.Cert), 2, ""},
		{"der", p.root.Cert.Raw, 1, ""},
		{"p7b", p7b, 2, ""},
		{"p7b in pem", pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: p7b}), 2, ""},
		{"garbage", []byte("not a bundle"), 0, "PKCS#7"},
		{"empty pem", []byte("-----BEGIN NOTHING-----\n-----END NOTHING-----\n"), 0, "no certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			certs, err := trust.ParseBundle(c.data)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || len(certs) != c.want {
				t.Fatalf("got %d certificates, %v; want %d", len(certs), err, c.want)
			}
			if certs[0].Subject.CommonName != "AC RACINE IGC-SANTE TEST" {
				t.Errorf("first certificate %s", certs[0].Subject)
			}
		})
	}
}

func TestParseWhitelist(t *testing.T) {
	p := newPKI(t)
	signer := p.sub.Issue(t, "listeblanche.test")
	stranger := p.other.Issue(t, "faussaire.test")
	plain := trusttest.Whitelist("chu-a.mssante.fr", "Labo-B.mssante.fr.", "chu-a.mssante.fr", "pas un domaine")
	signed := trusttest.Sign(t, plain, signer)
	verify := func(leaf *x509.Certificate, others []*x509.Certificate) error {
		pool := x509.NewCertPool()
		pool.AddCert(p.root.Cert)
		inter := x509.NewCertPool()
		for _, c := range others {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
		return err
	}
	for _, c := range []struct {
		name       string
		data       []byte
		ns         string
		wantSigned bool
		err        string
	}{
		{name: "plain", data: plain, ns: trust.DefaultNamespace},
		{name: "signed", data: signed, ns: trust.DefaultNamespace, wantSigned: true},
		{name: "other namespace", data: plain, ns: "urn:autre", err: "lists no domain"},
		{name: "signed by a stranger", data: trusttest.Sign(t, plain, stranger), ns: trust.DefaultNamespace, err: "signing certificate"},
		{name: "tampered", data: bytes.Replace(signed, []byte("Labo-B"), []byte("pirate"), 1), ns: trust.DefaultNamespace, err: "signature"},
		{name: "not xml", data: []byte("<ListeBlanche>"), ns: trust.DefaultNamespace, err: "XML"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wl, err := trust.ParseWhitelist(c.data, c.ns, verify)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(wl.Domains, " ") != "chu-a.mssante.fr labo-b.mssante.fr" {
				t.Errorf("domains %q", wl.Domains)
			}
			if wl.Signed != c.wantSigned {
				t.Errorf("signed = %v", wl.Signed)
			}
			if !wl.Has("CHU-A.mssante.fr.") || wl.Has("chu-c.mssante.fr") {
				t.Error("Has answers wrong")
			}
		})
	}
}

// files writes a bundle and a whitelist into a directory.
func files(t *testing.T, p pki, domains ...string) (dir, bundle, whitelist string) {
	dir = t.TempDir()
	bundle, whitelist = filepath.Join(dir, "bundle.pem"), filepath.Join(dir, "liste.xml")
	trusttest.Write(t, bundle, trusttest.CertPEM(p.root.Cert, p.sub.Cert))
	trusttest.Write(t, whitelist, trusttest.Whitelist(domains...))
	return dir, bundle, whitelist
}

func TestVerifyPeers(t *testing.T) {
	p := newPKI(t)
	good := p.sub.Issue(t, "mx.chu-a.mssante.fr", "mx.chu-a.mssante.fr")
	revoked := p.sub.Issue(t, "mx.revoque.mssante.fr", "mx.revoque.mssante.fr")
	old := p.sub.IssueValid(t, "mx.ancien.mssante.fr", time.Now().AddDate(-2, 0, 0), time.Now().AddDate(-1, 0, 0))
	stranger := p.other.Issue(t, "mx.autre.fr", "mx.autre.fr")
	p.sub.Revoke(revoked.Cert)
	dir, bundle, wl := files(t, p, "chu-a.mssante.fr")
	crl := filepath.Join(dir, "sub.crl")
	trusttest.Write(t, crl, p.sub.CRL(t))
	s, err := trust.Open(context.Background(), trust.Options{CABundle: bundle, Whitelist: wl, CRLs: []string{crl}, CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		leaf *trusttest.Leaf
		host string
		rule string
	}{
		{"good", &good, "mx.chu-a.mssante.fr", ""},
		{"none", nil, "", trust.RuleClientCert},
		{"other CA", &stranger, "mx.autre.fr", trust.RuleChain},
		{"revoked", &revoked, "mx.revoque.mssante.fr", trust.RuleRevoked},
		{"expired", &old, "", trust.RuleExpired},
		{"wrong name", &good, "mx.chu-b.mssante.fr", trust.RuleName},
	} {
		t.Run(c.name, func(t *testing.T) {
			var chain []*x509.Certificate
			if c.leaf != nil {
				chain = c.leaf.Chain
			}
			var err error
			if c.host == "" || c.rule == trust.RuleName {
				if c.rule == trust.RuleName {
					_, err = s.VerifyServer(chain, c.host)
				} else {
					_, err = s.VerifyClient(chain)
				}
			} else {
				_, err = s.VerifyClient(chain)
				if err == nil {
					_, err = s.VerifyServer(chain, c.host)
				}
			}
			var re *trust.RuleError
			if c.rule == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &re) || re.Rule != c.rule {
				t.Fatalf("err = %v, want rule %s", err, c.rule)
			}
		})
	}
	if err := s.CheckDomain("CHU-A.mssante.fr"); err != nil {
		t.Error(err)
	}
	var re *trust.RuleError
	if err := s.CheckDomain("gmail.com"); !errors.As(err, &re) || re.Rule != trust.RuleWhitelist || !strings.Contains(err.Error(), "gmail.com") {
		t.Errorf("off-list domain: %v", err)
	}
}

// TestRefreshKeepsLastGood serves the whitelist and the CRL over HTTPS, then
// breaks them: the lists in force stay, a failure is counted, and a node
// restarted while the source is down starts from the cached copies.
func TestRefreshKeepsLastGood(t *testing.T) {
	p := newPKI(t)
	revoked := p.sub.Issue(t, "mx.revoque.mssante.fr")
	p.sub.Revoke(revoked.Cert)
	var list, crl atomic.Value
	list.Store(trusttest.Whitelist("chu-a.mssante.fr"))
	crl.Store(p.sub.CRL(t))
	var broken atomic.Bool
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		switch r.URL.Path {
		case "/liste.xml":
			w.Write(list.Load().([]byte))
		case "/sub.crl":
			w.Write(crl.Load().([]byte))
		}
	}))
	defer ts.Close()
	dir, bundle, _ := files(t, p, "x.fr")
	opts := trust.Options{CABundle: bundle, Whitelist: ts.URL + "/liste.xml", CRLs: []string{ts.URL + "/sub.crl"},
		CacheDir: filepath.Join(dir, "cache"), HTTPClient: ts.Client()}
	ctx := context.Background()
	s, err := trust.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s.Register(reg)
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}

	list.Store(trusttest.Whitelist("chu-a.mssante.fr", "chu-b.mssante.fr"))
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if s.CheckDomain("chu-b.mssante.fr") != nil {
		t.Fatal("refresh did not take the new list")
	}

	broken.Store(true)
	if err := s.Refresh(ctx); err == nil {
		t.Fatal("refresh from a broken source succeeded")
	}
	if s.CheckDomain("chu-b.mssante.fr") != nil {
		t.Error("a failed refresh dropped the list in force")
	}
	if n := s.FailureCount("whitelist"); n != 1 {
		t.Errorf("whitelist refresh failures = %v, want 1", n)
	}

	// A new node while the source is down: the cached copies.
	s2, err := trust.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open with the source down: %v", err)
	}
	if s2.CheckDomain("chu-b.mssante.fr") != nil || s2.Snapshot().WhitelistFrom != "cache" {
		t.Errorf("restart did not use the cached whitelist: %+v", s2.Snapshot())
	}
	if _, err := s2.VerifyClient(revoked.Chain); err == nil {
		t.Error("restart forgot the cached CRL")
	}

	// No source and no cache: refuse to start.
	opts.CacheDir = t.TempDir()
	if _, err := trust.Open(ctx, opts); err == nil {
		t.Error("opened with no whitelist at all")
	}

	// A whitelist that does not parse is a failure too, not an empty list.
	broken.Store(false)
	list.Store([]byte("<ListeBlanche/>"))
	if err := s.Refresh(ctx); err == nil || s.CheckDomain("chu-a.mssante.fr") != nil {
		t.Errorf("empty list accepted: %v", err)
	}
}

func TestMissingBundle(t *testing.T) {
	dir := t.TempDir()
	_, err := trust.Open(context.Background(), trust.Options{CABundle: filepath.Join(dir, "absent.pem"), Whitelist: filepath.Join(dir, "l.xml")})
	if err == nil || !strings.Contains(err.Error(), "ca_bundle") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseWhitelist(f *testing.F) {
	f.Add(trusttest.Whitelist("chu-a.mssante.fr", "labo.mssante.fr"))
	f.Add([]byte(`<l:ListeBlanche xmlns:l="https://listeblanche.mssante.fr/schema"><l:Domaine><l:Nom>a.b</l:Nom></l:Domaine></l:ListeBlanche>`))
	f.Add([]byte(`<ListeBlanche xmlns="https://listeblanche.mssante.fr/schema"><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/></ListeBlanche>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		wl, err := trust.ParseWhitelist(data, trust.DefaultNamespace, func(*x509.Certificate, []*x509.Certificate) error { return errors.New("no") })
		if err == nil && (len(wl.Domains) == 0 || wl.Signed) {
			t.Fatalf("accepted %q as %+v", data, wl)
		}
	})
}

func FuzzParseBundle(f *testing.F) {
	root := trusttest.NewRoot(f, "AC")
	p7b, _ := trust.MarshalPKCS7([]*x509.Certificate{root.Cert})
	f.Add(p7b)
	f.Add(trusttest.CertPEM(root.Cert))
	f.Add([]byte{0x30, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := trust.ParseBundle(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
	})
}

// TestSignedWhitelist: a signed list is used when its signer chains to the
// bundle and is not revoked; otherwise the node does not start on it.
func TestSignedWhitelist(t *testing.T) {
	p := newPKI(t)
	signer := p.sub.Issue(t, "listeblanche.mssante.fr")
	revoked := p.sub.Issue(t, "ancienne-signature.mssante.fr")
	p.sub.Revoke(revoked.Cert)
	dir, bundle, wl := files(t, p)
	crl := filepath.Join(dir, "sub.crl")
	trusttest.Write(t, crl, p.sub.CRL(t))
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		signer trusttest.Leaf
		ok     bool
	}{
		{"signer in the bundle", signer, true},
		{"signer of another CA", p.other.Issue(t, "faussaire.example"), false},
		{"revoked signer", revoked, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			trusttest.Write(t, wl, trusttest.Sign(t, trusttest.Whitelist("chu-a.mssante.fr"), c.signer))
			s, err := trust.Open(ctx, trust.Options{CABundle: bundle, Whitelist: wl, CRLs: []string{crl}, CacheDir: t.TempDir()})
			if !c.ok {
				if err == nil {
					t.Fatal("opened on a list signed by " + c.signer.Cert.Subject.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if snap := s.Snapshot(); !snap.Signed || !strings.Contains(snap.Signer, "listeblanche.mssante.fr") || s.CheckDomain("chu-a.mssante.fr") != nil {
				t.Errorf("snapshot %+v", snap)
			}
		})
	}
}
