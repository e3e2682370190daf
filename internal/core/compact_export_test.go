package core

import "context"

// CompactFailingAt runs CompactBlobs and stops it at step ("copied",
// "repointed-part", "repointed", "retired") as a crash would there.
func (s *Service) CompactFailingAt(ctx context.Context, actor Actor, o CompactOptions, step string) (CompactResult, error) {
	o.failAt = step
	return s.CompactBlobs(ctx, actor, o)
}
