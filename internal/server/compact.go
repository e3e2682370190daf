package server

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"caduceus/internal/blob"
	"caduceus/internal/config"
	"caduceus/internal/core"
)

// compactor compacts the blob segments in the background and counts what it
// gave back, for the metrics.
type compactor struct {
	core *core.Service
	log  *slog.Logger
	cfg  config.Blobs

	runs      atomic.Int64
	failures  atomic.Int64
	moved     atomic.Int64 // bytes of live blobs moved
	removed   atomic.Int64 // segment files removed
	reclaimed atomic.Int64 // their bytes
}

// firstCompaction is how long after start the first run waits, at most: a
// server restarted more often than the interval still compacts.
const firstCompaction = 5 * time.Minute

// run compacts after first, then every cfg.CompactInterval, until ctx ends.
func (c *compactor) run(ctx context.Context, first time.Duration) {
	periodically(ctx, first, c.cfg.CompactInterval.Duration, c.once)
}

// periodically calls fn after first, then every interval after each call
// returns, until ctx ends.
func periodically(ctx context.Context, first, interval time.Duration, fn func(context.Context)) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn(ctx)
		t.Reset(interval)
	}
}

// once runs one compaction, logs its summary and counts it.
func (c *compactor) once(ctx context.Context) {
	c.runs.Add(1)
	res, err := c.core.CompactBlobs(ctx, core.System("compact"), core.CompactOptions{
		Threshold: c.cfg.CompactThreshold, Grace: c.cfg.CompactGrace.Duration,
	})
	c.moved.Add(res.MovedBytes)
	c.removed.Add(int64(res.Removed))
	c.reclaimed.Add(res.Reclaimed)
	switch {
	case errors.Is(err, blob.ErrBusy):
		c.log.Info("blob compaction skipped: an operator's compaction is running")
	case err != nil && ctx.Err() == nil:
		c.failures.Add(1)
		c.log.Error("blob compaction", "err", err)
	case res.Compacted+res.Removed > 0:
		c.log.Info("blob compaction", "segments_compacted", res.Compacted, "blobs_moved", res.Moved, "bytes_moved", res.MovedBytes,
			"dead_rows", res.DeadRows, "segments_removed", res.Removed, "bytes_reclaimed", res.Reclaimed, "duration", res.Duration)
	}
}

// register adds the compactor's counters to reg.
func (c *compactor) register(reg *prometheus.Registry) {
	for _, m := range []struct {
		name, help string
		v          *atomic.Int64
	}{
		{"caduceus_blob_compactions_total", "Background blob compaction runs.", &c.runs},
		{"caduceus_blob_compaction_failures_total", "Background blob compaction runs that failed.", &c.failures},
		{"caduceus_blob_bytes_moved_total", "Bytes of live blobs moved out of mostly dead segments.", &c.moved},
		{"caduceus_blob_segments_removed_total", "Blob segment files removed by compaction.", &c.removed},
		{"caduceus_blob_bytes_reclaimed_total", "Bytes of blob segment files given back to the file system.", &c.reclaimed},
	} {
		v := m.v
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help}, func() float64 { return float64(v.Load()) }))
	}
}

// startCompaction runs the background compaction for the node's life, unless
// the configuration turns it off.
func (s *Server) startCompaction(ctx context.Context) {
	every := s.Config.Blobs.CompactInterval.Duration
	if every == 0 {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.compact.run(ctx, min(every, firstCompaction))
	}()
}
