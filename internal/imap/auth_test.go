package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"caduceus/internal/audit"
	"caduceus/internal/auth"
	"caduceus/internal/auth/psctest"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// startAuthServer starts an IMAP server over a core made with co.
func startAuthServer(t *testing.T, co coretest.Options, opts Options) *testServer {
	t.Helper()
	return startServerOver(t, coretest.New(t, co), opts)
}

// rawFrom connects over plain TCP from the loopback address local
// (127.0.0.x), for a server with InsecureAuth.
func (ts *testServer) rawFrom(t *testing.T, local string) *rawClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	nc, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	r := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	r.line() // greeting
	return r
}

// A device credential logs in where the bare password is refused with the
// advice to enrol a device; revoking the device mid-IDLE ends its
// connection within a second, and its credential stops working.
func TestDeviceLoginAndRevokeMidIdle(t *testing.T) {
	ts := startAuthServer(t, coretest.Options{DevicesOnly: true}, Options{})
	ctx := context.Background()
	alice := coretest.User(t, ts.svc, "alice", "Alice")
	addr := alice.Address
	_, other, err := ts.svc.AddDevice(ctx, alice, addr, "Thunderbird")
	if err != nil {
		t.Fatal(err)
	}
	dev, token, err := ts.svc.AddDevice(ctx, alice, addr, "iPhone de garde")
	if err != nil {
		t.Fatal(err)
	}

	r := ts.raw(t, "")
	if _, st := r.cmd(fmt.Sprintf("LOGIN %s %q", addr, coretest.Password)); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") || !strings.Contains(st, "enrol a device") {
		t.Fatalf("bare password: %q, want NO [AUTHENTICATIONFAILED] … enrol a device", st)
	}
	// The same answer for an address without an account.
	if _, st := r.cmd(fmt.Sprintf("LOGIN nobody@%s %q", coretest.Domain, coretest.Password)); !strings.Contains(st, "enrol a device") {
		t.Fatalf("bare password of no account: %q", st)
	}
	r.ok(fmt.Sprintf("LOGIN %s %s", addr, token))

	// AUTHENTICATE PLAIN with the other device's credential, on a second connection.
	r2 := ts.raw(t, "")
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + addr + "\x00" + other))
	r2.ok("AUTHENTICATE PLAIN " + ir)

	// The revoked device's IDLE ends; the other device's connection stays.
	r.ok("SELECT INBOX")
	r.write("idle IDLE\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	start := time.Now()
	if err := ts.svc.RevokeDevice(ctx, alice, addr, dev.ID); err != nil {
		t.Fatal(err)
	}
	r.nc.SetReadDeadline(time.Now().Add(time.Second))
	var bye string
	for {
		l, err := r.br.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasPrefix(l, "* BYE") {
			bye = l
		}
	}
	took := time.Since(start)
	if took >= time.Second || !strings.Contains(bye, "revoked") {
		t.Fatalf("after revocation: BYE %q after %v, want a BYE saying revoked and the connection closed within 1s", bye, took)
	}
	t.Logf("revoked device cut off after %v", took)
	r2.ok("NOOP")

	r3 := ts.raw(t, "")
	if _, st := r3.cmd(fmt.Sprintf("LOGIN %s %s", addr, token)); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("revoked credential: %q", st)
	}
	// Another account's address with alice's device credential is refused too.
	coretest.User(t, ts.svc, "bob", "Bob")
	if _, st := r3.cmd(fmt.Sprintf("LOGIN bob@%s %s", coretest.Domain, other)); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("alice's credential for bob: %q", st)
	}
}

// bruteClock is a clock tests move by hand.
type bruteClock struct{ ns atomic.Int64 }

func (c *bruteClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *bruteClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// TestBruteForce throws 1,000 wrong passwords at one account over IMAP,
// first from one address, then spread over 100 (127.0.0.x). The account
// never opens, its owner is told once per lockout, the address that
// guessed is shut out, and the owner still gets in from another address:
// at once with a device credential (the lockout stops guessable secrets
// only), and with the password once the lockout is over.
func TestBruteForce(t *testing.T) {
	for _, spread := range []int{1, 100} {
		t.Run(fmt.Sprintf("from %d addresses", spread), func(t *testing.T) {
			clock := &bruteClock{}
			clock.ns.Store(time.Now().UnixNano())
			ts := startAuthServer(t, coretest.Options{Now: clock.now}, Options{InsecureAuth: true, CommandRate: 100000})
			ctx := context.Background()
			sys := core.System("test")
			if _, err := ts.svc.AddUser(ctx, sys, core.NewUser{Address: "alice@" + coretest.Domain, Name: "Alice", Password: coretest.Password, NotifyEmail: "alice.home@notify.example"}); err != nil {
				t.Fatal(err)
			}
			alice, err := ts.svc.User(ctx, "alice@"+coretest.Domain)
			if err != nil {
				t.Fatal(err)
			}
			_, token, err := ts.svc.AddDevice(ctx, sys, alice.Address, "iPhone")
			if err != nil {
				t.Fatal(err)
			}
			answers := map[string]int{}
			for i := range spread {
				r := ts.rawFrom(t, fmt.Sprintf("127.0.0.%d", 10+i))
				for j := range 1000 / spread {
					// Each try also goes to an address without an account: it
					// must get the very same answers.
					_, st := r.cmd(fmt.Sprintf("LOGIN %s wrong-%d-%d", alice.Address, i, j))
					_, st2 := r.cmd(fmt.Sprintf("LOGIN nobody@%s wrong-%d-%d", coretest.Domain, i, j))
					if strings.HasPrefix(st, "OK") {
						t.Fatalf("a wrong password opened the account: %q", st)
					}
					if st != st2 {
						t.Fatalf("try %d/%d: account %q, no account %q: the answers tell them apart", i, j, st, st2)
					}
					answers[st]++
				}
			}
			t.Logf("answers: %v", answers)
			locked := "NO [UNAVAILABLE] too many failed attempts, try again later"
			if answers[locked] < 900 {
				t.Errorf("only %d of 1000 tries refused unchecked", answers[locked])
			}
			// The address that guessed alone is shut out of every account.
			if spread == 1 {
				coretest.User(t, ts.svc, "bob", "Bob")
				if _, st := ts.rawFrom(t, "127.0.0.10").cmd(fmt.Sprintf("LOGIN bob@%s %q", coretest.Domain, coretest.Password)); st != locked {
					t.Errorf("guessing address, another account: %q", st)
				}
			}
			// The owner from another address: the device works at once, the
			// password not yet.
			r := ts.rawFrom(t, "127.0.0.250")
			if _, st := r.cmd(fmt.Sprintf("LOGIN %s %q", alice.Address, coretest.Password)); st != locked {
				t.Fatalf("password during the lockout: %q", st)
			}
			r.ok(fmt.Sprintf("LOGIN %s %s", alice.Address, token))
			// After the lockout, the password works again from a fresh address.
			clock.add(core.DefaultLoginPolicy().Lockout + time.Second)
			ts.rawFrom(t, "127.0.0.251").ok(fmt.Sprintf("LOGIN %s %q", alice.Address, coretest.Password))
			// The owner was told once, at their notification address.
			waitFor(t, func() bool { return noticesTo(t, ts.svc, "alice.home@notify.example") >= 1 })
			if n := noticesTo(t, ts.svc, "alice.home@notify.example"); n != 1 {
				t.Errorf("%d lockout notices, want 1", n)
			}
		})
	}
}

func noticesTo(t *testing.T, svc *core.Service, addr string) int {
	t.Helper()
	out, err := svc.OutboundList(context.Background(), core.System("test"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range out {
		if o.Rcpt == addr {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lateBearer lets a test build the PSC verifier after the core, over the
// core's own store.
type lateBearer struct{ b core.BearerVerifier }

func (l *lateBearer) VerifyBearer(ctx context.Context, token string) (int64, error) {
	return l.b.VerifyBearer(ctx, token)
}

// A Pro Santé Connect access token, issued by a real OpenID Connect
// provider started here, logs its professional in over IMAP with
// OAUTHBEARER (RFC 7628) and XOAUTH2; a forged token and another account's
// address are refused.
func TestOAuthBearer(t *testing.T) {
	ctx := context.Background()
	provider := psctest.Start(t)
	psc, err := auth.NewPSC(ctx, auth.PSCOptions{Issuer: provider.Issuer, ClientID: "caduceus", ClientSecret: "s", RedirectURL: "https://mail.test/login/psc/callback", Client: provider.Client()})
	if err != nil {
		t.Fatal(err)
	}
	lb := &lateBearer{}
	svc, st := coretest.NewWithStore(t, coretest.Options{DevicesOnly: true, Bearer: lb})
	factors, err := auth.NewFactors(st, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	lb.b = auth.PSCBearer{PSC: psc, Factors: factors}
	srv := NewServer(svc, Options{Hostname: "imap.test", TLS: testTLS(t)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	ts := &testServer{svc: svc, srv: srv, addr: ln.Addr().String()}
	alice := coretest.User(t, svc, "alice", "Alice")
	coretest.User(t, svc, "bob", "Bob")
	person := psctest.Person{SubjectNameID: "810002813839", GivenName: "Alice", FamilyName: "Martin"}
	if err := factors.LinkPSC(ctx, alice.AccountID, person.SubjectNameID, "Alice Martin"); err != nil {
		t.Fatal(err)
	}
	token, err := provider.AccessToken(ctx, person)
	if err != nil {
		t.Fatal(err)
	}

	// go-sasl's client gives up on the server's error challenge without the
	// closing %x01 of RFC 7628 §3.2.3, which leaves its connection mid-command:
	// each try gets its own connection.
	dial := func() *imapclient.Client {
		c, err := imapclient.DialStartTLS(ts.addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	if caps := c.Caps(); !caps.Has(imap.AuthCap(sasl.OAuthBearer)) || !caps.Has(imap.AuthCap("XOAUTH2")) {
		t.Fatalf("caps lack AUTH=OAUTHBEARER and AUTH=XOAUTH2: %v", caps)
	}
	if err := dial().Authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: alice.Address, Token: "forged." + token})); err == nil {
		t.Fatal("a forged token logged in")
	}
	if err := dial().Authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: "bob@" + coretest.Domain, Token: token})); err == nil {
		t.Fatal("alice's token logged in as bob")
	}
	if err := c.Authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: alice.Address, Token: token})); err != nil {
		t.Fatalf("OAUTHBEARER: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	r := ts.raw(t, "")
	x := base64.StdEncoding.EncodeToString([]byte("user=" + alice.Address + "\x01auth=Bearer " + token + "\x01\x01"))
	r.ok("AUTHENTICATE XOAUTH2 " + x)
	// A bad token: the JSON error challenge, an empty answer, NO.
	bad := ts.raw(t, "")
	bad.write("x AUTHENTICATE XOAUTH2 " + base64.StdEncoding.EncodeToString([]byte("user="+alice.Address+"\x01auth=Bearer forged\x01\x01")) + "\r\n")
	if l := bad.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("XOAUTH2 with a bad token: %q, want the error challenge", l)
	}
	bad.write("\r\n")
	if _, st := bad.until("x"); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("XOAUTH2 with a bad token: %q", st)
	}
	entries, err := svc.Audit().List(ctx, audit.Query{Action: "login", Actor: alice.Address})
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, e := range entries {
		if e.Result == "ok" && strings.Contains(e.Detail, "method=psc-token") {
			ok++
		}
	}
	if ok != 2 {
		t.Errorf("%d successful PSC-token logins traced, want 2", ok)
	}
}
