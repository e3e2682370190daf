package web

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"caduceus/internal/auth"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/directory"
)

// env is a core with a few people and the web app over it, served over
// TLS on a loopback port.
type env struct {
	t      testing.TB
	svc    *core.Service
	srv    *httptest.Server
	outbox string
	seq    atomic.Int64
	dir    *directory.Directory // nil unless made by newDirEnv
	// factors keeps the strong ways in (cards, PSC, TOTP, passkeys).
	factors *auth.Factors
}

// The people of every test, as in the user guide's examples.
const (
	alice  = "alice@" + coretest.Domain // a cardiologist
	bob    = "bob@" + coretest.Domain   // a nurse
	celia  = "celia@" + coretest.Domain // a medical secretary
	secret = "secretariat-cardio@" + coretest.Domain
)

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, false)
}

// newDirEnv is newEnv with the directory of health professionals, empty
// but for the accounts and mailboxes the app publishes in it.
func newDirEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, true)
}

func newEnvWith(t testing.TB, withDir bool) *env {
	t.Helper()
	return newEnvCustom(t, withDir, nil)
}

// newEnvCustom is newEnvWith with a last say on the app's options and the
// test server (its TLS settings) before it starts; base is the server's URL.
func newEnvCustom(t testing.TB, withDir bool, configure func(base string, o *Options, srv *httptest.Server)) *env {
	t.Helper()
	ctx := context.Background()
	svc, st := coretest.NewWithStore(t, coretest.Options{MessageLimit: 4 << 20})
	coretest.User(t, svc, "alice", "Alice Martin")
	coretest.User(t, svc, "bob", "Bob Durand")
	coretest.User(t, svc, "celia", "Célia Lagarde")
	sys := core.System("test")
	box, err := svc.AddMailbox(ctx, sys, secret, core.KindOrganisational, "Secrétariat de cardiologie", "")
	if err != nil {
		t.Fatal(err)
	}
	member, err := core.ParseRights("member")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetRights(ctx, sys, box.ID, alice, member|core.RightSendAs); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, svc: svc, outbox: t.TempDir()}
	if withDir {
		e.dir, err = directory.Open(ctx, st, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.dir.Close() })
	}
	factors, err := auth.NewFactors(st, randomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	e.factors = factors
	srv := httptest.NewUnstartedServer(nil)
	// localhost rather than 127.0.0.1: WebAuthn wants a domain for the
	// relying party.
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	base := "https://localhost:" + port
	opts := Options{Mailer: e, Auth: auth.NewSQLStore(st), DevOutboxDir: e.outbox, Directory: e.dir, Factors: factors, BaseURL: base}
	if configure != nil {
		configure(base, &opts, srv)
	}
	h, err := New(svc, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.StartTLS()
	e.srv = srv
	t.Cleanup(e.srv.Close)
	return e
}

// SendSystemMail writes the message to the outbox folder, as the dev
// queue does.
func (e *env) SendSystemMail(_ context.Context, to string, msg []byte) error {
	name := fmt.Sprintf("%d-%03d.eml", time.Now().UnixNano(), e.seq.Add(1))
	return os.WriteFile(filepath.Join(e.outbox, name), msg, 0o600)
}

// lastCode reads the newest login code sent to addr.
func (e *env) lastCode(addr string) string {
	e.t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.outbox, "*.eml"))
	for i := len(files) - 1; i >= 0; i-- {
		b, _ := os.ReadFile(files[i])
		if !bytes.Contains(b, []byte(addr)) {
			continue
		}
		if m := regexp.MustCompile(`: ([0-9]{6})\b`).FindSubmatch(b); m != nil {
			return string(m[1])
		}
	}
	e.t.Fatalf("no login code for %s in the outbox", addr)
	return ""
}

// deliver puts a message in the inbox of each recipient, as the MX would.
func (e *env) deliver(raw string, to ...string) {
	e.t.Helper()
	raw = strings.ReplaceAll(strings.TrimLeft(raw, "\n"), "\n", "\r\n")
	err := e.svc.Deliver(context.Background(), core.System("smtp"), core.Delivery{MailFrom: "sender@example.org", Recipients: to, Data: []byte(raw)})
	if err != nil {
		e.t.Fatal(err)
	}
}

// client returns an HTTP client that trusts the test server, keeps
// cookies and does not follow redirects.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	// A copy: the test server hands out one shared client, and two
	// browsers must not share their cookies.
	c := *e.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// login goes through the password and the code and returns a client with a
// session.
func (e *env) login(addr string) *http.Client {
	e.t.Helper()
	c := e.client()
	res := e.post(c, "/login", url.Values{"email": {addr}, "password": {coretest.Password}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login/code") {
		e.t.Fatalf("login: %s, Location %q", res.Status, res.Header.Get("Location"))
	}
	res = e.post(c, "/login/code", url.Values{"code": {e.lastCode(addr)}, "next": {"/"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		e.t.Fatalf("code: %s, Location %q", res.Status, res.Header.Get("Location"))
	}
	return c
}

func (e *env) post(c *http.Client, path string, form url.Values) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func (e *env) get(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	res, err := c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return res, b.String()
}

// follow gets path and the redirects after it, and returns the last answer.
func (e *env) follow(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	for range 5 {
		res, body := e.get(c, path)
		if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusFound {
			return res, body
		}
		path = res.Header.Get("Location")
	}
	e.t.Fatalf("too many redirects at %s", path)
	return nil, ""
}

func regexpMust(re string) *regexp.Regexp { return regexp.MustCompile(re) }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
