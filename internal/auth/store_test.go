package auth

import (
	"testing"

	"caduceus/internal/store/storetest"
)

// fullStore is what every implementation provides.
type fullStore interface {
	CodeStore
	SessionStore
}

// stores returns every store implementation to run a test against: in
// memory, and SQLStore over a fresh store on each engine.
func stores() map[string]func(t *testing.T) fullStore {
	m := map[string]func(t *testing.T) fullStore{
		"memory": func(t *testing.T) fullStore { return NewMemoryStore() },
	}
	for _, engine := range storetest.Engines {
		m[engine] = func(t *testing.T) fullStore { return NewSQLStore(storetest.Open(t, engine)) }
	}
	return m
}
