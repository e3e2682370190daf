package core

import "context"

// ListeningForTest reports whether the cluster event relay is connected.
func (s *Service) ListeningForTest() bool { return s.listening.Load() }

// ClearModels forgets the stored models, as for messages stored before
// models existed.
func ClearModels(ctx context.Context, s *Service) error {
	_, err := s.st.Exec(ctx, `UPDATE blobs SET model = NULL`)
	return err
}
