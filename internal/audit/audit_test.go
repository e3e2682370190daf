package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"caduceus/internal/audit"
	"caduceus/internal/store"
	"caduceus/internal/store/storetest"
)

// writeTrail writes n login entries a minute apart and returns the trail.
func writeTrail(t *testing.T, st *store.Store, n int) *audit.Trail {
	t.Helper()
	ctx := context.Background()
	tr := audit.New(st)
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for i := range n {
		e := audit.Entry{At: at.Add(time.Duration(i) * time.Minute), Actor: "claire@chu.mssante.fr", Door: "web", Remote: "192.0.2.1", Action: "login", Target: "claire@chu.mssante.fr", Result: "ok"}
		if i%2 == 1 {
			e.Action = "send"
		}
		if err := tr.Write(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func TestVerifyNamesTheFirstBrokenEntry(t *testing.T) {
	tests := []struct {
		name   string
		tamper []string // SQL run on a trail of entries 1..5
		id     int64    // the entry Verify must name
		reason string
	}{
		{name: "intact"},
		{name: "edited", tamper: []string{`UPDATE audit SET result = 'denied' WHERE id = 2`}, id: 2, reason: "entry 2 was changed"},
		{name: "edited first", tamper: []string{`UPDATE audit SET actor = 'x@y.fr' WHERE id = 1`}, id: 1, reason: "entry 1 was changed"},
		{name: "removed", tamper: []string{`DELETE FROM audit WHERE id = 3`}, id: 4, reason: "the entry before it removed"},
		{
			// Entry 3 is moved to id 4 (the hash does not cover ids), then a
			// forged entry chained to entry 2 takes id 3.
			name: "inserted",
			tamper: []string{
				`DELETE FROM audit WHERE id > 3`,
				`UPDATE audit SET id = 4 WHERE id = 3`,
				`INSERT INTO audit (id, at, actor, door, remote, action, target, result, detail, hash) VALUES (3, 0, 'intruder', 'web', '', 'grant', 'x', 'ok', '', '{{forged}}')`,
			},
			id: 3, reason: "entry 3 was inserted",
		},
	}
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				st := storetest.Open(t, engine)
				tr := writeTrail(t, st, 5)
				for _, q := range tc.tamper {
					if strings.Contains(q, "{{forged}}") {
						var h2 string
						if err := st.QueryRow(ctx, `SELECT hash FROM audit WHERE id = 2`).Scan(&h2); err != nil {
							t.Fatal(err)
						}
						q = strings.ReplaceAll(q, "{{forged}}", audit.ChainForTest(h2, audit.Entry{At: time.UnixMilli(0), Actor: "intruder", Door: "web", Action: "grant", Target: "x", Result: "ok"}))
					}
					if _, err := st.Exec(ctx, q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				var got []int64
				v, err := tr.Verify(ctx, func(n int64) { got = append(got, n) })
				if err != nil {
					t.Fatal(err)
				}
				if tc.id == 0 {
					if v.Break != nil || v.Entries != 5 || len(got) != 1 || got[0] != 5 {
						t.Fatalf("intact trail: %+v, progress %v; want 5 entries and no break", v, got)
					}
					return
				}
				if v.Break == nil || v.Break.ID != tc.id || !strings.Contains(v.Break.Reason, tc.reason) {
					t.Fatalf("Verify = %+v; want entry %d named: %q", v.Break, tc.id, tc.reason)
				}
			})
		}
	})
}

func TestExportWritesCSVOldestFirst(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		st := storetest.Open(t, engine)
		tr := writeTrail(t, st, 4)
		if err := tr.Write(ctx, audit.Entry{At: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Actor: "paul@chu.mssante.fr", Door: "imap", Remote: "=cmd|' /C calc'!A0", Action: "login", Target: "paul@chu.mssante.fr", Result: "failed", Detail: "bad password, with a comma"}); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		n, err := tr.Export(ctx, &buf, audit.Query{Since: time.Date(2026, 11, 25, 9, 1, 0, 0, time.UTC)})
		if err != nil || n != 4 {
			t.Fatalf("Export = %d, %v; want the 4 entries from 09:01", n, err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("exported CSV does not parse: %v\n%s", err, buf.String())
		}
		if len(recs) != 5 || strings.Join(recs[0], ",") != "id,time,actor,door,remote,action,target,result,detail,hash" {
			t.Fatalf("records = %q", recs)
		}
		if recs[1][0] != "2" || recs[1][1] != "2026-11-25T09:01:00.000Z" || recs[1][5] != "send" {
			t.Fatalf("first row = %q; want entry 2 at 09:01", recs[1])
		}
		last := recs[4]
		if last[2] != "paul@chu.mssante.fr" || last[8] != "bad password, with a comma" || last[4] != "'=cmd|' /C calc'!A0" {
			t.Fatalf("last row = %q; want paul's failed login, the remote defused", last)
		}
		buf.Reset()
		if n, err := tr.Export(ctx, &buf, audit.Query{Actor: "paul@chu.mssante.fr"}); err != nil || n != 1 {
			t.Fatalf("Export by actor = %d, %v; want 1", n, err)
		}
	})
}

func TestPruneKeepsAYearAndTheChain(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
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
		if v, err := tr.Verify(ctx, nil); err != nil || v.Break != nil || v.Entries != 4 {
			t.Fatalf("after pruning: %+v, %v; want 4 entries verified", v, err)
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
		if v, err := tr.Verify(ctx, nil); err != nil || v.Break == nil {
			t.Fatalf("after removing a kept entry: %+v, %v; want a break", v, err)
		}
	})
}
