// Package audit keeps the trail of who did what: logins, sends, deliveries, reads,
// deletions, rights changes and operator commands. Entries name the actor, the door,
// the action, its target (an account, mailbox or folder, by address or id) and the
// result; never a subject, a body, an attachment name or a correspondent's address.
//
// The trail is tamper-evident: each entry's hash covers its fields and the previous
// entry's hash, so changing or removing a row breaks the chain, which Verify finds.
package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"caduceus/internal/store"
)

// Entry is one traced action.
type Entry struct {
	ID     int64
	At     time.Time
	Actor  string // login address, or "system"
	Door   string // smtp, submission, imap, web, cli, queue…
	Remote string // client network address, if any
	Action string // login, send, deliver, read, delete, grant…
	Target string // what it acted on
	Result string // ok, denied, error, failed
	Detail string // short, content-free detail (a reason, a count)
}

// Trail writes and reads the audit entries of a store.
type Trail struct{ st *store.Store }

// New returns the trail kept in st.
func New(st *store.Store) *Trail { return &Trail{st: st} }

// Record writes e in tx, chained to the entry before it. Call it in the same
// transaction as the change it traces, so that one never commits without the other.
func (t *Trail) Record(ctx context.Context, tx *store.Tx, e Entry) error {
	if tx.Dialect() == store.Postgres {
		// Serialise chain extension across nodes for the rest of the transaction.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7243002)`); err != nil {
			return fmt.Errorf("lock audit chain: %w", err)
		}
	}
	var prev string
	err := tx.QueryRow(ctx, `SELECT hash FROM audit ORDER BY id DESC LIMIT 1`).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read audit chain: %w", err)
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit (at, actor, door, remote, action, target, result, detail, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.At.UnixMilli(), e.Actor, e.Door, e.Remote, e.Action, e.Target, e.Result, e.Detail, chain(prev, e))
	if err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return nil
}

// Write records e in a transaction of its own, for events that change nothing
// else (a failed login).
func (t *Trail) Write(ctx context.Context, e Entry) error {
	return t.st.Tx(ctx, func(tx *store.Tx) error { return t.Record(ctx, tx, e) })
}

// Query selects entries, newest first.
type Query struct {
	Since, Until time.Time
	Actor        string
	Action       string
	Limit        int
}

// List returns the entries matching q.
func (t *Trail) List(ctx context.Context, q Query) ([]Entry, error) {
	sqlq := `SELECT id, at, actor, door, remote, action, target, result, detail FROM audit WHERE 1=1`
	var args []any
	if !q.Since.IsZero() {
		sqlq += ` AND at >= ?`
		args = append(args, q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		sqlq += ` AND at < ?`
		args = append(args, q.Until.UnixMilli())
	}
	if q.Actor != "" {
		sqlq += ` AND actor = ?`
		args = append(args, q.Actor)
	}
	if q.Action != "" {
		sqlq += ` AND action = ?`
		args = append(args, q.Action)
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	sqlq += ` ORDER BY id DESC LIMIT ?`
	args = append(args, q.Limit)
	rows, err := t.st.Query(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Door, &e.Remote, &e.Action, &e.Target, &e.Result, &e.Detail); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Verify walks the whole chain and returns the id of the first entry whose hash
// does not match, or 0 when the trail is intact.
func (t *Trail) Verify(ctx context.Context) (int64, error) {
	rows, err := t.st.Query(ctx, `SELECT id, at, actor, door, remote, action, target, result, detail, hash FROM audit ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	prev := ""
	for rows.Next() {
		var e Entry
		var at int64
		var hash string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Door, &e.Remote, &e.Action, &e.Target, &e.Result, &e.Detail, &hash); err != nil {
			return 0, err
		}
		e.At = time.UnixMilli(at)
		if chain(prev, e) != hash {
			return e.ID, nil
		}
		prev = hash
	}
	return 0, rows.Err()
}

func chain(prev string, e Entry) string {
	h := sha256.New()
	for _, f := range []string{prev, strconv.FormatInt(e.At.UnixMilli(), 10), e.Actor, e.Door, e.Remote, e.Action, e.Target, e.Result, e.Detail} {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}
