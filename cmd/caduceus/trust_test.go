package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"caduceus/internal/config"
	"caduceus/internal/server/servertest"
	"caduceus/internal/trust/trusttest"
)

// trustConfig writes a configuration in trust mode with f's files and an
// operator certificate for hostname.
func trustConfig(t *testing.T, f *trusttest.Fixture, hostname string) string {
	t.Helper()
	_, cert, key := f.Operator(t, hostname, hostname)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "caduceus.toml")
	body := fmt.Sprintf(`hostname = %q
data_dir = "data"
[tls]
cert = %q
key = %q
[trust]
enabled = true
ca_bundle = %q
crls = [%q]
whitelist = %q
`, hostname, cert, key, f.Bundle, f.CRL, f.Whitelist)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTrustCommands: `trust show` prints the list in force and the CA
// subjects; `trust check` passes a peer in the trust space and tells what
// fails with one outside it.
func TestTrustCommands(t *testing.T) {
	f := trusttest.NewFixture(t, "chu-a.mssante.fr", servertest.Domain)
	cfg := trustConfig(t, f, "mx.chu-a.mssante.fr")

	out, _, err := runCLI(t, cfg, "", "trust", "show")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 domains, not signed", "CN=AC RACINE IGC-SANTE TEST", "CN=AC IGC-SANTE TEST ORGANISATIONS", "0 revoked", "  chu-a.mssante.fr\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("trust show lacks %q:\n%s", want, out)
		}
	}

	_, pc, pk := f.Operator(t, "mx."+servertest.Domain, "localhost", "127.0.0.1")
	peer := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { f.Configure(c, pc, pk) }})
	out, _, err = runCLI(t, cfg, "", "trust", "check", peer.Addr("smtp"), "--name", "localhost", "--domain", servertest.Domain, "--from", "postmaster@chu-a.mssante.fr")
	if err != nil {
		t.Fatalf("trust check: %v\n%s", err, out)
	}
	for _, want := range []string{"PASS  starttls", "PASS  tls_version", "PASS  certificate_chain", "PASS  certificate_name", "PASS  whitelist", "PASS  peer_accepts_us"} {
		if !strings.Contains(out, want) {
			t.Errorf("trust check lacks %q:\n%s", want, out)
		}
	}

	// A peer outside: another CA's certificate, no trust mode.
	stranger := f.Other.Issue(t, "mx.autre.example", "localhost")
	sc, sk := trusttest.WriteLeaf(t, t.TempDir(), "autre", stranger)
	other := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.TLS.Cert, c.TLS.Key = sc, sk }})
	out, _, err = runCLI(t, cfg, "", "trust", "check", other.Addr("smtp"), "--name", "localhost", "--domain", "autre.example")
	if err == nil {
		t.Fatalf("trust check passed a stranger:\n%s", out)
	}
	for _, want := range []string{"FAIL  whitelist", "FAIL  certificate_chain", "not issued by a trusted authority", "PASS  certificate_name"} {
		if !strings.Contains(out, want) {
			t.Errorf("trust check lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchSMTPMutualTLS: `bench smtp` loads a node in trust mode with a
// client certificate and a node without trust mode, side by side, and says
// what trust mode costs.
func TestBenchSMTPMutualTLS(t *testing.T) {
	f := trusttest.NewFixture(t, servertest.Domain)
	_, cert, key := f.Operator(t, "mx."+servertest.Domain, "localhost", "127.0.0.1")
	trusted := servertest.Start(t, servertest.Options{Users: []string{"alice"}, Configure: func(c *config.Config) { f.Configure(c, cert, key) }})
	plain := servertest.Start(t, servertest.Options{Users: []string{"alice"}, Configure: func(c *config.Config) { c.TLS.Cert, c.TLS.Key = cert, key }})
	out, _, err := runCLI(t, "", "", "bench", "smtp", "--addr", trusted.Addr("smtp"), "--baseline", plain.Addr("smtp"),
		"--to", "alice@"+servertest.Domain, "--from", "bench@"+servertest.Domain, "--messages", "20", "--concurrency", "2", "--per-connection", "5",
		"--cert", cert, "--key", key, "--ca", f.Bundle, "--server-name", "localhost", "--rounds", "1")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	for _, want := range []string{"round 1, without trust mode:", "round 1, trust mode, mutual TLS:", "20 sent, 0 failed", "trust mode costs"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	// Without the certificate the trust-mode node refuses every message.
	if _, _, err := runCLI(t, "", "", "bench", "smtp", "--addr", trusted.Addr("smtp"), "--starttls",
		"--to", "alice@"+servertest.Domain, "--from", "bench@"+servertest.Domain, "--messages", "2", "--concurrency", "1"); err == nil || !strings.Contains(err.Error(), "client_certificate") {
		t.Errorf("bench without a certificate: %v", err)
	}
}
