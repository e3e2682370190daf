package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/server"
	"caduceus/internal/server/servertest"
	"caduceus/internal/trust/trusttest"
)

// postfixBinary returns the path of Debian's postfix command, or skips the
// test when it is missing outside CI (scripts/test.sh installs it).
func postfixBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/postfix", "postfix"} {
		if path, err := exec.LookPath(p); err == nil {
			if os.Geteuid() != 0 {
				t.Skip("Postfix needs root to start its master process")
			}
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("postfix is not installed (scripts/test.sh installs the Debian package)")
	}
	t.Skip("postfix is not installed: apt-get install postfix, or run scripts/test.sh")
	return ""
}

// postfixPeer is a real Postfix running as a second MSSanté operator for
// peerDomain, from a configuration of its own in a temporary directory: its
// queue, its data, its log and bob's maildir are there too.
type postfixPeer struct {
	t                *testing.T
	bin, dir         string
	trustPort        string // 127.0.0.1:port, mutual TLS required
	injectPort       string // 127.0.0.1:port, where the test hands it mail
	cert, key, ca    string
	caduceus, mxName string // where mail for servertest.Domain goes, and its certificate's name
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newPostfix writes the configuration of a Postfix peer; start runs it.
func newPostfix(t *testing.T, f *trusttest.Fixture, cert, key string) *postfixPeer {
	bin := postfixBinary(t)
	// Postfix's daemons run as the postfix user: the directory must be
	// theirs to enter, which t.TempDir's 0700 parents are not.
	dir, err := os.MkdirTemp("", "caduceus-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("CADUCEUS_KEEP_POSTFIX") == "" {
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &postfixPeer{t: t, bin: bin, dir: dir, trustPort: freePort(t), injectPort: freePort(t), ca: filepath.Join(dir, "ca.pem")}
	if err := os.WriteFile(p.ca, trusttest.CertPEM(f.Root.Cert, f.Sub.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	p.setCert(cert, key)
	for _, d := range []string{"queue", "data", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	u, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("the postfix user: %v", err)
	}
	p.run("chown", u.Uid+":"+u.Gid, filepath.Join(dir, "mail"), filepath.Join(dir, "data"))
	t.Cleanup(func() {
		exec.Command(p.bin, "-c", p.dir, "stop").Run()
		if t.Failed() {
			t.Logf("postfix's log:\n%s", p.maillog())
		}
	})
	return p
}

// setCert installs the certificate Postfix presents as a server and as a
// client (copied: root-only keys, as Postfix wants them).
func (p *postfixPeer) setCert(cert, key string) {
	for src, dst := range map[string]string{cert: "operator.crt", key: "operator.key"} {
		b, err := os.ReadFile(src)
		if err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p.dir, dst), b, 0o600); err != nil {
			p.t.Fatal(err)
		}
	}
	p.cert, p.key = filepath.Join(p.dir, "operator.crt"), filepath.Join(p.dir, "operator.key")
}

func (p *postfixPeer) run(name string, args ...string) string {
	p.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s\nmaillog:\n%s", name, strings.Join(args, " "), err, out, p.maillog())
	}
	return string(out)
}

// writeConfig writes main.cf and master.cf: mail for peerDomain goes to
// bob's maildir through the virtual transport; mail for servertest.Domain
// goes to Caduceus over TLS with our certificate, its certificate verified
// against the test bundle and its name.
func (p *postfixPeer) writeConfig() {
	u, _ := user.Lookup("postfix")
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
myhostname = mx.%[2]s
mydomain = %[2]s
myorigin = %[2]s
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination
virtual_mailbox_domains = %[2]s
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = inline:{ bob@%[2]s=bob/ }
virtual_uid_maps = static:%[3]s
virtual_gid_maps = static:%[4]s
transport_maps = inline:{ %[5]s=smtp:[%[6]s]:%[7]s }
smtp_tls_security_level = secure
smtp_tls_policy_maps = inline:{ { [%[6]s]:%[7]s = secure match=%[8]s } }
smtp_tls_CAfile = %[9]s
smtp_tls_cert_file = %[10]s
smtp_tls_key_file = %[11]s
smtp_tls_mandatory_protocols = >=TLSv1.2
smtp_tls_loglevel = 1
smtpd_tls_cert_file = %[10]s
smtpd_tls_key_file = %[11]s
smtpd_tls_CAfile = %[9]s
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
bounce_queue_lifetime = 0
maximal_queue_lifetime = 1h
`, p.dir, peerDomain, u.Uid, u.Gid, servertest.Domain, host(p.caduceus), port(p.caduceus), p.mxName, p.ca, p.cert, p.key)
	masterCF := fmt.Sprintf(`%s inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_ask_ccert=yes
  -o smtpd_tls_req_ccert=yes
%s inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`, p.trustPort, p.injectPort)
	for name, body := range map[string]string{"main.cf": mainCF, "master.cf": masterCF} {
		if err := os.WriteFile(filepath.Join(p.dir, name), []byte(body), 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

func host(addr string) string { h, _, _ := net.SplitHostPort(addr); return h }
func port(addr string) string { _, pt, _ := net.SplitHostPort(addr); return pt }

// start starts Postfix and waits until both its ports answer.
func (p *postfixPeer) start() {
	p.t.Helper()
	p.writeConfig()
	p.run(p.bin, "-c", p.dir, "start")
	for _, a := range []string{p.trustPort, p.injectPort} {
		p.waitListening(a)
	}
}

// reload makes a running Postfix read its configuration again.
func (p *postfixPeer) reload() {
	p.t.Helper()
	p.writeConfig()
	p.run(p.bin, "-c", p.dir, "reload")
	// A reload restarts the daemons: wait for the smtpd to answer again
	// with the new settings (a fresh connection gets a fresh process).
	p.waitListening(p.trustPort)
}

func (p *postfixPeer) stop() {
	p.t.Helper()
	p.run(p.bin, "-c", p.dir, "stop")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", p.trustPort, time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatal("postfix still listening after stop")
}

func (p *postfixPeer) waitListening(addr string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("postfix does not listen on %s; maillog:\n%s", addr, p.maillog())
}

func (p *postfixPeer) maillog() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "maillog"))
	return string(b)
}

// inject hands Postfix a message from from to to on its plain port, as a
// local client of that operator would.
func (p *postfixPeer) inject(from, to, subject string) {
	p.t.Helper()
	c, err := gosmtp.Dial(p.injectPort)
	if err != nil {
		p.t.Fatal(err)
	}
	defer c.Close()
	msg := "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@" + peerDomain + ">\r\n\r\nCompte rendu de consultation.\r\n"
	if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
		p.t.Fatalf("postfix refused the message: %v", err)
	}
}

// waitMaildir waits until a message holding want arrives in bob's maildir,
// polling (Postfix is another process), and returns it.
func (p *postfixPeer) waitMaildir(want string, within time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		files, _ := filepath.Glob(filepath.Join(p.dir, "mail", "bob", "new", "*"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(want)) {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no message with %q in bob's maildir after %v; maillog:\n%s", want, within, p.maillog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLog waits until Postfix's log holds want.
func (p *postfixPeer) waitLog(want string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.maillog(), want) {
		if time.Now().After(deadline) {
			p.t.Fatalf("postfix's log lacks %q after %v:\n%s", want, within, p.maillog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPostfixInterop runs a real Postfix as a second operator of the trust
// space, on loopback, with certificates from a test hierarchy: mail goes
// both ways over mutual TLS and lands in each side's mailbox; Caduceus
// refuses Postfix when it presents another authority's certificate, a
// sender off the whitelist and a revoked certificate, and does not hand
// mail to a Postfix whose certificate is not from the bundle; mail for a
// Postfix that is down waits in the queue and arrives once it is up.
func TestPostfixInterop(t *testing.T) {
	f := trusttest.NewFixture(t, servertest.Domain, peerDomain)
	pfLeaf, pfCert, pfKey := f.Operator(t, "mx."+peerDomain, "mx."+peerDomain, "127.0.0.1")
	pf := newPostfix(t, f, pfCert, pfKey)
	pf.trustPort = freePort(t)
	srv := trustNode(t, f, "mx."+servertest.Domain, []string{"alice"}, func(c *config.Config) {
		c.Delivery.Relay = pf.trustPort // peerDomain's MX, by IP: its certificate names 127.0.0.1
		c.Delivery.RetryFirst = config.Duration{Duration: time.Second}
		c.Delivery.RetryMax = config.Duration{Duration: 2 * time.Second}
	})
	pf.caduceus, pf.mxName = srv.Addr("smtp"), "mx."+servertest.Domain
	pf.start()
	alice := "alice@" + servertest.Domain
	bob := "bob@" + peerDomain
	ctx := context.Background()

	t.Log("Postfix to Caduceus, mutual TLS")
	pf.inject(bob, alice, "de Postfix")
	got := waitInbox(t, srv, alice, 1, 30*time.Second)[0]
	if !strings.Contains(got, "Subject: de Postfix") || !strings.Contains(got, `client certificate "CN=mx.peer.mssante.fr`) {
		t.Fatalf("at Caduceus:\n%s", got)
	}

	t.Log("Caduceus to Postfix, mutual TLS")
	if err := submit(t, f, srv, "alice", bob, "de Caduceus"); err != nil {
		t.Fatal(err)
	}
	got = pf.waitMaildir("Subject: de Caduceus", 30*time.Second)
	// Postfix records the client certificate it verified.
	if !strings.Contains(got, "Client CN \"mx.test.mssante.fr\"") || !strings.Contains(got, "(verified OK)") {
		t.Errorf("Postfix did not verify our client certificate:\n%s", got)
	}

	t.Log("A sender domain off the whitelist")
	pf.inject("doc@hors-liste.example", alice, "hors liste")
	pf.waitLog("Trust space [whitelist]: domain hors-liste.example is not on the MSSant", 30*time.Second)

	t.Log("Postfix with a certificate of another authority")
	stranger := f.Other.Issue(t, "mx."+peerDomain, "mx."+peerDomain, "127.0.0.1")
	sc, sk := trusttest.WriteLeaf(t, f.Dir, "stranger", stranger)
	pf.setCert(sc, sk)
	pf.reload()
	pf.inject(bob, alice, "autre AC")
	bounce := pf.waitMaildir("Trust space [certificate_chain]", 30*time.Second)
	if !strings.Contains(bounce, "Undelivered Mail") {
		t.Errorf("Postfix's bounce:\n%s", bounce)
	}
	// …and Caduceus does not hand it mail: the message waits.
	if err := submit(t, f, srv, "alice", bob, "en attente"); err != nil {
		t.Fatal(err)
	}
	waitQueueError(t, srv, "not issued by a trusted authority", 30*time.Second)

	t.Log("Postfix with a revoked certificate")
	pf.setCert(pfCert, pfKey)
	f.Sub.Revoke(pfLeaf.Cert)
	f.WriteCRL(t)
	if err := srv.Trust.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	pf.reload()
	pf.inject(bob, alice, "revoque")
	pf.waitMaildir("Trust space [certificate_revoked]", 30*time.Second)

	t.Log("Postfix down, then up with a new certificate: the queue delivers")
	pf.stop()
	if err := submit(t, f, srv, "alice", bob, "apres la panne"); err != nil {
		t.Fatal(err)
	}
	waitQueueError(t, srv, "Connection to 127.0.0.1 failed", 30*time.Second)
	_, nc, nk := f.Operator(t, "mx2."+peerDomain, "mx."+peerDomain, "127.0.0.1")
	pf.setCert(nc, nk)
	pf.start()
	pf.waitMaildir("Subject: apres la panne", 30*time.Second)
	pf.waitMaildir("Subject: en attente", 30*time.Second)
	if n := len(inbox(t, srv, alice)); n != 1 {
		t.Errorf("alice has %d messages, want only the one accepted", n)
	}
}

// waitQueueError waits until an entry of srv's outbound queue failed with
// a reason holding want.
func waitQueueError(t *testing.T, srv *server.Server, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		q, err := srv.Core.OutboundList(context.Background(), core.System("test"))
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, e := range q {
			if strings.Contains(e.LastError, want) {
				return
			}
			seen = append(seen, e.LastError)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no queue entry failed with %q after %v: %q", want, within, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
