package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SQLHandle is what SQLStore needs from the metadata store; *store.Store
// provides it. Rebind turns ? placeholders into the engine's own.
type SQLHandle interface {
	DB() *sql.DB
	Rebind(q string) string
}

// SQLStore keeps codes and sessions in the shared metadata store (SQLite or
// PostgreSQL), so that every node sees them. Times are Unix milliseconds.
type SQLStore struct {
	h SQLHandle
}

// NewSQLStore returns the store over h. Its tables (auth_sessions,
// auth_codes) are created by the metadata store's migrations.
func NewSQLStore(h SQLHandle) *SQLStore { return &SQLStore{h: h} }

func (s *SQLStore) exec(ctx context.Context, q string, args ...any) error {
	_, err := s.h.DB().ExecContext(ctx, s.h.Rebind(q), args...)
	return err
}

// PutCode implements CodeStore.
func (s *SQLStore) PutCode(ctx context.Context, c Code) error {
	err := s.exec(ctx, `INSERT INTO auth_codes (code_key, hash, salt, created, expires, tries) VALUES (?, ?, ?, ?, ?, 0)
		ON CONFLICT (code_key) DO UPDATE SET hash = excluded.hash, salt = excluded.salt,
		created = excluded.created, expires = excluded.expires, tries = 0`,
		c.Key, c.Hash, c.Salt, c.Created.UnixMilli(), c.Expires.UnixMilli())
	if err != nil {
		return fmt.Errorf("auth: put code: %w", err)
	}
	return nil
}

// GetCode implements CodeStore.
func (s *SQLStore) GetCode(ctx context.Context, key string) (Code, error) {
	return s.code(ctx, key)
}

// AddCodeTry implements CodeStore.
func (s *SQLStore) AddCodeTry(ctx context.Context, key string) (Code, error) {
	if err := s.exec(ctx, `UPDATE auth_codes SET tries = tries + 1 WHERE code_key = ?`, key); err != nil {
		return Code{}, fmt.Errorf("auth: add code try: %w", err)
	}
	return s.code(ctx, key)
}

func (s *SQLStore) code(ctx context.Context, key string) (Code, error) {
	c := Code{Key: key}
	var created, expires int64
	err := s.h.DB().QueryRowContext(ctx, s.h.Rebind(`SELECT hash, salt, created, expires, tries FROM auth_codes WHERE code_key = ?`), key).
		Scan(&c.Hash, &c.Salt, &created, &expires, &c.Tries)
	if errors.Is(err, sql.ErrNoRows) {
		return Code{}, ErrNotFound
	}
	if err != nil {
		return Code{}, fmt.Errorf("auth: get code: %w", err)
	}
	c.Created, c.Expires = time.UnixMilli(created), time.UnixMilli(expires)
	return c, nil
}

// DeleteCode implements CodeStore.
func (s *SQLStore) DeleteCode(ctx context.Context, key string) error {
	if err := s.exec(ctx, `DELETE FROM auth_codes WHERE code_key = ?`, key); err != nil {
		return fmt.Errorf("auth: delete code: %w", err)
	}
	return nil
}

// CreateSession implements SessionStore.
func (s *SQLStore) CreateSession(ctx context.Context, sess Session) error {
	pending := 0
	if sess.Pending {
		pending = 1
	}
	err := s.exec(ctx, `INSERT INTO auth_sessions (id, account, pending, created, seen, remote) VALUES (?, ?, ?, ?, ?, ?)`,
		sess.ID, sess.Account, pending, sess.Created.UnixMilli(), sess.Seen.UnixMilli(), sess.Remote)
	if err != nil {
		return fmt.Errorf("auth: create session: %w", err)
	}
	return nil
}

// GetSession implements SessionStore.
func (s *SQLStore) GetSession(ctx context.Context, id string) (Session, error) {
	sess := Session{ID: id}
	var pending int
	var created, seen int64
	err := s.h.DB().QueryRowContext(ctx, s.h.Rebind(`SELECT account, pending, created, seen, remote FROM auth_sessions WHERE id = ?`), id).
		Scan(&sess.Account, &pending, &created, &seen, &sess.Remote)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("auth: get session: %w", err)
	}
	sess.Pending, sess.Created, sess.Seen = pending != 0, time.UnixMilli(created), time.UnixMilli(seen)
	return sess, nil
}

// TouchSession implements SessionStore.
func (s *SQLStore) TouchSession(ctx context.Context, id string, seen time.Time) error {
	if err := s.exec(ctx, `UPDATE auth_sessions SET seen = ? WHERE id = ?`, seen.UnixMilli(), id); err != nil {
		return fmt.Errorf("auth: touch session: %w", err)
	}
	return nil
}

// DeleteSession implements SessionStore.
func (s *SQLStore) DeleteSession(ctx context.Context, id string) error {
	if err := s.exec(ctx, `DELETE FROM auth_sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("auth: delete session: %w", err)
	}
	return nil
}

// DeleteAccountSessions implements SessionStore.
func (s *SQLStore) DeleteAccountSessions(ctx context.Context, account string) error {
	if err := s.exec(ctx, `DELETE FROM auth_sessions WHERE account = ?`, account); err != nil {
		return fmt.Errorf("auth: delete account sessions: %w", err)
	}
	return nil
}

// DeleteSessionsBefore implements SessionStore.
func (s *SQLStore) DeleteSessionsBefore(ctx context.Context, created, seen time.Time) error {
	err := s.exec(ctx, `DELETE FROM auth_sessions WHERE created < ? OR seen < ?`, created.UnixMilli(), seen.UnixMilli())
	if err != nil {
		return fmt.Errorf("auth: purge sessions: %w", err)
	}
	return nil
}
