package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// sqlHandle is a minimal SQLHandle for tests.
type sqlHandle struct {
	db       *sql.DB
	postgres bool
}

func (h sqlHandle) DB() *sql.DB { return h.db }

func (h sqlHandle) Rebind(q string) string {
	if !h.postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fullStore is what every implementation provides.
type fullStore interface {
	CodeStore
	SessionStore
}

// stores returns every store implementation to run a test against. The
// PostgreSQL one is skipped where no server answers on 127.0.0.1:5432.
func stores() map[string]func(t *testing.T) fullStore {
	return map[string]func(t *testing.T) fullStore{
		"memory": func(t *testing.T) fullStore {
			return NewMemoryStore()
		},
		"sqlite": func(t *testing.T) fullStore {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "meta.db")+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			s, err := OpenSQLStore(context.Background(), sqlHandle{db: db})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"postgres": func(t *testing.T) fullStore {
			return postgresStore(t)
		},
	}
}

func postgresStore(t *testing.T) *SQLStore {
	ctx := context.Background()
	admin, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		t.Skipf("no PostgreSQL on 127.0.0.1:5432: %v", err)
	}
	raw := make([]byte, 6)
	rand.Read(raw)
	name := "auth_test_" + hex.EncodeToString(raw)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/"+name+"?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		if a, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"); err == nil {
			a.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			a.Close()
		}
	})
	s, err := OpenSQLStore(ctx, sqlHandle{db: db, postgres: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
