package server

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"caduceus/internal/audit"
	"caduceus/internal/config"
)

// The daily pruning removes what is older than [audit] retention, keeps the
// rest, and leaves a chain that still verifies.
func TestRetentionPrunesOnlyWhatOutlivedIt(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Hostname, cfg.DataDir = "mx.test", t.TempDir()
	cfg.Audit.Retention.Duration = 2 * 365 * 24 * time.Hour
	n, err := Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	tr := n.Core.Audit()
	for _, days := range []int{1000, 800, 700, 400, 2} {
		e := audit.Entry{At: now.AddDate(0, 0, -days), Actor: "claire@chu.mssante.fr", Door: "web", Action: "login", Target: "claire@chu.mssante.fr", Result: "ok"}
		if err := tr.Write(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	r := &retention{trail: tr, log: slog.New(slog.DiscardHandler), keep: cfg.Audit.Retention.Duration, now: func() time.Time { return now }}
	r.once(ctx)
	if r.removed.Load() != 2 || r.failures.Load() != 0 {
		t.Fatalf("removed %d, failures %d; want the 2 entries older than two years", r.removed.Load(), r.failures.Load())
	}
	r.once(ctx)
	if r.removed.Load() != 2 {
		t.Fatalf("a second run removed %d more", r.removed.Load()-2)
	}
	v, err := tr.Verify(ctx, nil)
	if err != nil || v.Break != nil || v.Entries != 4 {
		t.Fatalf("after pruning: %+v, %v; want 3 logins and the pruning, intact", v, err)
	}
}

// The daily run also purges the external links expired for a week, and
// counts a failure of that purge.
func TestRetentionPurgesExpiredLinks(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Hostname, cfg.DataDir = "mx.test", t.TempDir()
	n, err := Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	var asked time.Time
	fail := false
	r := &retention{trail: n.Core.Audit(), log: slog.New(slog.DiscardHandler), keep: cfg.Audit.Retention.Duration, now: func() time.Time { return now },
		links: func(_ context.Context, before time.Time) (int64, error) {
			asked = before
			if fail {
				return 0, errors.New("store down")
			}
			return 3, nil
		}}
	r.once(ctx)
	if r.purged.Load() != 3 || !asked.Equal(now.Add(-linkGrace)) || r.failures.Load() != 0 {
		t.Fatalf("purged %d links expired before %v, failures %d", r.purged.Load(), asked, r.failures.Load())
	}
	fail = true
	r.once(ctx)
	if r.failures.Load() != 1 {
		t.Fatalf("failures %d after a failed purge, want 1", r.failures.Load())
	}
}
