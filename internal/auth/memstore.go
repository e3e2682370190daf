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
	return put(s, s.codes, c.Key, c)
}

// GetCode implements CodeStore.
func (s *MemoryStore) GetCode(_ context.Context, key string) (Code, error) {
	return get(s, s.codes, key)
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
	return remove(s, s.codes, key)
}

// CreateSession implements SessionStore.
func (s *MemoryStore) CreateSession(_ context.Context, sess Session) error {
	return put(s, s.sessions, sess.ID, sess)
}

// GetSession implements SessionStore.
func (s *MemoryStore) GetSession(_ context.Context, id string) (Session, error) {
	return get(s, s.sessions, id)
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
	return remove(s, s.sessions, id)
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

// put stores v under key in m, one of s's maps.
func put[V any](s *MemoryStore, m map[string]V, key string, v V) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m[key] = v
	return nil
}

// get returns what m, one of s's maps, holds under key, or ErrNotFound.
func get[V any](s *MemoryStore, m map[string]V, key string) (V, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := m[key]
	if !ok {
		return v, ErrNotFound
	}
	return v, nil
}

// remove deletes key from m, one of s's maps.
func remove[V any](s *MemoryStore, m map[string]V, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(m, key)
	return nil
}
