package core

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"caduceus/internal/store"
)

// revokedChannel carries revoked credentials between the nodes of a
// cluster ("node|device:12"), so that a device revoked on one node loses
// its IMAP connections on every other.
const revokedChannel = "caduceus_revoked"

// revocations fans revoked credentials out to the doors of this node.
type revocations struct {
	mu   sync.Mutex
	subs map[chan string]struct{}
}

func newRevocations() *revocations { return &revocations{subs: map[chan string]struct{}{}} }

// WatchRevocations returns the credentials revoked from now on, as an
// Actor's Credential names them ("device:12", "cert:<fingerprint>"), on
// this node or any other; a door closes the connections that logged in with
// one. stop ends the watch.
func (s *Service) WatchRevocations() (c <-chan string, stop func()) {
	ch := make(chan string, 64)
	r := s.revoked
	r.mu.Lock()
	r.subs[ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.subs[ch]; ok {
			delete(r.subs, ch)
			close(ch)
		}
	}
}

// publish tells this node's doors; a full subscriber waits briefly rather
// than miss a revocation.
func (r *revocations) publish(cred string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.subs {
		select {
		case ch <- cred:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// notifyRevoked tells the other processes when tx commits: through NOTIFY on
// PostgreSQL, through the revocations table on SQLite, where an operator
// command (caduceus device revoke) runs beside the server on one file.
func (s *Service) notifyRevoked(ctx context.Context, tx *store.Tx, cred string) error {
	if tx.Dialect() == store.Postgres {
		if _, err := tx.Exec(ctx, `SELECT pg_notify(?, ?)`, revokedChannel, s.node+"|"+cred); err != nil {
			return fmt.Errorf("notify other nodes: %w", err)
		}
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO revocations (node, credential, at) VALUES (?, ?, ?)`, s.node, cred, s.nowMillis()); err != nil {
		return fmt.Errorf("note revocation: %w", err)
	}
	return nil
}

// revocationPoll is how often a SQLite node reads the revocations other
// processes wrote: well under the second a revoked device may keep its
// connections.
const revocationPoll = 200 * time.Millisecond

// pollRevocations publishes the revocations other processes write to a
// SQLite store, until ctx ends, and forgets those older than a day.
func (s *Service) pollRevocations(ctx context.Context) {
	var last int64
	if err := s.st.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM revocations`).Scan(&last); err != nil {
		s.log.Warn("revocations: read", "err", err)
	}
	t := time.NewTicker(revocationPoll)
	defer t.Stop()
	pruned := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		last = s.readRevocations(ctx, last)
		if time.Since(pruned) > time.Hour {
			pruned = time.Now()
			if _, err := s.st.Exec(ctx, `DELETE FROM revocations WHERE at < ?`, s.now().Add(-24*time.Hour).UnixMilli()); err != nil {
				s.log.Warn("revocations: prune", "err", err)
			}
		}
	}
}

func (s *Service) readRevocations(ctx context.Context, after int64) int64 {
	rows, err := s.st.Query(ctx, `SELECT id, node, credential FROM revocations WHERE id > ? ORDER BY id`, after)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("revocations: read", "err", err)
		}
		return after
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var node, cred string
		if err := rows.Scan(&id, &node, &cred); err != nil {
			s.log.Warn("revocations: read", "err", err)
			return after
		}
		after = id
		if node != s.node {
			s.heard(cred)
		}
	}
	return after
}

// hearRevoked handles another node's revocation.
func (s *Service) hearRevoked(payload string) {
	node, cred, ok := strings.Cut(payload, "|")
	if ok && node != s.node && cred != "" {
		s.heard(cred)
	}
}

// heard handles a credential another process revoked. "account:ADDR" says
// an account's password changed or the account was disabled: the proof of
// its recent password login kept here is forgotten too, so that the old
// password stops working at once on every node. The doors then close what
// logged in with the credential.
func (s *Service) heard(cred string) {
	if addr, ok := strings.CutPrefix(cred, "account:"); ok {
		s.logins.forget(addr)
	}
	s.revoked.publish(cred)
}
