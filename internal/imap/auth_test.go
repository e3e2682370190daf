package imap

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// startAuthServer starts an IMAP server over a core made with co.
func startAuthServer(t *testing.T, co coretest.Options, opts Options) *testServer {
	t.Helper()
	svc := coretest.New(t, co)
	opts.Hostname, opts.TLS = "imap.test", testTLS(t)
	srv := NewServer(svc, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &testServer{svc: svc, srv: srv, addr: ln.Addr().String()}
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
