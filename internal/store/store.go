// Package store holds Caduceus's metadata: domains, accounts, mailboxes and their
// rights, folders, messages, the audit trail. It speaks SQLite (embedded, the default)
// and PostgreSQL (for clusters) through database/sql, with one schema written for both.
//
// The store knows tables, not rules: only internal/core calls it for mail data, and
// the core decides who may do what. Every write goes through Tx so that a change and
// its MODSEQ, counters and audit row commit together or not at all.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect names the SQL engine behind a Store.
type Dialect int

// The engines a Store runs on.
const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// Store is an open metadata database.
type Store struct {
	dialect Dialect
	dsn     string
	db      *sql.DB // readers (and every connection on PostgreSQL)
	wdb     *sql.DB // the single SQLite writer; db on PostgreSQL

	// reads caches statements prepared on db, by query text: the doors run the
	// same few reads thousands of times a second, and parsing them each time
	// costs as much as running them.
	reads  sync.Map
	nreads atomic.Int32
}

// maxPrepared bounds the read statements kept prepared: queries built from
// user input (ranges of UIDs) come in many shapes, and only the common ones
// are worth keeping.
const maxPrepared = 512

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Open opens the database named by dsn (empty: SQLite file caduceus.db in dataDir,
// created if needed) and brings its schema up to date.
func Open(ctx context.Context, dsn, dataDir string) (*Store, error) {
	s, err := open(dsn, dataDir)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate %s store: %w", s.dialect, err)
	}
	return s, nil
}

func open(dsn, dataDir string) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(32)
		return &Store{dialect: Postgres, dsn: dsn, db: db, wdb: db}, nil
	}
	if dsn != "" {
		return nil, fmt.Errorf("database %q: want empty (SQLite) or a postgres:// URL", dsn)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dataDir, "caduceus.db")
	// WAL lets readers go on while one writer commits; synchronous=FULL makes
	// every commit durable before it returns.
	base := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", base)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	wdb, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	return &Store{dialect: SQLite, db: db, wdb: wdb}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.reads.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	err := s.db.Close()
	if s.wdb != s.db {
		err = errors.Join(err, s.wdb.Close())
	}
	return err
}

// DB returns the connection pool for reads and for packages that keep tables of
// their own.
func (s *Store) DB() *sql.DB { return s.db }

// DSN returns the PostgreSQL URL the store was opened with, or "" on SQLite,
// for connections that database/sql cannot make (LISTEN).
func (s *Store) DSN() string { return s.dsn }

// Dialect tells which engine this store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// Rebind rewrites the ? placeholders of q into PostgreSQL's $1, $2… form; on
// SQLite it returns q unchanged.
func (s *Store) Rebind(q string) string { return rebind(s.dialect, q) }

// Tx runs fn in one write transaction and commits it; an error from fn rolls
// everything back. On SQLite transactions are serialised through one connection,
// which is what SQLite does anyway, without busy retries.
func (s *Store) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: sqlTx, s: s}
	if err := fn(tx); err != nil {
		return errors.Join(err, rollback(sqlTx))
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// Tx is a write transaction; its methods take ? placeholders on both engines.
// A statement run twice in one transaction is prepared once: a group commit
// runs the same few statements for every message of its batch, and preparing
// them each time would cost more than running them.
type Tx struct {
	tx    *sql.Tx
	s     *Store
	stmts map[string]*sql.Stmt
}

// Exec runs a statement.
func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// Query runs a query.
func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRow runs a query that returns at most one row.
func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := t.stmt(ctx, q)
	if err != nil {
		// sql.Row carries no error of its own: run the query unprepared so
		// that Scan reports the same failure.
		return t.tx.QueryRowContext(ctx, rebind(t.s.dialect, q), args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// Insert runs an INSERT and returns the new row's id column.
func (t *Tx) Insert(ctx context.Context, q string, args ...any) (int64, error) {
	var id int64
	err := t.QueryRow(ctx, q+" RETURNING id", args...).Scan(&id)
	return id, err
}

// Dialect tells which engine the transaction runs on.
func (t *Tx) Dialect() Dialect { return t.s.dialect }

// stmt returns q prepared in this transaction; the transaction's end closes it.
func (t *Tx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(ctx, rebind(t.s.dialect, q))
	if err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = st
	return st, nil
}

// Exec runs a statement outside any explicit transaction.
func (s *Store) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.wdb.ExecContext(ctx, s.Rebind(q), args...)
}

// Query runs a read query.
func (s *Store) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(ctx, q)
	if errors.Is(err, errNotPrepared) {
		return s.db.QueryContext(ctx, s.Rebind(q), args...)
	}
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRow runs a read query that returns at most one row.
func (s *Store) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, q)
	if err != nil {
		// sql.Row carries no error of its own: run the query unprepared so
		// that Scan reports the same failure.
		return s.db.QueryRowContext(ctx, s.Rebind(q), args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// ReadTx runs fn in a read-only transaction: every query in it sees the same
// snapshot of the database.
func (s *Store) ReadTx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	err = fn(&Tx{tx: sqlTx, s: s})
	return errors.Join(err, rollback(sqlTx))
}

// prepared returns q prepared on the read pool, preparing it on first use.
func (s *Store) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := s.reads.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	if s.nreads.Load() >= maxPrepared {
		return nil, errNotPrepared
	}
	st, err := s.db.PrepareContext(ctx, s.Rebind(q))
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.reads.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	s.nreads.Add(1)
	return st, nil
}

// errNotPrepared sends a query past the cache's bound to the unprepared path.
var errNotPrepared = errors.New("statement cache full")

// rebind turns ? into $n outside of quoted strings.
func rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
