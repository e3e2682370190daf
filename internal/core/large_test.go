package core_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/loadgen"
)

// TestLargeMailbox fills an Inbox with CADUCEUS_LARGE messages (default 2,000
// in the normal run; set it to 100000 for the figures in docs/performance.md,
// where it also fails above the targets)
// and measures what the web app and IMAP do most: a page of the newest
// messages, the UID list, and a full-text search.
func TestLargeMailbox(t *testing.T) {
	n := 2000
	if v := os.Getenv("CADUCEUS_LARGE"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{})
	alice := coretest.User(t, svc, "alice", "Alice")
	words := []string{"echographie", "scanner", "biologie", "ordonnance", "consultation", "radiographie", "cardiologie", "hospitalisation"}
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				w := words[i%len(words)]
				data := fmt.Sprintf("From: Dr %d <dr%d@remote.example>\r\nTo: alice@test.mssante.fr\r\nSubject: %s patient %d\r\nMessage-ID: <%d@large>\r\n\r\nCompte rendu %s numéro %d.\r\n", i%500, i%500, w, i, i, w, i)
				if err := svc.Deliver(ctx, core.System("test"), core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: []byte(data)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Logf("filled %d messages in %v", n, time.Since(start).Round(time.Millisecond))
	inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
	mb := coretest.Mailbox(t, svc, "alice@test.mssante.fr")

	measure := func(name string, runs int, f func() int) time.Duration {
		var ds []time.Duration
		for range runs {
			s := time.Now()
			got := f()
			ds = append(ds, time.Since(s))
			if got == 0 {
				t.Fatalf("%s found nothing", name)
			}
		}
		l := loadgen.Summarize(ds)
		t.Logf("%-30s p50 %8v  p99 %8v", name, l.P50.Round(time.Microsecond), l.P99.Round(time.Microsecond))
		return l.P99
	}
	page := measure("page of 50 newest", 200, func() int {
		msgs, err := svc.Messages(ctx, alice, inbox.ID, core.MessageQuery{Order: core.ByDateDesc, Limit: 50, Offset: 0})
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	})
	measure("all UIDs", 50, func() int {
		uids, err := svc.UIDs(ctx, alice, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(uids)
	})
	search := measure("search one word, 50 newest", 100, func() int {
		msgs, err := svc.Search(ctx, alice, mb.ID, "scanner", 50)
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	})
	measure("search two words", 100, func() int {
		msgs, err := svc.Search(ctx, alice, mb.ID, "ordonnance patient", 50)
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	})
	// The targets hold for the measured run; the normal run (small, under the
	// race detector, beside other tests) only checks that everything is found.
	if os.Getenv("CADUCEUS_LARGE") != "" && (page > 50*time.Millisecond || search > 200*time.Millisecond) {
		t.Errorf("too slow: page p99 %v (want < 50 ms), search p99 %v (want < 200 ms)", page, search)
	}
}
