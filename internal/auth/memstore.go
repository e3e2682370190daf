package auth

import (
	"context"
	"sync"
	"time"
)

// MemoryStore keeps codes and sessions in memory, for one node and tests.
type MemoryStore struct {
	mu       sync.Mutex
	codes    map[string]Code
	sessions map[string]Session
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{codes: make(map[string]Code), sessions: make(map[string]Session)}
}

// PutCode implements CodeStore.
func (s *MemoryStore) PutCode(_ context.Context, c Code) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[c.Key] = c
	return nil
}

// GetCode implements CodeStore.
func (s *MemoryStore) GetCode(_ context.Context, key string) (Code, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[key]
	if !ok {
		return Code{}, ErrNotFound
	}
	return c, nil
}

// AddCodeTry implements CodeStore.
func (s *MemoryStore) AddCodeTry(_ context.Context, key string) (Code, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[key]
	if !ok {
		return Code{}, ErrNotFound
	}
	c.Tries++
	s.codes[key] = c
	return c, nil
}

// DeleteCode implements CodeStore.
func (s *MemoryStore) DeleteCode(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.codes, key)
	return nil
}

// CreateSession implements SessionStore.
func (s *MemoryStore) CreateSession(_ context.Context, sess Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[sess.ID] = sess
	return nil
}

// GetSession implements SessionStore.
func (s *MemoryStore) GetSession(_ context.Context, id string) (Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return Session{}, ErrNotFound
	}
	return sess, nil
}

// TouchSession implements SessionStore.
func (s *MemoryStore) TouchSession(_ context.Context, id string, seen time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.sessions[id]; ok {
		sess.Seen = seen
		s.sessions[id] = sess
	}
	return nil
}

// DeleteSession implements SessionStore.
func (s *MemoryStore) DeleteSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, id)
	return nil
}

// DeleteAccountSessions implements SessionStore.
func (s *MemoryStore) DeleteAccountSessions(_ context.Context, account string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		if sess.Account == account {
			delete(s.sessions, id)
		}
	}
	return nil
}

// DeleteSessionsBefore implements SessionStore.
func (s *MemoryStore) DeleteSessionsBefore(_ context.Context, created, seen time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		if sess.Created.Before(created) || sess.Seen.Before(seen) {
			delete(s.sessions, id)
		}
	}
	return nil
}
