package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/loadgen"
)

// fill delivers n small messages to addr, from a few goroutines so that
// the core's group commit batches them.
func (e *env) fill(addr string, n int) {
	e.t.Helper()
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				raw := fmt.Sprintf("From: Correspondant %d <c%d@example.org>\r\nTo: %s\r\nSubject: Dossier %d\r\nMessage-ID: <fill-%d@example.org>\r\nDate: %s\r\n\r\nCompte rendu numéro %d.\r\n",
					i%500, i%500, addr, i, i, time.Now().Add(-time.Duration(n-i)*time.Minute).Format(time.RFC1123Z), i)
				err := e.svc.Deliver(context.Background(), core.System("smtp"), core.Delivery{MailFrom: "c@example.org", Recipients: []string{addr}, Data: []byte(raw)})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Fatal(err)
	}
}

// BenchmarkMailbox100k measures server time, without the network, of the
// pages a reader opens most in a 100,000-message inbox, and reports the
// 50th and 99th percentiles:
//
//	go test ./internal/web -run '^$' -bench Mailbox100k -benchtime 400x
func BenchmarkMailbox100k(b *testing.B) {
	e := newEnv(b)
	start := time.Now()
	e.fill(alice, 100_000)
	b.Logf("filled 100,000 messages in %s", time.Since(start).Round(time.Second))
	c := e.login(alice)
	cookies := c.Jar.Cookies(mustURL(e.srv.URL))
	inbox := e.messagesIn(alice, "INBOX")[:1000]
	f := inbox[0].FolderID
	box := boxOfFolder(b, e, f)
	h := e.srv.Config.Handler

	serve := func(path string) time.Duration {
		req := httptest.NewRequest(http.MethodGet, "https://"+e.srv.Listener.Addr().String()+path, nil)
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		rec := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		d := time.Since(t0)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d", path, rec.Code)
		}
		return d
	}
	bench := func(name string, path func(i int) string) {
		b.Run(name, func(b *testing.B) {
			var ds []time.Duration
			for i := 0; b.Loop(); i++ {
				ds = append(ds, serve(path(i)))
			}
			l := loadgen.Summarize(ds)
			b.ReportMetric(float64(l.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(l.P99.Microseconds())/1000, "p99-ms")
		})
	}
	bench("inbox", func(int) string { return fmt.Sprintf("/mail/%d/%d", box, f) })
	bench("inbox-page-20", func(int) string { return fmt.Sprintf("/mail/%d/%d?p=20", box, f) })
	bench("open", func(i int) string { return fmt.Sprintf("/mail/%d/%d/%d", box, f, inbox[i%len(inbox)].ID) })
	bench("body", func(i int) string { return fmt.Sprintf("/mail/%d/%d/%d/body", box, f, inbox[i%len(inbox)].ID) })
	bench("search", func(i int) string { return fmt.Sprintf("/mail/%d/search?q=Dossier+%d", box, 99_000+i%1000) })
}

func boxOfFolder(b *testing.B, e *env, folder int64) int64 {
	f, err := e.svc.Folder(context.Background(), core.System("test"), folder)
	if err != nil {
		b.Fatal(err)
	}
	return f.MailboxID
}
