package imap

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// The tests of this file push the limits that protect the server: each
// checks that the client at fault gets a clear answer, that nothing is
// stored that should not be, and that other connections go on.

// conns returns how many connections the server holds.
func (ts *testServer) conns() int {
	ts.srv.mu.Lock()
	defer ts.srv.mu.Unlock()
	n := 0
	for _, k := range ts.srv.perIP {
		n += k
	}
	return n
}

// waitConns waits until the server holds n connections.
func (ts *testServer) waitConns(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ts.conns() != n {
		if time.Now().After(deadline) {
			t.Fatalf("server holds %d connections, want %d", ts.conns(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectClosed reads what is left on the connection, which must end
// within five seconds, and returns it.
func (r *rawClient) expectClosed() string {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(r.br)
	if err != nil {
		r.t.Fatalf("connection not closed: %v (read %q)", err, rest)
	}
	return string(rest)
}

// stillServes checks that a new connection logs in and reads INBOX.
func (ts *testServer) stillServes(t *testing.T, want int) {
	t.Helper()
	r := ts.raw(t, "alice")
	lines := r.ok("STATUS INBOX (MESSAGES)")
	if len(lines) != 1 || lines[0] != `* STATUS "INBOX" (MESSAGES `+strconv.Itoa(want)+`)` {
		t.Errorf("STATUS from another connection = %q, want %d messages", lines, want)
	}
}

// TestAppendLimit refuses a message over APPENDLIMIT (RFC 7889) before
// reading it: with a synchronizing literal the client is never asked for
// it and the connection goes on; with a non-synchronizing one, which the
// client sends regardless, the server says so and closes.
func TestAppendLimit(t *testing.T) {
	ts := startServerWith(t, Options{Limits: Limits{MaxLine: 8192, MaxLiteral: 4096, MaxCommand: 1 << 16, MaxMessage: 1000}})
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	if lines := r.ok("CAPABILITY"); !strings.Contains(lines[0], " APPENDLIMIT=1000") {
		t.Errorf("CAPABILITY = %q, want APPENDLIMIT=1000", lines)
	}
	if lines := r.ok("STATUS INBOX (APPENDLIMIT)"); lines[0] != `* STATUS "INBOX" (APPENDLIMIT 1000)` {
		t.Errorf("STATUS = %q", lines)
	}
	r.write("a APPEND INBOX {10000000000}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a NO [TOOBIG]") {
		t.Fatalf("APPEND of 10 GB = %q, want NO [TOOBIG] at once", l)
	}
	r.appendRaw("INBOX", testMsg)
	r.write("b APPEND INBOX {2000+}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "b NO [TOOBIG]") {
		t.Fatalf("APPEND of 2000 bytes with LITERAL+ = %q, want NO [TOOBIG]", l)
	}
	if rest := r.expectClosed(); !strings.HasPrefix(rest, "* BYE") {
		t.Errorf("after a refused LITERAL+ message: %q, want BYE", rest)
	}
	ts.stillServes(t, 1)
}

// TestLiteralLimits refuses a command literal over the limit without
// asking for it, and goes on.
func TestLiteralLimits(t *testing.T) {
	ts := startServerWith(t, Options{Limits: Limits{MaxLine: 8192, MaxLiteral: 4096, MaxCommand: 1 << 16, MaxMessage: 1 << 20}})
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "")
	r.write("a LOGIN {100000000}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a BAD [TOOBIG]") {
		t.Fatalf("LOGIN with a 100 MB literal = %q, want BAD [TOOBIG] at once", l)
	}
	r.write(fmt.Sprintf("b LOGIN {5000+}\r\n%s\r\n", strings.Repeat("x", 5000)))
	if l := r.line(); !strings.HasPrefix(l, "b BAD [TOOBIG]") {
		t.Fatalf("LOGIN with a 5000-byte LITERAL+ = %q, want BAD [TOOBIG]", l)
	}
	r.ok(fmt.Sprintf("LOGIN alice@%s %q", coretest.Domain, coretest.Password))
}

// TestLineTooLong answers a line over the limit with BAD and reads the
// next command.
func TestLineTooLong(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.write("a SEARCH SUBJECT " + strings.Repeat("x", 100<<10) + "\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a BAD") || !strings.Contains(l, "line too long") {
		t.Fatalf("line of 100 KiB = %q, want BAD line too long", l)
	}
	r.ok("NOOP")
}

// TestDisconnectMidLiteral drops connections in the middle of an APPEND
// message, synchronizing or not: nothing is stored, the server lets the
// connections go, and serves others.
func TestDisconnectMidLiteral(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	for _, sync := range []bool{true, false} {
		r := ts.raw(t, "alice")
		if sync {
			r.write("a APPEND INBOX {1000}\r\n")
			if l := r.line(); !strings.HasPrefix(l, "+") {
				t.Fatalf("APPEND = %q, want a continuation request", l)
			}
		} else {
			r.write("a APPEND INBOX {1000+}\r\n")
		}
		r.write(testMsg[:100])
		r.nc.Close()
	}
	ts.waitConns(t, 0)
	ts.stillServes(t, 0)
}

// TestIdleTimeout closes a connection silent for longer than IdleTimeout
// with BYE, while one in IDLE stays until IdleMax.
func TestIdleTimeout(t *testing.T) {
	ts := startServerWith(t, Options{IdleTimeout: 300 * time.Millisecond, IdleMax: time.Minute})
	coretest.User(t, ts.svc, "alice", "Alice")
	idle := ts.raw(t, "alice")
	idle.ok("SELECT INBOX")
	idle.write("i IDLE\r\n")
	if l := idle.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE = %q", l)
	}
	// The idle timer starts at the last command raw sends: measure from
	// before it, so a slow login does not eat into the timeout measured.
	start := time.Now()
	silent := ts.raw(t, "alice")
	if rest := silent.expectClosed(); !strings.HasPrefix(rest, "* BYE") {
		t.Errorf("silent connection ended with %q, want BYE", rest)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("silent connection closed after %v, before the idle timeout", d)
	}
	idle.write("DONE\r\n")
	if _, status := idle.until("i"); !strings.HasPrefix(status, "OK") {
		t.Errorf("IDLE past the idle timeout = %q", status)
	}
	idle.ok("NOOP")

	short := startServerWith(t, Options{IdleMax: 200 * time.Millisecond})
	coretest.User(t, short.svc, "alice", "Alice")
	r := short.raw(t, "alice")
	r.write("i IDLE\r\n")
	r.line()
	if rest := r.expectClosed(); !strings.HasPrefix(rest, "* BYE") {
		t.Errorf("IDLE past IdleMax ended with %q, want BYE", rest)
	}
}

// TestConnectionCaps refuses a connection over the per-address cap at
// once, and a login over the per-account cap, and takes them again once
// others have gone.
func TestConnectionCaps(t *testing.T) {
	ts := startServerWith(t, Options{MaxConnsPerIP: 3, MaxConnsPerAccount: 2})
	coretest.User(t, ts.svc, "alice", "Alice")
	coretest.User(t, ts.svc, "bob", "Bob")
	a1 := ts.raw(t, "alice")
	ts.raw(t, "alice")
	r := ts.raw(t, "")
	r.fails(fmt.Sprintf("LOGIN alice@%s %q", coretest.Domain, coretest.Password), "NO", "UNAVAILABLE")
	r.ok(fmt.Sprintf("LOGIN bob@%s %q", coretest.Domain, coretest.Password))

	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	over := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	if rest := over.expectClosed(); !strings.HasPrefix(rest, "* BYE [UNAVAILABLE]") {
		t.Errorf("fourth connection from one address got %q, want BYE [UNAVAILABLE]", rest)
	}
	a1.ok("LOGOUT")
	ts.waitConns(t, 2)
	a3 := ts.raw(t, "alice")
	a3.ok("NOOP")
}

// TestCommandRateLimit slows a client that sends faster than CommandRate
// without refusing its commands, and leaves other connections alone.
func TestCommandRateLimit(t *testing.T) {
	ts := startServerWith(t, Options{CommandRate: 40, CommandBurst: 5})
	coretest.User(t, ts.svc, "alice", "Alice")
	fast := ts.raw(t, "alice")
	other := ts.raw(t, "alice")
	start := time.Now()
	var b strings.Builder
	for i := range 25 {
		fmt.Fprintf(&b, "n%d NOOP\r\n", i)
	}
	fast.write(b.String())
	otherStart := time.Now()
	other.ok("NOOP")
	otherTook := time.Since(otherStart)
	for i := range 25 {
		if _, status := fast.until("n" + strconv.Itoa(i)); !strings.HasPrefix(status, "OK") {
			t.Fatalf("NOOP %d = %q", i, status)
		}
	}
	took := time.Since(start)
	// 25 commands, 5 at once and 40 a second: at least half a second.
	if took < 450*time.Millisecond {
		t.Errorf("25 NOOPs took %v, want the rate limit to slow them to 500 ms", took)
	}
	if otherTook > took/2 {
		t.Errorf("another connection's NOOP took %v while the fast one was slowed for %v", otherTook, took)
	}
}

// TestLoginLockout answers NO [UNAVAILABLE] once an account failed to log
// in too often (the core's lockout), without saying whether the password
// was right, and lets the right password in again once the delay is over.
// The core runs on a stopped clock: under load argon2id checks can take
// longer than the delay.
func TestLoginLockout(t *testing.T) {
	clock := coretest.NewClock(time.Now())
	ts := startServerOver(t, coretest.New(t, coretest.Options{Now: clock.Now}), Options{})
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "")
	for range core.DefaultLoginPolicy().AccountFree {
		r.fails(fmt.Sprintf("LOGIN alice@%s wrong", coretest.Domain), "NO", "AUTHENTICATIONFAILED")
	}
	right := fmt.Sprintf("LOGIN alice@%s %q", coretest.Domain, coretest.Password)
	r.fails(right, "NO", "UNAVAILABLE")
	clock.Add(core.DefaultLoginPolicy().DelayBase / 2) // the delay is not over
	r.fails(right, "NO", "UNAVAILABLE")
	clock.Add(core.DefaultLoginPolicy().DelayMax)
	r.ok(right)
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A bug in a command ends its connection, not the server, and its log
// line names the command without its arguments. A server whose core is
// gone stands for the bug: LOGIN panics on it.
func TestPanicEndsOnlyItsConnection(t *testing.T) {
	var logs syncBuffer
	ts := startServerWith(t, Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	ts.srv.mu.Lock() // new connections take the lock: they see the change
	ts.srv.svc = nil
	ts.srv.mu.Unlock()
	for range 2 { // the second connection finds the server still serving
		r := ts.raw(t, "")
		r.write("a LOGIN alice@imap.test secret-pass-123\r\n")
		if l := r.line(); !strings.HasPrefix(l, "* BYE [SERVERBUG]") {
			t.Fatalf("after a panic the client got %q, want BYE [SERVERBUG]", l)
		}
	}
	out := logs.String()
	if !strings.Contains(out, `"command":"LOGIN"`) || !strings.Contains(out, "stack") {
		t.Errorf("panic not logged with its command and stack: %s", out)
	}
	if strings.Contains(out, "secret-pass-123") || strings.Contains(out, "alice@imap.test") {
		t.Errorf("the log holds the command's arguments: %s", out)
	}
}
