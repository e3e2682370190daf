package store

import (
	"context"
	"fmt"
	"strings"
)

// OpenAt opens a store like Open but migrates it only up to version n, as an
// older release left it.
func OpenAt(ctx context.Context, dsn, dataDir string, n int) (*Store, error) {
	s, err := open(dsn, dataDir)
	if err != nil {
		return nil, err
	}
	if err := s.migrateTo(ctx, n); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate %s store: %w", s.dialect, err)
	}
	return s, nil
}

// AdoptionVersion is the schema version just before the migration that took
// over the tables auth, the directory and the web app used to create
// themselves: the version of every database those packages wrote to.
func AdoptionVersion() int {
	for i, m := range migrations {
		if strings.Contains(m.common, "IF NOT EXISTS auth_sessions") {
			return i
		}
	}
	panic("no migration adopts the auth tables")
}

// SchemaVersion is the version a fully migrated database records.
func SchemaVersion() int { return len(migrations) }
