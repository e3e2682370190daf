package server

import (
	"context"
	"fmt"

	"caduceus/internal/directory"
)

// openDirectory opens the directory of health professionals for the web
// app and closes it when the node stops, after the listeners that use it.
func (s *Server) openDirectory(ctx context.Context) (*directory.Directory, error) {
	d, err := directory.Open(ctx, s.Store, s.Config.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open directory: %w", err)
	}
	s.onStop(func(context.Context) error { return d.Close() })
	return d, nil
}
