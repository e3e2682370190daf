package server

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"caduceus/internal/audit"
)

// retention removes the audit entries older than [audit] retention once a day,
// so the trail keeps what the rules ask for (a year by default) and no more,
// and the external links expired for a week (core.PurgeExternalLinks): the
// week lets a late reader still be told the link expired.
type retention struct {
	trail *audit.Trail
	links func(ctx context.Context, before time.Time) (int64, error)
	log   *slog.Logger
	keep  time.Duration
	now   func() time.Time

	removed  atomic.Int64
	purged   atomic.Int64
	failures atomic.Int64
}

// linkGrace is how long an expired external link is kept before the purge.
const linkGrace = 7 * 24 * time.Hour

// Entries expire by the day; the first pruning waits a little after start so
// that a node restarted often still prunes, without slowing its start.
const (
	pruneEvery = 24 * time.Hour
	firstPrune = 10 * time.Minute
)

// run prunes after first, then every pruneEvery, until ctx ends.
func (r *retention) run(ctx context.Context, first time.Duration) {
	periodically(ctx, first, pruneEvery, r.once)
}

// once removes what has outlived the retention and logs how many entries went.
func (r *retention) once(ctx context.Context) {
	before := r.now().Add(-r.keep)
	n, err := r.trail.Prune(ctx, audit.Entry{Actor: "system", Door: "serve"}, before)
	r.removed.Add(n)
	switch {
	case err != nil && ctx.Err() == nil:
		r.failures.Add(1)
		r.log.Error("audit retention", "err", err)
	case n > 0:
		r.log.Info("audit retention", "entries_removed", n, "before", before.UTC().Format(time.DateOnly))
	}
	if r.links == nil {
		return
	}
	n, err = r.links(ctx, r.now().Add(-linkGrace))
	r.purged.Add(n)
	switch {
	case err != nil && ctx.Err() == nil:
		r.failures.Add(1)
		r.log.Error("external link purge", "err", err)
	case n > 0:
		r.log.Info("external link purge", "links_removed", n)
	}
}

// register adds the retention's counters to reg.
func (r *retention) register(reg *prometheus.Registry) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "caduceus_audit_entries_pruned_total", Help: "Audit entries removed for being older than the retention."},
			func() float64 { return float64(r.removed.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "caduceus_external_links_purged_total", Help: "External links removed a week after they expired."},
			func() float64 { return float64(r.purged.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "caduceus_audit_prune_failures_total", Help: "Daily audit prunings and external link purges that failed."},
			func() float64 { return float64(r.failures.Load()) }),
	)
}

// startRetention prunes the audit trail in the background for the node's life.
func (s *Server) startRetention(ctx context.Context) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.retention.run(ctx, firstPrune)
	}()
}
