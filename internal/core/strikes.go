package core

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"caduceus/internal/store"
)

// newStrikes keeps the failure records in the database on PostgreSQL, which
// every node of a cluster shares, else in memory.
func newStrikes(st *store.Store, window time.Duration, now func() time.Time) strikes {
	if st.Dialect() == store.Postgres {
		return &sqlStrikes{st: st, window: window, now: now}
	}
	return newMemStrikes(window)
}

// memStrikes keeps failure records in this node's memory: a node alone.
type memStrikes struct {
	mu     sync.Mutex
	window time.Duration
	recs   map[string]*strike
}

func newMemStrikes(window time.Duration) *memStrikes {
	return &memStrikes{window: window, recs: map[string]*strike{}}
}

func (m *memStrikes) get(_ context.Context, keys ...string) (map[string]strike, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]strike, len(keys))
	for _, k := range keys {
		if s := m.recs[k]; s != nil {
			out[k] = *s
		}
	}
	return out, nil
}

func (m *memStrikes) update(_ context.Context, key string, fn func(*strike) bool) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.recs) > 100000 {
		now := time.Now()
		for k, s := range m.recs {
			if now.Sub(s.last) > m.window && now.After(s.lockedUntil) {
				delete(m.recs, k)
			}
		}
	}
	s := m.recs[key]
	if s == nil {
		s = &strike{}
		m.recs[key] = s
	}
	return fn(s), nil
}

func (m *memStrikes) clear(_ context.Context, key string, keep func(strike) bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.recs[key]; s != nil && !keep(*s) {
		delete(m.recs, key)
	}
	return nil
}

// sqlStrikes keeps failure records in the login_strikes table, shared by
// every node of a cluster on PostgreSQL. An update locks its row (FOR
// UPDATE), so two nodes counting failures of one account at once both count.
type sqlStrikes struct {
	st     *store.Store
	window time.Duration
	now    func() time.Time
	pruned atomic.Int64 // when records were last pruned (Unix ms)
}

// strikesPruneEvery is how often a node deletes the records nobody has
// failed with for a window.
const strikesPruneEvery = 10 * time.Minute

func (q *sqlStrikes) get(ctx context.Context, keys ...string) (map[string]strike, error) {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := q.st.Query(ctx, `SELECT key, failures, last_failure, locked_until FROM login_strikes WHERE key IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]strike, len(keys))
	for rows.Next() {
		var k string
		var s strike
		var last, locked int64
		if err := rows.Scan(&k, &s.failures, &last, &locked); err != nil {
			return nil, err
		}
		s.last, s.lockedUntil = time.UnixMilli(last), time.UnixMilli(locked)
		out[k] = s
	}
	return out, rows.Err()
}

func (q *sqlStrikes) update(ctx context.Context, key string, fn func(*strike) bool) (bool, error) {
	var result bool
	err := q.st.Tx(ctx, func(tx *store.Tx) error {
		// The row must exist for FOR UPDATE to lock it.
		if _, err := tx.Exec(ctx, `INSERT INTO login_strikes (key, failures, last_failure, locked_until) VALUES (?, 0, 0, 0) ON CONFLICT (key) DO NOTHING`, key); err != nil {
			return err
		}
		var s strike
		var last, locked int64
		lock := " FOR UPDATE"
		if tx.Dialect() != store.Postgres {
			lock = ""
		}
		err := tx.QueryRow(ctx, `SELECT failures, last_failure, locked_until FROM login_strikes WHERE key = ?`+lock, key).Scan(&s.failures, &last, &locked)
		if err != nil {
			return err
		}
		if last != 0 {
			s.last = time.UnixMilli(last)
		}
		if locked != 0 {
			s.lockedUntil = time.UnixMilli(locked)
		}
		result = fn(&s)
		_, err = tx.Exec(ctx, `UPDATE login_strikes SET failures = ?, last_failure = ?, locked_until = ? WHERE key = ?`,
			s.failures, s.last.UnixMilli(), lockedMillis(s.lockedUntil), key)
		if err != nil {
			return err
		}
		now := q.now()
		if last := q.pruned.Load(); now.UnixMilli()-last > strikesPruneEvery.Milliseconds() && q.pruned.CompareAndSwap(last, now.UnixMilli()) {
			_, err = tx.Exec(ctx, `DELETE FROM login_strikes WHERE last_failure < ? AND locked_until < ?`, now.Add(-q.window).UnixMilli(), now.UnixMilli())
		}
		return err
	})
	return result, err
}

func (q *sqlStrikes) clear(ctx context.Context, key string, keep func(strike) bool) error {
	var locked int64
	err := q.st.QueryRow(ctx, `SELECT locked_until FROM login_strikes WHERE key = ?`, key).Scan(&locked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if keep(strike{lockedUntil: time.UnixMilli(locked)}) {
		return nil
	}
	if _, err := q.st.Exec(ctx, `DELETE FROM login_strikes WHERE key = ? AND locked_until = ?`, key, locked); err != nil {
		return fmt.Errorf("delete login failures: %w", err)
	}
	return nil
}

func lockedMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
