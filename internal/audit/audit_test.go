package audit_test

import (
	"context"
	"testing"
	"time"

	"caduceus/internal/audit"
	"caduceus/internal/store/storetest"
)

func TestChainAndVerify(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, engine)
			tr := audit.New(st)
			at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
			for i, action := range []string{"login", "send", "rights.set", "login"} {
				e := audit.Entry{At: at.Add(time.Duration(i) * time.Minute), Actor: "claire@chu.mssante.fr", Door: "web", Remote: "192.0.2.1", Action: action, Target: "claire@chu.mssante.fr", Result: "ok"}
				if err := tr.Write(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			if bad, err := tr.Verify(ctx); err != nil || bad != 0 {
				t.Fatalf("intact trail: bad = %d, %v", bad, err)
			}
			logins, err := tr.List(ctx, audit.Query{Action: "login"})
			if err != nil || len(logins) != 2 || !logins[0].At.After(logins[1].At) {
				t.Fatalf("logins = %+v, %v", logins, err)
			}
			// Any change to a row breaks the chain at that row.
			if _, err := st.Exec(ctx, `UPDATE audit SET result = 'denied' WHERE id = 2`); err != nil {
				t.Fatal(err)
			}
			if bad, err := tr.Verify(ctx); err != nil || bad != 2 {
				t.Fatalf("after a change: bad = %d, %v; want 2", bad, err)
			}
			if _, err := st.Exec(ctx, `UPDATE audit SET result = 'ok' WHERE id = 2`); err != nil {
				t.Fatal(err)
			}
			// So does removing one.
			if _, err := st.Exec(ctx, `DELETE FROM audit WHERE id = 3`); err != nil {
				t.Fatal(err)
			}
			if bad, err := tr.Verify(ctx); err != nil || bad != 4 {
				t.Fatalf("after a removal: bad = %d, %v; want 4", bad, err)
			}
		})
	}
}

func TestPruneKeepsAYearAndTheChain(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, engine)
			tr := audit.New(st)
			now := time.Now()
			for _, age := range []time.Duration{900, 800, 500, 300, 10, 1} { // days
				e := audit.Entry{At: now.Add(-age * 24 * time.Hour), Actor: "claire@chu.mssante.fr", Door: "imap", Action: "login", Target: "claire@chu.mssante.fr", Result: "ok"}
				if err := tr.Write(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			operator := audit.Entry{Actor: "system", Door: "cli"}
			if _, err := tr.Prune(ctx, operator, now.Add(-30*24*time.Hour)); err == nil {
				t.Fatal("pruned entries younger than a year")
			}
			n, err := tr.Prune(ctx, operator, now.Add(-400*24*time.Hour))
			if err != nil || n != 3 {
				t.Fatalf("Prune = %d, %v; want the 3 entries older than 400 days", n, err)
			}
			if bad, err := tr.Verify(ctx); err != nil || bad != 0 {
				t.Fatalf("after pruning: bad = %d, %v", bad, err)
			}
			all, err := tr.List(ctx, audit.Query{})
			if err != nil || len(all) != 4 || all[0].Action != "audit.prune" || all[0].Detail == "" || all[0].Actor != "system" {
				t.Fatalf("kept %+v, %v; want 3 logins and the pruning", all, err)
			}
			if n, err := tr.Prune(ctx, operator, now.Add(-400*24*time.Hour)); err != nil || n != 0 {
				t.Fatalf("second Prune = %d, %v; want nothing left to prune", n, err)
			}
			// The chain still catches a removal among what is kept.
			oldest := all[len(all)-1].ID
			if _, err := st.Exec(ctx, `DELETE FROM audit WHERE id = ?`, oldest); err != nil {
				t.Fatal(err)
			}
			if bad, err := tr.Verify(ctx); err != nil || bad == 0 {
				t.Fatalf("after removing a kept entry: bad = %d, %v", bad, err)
			}
		})
	}
}
