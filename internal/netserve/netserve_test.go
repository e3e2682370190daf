package netserve

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// lineConn answers each line with "ok" until Stop, when it says "bye"
// after the line in progress; stubborn ones ignore Stop.
type lineConn struct {
	nc       net.Conn
	stop     chan struct{}
	stubborn bool
}

func (c *lineConn) Serve() {
	defer c.nc.Close()
	r := bufio.NewReader(c.nc)
	lines := make(chan string)
	go func() {
		defer close(lines)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines <- l
		}
	}()
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return
			}
			c.nc.Write([]byte("ok\n"))
		case <-c.stop:
			if c.stubborn {
				c.stop = nil
				continue
			}
			c.nc.Write([]byte("bye\n"))
			return
		}
	}
}

func (c *lineConn) Stop()        { close(c.stop) }
func (c *lineConn) Close() error { return c.nc.Close() }

func serve(t *testing.T, stubborn bool) (*Server, string, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	served := make(chan error, 1)
	n := 0
	go func() {
		served <- s.Serve(ln, func(nc net.Conn) Conn {
			n++
			if n == 2 { // the second connection is refused
				nc.Close()
				return nil
			}
			return &lineConn{nc: nc, stop: make(chan struct{}), stubborn: stubborn}
		})
	}()
	return s, ln.Addr().String(), served
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return nc, bufio.NewReader(nc)
}

func TestShutdown(t *testing.T) {
	for _, c := range []struct {
		name     string
		stubborn bool
		wantErr  error
		wantLast string
	}{
		{"graceful: the client hears bye", false, nil, "bye\n"},
		{"out of time: the connection is closed", true, context.DeadlineExceeded, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, addr, served := serve(t, c.stubborn)
			nc, r := dial(t, addr)
			nc.Write([]byte("hello\n"))
			if l, err := r.ReadString('\n'); l != "ok\n" {
				t.Fatalf("first line: %q, %v", l, err)
			}
			refused, rr := dial(t, addr)
			refused.Write([]byte("hello\n"))
			if l, err := rr.ReadString('\n'); err == nil {
				t.Fatalf("refused connection answered %q", l)
			}
			third, r3 := dial(t, addr) // served after a refusal
			third.Write([]byte("hello\n"))
			if l, _ := r3.ReadString('\n'); l != "ok\n" {
				t.Fatalf("connection after a refusal: %q", l)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if err := s.Shutdown(ctx); !errors.Is(err, c.wantErr) {
				t.Fatalf("Shutdown = %v, want %v", err, c.wantErr)
			}
			last, _ := r.ReadString('\n')
			if last != c.wantLast {
				t.Errorf("client's last line %q, want %q", last, c.wantLast)
			}
			if _, err := r.ReadString('\n'); err == nil {
				t.Error("connection still open after Shutdown")
			}
			if err := <-served; !errors.Is(err, ErrClosed) {
				t.Errorf("Serve returned %v, want ErrClosed", err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if err := s.Serve(ln, nil); !errors.Is(err, ErrClosed) {
				t.Errorf("Serve after Shutdown = %v, want ErrClosed", err)
			}
		})
	}
}

func TestDescribePanic(t *testing.T) {
	var nilMap map[string]int
	var runtimeErr any
	func() {
		defer func() { runtimeErr = recover() }()
		nilMap["x"] = 1
	}()
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"runtime error keeps its message", runtimeErr, "assignment to entry in nil map"},
		{"an error built from a request keeps only its type", errors.New("subject: IRM de M. Dupont"), "*errors.errorString"},
		{"a string likewise", "patient Dupont", "string"},
	} {
		if got := DescribePanic(c.v); got != c.want {
			t.Errorf("%s: DescribePanic = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestByCredential files sessions by credential, leaves password logins
// out, and forgets what is removed.
func TestByCredential(t *testing.T) {
	var b ByCredential[int]
	b.Add("device:1", 1)
	b.Add("device:1", 2)
	b.Add("device:2", 3)
	b.Add("", 4)
	got := func(cred string) map[int]bool {
		out := map[int]bool{}
		b.Each(cred, func(s int) { out[s] = true })
		return out
	}
	if g := got("device:1"); len(g) != 2 || !g[1] || !g[2] {
		t.Fatalf("device:1 = %v", g)
	}
	if g := got(""); len(g) != 0 {
		t.Fatalf("a password login was filed: %v", g)
	}
	b.Remove("device:1", 1)
	b.Remove("device:2", 3)
	b.Remove("device:9", 9)
	if g := got("device:1"); len(g) != 1 || !g[2] {
		t.Fatalf("device:1 after a removal = %v", g)
	}
	if g := got("device:2"); len(g) != 0 {
		t.Fatalf("device:2 after its removal = %v", g)
	}
}
