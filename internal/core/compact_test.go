package core_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"caduceus/internal/blob"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/store"
	"caduceus/internal/store/storetest"
)

// compactNode is a core whose blob store can be closed and opened again over
// the same store and directory, as a restart (or a crash) would.
type compactNode struct {
	t     *testing.T
	st    *store.Store
	dsn   string // the store, for a child process: a PostgreSQL URL,
	data  string // or a SQLite directory
	dir   string
	key   []byte
	clock atomic.Int64 // offset added to the real time, in nanoseconds
	blobs *blob.Store
	svc   *core.Service
}

func newCompactNode(t *testing.T, engine string) *compactNode {
	n := &compactNode{t: t, dir: t.TempDir(), key: make([]byte, blob.KeySize)}
	if engine == "postgres" {
		n.dsn = storetest.PostgresDSN(t)
	} else {
		n.data = t.TempDir()
	}
	var err error
	if n.st, err = store.Open(context.Background(), n.dsn, n.data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.st.Close() })
	rand.Read(n.key)
	n.open()
	t.Cleanup(n.close)
	ctx := context.Background()
	if err := n.svc.AddDomain(ctx, core.System("test"), coretest.Domain); err != nil {
		t.Fatal(err)
	}
	coretest.User(t, n.svc, "alice", "Alice")
	coretest.User(t, n.svc, "bob", "Bob")
	return n
}

// closedSegment fills a segment with count messages, closes it by
// restarting, and expunges nine in ten of them. It returns the messages
// kept, by subject, and the blob directory's size.
func (n *compactNode) closedSegment(count int, prefix string) (want map[string][]byte, before int64) {
	n.t.Helper()
	want = n.fill(count, prefix)
	n.restart()
	n.expungeAllBut(want, keepTenth)
	return want, n.diskBytes()
}

func (n *compactNode) open() {
	n.t.Helper()
	var err error
	if n.blobs, err = blob.Open(n.dir, n.key); err != nil {
		n.t.Fatal(err)
	}
	n.svc, err = core.New(context.Background(), core.Options{
		Store: n.st, Blobs: n.blobs, Hostname: "mx.test.mssante.fr", Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Now().Add(time.Duration(n.clock.Load())) },
	})
	if err != nil {
		n.t.Fatal(err)
	}
}

func (n *compactNode) close() {
	if n.svc != nil {
		n.svc.Close()
		n.blobs.Close()
		n.svc = nil
	}
}

// restart closes the blob store, so that its segment is closed for good, and
// opens a new one: the next deliveries go to a new segment.
func (n *compactNode) restart() {
	n.close()
	n.open()
}

// diskBytes is the size of the segment files.
func (n *compactNode) diskBytes() int64 {
	n.t.Helper()
	segs, err := n.blobs.List()
	if err != nil {
		n.t.Fatal(err)
	}
	var total int64
	for _, s := range segs {
		total += s.Size
	}
	return total
}

// fill delivers count messages to alice (every third one to bob too), some
// spanning several 64 KiB chunks, and returns their contents by subject.
func (n *compactNode) fill(count int, prefix string) map[string][]byte {
	n.t.Helper()
	ctx := context.Background()
	want := map[string][]byte{}
	for i := range count {
		subject := fmt.Sprintf("%s-%d", prefix, i)
		body := make([]byte, 500+i*1700)
		rand.Read(body)
		data := []byte(fmt.Sprintf("From: x@remote.example\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\n%x\r\n", subject, subject, body))
		rcpts := []string{"alice@" + coretest.Domain}
		if i%3 == 0 {
			rcpts = append(rcpts, "bob@"+coretest.Domain)
		}
		if err := n.svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: rcpts, Data: data}); err != nil {
			n.t.Fatal(err)
		}
		want[subject] = data
	}
	return want
}

// expungeAllBut expunges, in alice's and bob's inboxes, every message whose
// subject keep does not accept, and drops them from want.
func (n *compactNode) expungeAllBut(want map[string][]byte, keep func(subject string) bool) {
	n.t.Helper()
	ctx := context.Background()
	for _, who := range []string{"alice", "bob"} {
		inbox := coretest.Folder(n.t, n.svc, who+"@"+coretest.Domain, "INBOX")
		msgs, err := n.svc.Messages(ctx, core.System("test"), inbox.ID, core.MessageQuery{})
		if err != nil {
			n.t.Fatal(err)
		}
		var uids []uint32
		for _, m := range msgs {
			if !keep(m.Subject) {
				uids = append(uids, m.UID)
				delete(want, m.Subject)
			}
		}
		if _, _, err := n.svc.StoreFlags(ctx, core.System("test"), inbox.ID, uids, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagDeleted}); err != nil {
			n.t.Fatal(err)
		}
		if _, err := n.svc.Expunge(ctx, core.System("test"), inbox.ID, nil); err != nil {
			n.t.Fatal(err)
		}
	}
}

// verify reads every message of alice's and bob's inboxes and compares it with
// want, then runs Check.
func (n *compactNode) verify(want map[string][]byte) {
	n.t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	for _, who := range []string{"alice", "bob"} {
		inbox := coretest.Folder(n.t, n.svc, who+"@"+coretest.Domain, "INBOX")
		msgs, err := n.svc.Messages(ctx, core.System("test"), inbox.ID, core.MessageQuery{})
		if err != nil {
			n.t.Fatal(err)
		}
		for _, m := range msgs {
			r, err := n.svc.OpenListed(m)
			if err != nil {
				n.t.Fatalf("%s: open %s: %v", who, m.Subject, err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, want[m.Subject]) {
				n.t.Fatalf("%s: %s reads back %d bytes (%v), want %d", who, m.Subject, len(got), err, len(want[m.Subject]))
			}
			seen[m.Subject] = true
		}
	}
	if len(seen) != len(want) {
		n.t.Fatalf("%d messages readable, want %d", len(seen), len(want))
	}
	if problems, err := n.svc.Check(ctx, nil); err != nil || len(problems) > 0 {
		n.t.Fatalf("check: %v %v", problems, err)
	}
}

func keepTenth(subject string) bool { return strings.HasSuffix(subject, "0") }

// Compaction moves the live tenth of a segment out, keeps every message
// readable with the same bytes, even through a listing made before the move,
// and gives the space back once the grace period has passed.
func TestCompactBlobs(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		n := newCompactNode(t, engine)
		want, before := n.closedSegment(60, "old")
		inbox := coretest.Folder(t, n.svc, "alice@"+coretest.Domain, "INBOX")
		listed, err := n.svc.Messages(ctx, core.System("test"), inbox.ID, core.MessageQuery{})
		if err != nil {
			t.Fatal(err)
		}

		sys := core.System("test")
		// The segment being written is never compacted, however dead.
		res, err := n.svc.CompactBlobs(ctx, sys, core.CompactOptions{Grace: time.Hour})
		if err != nil || res.Compacted != 1 || res.Moved != len(want) || res.DeadRows != 54 || res.Removed != 0 {
			t.Fatalf("compact = %+v, %v; want 1 segment, %d moved, 54 dead rows, none removed", res, err, len(want))
		}
		n.verify(want)
		// A listing made before the move still reads the old place.
		for _, m := range listed {
			r, err := n.svc.OpenListed(m)
			if err != nil {
				t.Fatalf("listed before the move: %v", err)
			}
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, want[m.Subject]) {
				t.Fatalf("listed before the move: %d bytes, %v", len(got), err)
			}
		}
		stats, err := n.svc.BlobStats(ctx)
		if err != nil || len(stats) != 2 || stats[0].State != core.SegmentRetired || stats[1].State != core.SegmentActive || stats[1].LiveBlobs != int64(len(want)) {
			t.Fatalf("stats = %+v, %v", stats, err)
		}

		// Within the grace period nothing goes; past it, the file does.
		if res, err := n.svc.CompactBlobs(ctx, sys, core.CompactOptions{Grace: time.Hour}); err != nil || res.Removed != 0 || res.Compacted != 0 {
			t.Fatalf("second run within grace = %+v, %v", res, err)
		}
		n.clock.Store(int64(2 * time.Hour))
		res, err = n.svc.CompactBlobs(ctx, sys, core.CompactOptions{Grace: time.Hour})
		if err != nil || res.Removed != 1 || res.Reclaimed != stats[0].Size {
			t.Fatalf("run past grace = %+v, %v; want segment of %d bytes removed", res, err, stats[0].Size)
		}
		if _, err := os.Stat(filepath.Join(n.dir, fmt.Sprintf("seg-%08d", stats[0].Number))); !os.IsNotExist(err) {
			t.Fatalf("old segment still on disk: %v", err)
		}
		after := n.diskBytes()
		if after > before/5 {
			t.Fatalf("disk: %d bytes before, %d after compaction of 90%% dead", before, after)
		}
		n.verify(want)
		// The search index forgot the dead and still finds the living.
		alice := coretest.Mailbox(t, n.svc, "alice@"+coretest.Domain)
		if found, err := n.svc.Search(ctx, sys, alice.ID, "old-10", 10); err != nil || len(found) != 1 {
			t.Fatalf("search of a moved message: %d found, %v", len(found), err)
		}
		if found, err := n.svc.Search(ctx, sys, alice.ID, "old-11", 10); err != nil || len(found) != 0 {
			t.Fatalf("search of an expunged message: %d found, %v", len(found), err)
		}
		var texts int
		if err := n.st.DB().QueryRow(`SELECT COUNT(*) FROM blob_text`).Scan(&texts); err != nil || texts != len(want) {
			t.Fatalf("search rows = %d (%v), want %d", texts, err, len(want))
		}
		// Check names a row pointing into a segment no longer on disk.
		if _, err := n.st.DB().Exec(n.st.Rebind(`UPDATE blobs SET segment = ? WHERE id = (SELECT MIN(id) FROM blobs)`), stats[0].Number); err != nil {
			t.Fatal(err)
		}
		problems, err := n.svc.Check(ctx, nil)
		if err != nil || !strings.Contains(fmt.Sprint(problems), fmt.Sprintf("segment %d is not on disk", stats[0].Number)) {
			t.Fatalf("check after pointing a row into a removed segment: %v, %v", problems, err)
		}
		// Only the system compacts.
		if _, err := n.svc.CompactBlobs(ctx, coretest.User(t, n.svc, "eve", "Eve"), core.CompactOptions{}); err == nil {
			t.Fatal("a user compacted the blobs")
		}
	})
}

// A crash at any step of compaction loses nothing: after a restart every
// message reads back, Check passes, and the next run finishes the work.
func TestCompactCrash(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		for _, step := range []string{"copied", "repointed-part", "repointed", "retired"} {
			t.Run(step, func(t *testing.T) {
				ctx := context.Background()
				n := newCompactNode(t, engine)
				want, before := n.closedSegment(40, "m")
				if _, err := n.svc.CompactFailingAt(ctx, core.System("test"), core.CompactOptions{}, step); err == nil {
					t.Fatal("the injected crash did not stop compaction")
				}
				n.restart()
				n.verify(want)
				res, err := n.svc.CompactBlobs(ctx, core.System("test"), core.CompactOptions{})
				if err != nil || res.Removed == 0 {
					t.Fatalf("run after the crash = %+v, %v", res, err)
				}
				n.verify(want)
				if after := n.diskBytes(); after >= before/2 {
					t.Fatalf("disk: %d bytes before, %d after", before, after)
				}
			})
		}
	})
}

// Deliveries, reads and expunges go on while compaction runs, and nothing is
// lost or misread.
func TestCompactConcurrent(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		n := newCompactNode(t, engine)
		var mu sync.Mutex
		want := n.fill(60, "old")
		n.restart()
		keep := func(s string) bool { return strings.HasSuffix(s, "1") || strings.HasSuffix(s, "2") }
		n.expungeAllBut(want, keep)
		started := make(chan struct{})

		stop := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		// A writer delivers new messages.
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				subject := fmt.Sprintf("new-%d", i)
				data := []byte("Subject: " + subject + "\r\n\r\n" + strings.Repeat("new body ", 200+i) + "\r\n")
				if err := n.svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@" + coretest.Domain}, Data: data}); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				want[subject] = data
				mu.Unlock()
				if i == 10 {
					close(started)
				}
			}
		})
		// Readers list alice's inbox and read what they listed.
		inbox := coretest.Folder(t, n.svc, "alice@"+coretest.Domain, "INBOX")
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					msgs, err := n.svc.Messages(ctx, core.System("test"), inbox.ID, core.MessageQuery{})
					if err != nil {
						errs <- err
						return
					}
					for _, m := range msgs {
						r, err := n.svc.OpenListed(m)
						if err != nil {
							errs <- fmt.Errorf("open %s: %w", m.Subject, err)
							return
						}
						got, err := io.ReadAll(r)
						mu.Lock()
						w, known := want[m.Subject]
						mu.Unlock()
						if err != nil || known && !bytes.Equal(got, w) {
							errs <- fmt.Errorf("%s: %d bytes read, %v", m.Subject, len(got), err)
							return
						}
					}
				}
			})
		}
		// An expunger removes bob's copies meanwhile, changing reference
		// counts of blobs being moved.
		wg.Go(func() {
			bobInbox := coretest.Folder(t, n.svc, "bob@"+coretest.Domain, "INBOX")
			msgs, err := n.svc.Messages(ctx, core.System("test"), bobInbox.ID, core.MessageQuery{})
			if err != nil {
				errs <- err
				return
			}
			for _, m := range msgs {
				if _, _, err := n.svc.StoreFlags(ctx, core.System("test"), bobInbox.ID, []uint32{m.UID}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagDeleted}); err != nil {
					errs <- err
					return
				}
				if _, err := n.svc.Expunge(ctx, core.System("test"), bobInbox.ID, nil); err != nil {
					errs <- err
					return
				}
			}
		})
		<-started
		res, err := n.svc.CompactBlobs(ctx, core.System("test"), core.CompactOptions{Grace: time.Hour})
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if err != nil || res.Compacted != 1 {
			t.Fatalf("compact = %+v, %v", res, err)
		}
		n.clock.Store(int64(2 * time.Hour))
		if res, err := n.svc.CompactBlobs(ctx, core.System("test"), core.CompactOptions{Grace: time.Hour}); err != nil || res.Removed != 1 {
			t.Fatalf("removal run = %+v, %v", res, err)
		}
		// Bob's inbox is empty now: verify only alice's messages.
		for s := range want {
			if !strings.HasPrefix(s, "new-") && !keep(s) {
				delete(want, s)
			}
		}
		n.verify(want)
	})
}

// A compaction killed (SIGKILL, no deferred cleanup) after each step, or at a
// random moment, loses nothing: every message reads back and Check passes in
// the next process, which finishes the work.
func TestCompactKilled(t *testing.T) {
	if spec := os.Getenv("CADUCEUS_COMPACT_CHILD"); spec != "" {
		compactChild(t, spec)
		return
	}
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		for _, step := range []string{"copied", "repointed", "retired", "random"} {
			t.Run(step, func(t *testing.T) {
				ctx := context.Background()
				n := newCompactNode(t, engine)
				want, before := n.closedSegment(30, "m")
				n.close()

				cmd := exec.Command(os.Args[0], "-test.run=^TestCompactKilled$", "-test.v")
				cmd.Env = append(os.Environ(), "CADUCEUS_COMPACT_CHILD="+strings.Join([]string{step, n.dsn, n.data, n.dir, hex.EncodeToString(n.key)}, "|"))
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				lines := bufio.NewScanner(out)
				for lines.Scan() && !strings.Contains(lines.Text(), "compacting") {
				}
				if step == "random" {
					// Somewhere in the copy, the repointing or the deletes.
					time.Sleep(time.Duration(mrand.IntN(150)) * time.Millisecond)
					cmd.Process.Kill()
				}
				go io.Copy(io.Discard, out)
				err = cmd.Wait()
				if ee, ok := err.(*exec.ExitError); !ok || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("child: %v, want killed", err)
				}

				n.open()
				n.verify(want)
				res, err := n.svc.CompactBlobs(ctx, core.System("test"), core.CompactOptions{})
				if err != nil {
					t.Fatalf("run after the kill = %+v, %v", res, err)
				}
				n.verify(want)
				if after := n.diskBytes(); after >= before/2 {
					t.Fatalf("disk: %d bytes before, %d after", before, after)
				}
			})
		}
	})
}

// compactChild runs in the child process of TestCompactKilled: it compacts
// and is killed, by itself after a step or by its parent.
func compactChild(t *testing.T, spec string) {
	f := strings.Split(spec, "|")
	step, dsn, data, dir := f[0], f[1], f[2], f[3]
	key, err := hex.DecodeString(f[4])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, data)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := core.New(ctx, core.Options{Store: st, Blobs: blobs, Hostname: "mx.test.mssante.fr", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("compacting")
	if step == "random" {
		_, err = svc.CompactBlobs(ctx, core.System("test"), core.CompactOptions{})
	} else {
		_, err = svc.CompactFailingAt(ctx, core.System("test"), core.CompactOptions{}, step)
	}
	// Die at once, as a crash would: no Close, no deferred cleanup.
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	t.Fatalf("still alive after %v", err)
}
