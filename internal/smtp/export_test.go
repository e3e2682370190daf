package smtp

import "context"

// SessionContexts makes s send the context of each session it starts on
// the returned channel, before the session answers its first command.
func SessionContexts(s *Server) <-chan context.Context {
	ch := make(chan context.Context, 16)
	s.sessionStarted = func(ctx context.Context) { ch <- ctx }
	return ch
}
