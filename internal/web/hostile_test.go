package web

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// canary is a server outside the app that hostile mail tries to reach. It
// counts every connection, whatever its protocol, and the paths asked.
type canary struct {
	addr  string
	mu    sync.Mutex
	conns int
	paths []string
}

func newCanary(t *testing.T) *canary {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &canary{addr: ln.Addr().String()}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.mu.Lock()
			c.paths = append(c.paths, r.URL.Path)
			c.mu.Unlock()
			w.Header().Set("Content-Type", "image/gif")
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				c.mu.Lock()
				c.conns++
				c.mu.Unlock()
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return c
}

func (c *canary) seen() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns, append([]string(nil), c.paths...)
}

// TestHostileInBrowser opens every sample of the hostile corpus in
// Chromium, in the reading pane, as its body alone and in the print view,
// and checks that nothing reached the canary. It then shows that the
// canary does hear the remote image once the reader asks for images, and
// the whole corpus when it is not sanitised.
func TestHostileInBrowser(t *testing.T) {
	c := newCanary(t)
	e := newEnv(t)
	corpus := hostileCorpus(t, c.addr)
	for name, html := range corpus {
		e.deliver(fmt.Sprintf("From: Hostile <x@example.org>\nTo: %s\nSubject: hostile %s\nMessage-ID: <%s@example.org>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n%s\n", alice, name, name, html), alice)
	}
	ctx := newBrowser(t, 1280, 800)
	e.browserLogin(t, ctx, alice)
	links := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".row a")].map(a => a.getAttribute("href"))`))
	if len(links) != len(corpus) {
		t.Fatalf("listed %d hostile messages, delivered %d", len(links), len(corpus))
	}
	for _, link := range links {
		msg := strings.SplitN(link, "?", 2)[0]
		for _, url := range []string{msg, msg + "/body", msg + "/print"} {
			do(t, ctx, chromedp.Navigate(e.srv.URL+url))
		}
	}
	if conns, paths := c.seen(); conns != 0 {
		t.Fatalf("the hostile corpus reached outside: %d connections, paths %v", conns, paths)
	}

	t.Run("remote images once asked", func(t *testing.T) {
		var remote string
		for _, link := range links {
			msg := strings.SplitN(link, "?", 2)[0]
			do(t, ctx, chromedp.Navigate(e.srv.URL+msg))
			if run(t, ctx, chromedp.Evaluate[bool](`document.getElementById("msg-subject").textContent === "hostile remote-img"`)) {
				remote = msg
				break
			}
		}
		do(t, ctx,
			chromedp.Navigate(e.srv.URL+remote),
			chromedp.WaitVisible(chromedp.Search(`//a[text()="Afficher les images"]`)),
			click(chromedp.Search(`//a[text()="Afficher les images"]`)),
			chromedp.WaitReady(chromedp.CSS(`iframe[src$="?images=1"]`)),
		)
		do(t, ctx, chromedp.Navigate(e.srv.URL+remote+"/body?images=1"))
		if _, paths := c.seen(); !strings.Contains(strings.Join(paths, " "), "/hit/remote-img") {
			t.Fatalf("the remote image was not fetched once asked: %v", paths)
		}
	})

	t.Run("canary hears unsanitised mail", func(t *testing.T) {
		raw, heard := httpServe(t, func(canary string) string {
			var all []string
			for _, h := range hostileCorpus(t, canary) {
				all = append(all, h)
			}
			return strings.Join(all, "\n")
		})
		do(t, ctx, chromedp.Navigate(raw+"/"))
		select {
		case <-heard:
		case <-time.After(30 * time.Second):
			t.Fatal("the canary heard nothing from the unsanitised corpus: the test cannot see an escape")
		}
	})
}

// httpServe serves, unprotected, the page that page(base) returns, where
// base is the server's own address. heard is closed once five hostile
// samples have reached it.
func httpServe(t *testing.T, page func(base string) string) (url string, heard <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := ln.Addr().String()
	body := page(base)
	var mu sync.Mutex
	hits := 0
	done := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	})
	mux.HandleFunc("/hit/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if hits++; hits == 5 {
			close(done)
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + base, done
}
