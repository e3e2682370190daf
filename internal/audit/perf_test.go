package audit

import (
	"context"
	"os"
	"testing"
	"time"

	"caduceus/internal/store"
	"caduceus/internal/store/storetest"
)

// TestPerfVerifyMillion times Verify over a million entries on each engine; the
// target is under 10 s. It runs only with CADUCEUS_AUDIT_PERF=1, without -race:
//
//	CADUCEUS_AUDIT_PERF=1 go test -run TestPerfVerifyMillion -v -timeout 30m ./internal/audit
func TestPerfVerifyMillion(t *testing.T) {
	if os.Getenv("CADUCEUS_AUDIT_PERF") == "" {
		t.Skip("set CADUCEUS_AUDIT_PERF=1 to time Verify over a million entries")
	}
	const n = 1_000_000
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		st := storetest.Open(t, engine)
		start := time.Now()
		fillChain(t, st, n)
		t.Logf("%s: wrote %d chained entries in %v", engine, n, time.Since(start).Round(time.Millisecond))
		start = time.Now()
		v, err := New(st).Verify(ctx, nil)
		took := time.Since(start)
		if err != nil || v.Break != nil || v.Entries != n {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
		t.Logf("%s: verified %d entries in %v (%.0f entries/s)", engine, n, took.Round(time.Millisecond), float64(n)/took.Seconds())
		if took > 10*time.Second {
			t.Errorf("Verify took %v for a million entries; the target is under 10 s", took)
		}
	})
}

// fillChain writes n chained entries straight into the table, in large
// transactions: Record's one transaction per entry would take an hour.
func fillChain(t *testing.T, st *store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := ""
	const batch = 10_000
	for done := 0; done < n; done += batch {
		err := st.Tx(ctx, func(tx *store.Tx) error {
			for i := done; i < done+batch && i < n; i++ {
				e := Entry{At: at.Add(time.Duration(i) * time.Second), Actor: "claire.martin@chu-demo.mssante.fr", Door: "imap",
					Remote: "192.0.2.17", Action: "login", Target: "claire.martin@chu-demo.mssante.fr", Result: "ok", Detail: "device"}
				prev = chain(prev, e)
				if _, err := tx.Exec(ctx, `INSERT INTO audit (at, actor, door, remote, action, target, result, detail, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					e.At.UnixMilli(), e.Actor, e.Door, e.Remote, e.Action, e.Target, e.Result, e.Detail, prev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
