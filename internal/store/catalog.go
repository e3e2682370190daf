package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// OpenReadOnly opens an existing database without changing anything in it:
// the SQLite file read-only (immutable when its node stopped cleanly),
// PostgreSQL with read-only transactions.
// Its schema must be the one this code's migrations give (the node that
// keeps it must have run this version once), since nothing is migrated.
// Every write through it fails.
func OpenReadOnly(ctx context.Context, dsn, dataDir string) (*Store, error) {
	var s *Store
	if dsn == "" {
		path := filepath.Join(dataDir, "caduceus.db")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open sqlite read-only: %w", err)
		}
		// A database closed cleanly has no write-ahead log: it is read as
		// immutable, which creates no -wal or -shm file beside it. One with a
		// log (its node running, or stopped by a crash) is read through the
		// log, whose index file SQLite may then create.
		mode := "immutable=1"
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
			mode = "mode=ro"
		}
		db, err := sql.Open("sqlite", "file:"+path+"?"+mode+"&_pragma=busy_timeout(10000)")
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s read-only: %w", path, err)
		}
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(4)
		c := newStmtCache(db, SQLite)
		s = &Store{dialect: SQLite, db: db, wdb: db, reads: c, writes: c}
	} else {
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, fmt.Errorf("database URL: %w", err)
		}
		q := u.Query()
		q.Set("default_transaction_read_only", "on")
		u.RawQuery = q.Encode()
		if s, err = open(u.String(), ""); err != nil {
			return nil, err
		}
		s.dsn = dsn
	}
	var version int
	if err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version); err != nil {
		s.Close()
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	if version != len(migrations) {
		s.Close()
		return nil, fmt.Errorf("schema version %d, this version of caduceus has %d: start the node once with this version (it migrates its store) before copying it", version, len(migrations))
	}
	return s, nil
}

// Tables lists the tables of the database, by name, in no particular order:
// those of the migrations and any others (the directory's generations on
// PostgreSQL, SQLite's own).
func (s *Store) Tables(ctx context.Context) ([]string, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if s.dialect == Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// PrimaryKey returns the columns of a table's primary key, in key order;
// none for a table without one.
func (s *Store) PrimaryKey(ctx context.Context, table string) ([]string, error) {
	var rows *sql.Rows
	var err error
	if s.dialect == Postgres {
		rows, err = s.db.QueryContext(ctx, `SELECT k.column_name FROM information_schema.table_constraints c
			JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema AND k.table_name = c.table_name
			WHERE c.table_schema = current_schema() AND c.table_name = $1 AND c.constraint_type = 'PRIMARY KEY'
			ORDER BY k.ordinal_position`, table)
	} else {
		rows, err = s.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, table)
	}
	if err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", table, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("primary key of %s: %w", table, err)
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// Columns returns the columns of a table, in their order.
func (s *Store) Columns(ctx context.Context, table string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM `+QuoteIdent(table)+` WHERE 1 = 0`)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	return rows.Columns()
}

// ResetSequences sets, on PostgreSQL, the identity sequence of every table
// with an id column past the largest id it holds: rows copied with their ids
// leave the sequences behind. SQLite's AUTOINCREMENT follows inserted ids by
// itself, so there is nothing to do there.
func (s *Store) ResetSequences(ctx context.Context, tables []string) error {
	if s.dialect != Postgres {
		return nil
	}
	for _, t := range tables {
		var seq sql.NullString
		err := s.db.QueryRowContext(ctx, `SELECT pg_get_serial_sequence($1, 'id') FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'id'`, t).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) || err == nil && !seq.Valid {
			continue // no id column, or one with no sequence
		}
		if err != nil {
			return fmt.Errorf("sequence of %s: %w", t, err)
		}
		q := `SELECT setval($1, COALESCE((SELECT MAX(id) FROM ` + QuoteIdent(t) + `), 0) + 1, false)`
		if _, err := s.db.ExecContext(ctx, q, seq.String); err != nil {
			return fmt.Errorf("reset sequence of %s: %w", t, err)
		}
	}
	return nil
}

// QuoteIdent quotes a table or column name for both engines, for statements
// built over the catalog (Tables, Columns).
func QuoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
