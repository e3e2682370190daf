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
// so the trail keeps what the rules ask for (a year by default) and no more.
type retention struct {
	trail *audit.Trail
	log   *slog.Logger
	keep  time.Duration
	now   func() time.Time

	removed  atomic.Int64
	failures atomic.Int64
}

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
}

// register adds the retention's counters to reg.
func (r *retention) register(reg *prometheus.Registry) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "caduceus_audit_entries_pruned_total", Help: "Audit entries removed for being older than the retention."},
			func() float64 { return float64(r.removed.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "caduceus_audit_prune_failures_total", Help: "Daily audit prunings that failed."},
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
