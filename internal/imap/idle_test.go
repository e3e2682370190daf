package imap

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"caduceus/internal/core/coretest"
)

// TestIdleSeesChangesFromOthers runs writers that append, flag and
// expunge in one mailbox while other clients IDLE on it: every IDLE
// client hears of a change within a second, and its count of messages
// ends equal to the mailbox's.
func TestIdleSeesChangesFromOthers(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")

	type watcher struct {
		mu     sync.Mutex
		exists uint32
		events chan struct{}
	}
	var watchers []*watcher
	var idles []*imapclient.IdleCommand
	for i := 0; i < 3; i++ {
		w := &watcher{events: make(chan struct{}, 1000)}
		c := ts.dial(t, "alice", &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					w.mu.Lock()
					w.exists = *d.NumMessages
					w.mu.Unlock()
				}
				w.events <- struct{}{}
			},
			Expunge: func(seq uint32) {
				w.mu.Lock()
				w.exists--
				w.mu.Unlock()
				w.events <- struct{}{}
			},
			Fetch: func(*imapclient.FetchMessageData) { w.events <- struct{}{} },
		})
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		idle, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		idles = append(idles, idle)
		watchers = append(watchers, w)
	}

	// Writers: concurrent clients appending, flagging and expunging.
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		c := ts.dial(t, "alice", nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				msg := fmt.Sprintf("Subject: m%d\r\n\r\nbody\r\n", j)
				cmd := c.Append("INBOX", int64(len(msg)), nil)
				cmd.Write([]byte(msg))
				cmd.Close()
				if _, err := cmd.Wait(); err != nil {
					t.Error(err)
					return
				}
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Error(err)
				return
			}
			c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close()
			c.Expunge().Close()
		}()
	}
	wg.Wait()

	for i, w := range watchers {
		select {
		case <-w.events:
		case <-time.After(time.Second):
			t.Fatalf("IDLE client %d heard nothing within a second", i)
		}
	}
	want := uint32(len(mustUIDs(t, ts, "alice")))
	deadline := time.Now().Add(3 * time.Second)
	for i, w := range watchers {
		for {
			w.mu.Lock()
			got := w.exists
			w.mu.Unlock()
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("IDLE client %d counts %d messages, mailbox has %d", i, got, want)
			}
			select {
			case <-w.events:
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	for _, idle := range idles {
		if err := idle.Close(); err != nil {
			t.Error(err)
		}
	}
}

func mustUIDs(t *testing.T, ts *testServer, local string) []uint32 {
	t.Helper()
	f := coretest.Folder(t, ts.svc, local+"@"+coretest.Domain, "INBOX")
	uids, err := ts.svc.UIDs(t.Context(), systemActor(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	return uids
}
