package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"caduceus/internal/config"
	"caduceus/internal/queue"
	"caduceus/internal/server/servertest"
)

// TestWholeNode logs in to a whole node, as `caduceus serve` runs it: the
// code travels through the core's notices and the outbound queue into the
// dev outbox, and the dev outbox page shows it.
func TestWholeNode(t *testing.T) {
	outbox := t.TempDir()
	srv := servertest.Start(t, servertest.Options{
		Users:     []string{"alice"},
		Configure: func(c *config.Config) { c.Dev.Outbox = outbox },
	})
	base := "https://" + srv.Addr("https")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{TLSClientConfig: servertest.ClientTLS(t, srv)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	post := func(path string, form url.Values) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	alice := "alice@" + servertest.Domain
	res := post("/login", url.Values{"email": {alice}, "password": {servertest.Password}})
	if !strings.HasPrefix(res.Header.Get("Location"), "/login/code") {
		t.Fatalf("password: %s → %q", res.Status, res.Header.Get("Location"))
	}
	code := waitCode(t, outbox)

	res, err := c.Get(base + "/dev/outbox")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), code) {
		t.Fatal("the dev outbox page does not show the code")
	}

	res = post("/login/code", url.Values{"code": {code}, "next": {"/"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("code: %s → %q", res.Status, res.Header.Get("Location"))
	}
	res, err = c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.HasPrefix(res.Header.Get("Location"), "/mail/") {
		t.Fatalf("home after login: %s → %q", res.Status, res.Header.Get("Location"))
	}
}

// waitCode waits for the queue to put a login code in the dev outbox.
func waitCode(t *testing.T, dir string) string {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for {
		msgs, err := queue.ReadOutbox(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			b, err := os.ReadFile(m.Path)
			if err != nil {
				t.Fatal(err)
			}
			if m := regexp.MustCompile(`: ([0-9]{6})\b`).FindSubmatch(b); m != nil {
				return string(m[1])
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("no login code reached the dev outbox")
		}
	}
}
