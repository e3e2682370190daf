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
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
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
	if err := lockChain(ctx, tx); err != nil {
		return err
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
	// Domain keeps the entries whose actor or target is an address of it.
	Domain string
	Limit  int
}

// List returns the entries matching q, newest first; at most 100 when q.Limit is 0.
func (t *Trail) List(ctx context.Context, q Query) ([]Entry, error) {
	where, args := q.where()
	if q.Limit <= 0 {
		q.Limit = 100
	}
	rows, err := t.st.Query(ctx, `SELECT id, at, actor, door, remote, action, target, result, detail FROM audit`+where+` ORDER BY id DESC LIMIT ?`, append(args, q.Limit)...)
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

// where turns q's filters into a WHERE clause and its arguments.
func (q Query) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if !q.Since.IsZero() {
		add(`at >= ?`, q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		add(`at < ?`, q.Until.UnixMilli())
	}
	if q.Actor != "" {
		add(`actor = ?`, q.Actor)
	}
	if q.Action != "" {
		add(`action = ?`, q.Action)
	}
	if d := strings.ToLower(q.Domain); d != "" {
		conds = append(conds, `(actor LIKE ? OR target LIKE ? OR target LIKE ?)`)
		args = append(args, "%@"+d, "%@"+d, "%@"+d+" %")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args
}

// MinRetention is how long the trail keeps an entry at the least: a year, as
// health data hosting asks of access traces.
const MinRetention = 365 * 24 * time.Hour

// Prune removes the entries older than before, which must be at least
// MinRetention ago, and returns how many it removed. The hash of the last
// one removed is kept as the anchor the rest of the chain starts from, so
// Verify still checks every entry kept, and the pruning is itself traced,
// by actor.
func (t *Trail) Prune(ctx context.Context, actor Entry, before time.Time) (int64, error) {
	if time.Since(before) < MinRetention {
		return 0, fmt.Errorf("audit entries are kept at least %d days: prune before %s at the latest",
			MinRetention/(24*time.Hour), time.Now().Add(-MinRetention).Format(time.DateOnly))
	}
	var n int64
	err := t.st.Tx(ctx, func(tx *store.Tx) error {
		if err := lockChain(ctx, tx); err != nil {
			return err
		}
		var last int64
		var hash string
		err := tx.QueryRow(ctx, `SELECT id, hash FROM audit WHERE at < ? ORDER BY id DESC LIMIT 1`, before.UnixMilli()).Scan(&last, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find entries to prune: %w", err)
		}
		// Everything up to the last old entry goes, so that what stays is
		// one unbroken chain.
		res, err := tx.Exec(ctx, `DELETE FROM audit WHERE id <= ?`, last)
		if err != nil {
			return fmt.Errorf("prune audit: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM audit_anchor`); err != nil {
			return fmt.Errorf("replace audit anchor: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_anchor (last_id, hash) VALUES (?, ?)`, last, hash); err != nil {
			return fmt.Errorf("write audit anchor: %w", err)
		}
		actor.Action, actor.Target, actor.Result = "audit.prune", "audit", "ok"
		actor.Detail = fmt.Sprintf("%d entries before %s", n, before.UTC().Format(time.DateOnly))
		return t.Record(ctx, tx, actor)
	})
	return n, err
}

// Verification is what Verify found: how many entries it checked and, when the
// chain is broken, where.
type Verification struct {
	Entries int64
	Break   *Break // nil when every entry matches the chain
}

// Break names the first entry at which the chain no longer holds, and what
// the mismatch means.
type Break struct {
	ID     int64
	At     time.Time
	Reason string
}

// Verify walks the whole chain from the anchor on and reports the first entry
// that breaks it. A changed entry breaks at itself; a removed one at the entry
// after it; an entry slipped in between two others is named as inserted when
// the entry after it still chains to the one before. progress, when not nil,
// is called with the count of entries checked every 100,000 entries and at the end.
func (t *Trail) Verify(ctx context.Context, progress func(entries int64)) (Verification, error) {
	var v Verification
	prev, prevPrev := "", ""
	var anchorID int64
	err := t.st.QueryRow(ctx, `SELECT last_id, hash FROM audit_anchor`).Scan(&anchorID, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("read audit anchor: %w", err)
	}
	rows, err := t.st.Query(ctx, `SELECT id, at, actor, door, remote, action, target, result, detail, hash FROM audit ORDER BY id`)
	if err != nil {
		return v, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	var prevEntry Entry
	for rows.Next() {
		var e Entry
		var at int64
		var hash string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Door, &e.Remote, &e.Action, &e.Target, &e.Result, &e.Detail, &hash); err != nil {
			return v, fmt.Errorf("read audit: %w", err)
		}
		e.At = time.UnixMilli(at)
		switch {
		case e.ID <= anchorID:
			v.Break = &Break{ID: e.ID, At: e.At, Reason: fmt.Sprintf("entry %d is older than the last pruned entry (%d): inserted", e.ID, anchorID)}
		case chain(prev, e) == hash:
		case v.Entries > 0 && chain(prevPrev, e) == hash:
			v.Break = &Break{ID: prevEntry.ID, At: prevEntry.At, Reason: fmt.Sprintf("entry %d was inserted: entry %d chains to the entry before it", prevEntry.ID, e.ID)}
		default:
			v.Break = &Break{ID: e.ID, At: e.At, Reason: fmt.Sprintf("entry %d was changed, or the entry before it removed", e.ID)}
		}
		if v.Break != nil {
			return v, nil
		}
		v.Entries++
		if progress != nil && v.Entries%100000 == 0 {
			progress(v.Entries)
		}
		prevPrev, prev, prevEntry = prev, hash, e
	}
	if err := rows.Err(); err != nil {
		return v, fmt.Errorf("read audit: %w", err)
	}
	if progress != nil {
		progress(v.Entries)
	}
	return v, nil
}

// Export writes the entries q selects (all of them when q.Limit is 0), oldest
// first, as CSV with a header line, and returns how many it wrote. Rows are
// streamed, so a year of entries never sits in memory.
func (t *Trail) Export(ctx context.Context, w io.Writer, q Query) (int64, error) {
	where, args := q.where()
	sqlq := `SELECT id, at, actor, door, remote, action, target, result, detail, hash FROM audit` + where + ` ORDER BY id`
	if q.Limit > 0 {
		sqlq += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := t.st.Query(ctx, sqlq, args...)
	if err != nil {
		return 0, fmt.Errorf("export audit: %w", err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"id", "time", "actor", "door", "remote", "action", "target", "result", "detail", "hash"}); err != nil {
		return 0, fmt.Errorf("export audit: %w", err)
	}
	var n int64
	for rows.Next() {
		var e Entry
		var at int64
		var hash string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Door, &e.Remote, &e.Action, &e.Target, &e.Result, &e.Detail, &hash); err != nil {
			return n, fmt.Errorf("export audit: %w", err)
		}
		rec := []string{strconv.FormatInt(e.ID, 10), time.UnixMilli(at).UTC().Format("2006-01-02T15:04:05.000Z07:00"),
			e.Actor, e.Door, e.Remote, e.Action, e.Target, e.Result, e.Detail, hash}
		for i, f := range rec {
			rec[i] = defuse(f)
		}
		if err := cw.Write(rec); err != nil {
			return n, fmt.Errorf("export audit: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("export audit: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, fmt.Errorf("export audit: %w", err)
	}
	return n, nil
}

// defuse keeps a spreadsheet from reading a field as a formula: a field that
// starts with = + - @ or a tab gets a leading apostrophe (OWASP's advice for
// CSV injection). Actors and targets are addresses, but a remote address or
// a detail may come from outside.
func defuse(f string) string {
	if f != "" && strings.ContainsRune("=+-@\t\r", rune(f[0])) {
		return "'" + f
	}
	return f
}

// Lock takes the chain's lock for the rest of tx (PostgreSQL; SQLite has
// one writer anyway), as Record would. A transaction that records entries
// and locks rows as well takes it first, so that the transactions of every
// node take their locks in one order and never deadlock: each waits for
// the chain, then finds its rows free.
func (t *Trail) Lock(ctx context.Context, tx *store.Tx) error { return lockChain(ctx, tx) }

// lockChain serialises changes to the chain across nodes for the rest of
// tx, on PostgreSQL; SQLite has one writer anyway.
func lockChain(ctx context.Context, tx *store.Tx) error {
	if tx.Dialect() != store.Postgres {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7243002)`); err != nil {
		return fmt.Errorf("lock audit chain: %w", err)
	}
	return nil
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
