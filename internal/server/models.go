package server

import (
	"context"
	"time"

	"caduceus/internal/core"
)

// modelBatch is how many messages one batch of the model migration takes:
// small enough that a batch shares the group committer with deliveries
// without delaying them.
const modelBatch = 200

// startModelMigration computes, in the background, the message model of
// the messages stored before models were (core.Service.MigrateModels),
// logging its progress at most every ten seconds. It never delays start:
// the doors parse such messages on the fly meanwhile.
func (s *Server) startModelMigration(ctx context.Context) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		start := time.Now()
		var last time.Time
		p, err := s.Core.MigrateModels(ctx, modelBatch, func(p core.ModelProgress) {
			if time.Since(last) < 10*time.Second {
				return
			}
			last = time.Now()
			s.log.Info("message models", "done", p.Done, "failed", p.Failed, "total", p.Total)
		})
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("message models", "err", err, "done", p.Done, "total", p.Total)
		case p.Total > 0:
			s.log.Info("message models computed", "done", p.Done, "failed", p.Failed, "total", p.Total, "duration", time.Since(start).Round(time.Millisecond))
		}
	}()
}
