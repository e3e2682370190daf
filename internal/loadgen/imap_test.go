package loadgen

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	imapd "caduceus/internal/imap"
)

// Long measurements run only with CADUCEUS_IMAP_PERF=1, without -race:
//
//	CADUCEUS_IMAP_PERF=1 go test -run TestPerf -v -timeout 30m ./internal/loadgen
//
// The tests below them run the same code, scaled down, in every test run.

func perfOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("CADUCEUS_IMAP_PERF") == "" {
		t.Skip("set CADUCEUS_IMAP_PERF=1 to run the measurements")
	}
}

// perfDuration is how long each mixed load runs: CADUCEUS_IMAP_PERF_SECONDS
// or 20 seconds.
func perfDuration() time.Duration {
	if n, err := strconv.Atoi(os.Getenv("CADUCEUS_IMAP_PERF_SECONDS")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 20 * time.Second
}

// TestIMAP runs both mixes and a few idle connections against a server
// in the test process: no protocol error, every session logged in, every
// idle connection woken by a new message, and a report that says so.
func TestIMAP(t *testing.T) {
	addr := startIMAP(t, newCore(t, "bench"), imapd.Options{})
	// The core remembers the password from the first login on.
	if err := warmLogins(IdleOptions{Addr: addr, Users: []string{"bench@" + coretest.Domain}, Password: coretest.Password, TLS: clientTLS}); err != nil {
		t.Fatal(err)
	}
	for _, mix := range []Mix{MixWrite, MixRead} {
		t.Run(string(mix), func(t *testing.T) {
			res, err := IMAP(t.Context(), IMAPOptions{
				Addr: addr, Username: "bench@" + coretest.Domain, Password: coretest.Password,
				TLS: clientTLS, Clients: 3, Duration: 500 * time.Millisecond, Rounds: 5, Mix: mix,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops == 0 || res.Errors != 0 || res.Logins < 3 || res.PerOp["store"].Count == 0 {
				t.Errorf("bench = %+v, want operations, every client logged in and no errors", res)
			}
			var out strings.Builder
			if err := res.Report(&out); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"operations  ", "\nerrors      0\n", "\n  store      "} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
	t.Run("idle", func(t *testing.T) {
		res, err := Idle(t.Context(), IdleOptions{
			Addr: addr, Users: []string{"bench@" + coretest.Domain}, Password: coretest.Password,
			TLS: clientTLS, Conns: 20, Memory: processMemory,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Woken != 20 || res.After.RSS == 0 {
			t.Errorf("idle = %+v, want 20 woken and a memory figure", res)
		}
		t.Logf("in-process, so clients included: heap %.1f KiB, RSS %.1f KiB per connection", res.HeapPerConn/1024, res.RSSPerConn/1024)
	})
}

// TestPerfMixed measures both mixes (or CADUCEUS_IMAP_MIX) with 10
// clients against a server in its own process.
func TestPerfMixed(t *testing.T) {
	perfOnly(t)
	srv := startServerProcess(t, serverSpec{Users: 1})
	mixes := []Mix{MixWrite, MixRead}
	if m := os.Getenv("CADUCEUS_IMAP_MIX"); m != "" {
		mixes = []Mix{Mix(m)}
	}
	for _, mix := range mixes {
		res, err := IMAP(context.Background(), IMAPOptions{
			Addr: srv.IMAP, Username: benchUser(0), Password: coretest.Password, TLS: clientTLS,
			Clients: 10, Duration: perfDuration(), Mix: mix,
		})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("mix %s, 10 clients:\n", mix)
		res.Report(os.Stdout)
		if res.Errors > 0 {
			t.Errorf("mix %s: %d protocol errors", mix, res.Errors)
		}
	}
}

// TestPerfIdle measures 10,000 connections in IDLE (CADUCEUS_IMAP_IDLE
// overrides the number), 49 per account so that the default cap of 50
// leaves room for the connection that appends, against a server in its
// own process.
func TestPerfIdle(t *testing.T) {
	perfOnly(t)
	conns := 10000
	if n, err := strconv.Atoi(os.Getenv("CADUCEUS_IMAP_IDLE")); err == nil && n > 0 {
		conns = n
	}
	raiseFileLimit(t, conns+1000) // each side holds one end of each connection
	accounts := (conns + 48) / 49
	srv := startServerProcess(t, serverSpec{Users: accounts, MaxConnsIP: conns + 100})
	users := make([]string, accounts)
	for i := range users {
		users[i] = benchUser(i)
	}
	res, err := Idle(context.Background(), IdleOptions{
		Addr: srv.IMAP, Users: users, Password: coretest.Password, TLS: clientTLS,
		Conns: conns, Memory: MetricsMemory(srv.Metrics),
	})
	if err != nil {
		t.Fatal(err)
	}
	IMAPResult{Idle: &res}.Report(os.Stdout)
	t.Logf("heap %d → %d MiB, RSS %d → %d MiB; %d woken by one APPEND, p50 %v, max %v",
		res.Before.Heap>>20, res.After.Heap>>20, res.Before.RSS>>20, res.After.RSS>>20,
		res.Woken, res.WakeP50.Round(time.Microsecond), res.WakeMax.Round(time.Microsecond))
	if res.After.RSS-res.Before.RSS > 1<<30 {
		t.Errorf("server RSS grew by %d MiB for %d idle connections, over 1 GiB", (res.After.RSS-res.Before.RSS)>>20, conns)
	}
}

// TestPerfFetch measures FETCH of 100 message headers in a folder of
// 100,000 messages (CADUCEUS_IMAP_FILL overrides it), filled through
// the core, against a server in its own process.
func TestPerfFetch(t *testing.T) {
	perfOnly(t)
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("CADUCEUS_IMAP_FILL")); err == nil && v > 0 {
		n = v
	}
	srv := startServerProcess(t, serverSpec{Users: 1, Fill: n})
	t.Logf("filled %d messages in %s", n, srv.Filled)
	st := measureHeaderFetch(t, srv.IMAP, benchUser(0), n, 500)
	t.Logf("SELECT of %d messages %v; FETCH of 100 headers: p50 %v, p99 %v, max %v over %d fetches",
		n, st.selectTime, st.P50, st.P99, st.Max, st.Count)
}

// TestFetchHeadersLargeFolder is TestPerfFetch scaled down: 2,000 messages
// filled through the core, in the test process.
func TestFetchHeadersLargeFolder(t *testing.T) {
	svc := newCore(t, "u0")
	addr := startIMAP(t, svc, imapd.Options{})
	const n = 2000
	fill(t, svc, benchUser(0), n)
	st := measureHeaderFetch(t, addr, benchUser(0), n, 20)
	t.Logf("SELECT of %d messages %v; FETCH of 100 headers: p50 %v, p99 %v", n, st.selectTime, st.P50, st.P99)
}

type fetchStats struct {
	selectTime time.Duration
	Latency
}

// measureHeaderFetch selects the INBOX of n messages and times fetches of
// what a client lists for 100 messages at random places in it: UID,
// flags, size, date and the header fields of a message list.
func measureHeaderFetch(t *testing.T, addr, user string, n, fetches int) fetchStats {
	t.Helper()
	c, err := dialIMAP(addr, clientTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, coretest.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	var st fetchStats
	start := time.Now()
	sel, err := c.Select("INBOX", nil).Wait()
	st.selectTime = time.Since(start)
	if err != nil || sel.NumMessages != uint32(n) {
		t.Fatalf("SELECT = %+v, %v; want %d messages", sel, err, n)
	}
	opts := &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true, Specifier: imap.PartSpecifierHeader,
			HeaderFields: []string{"From", "To", "Cc", "Subject", "Date", "Message-ID"}}}}
	var lat []time.Duration
	for range fetches {
		first := uint32(1 + rand.IntN(n-99))
		start := time.Now()
		set := imap.SeqSet{{Start: first, Stop: first + 99}}
		msgs, err := c.Fetch(set, opts).Collect()
		lat = append(lat, time.Since(start))
		if err != nil || len(msgs) != 100 {
			t.Fatalf("FETCH %d:%d = %d messages, %v", first, first+99, len(msgs), err)
		}
		if len(msgs[0].BodySection) != 1 || len(msgs[0].BodySection[0].Bytes) == 0 {
			t.Fatalf("FETCH gave no header: %+v", msgs[0])
		}
	}
	st.Latency = Summarize(lat)
	return st
}

// raiseFileLimit lets this process, and the server processes it starts,
// open n files; the hard limit must allow it.
func raiseFileLimit(t *testing.T, n int) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= uint64(n) {
		return
	}
	if lim.Max < uint64(n) {
		t.Fatalf("the open file limit is %d, %d are needed", lim.Max, n)
	}
	lim.Cur = uint64(n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("raise the open file limit to %d: %v", n, err)
	}
}

// TestPerfCoreWriteMix runs MixWrite's rounds straight on the core, in
// this process, with 10 goroutines: what the core allows that mix
// without IMAP, to compare with TestPerfMixed.
func TestPerfCoreWriteMix(t *testing.T) {
	perfOnly(t)
	svc := coretest.New(t, coretest.Options{})
	actor := coretest.User(t, svc, "bench", "Bench")
	f := coretest.Folder(t, svc, "bench@"+coretest.Domain, "INBOX")
	ctx := context.Background()
	deadline := time.Now().Add(perfDuration())
	ops := make([]int, 10)
	var wg sync.WaitGroup
	start := time.Now()
	for g := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				m, err := svc.Append(ctx, actor, f.ID, 0, nil, time.Now(), []byte(benchMessage))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := svc.Messages(ctx, actor, f.ID, core.MessageQuery{UIDs: []core.UIDRange{{Lo: m.UID, Hi: m.UID}}}); err != nil {
					t.Error(err)
					return
				}
				rd, err := svc.Open(ctx, actor, m.ID)
				if err == nil {
					_, err = io.Copy(io.Discard, io.NewSectionReader(rd, 0, rd.Size()))
				}
				if err == nil {
					_, _, err = svc.StoreFlags(ctx, actor, f.ID, []uint32{m.UID}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagSeen | core.FlagDeleted})
				}
				ops[g] += 3
				if err == nil && i%4 == 3 {
					_, err = svc.Expunge(ctx, actor, f.ID, []uint32{m.UID})
					ops[g]++
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range ops {
		total += n
	}
	elapsed := time.Since(start)
	t.Logf("core alone, MixWrite rounds: %d operations in %v: %.0f ops/s", total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
}
