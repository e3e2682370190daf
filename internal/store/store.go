// Package store holds Caduceus's metadata: domains, accounts, mailboxes and their
// rights, folders, messages, the audit trail. It speaks SQLite (embedded, the default)
// and PostgreSQL (for clusters) through database/sql, with one schema written for both.
//
// The store knows tables, not rules: only internal/core calls it for mail data, and
// the core decides who may do what. Every table, whichever package reads it (auth's
// sessions, the directory's entries), is created and changed by the migrations of
// migrate.go; the node hands those packages this handle, and no door asks the core
// for it. Every write goes through Tx so that a change and
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

	// reads and writes keep statements prepared on db and wdb, by query text:
	// the doors and the group commit run the same few statements thousands of
	// times a second, and parsing them each time costs as much as running them.
	reads, writes *stmtCache
}

// maxPrepared bounds the statements kept prepared per pool: queries built
// from user input (ranges of UIDs) come in many shapes, and only the common
// ones are worth keeping.
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
		c := newStmtCache(db, Postgres)
		return &Store{dialect: Postgres, dsn: dsn, db: db, wdb: db, reads: c, writes: c}, nil
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
	// Idle readers stay open: a closed one takes its prepared statements
	// with it, and opening another (pragmas, schema) costs more than a query.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	wdb, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	return &Store{dialect: SQLite, db: db, wdb: wdb,
		reads: newStmtCache(db, SQLite), writes: newStmtCache(wdb, SQLite)}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.reads.close()
	if s.writes != s.reads {
		s.writes.close()
	}
	err := s.db.Close()
	if s.wdb != s.db {
		err = errors.Join(err, s.wdb.Close())
	}
	return err
}

// SnapshotTo writes a consistent copy of an SQLite database to path (which
// must not exist) while writers go on: VACUUM INTO reads one snapshot of the
// WAL database and writes it out compacted. PostgreSQL has its own tools
// (pg_dump, base backups), so it is refused.
func (s *Store) SnapshotTo(ctx context.Context, path string) error {
	if s.dialect != SQLite {
		return errors.New("snapshot: only the embedded SQLite store; back PostgreSQL up with pg_dump or a base backup")
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("snapshot database to %s: %w", path, err)
	}
	return nil
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
	tx := &Tx{tx: sqlTx, s: s, cache: s.writes}
	if err := fn(tx); err != nil {
		err = errors.Join(err, rollback(sqlTx))
		tx.prepareMissed(ctx)
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	tx.prepareMissed(ctx)
	return nil
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// Tx is a transaction; its methods take ? placeholders on both engines.
// Statements come from the store's cache of prepared statements; one the cache
// lacks is prepared for this transaction and, once the transaction has
// released its connection, for the cache.
type Tx struct {
	tx     *sql.Tx
	s      *Store
	cache  *stmtCache
	stmts  map[string]*sql.Stmt
	missed []string
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
// The cached statement is used when there is one (database/sql reuses its
// preparation on the transaction's connection); otherwise q is prepared here,
// since preparing it on the pool could wait for the connection this
// transaction holds.
func (t *Tx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if shared := t.cache.lookup(q); shared != nil {
		st = t.tx.StmtContext(ctx, shared)
	} else {
		var err error
		st, err = t.tx.PrepareContext(ctx, rebind(t.s.dialect, q))
		if err != nil {
			return nil, err
		}
		if t.cache.room() {
			t.missed = append(t.missed, q)
		}
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = st
	return st, nil
}

// prepareMissed prepares, for the cache, the statements this transaction ran
// that the cache lacked. It runs after the transaction ended, when its
// connection is back in the pool. A failure here changes nothing of what the
// transaction did: the next one prepares the statement for itself again, so
// the error is dropped rather than reported as the transaction's.
func (t *Tx) prepareMissed(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	for _, q := range t.missed {
		if _, err := t.cache.prepare(ctx, q); err != nil {
			return
		}
	}
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
	tx := &Tx{tx: sqlTx, s: s, cache: s.reads}
	err = fn(tx)
	err = errors.Join(err, rollback(sqlTx))
	tx.prepareMissed(ctx)
	return err
}

// prepared returns q prepared on the read pool, preparing it on first use.
func (s *Store) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if st := s.reads.lookup(q); st != nil {
		return st, nil
	}
	return s.reads.prepare(ctx, q)
}

// stmtCache keeps statements prepared on one pool, by query text, up to
// maxPrepared of them.
type stmtCache struct {
	db      *sql.DB
	dialect Dialect
	m       sync.Map
	n       atomic.Int32
}

func newStmtCache(db *sql.DB, d Dialect) *stmtCache {
	return &stmtCache{db: db, dialect: d}
}

// lookup returns q's statement, or nil when it has not been prepared.
func (c *stmtCache) lookup(q string) *sql.Stmt {
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt)
	}
	return nil
}

// room tells whether the cache takes more statements.
func (c *stmtCache) room() bool { return c.n.Load() < maxPrepared }

// prepare prepares q on the pool and keeps it; errNotPrepared when the cache
// is full.
func (c *stmtCache) prepare(ctx context.Context, q string) (*sql.Stmt, error) {
	if !c.room() {
		return nil, errNotPrepared
	}
	st, err := c.db.PrepareContext(ctx, rebind(c.dialect, q))
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.m.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	c.n.Add(1)
	return st, nil
}

func (c *stmtCache) close() {
	c.m.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
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
