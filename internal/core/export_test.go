package core

// ListeningForTest reports whether the cluster event relay is connected.
func (s *Service) ListeningForTest() bool { return s.listening.Load() }
