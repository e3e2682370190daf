package managesieve_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"caduceus/internal/audit"
	"caduceus/internal/certs/certstest"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/managesieve"
)

// env is a core with a ManageSieve server on loopback.
type env struct {
	svc       *core.Service
	srv       *managesieve.Server
	addr      string
	clientTLS *tls.Config
}

func newEnv(t *testing.T, implicit bool) *env {
	t.Helper()
	svc := coretest.New(t, coretest.Options{})
	coretest.User(t, svc, "alice", "Alice")
	coretest.User(t, svc, "bob", "Bob")
	serverTLS, clientTLS := certstest.TLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := managesieve.NewServer(svc, managesieve.Options{TLS: serverTLS, ImplicitTLS: implicit, MaxConnsPerIP: 4})
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &env{svc: svc, srv: srv, addr: ln.Addr().String(), clientTLS: clientTLS}
}

// client speaks ManageSieve line by line.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func (e *env) dial(t *testing.T, implicit bool) *client {
	t.Helper()
	var nc net.Conn
	var err error
	if implicit {
		nc, err = tls.Dial("tcp", e.addr, e.clientTLS)
	} else {
		nc, err = net.Dial("tcp", e.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// response reads lines up to OK, NO or BYE and returns them, literals
// joined to their line.
func (c *client) response() []string {
	c.t.Helper()
	var out []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (after %q)", err, out)
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "{") && strings.HasSuffix(line, "}") {
			n, _ := strconv.Atoi(line[1 : len(line)-1])
			buf := make([]byte, n)
			if _, err := io.ReadFull(c.r, buf); err != nil {
				c.t.Fatal(err)
			}
			c.r.ReadString('\n')
			line = string(buf)
		}
		out = append(out, line)
		for _, s := range []string{"OK", "NO", "BYE"} {
			if line == s || strings.HasPrefix(line, s+" ") {
				return out
			}
		}
	}
}

// do sends a command and returns its response; the last line must start
// with want.
func (c *client) do(cmd, want string) []string {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, cmd+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	resp := c.response()
	if last := resp[len(resp)-1]; !strings.HasPrefix(last, want) {
		c.t.Fatalf("%.60q: got %q, want %q", cmd, resp, want)
	}
	return resp
}

func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	c.do("STARTTLS", "OK")
	cfg = cfg.Clone()
	cfg.ServerName, _, _ = net.SplitHostPort(c.nc.RemoteAddr().String())
	tc := tls.Client(c.nc, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.nc, c.r = tc, bufio.NewReader(tc)
	caps := strings.Join(c.response(), "\n")
	if !strings.Contains(caps, `"SASL" "PLAIN"`) || strings.Contains(caps, "STARTTLS") {
		c.t.Fatalf("capabilities after STARTTLS:\n%s", caps)
	}
}

func plain(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

func literal(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

// TestSession walks every command of RFC 5804 a client uses.
func TestSession(t *testing.T) {
	e := newEnv(t, false)
	c := e.dial(t, false)
	greeting := strings.Join(c.response(), "\n")
	for _, want := range []string{`"IMPLEMENTATION" "Caduceus"`, `"STARTTLS"`, `"SASL" ""`, `"VERSION" "1.0"`, `"SIEVE" "comparator-i;ascii-casemap comparator-i;ascii-numeric comparator-i;octet body copy date envelope fileinto imap4flags reject relational vacation"`} {
		if !strings.Contains(greeting, want) {
			t.Errorf("greeting lacks %s:\n%s", want, greeting)
		}
	}
	// RFC 5804 §2.1: no PLAIN in clear text.
	c.do(`AUTHENTICATE "PLAIN" "`+plain("", "alice@"+coretest.Domain, coretest.Password)+`"`, "NO (ENCRYPT-NEEDED)")
	c.do("LISTSCRIPTS", "NO")
	c.startTLS(e.clientTLS)
	c.do(`AUTHENTICATE "PLAIN" "`+plain("", "alice@"+coretest.Domain, "wrong")+`"`, `NO "Authentication failed"`)
	// A literal response to the server's empty challenge.
	io.WriteString(c.nc, "AUTHENTICATE \"PLAIN\"\r\n")
	if line, _ := c.r.ReadString('\n'); line != "\"\"\r\n" {
		t.Fatalf("challenge %q", line)
	}
	resp := plain("", "alice@"+coretest.Domain, coretest.Password)
	c.do(fmt.Sprintf("{%d}\r\n%s", len(resp), resp), "OK")
	caps := strings.Join(c.do("CAPABILITY", "OK"), "\n")
	if !strings.Contains(caps, `"OWNER" "alice@`+coretest.Domain+`"`) || strings.Contains(caps, "SASL") {
		t.Errorf("capabilities once logged in:\n%s", caps)
	}

	script := "require \"fileinto\";\r\nif header :contains \"Subject\" \"labo\" {\r\n  fileinto \"Labs\";\r\n}\r\n"
	c.do(`CHECKSCRIPT `+literal(script), "OK")
	got := c.do(`CHECKSCRIPT "fileinto \"x\";"`, "NO")
	if !strings.Contains(got[0], `1:1: fileinto needs require \"fileinto\"`) {
		t.Errorf("CHECKSCRIPT error: %q", got)
	}
	c.do(`PUTSCRIPT "labs" `+literal(script), "OK")
	got = c.do(`PUTSCRIPT "bad" {9+}`+"\r\nif true {", "NO")
	if !strings.Contains(got[0], "1:9: block not closed") {
		t.Errorf("PUTSCRIPT error: %q", got)
	}
	c.do(`PUTSCRIPT "other" "keep;"`, "OK")
	c.do(`SETACTIVE "labs"`, "OK")
	c.do(`SETACTIVE "nope"`, "NO (NONEXISTENT)")
	if got := c.do("LISTSCRIPTS", "OK"); len(got) != 3 || got[0] != `"labs" ACTIVE` || got[1] != `"other"` {
		t.Errorf("LISTSCRIPTS: %q", got)
	}
	if got := c.do(`GETSCRIPT "labs"`, "OK"); got[0] != script {
		t.Errorf("GETSCRIPT: %q", got)
	}
	c.do(`GETSCRIPT "nope"`, "NO (NONEXISTENT)")
	c.do(`HAVESPACE "new" 100`, "OK")
	c.do(fmt.Sprintf(`HAVESPACE "new" %d`, core.MaxSieveSize+1), "NO (QUOTA/MAXSIZE)")
	c.do(`DELETESCRIPT "labs"`, "NO (ACTIVE)")
	c.do(`RENAMESCRIPT "other" "labs"`, "NO (ALREADYEXISTS)")
	c.do(`RENAMESCRIPT "other" "autre"`, "OK")
	c.do(`DELETESCRIPT "autre"`, "OK")
	c.do(`NOOP "t1"`, `OK (TAG "t1")`)
	c.do("FROB", "NO")

	// The active script runs at delivery.
	ctx := context.Background()
	mb := coretest.Mailbox(t, e.svc, "alice@"+coretest.Domain)
	if _, err := e.svc.CreateFolder(ctx, core.System("test"), mb.ID, "Labs", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Deliver(ctx, core.System("test"), core.Delivery{MailFrom: "x@remote.example", Recipients: []string{"alice@" + coretest.Domain},
		Data: []byte("From: x@remote.example\r\nSubject: Résultats du labo\r\n\r\nHello\r\n")}); err != nil {
		t.Fatal(err)
	}
	if f := coretest.Folder(t, e.svc, "alice@"+coretest.Domain, "Labs"); f.Messages != 1 {
		t.Errorf("Labs holds %d messages, want 1", f.Messages)
	}
	c.do("LOGOUT", "OK")

	trail, err := e.svc.Audit().List(ctx, audit.Query{Actor: "alice@" + coretest.Domain})
	if err != nil {
		t.Fatal(err)
	}
	doors := map[string]int{}
	for _, en := range trail {
		if en.Door == "managesieve" {
			doors[en.Action]++
		}
	}
	if doors["sieve-put"] != 2 || doors["sieve-activate"] != 1 || doors["sieve-delete"] != 1 {
		t.Errorf("trail of the door: %v", doors)
	}
}

// Logins go through the core: another mailbox needs rights on it, three
// failures end the connection, and implicit TLS works as on other doors.
func TestLogins(t *testing.T) {
	e := newEnv(t, true)
	c := e.dial(t, true)
	if caps := strings.Join(c.response(), "\n"); !strings.Contains(caps, `"SASL" "PLAIN"`) || strings.Contains(caps, "STARTTLS") {
		t.Fatalf("implicit TLS greeting:\n%s", caps)
	}
	c.do(`AUTHENTICATE "PLAIN" "`+plain("bob@"+coretest.Domain, "alice@"+coretest.Domain, coretest.Password)+`"`, "NO")
	c.do(`AUTHENTICATE "PLAIN" "`+plain("", "alice@"+coretest.Domain, "wrong")+`"`, "NO")
	c.do(`AUTHENTICATE "PLAIN" "`+plain("", "alice@"+coretest.Domain, "wrong")+`"`, "NO")
	if bye := c.response(); !strings.HasPrefix(bye[0], "BYE") {
		t.Fatalf("after three failures: %q, want BYE", bye)
	}

	c = e.dial(t, true)
	c.response()
	c.do(`AUTHENTICATE "PLAIN" "`+plain("", "bob@"+coretest.Domain, coretest.Password)+`"`, "OK")
	c.do(`PUTSCRIPT "x" "keep;"`, "OK")
	c.do(`AUTHENTICATE "PLAIN" "`+plain("", "bob@"+coretest.Domain, coretest.Password)+`"`, "NO")
}

// Shutdown tells a connected client BYE.
func TestShutdown(t *testing.T) {
	e := newEnv(t, false)
	c := e.dial(t, false)
	c.response()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if bye := c.response(); !strings.HasPrefix(bye[0], "BYE") {
		t.Fatalf("got %q, want BYE", bye)
	}
}

// Commands that cannot be read are refused, and a literal past the limit
// ends the connection.
func TestBadCommands(t *testing.T) {
	e := newEnv(t, false)
	c := e.dial(t, false)
	c.response()
	c.do("", "NO")
	c.do(`NOOP "a" "b"`, "NO")
	c.do(fmt.Sprintf("CHECKSCRIPT {%d+}", core.MaxSieveSize+1), "NO")
	if bye := c.response(); !strings.HasPrefix(bye[0], "BYE") {
		t.Fatalf("after a literal too big: %q, want BYE", bye)
	}
}

// One address may hold only so many connections; closing one frees its
// place.
func TestConnsPerIP(t *testing.T) {
	e := newEnv(t, false)
	var open []*client
	for range 4 {
		c := e.dial(t, false)
		c.response()
		open = append(open, c)
	}
	c := e.dial(t, false)
	if bye := c.response(); !strings.HasPrefix(bye[0], "BYE (TRYLATER)") {
		t.Fatalf("fifth connection: %q", bye)
	}
	open[0].do("LOGOUT", "OK")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := e.dial(t, false)
		if first := c.response(); !strings.HasPrefix(first[len(first)-1], "BYE") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the place of a closed connection was not freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
