package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// device add prints the credential once (also as JSON with the settings),
// list shows the devices without it, revoke removes one; mailbox cert pins,
// lists and unpins an application's certificate.
func TestDeviceAndCertCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "caduceus.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.chu.test\"\ndata_dir = \"data\"\n[listen]\nimaps = \"127.0.0.1:1993\"\nsubmission = \"127.0.0.1:5587\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := runCLI(t, cfg, stdin, args...)
		if err != nil {
			t.Fatalf("%v: %v %s", args, err, errOut)
		}
		return out
	}
	must("", "domain", "add", "chu.test")
	must("", "user", "add", "claire@chu.test", "--name", "Dr Claire")
	out := must("", "device", "add", "claire@chu.test", "--name", "iPhone de garde")
	if !strings.Contains(out, "cdc-") || !strings.Contains(out, "mx.chu.test port 1993 (SSL/TLS)") || !strings.Contains(out, "mx.chu.test port 5587 (STARTTLS)") {
		t.Fatalf("device add printed:\n%s", out)
	}
	var j struct {
		ID         int64  `json:"id"`
		Credential string `json:"credential"`
		Settings   struct {
			IMAP struct {
				Host string
				Port int
				TLS  bool
			}
		} `json:"settings"`
	}
	if err := json.Unmarshal([]byte(must("", "device", "add", "claire@chu.test", "--name", "Thunderbird", "--json")), &j); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(j.Credential, "cdc-") || j.Settings.IMAP.Port != 1993 || !j.Settings.IMAP.TLS {
		t.Fatalf("device add --json = %+v", j)
	}
	list := must("", "device", "list", "claire@chu.test")
	if !strings.Contains(list, "iPhone de garde") || !strings.Contains(list, "Thunderbird") || strings.Contains(list, "cdc-") || !strings.Contains(list, "never") {
		t.Fatalf("device list:\n%s", list)
	}
	must("", "device", "revoke", "claire@chu.test", strconv.FormatInt(j.ID, 10))
	var listed []map[string]any
	if err := json.Unmarshal([]byte(must("", "device", "list", "claire@chu.test", "--json")), &listed); err != nil || len(listed) != 1 || listed[0]["name"] != "iPhone de garde" {
		t.Fatalf("device list --json after revoke = %v (%v)", listed, err)
	}
	if _, _, err := runCLI(t, cfg, "", "device", "revoke", "claire@chu.test", "999"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("revoke of no device: %v", err)
	}

	must("", "mailbox", "add", "labo@chu.test", "--kind", "app", "--name", "Laboratoire")
	pemFile := filepath.Join(dir, "labo.pem")
	writeTestCert(t, pemFile)
	out = must("", "mailbox", "cert", "labo@chu.test", "--add", pemFile)
	fp := strings.Fields(out)[1]
	if len(fp) != 64 {
		t.Fatalf("mailbox cert --add printed %q", out)
	}
	if l := must("", "mailbox", "cert", "labo@chu.test", "--list"); !strings.Contains(l, fp) || !strings.Contains(l, "labo.chu.test") {
		t.Fatalf("mailbox cert --list:\n%s", l)
	}
	if _, _, err := runCLI(t, cfg, "", "mailbox", "cert", "labo@chu.test", "--add", pemFile); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("pinning twice: %v", err)
	}
	if _, _, err := runCLI(t, cfg, "", "mailbox", "cert", "labo@chu.test"); err == nil {
		t.Error("mailbox cert without an action succeeded")
	}
	must("", "mailbox", "cert", "labo@chu.test", "--remove", fp)
	if l := must("", "mailbox", "cert", "labo@chu.test", "--list"); strings.Contains(l, fp) {
		t.Fatalf("after --remove:\n%s", l)
	}
}

func writeTestCert(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "labo.chu.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
