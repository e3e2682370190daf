package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"caduceus/internal/trust/trusttest"
)

// runMainEnv makes the test binary run the command line instead of the
// tests, so that a test can start `caduceus serve` as a process of its own.
const runMainEnv = "CADUCEUS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) != "" {
		// The test holds our standard input: when it ends, however it
		// ends, so do we.
		go func() {
			io.Copy(io.Discard, os.Stdin)
			os.Exit(1)
		}()
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// node is one `caduceus serve` process of the two-node test.
type node struct {
	domain, config         string
	smtp, sub, imap, https string
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newNode writes the configuration of an operator for domain in trust mode,
// its certificate from f, delivering to relay, and creates its user, with
// the extra arguments of `caduceus user add`.
func newNode(t *testing.T, f *trusttest.Fixture, domain, user string, extra ...string) *node {
	t.Helper()
	n := &node{domain: domain, smtp: freeAddr(t), sub: freeAddr(t), imap: freeAddr(t), https: freeAddr(t)}
	_, cert, key := f.Operator(t, "mx."+domain, "mx."+domain, "127.0.0.1", "localhost")
	dir := t.TempDir()
	n.config = filepath.Join(dir, "caduceus.toml")
	n.write(t, cert, key, f, "127.0.0.1:1")
	if _, _, err := runCLI(t, n.config, "", "domain", "add", domain); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, n.config, "un mot de passe long\n", append([]string{"user", "add", user + "@" + domain, "--name", user, "--password-stdin"}, extra...)...); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) write(t *testing.T, cert, key string, f *trusttest.Fixture, relay string) {
	t.Helper()
	body := fmt.Sprintf(`hostname = "mx.%s"
data_dir = "data"
[listen]
smtp = %q
submission = %q
imap = %q
https = %q
[tls]
cert = %q
key = %q
[delivery]
relay = %q
retry_first = "1s"
retry_max = "2s"
[auth]
account_password_for_mail = true
[trust]
enabled = true
ca_bundle = %q
crls = [%q]
whitelist = %q
`, n.domain, n.smtp, n.sub, n.imap, n.https, cert, key, relay, f.Bundle, f.CRL, f.Whitelist)
	if err := os.WriteFile(n.config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serve starts `caduceus serve` for n, delivering to relay, and waits
// until it has started.
func (n *node) serve(t *testing.T, relay string) {
	t.Helper()
	b, err := os.ReadFile(n.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), `relay = "127.0.0.1:1"`, fmt.Sprintf("relay = %q", relay), 1)
	if err := os.WriteFile(n.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startServe(t, n.domain, n.config)
}

// startServe starts `caduceus serve --config config` as a process of its
// own, waits until it has started and returns it; the test's end stops it.
func startServe(t testing.TB, name, config string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--config", config)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if testing.Verbose() {
				t.Logf("%s: %s", name, sc.Text())
			}
			if !once && strings.Contains(sc.Text(), "caduceus started") {
				once = true
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start", name)
	}
	return cmd
}

// send submits a message as user through n's submission port.
func (n *node) send(t *testing.T, f *trusttest.Fixture, user, to, subject string) {
	t.Helper()
	from := user + "@" + n.domain
	n.submit(t, f, user, to, "From: "+from+"\r\nTo: "+to+"\r\nSubject: "+subject+"\r\n\r\nBonjour.\r\n")
}

// waitMessage reads user's INBOX over IMAP until a message with subject is
// there, and returns it whole.
func (n *node) waitMessage(t *testing.T, f *trusttest.Fixture, user, subject string) string {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(f.Root.Cert)
	c, err := imapclient.DialStartTLS(n.imap, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user+"@"+n.domain, "un mot de passe long").Wait(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}}}, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if uids := data.AllUIDs(); len(uids) > 0 {
			section := &imap.FetchItemBodySection{}
			msgs, err := c.Fetch(imap.UIDSetNum(uids[0]), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
			if err != nil || len(msgs) == 0 {
				t.Fatalf("fetch: %v", err)
			}
			return string(msgs[0].FindBodySection(section))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %s@%s's INBOX", subject, user, n.domain)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTwoNodesTrust runs two `caduceus serve` processes, two operators of
// two domains in trust mode, and sends a message each way: each node
// presents its certificate, verifies the other's, and records it.
func TestTwoNodesTrust(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	f := trusttest.NewFixture(t, "chu-a.mssante.fr", "clinique-b.mssante.fr")
	a := newNode(t, f, "chu-a.mssante.fr", "alice")
	b := newNode(t, f, "clinique-b.mssante.fr", "bob")
	a.serve(t, b.smtp)
	b.serve(t, a.smtp)

	a.send(t, f, "alice", "bob@clinique-b.mssante.fr", "de A vers B")
	got := b.waitMessage(t, f, "bob", "de A vers B")
	if !strings.Contains(got, `client certificate "CN=mx.chu-a.mssante.fr`) {
		t.Errorf("at B:\n%s", got)
	}
	b.send(t, f, "bob", "alice@chu-a.mssante.fr", "de B vers A")
	got = a.waitMessage(t, f, "alice", "de B vers A")
	if !strings.Contains(got, `client certificate "CN=mx.clinique-b.mssante.fr`) {
		t.Errorf("at A:\n%s", got)
	}
}
