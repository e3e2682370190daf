package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Session is a server-side login. The browser holds only a random token;
// the store keys the session by the token's SHA-256, so a leaked table
// cannot be replayed.
type Session struct {
	ID      string    // hex SHA-256 of the token
	Account string    // the account that logged in
	Pending bool      // password checked, second factor still due
	Created time.Time // start, for the absolute timeout
	Seen    time.Time // last use, for the idle timeout
	Remote  string    // client address at creation, for the trace
}

// SessionStore persists sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, id string) (Session, error)
	TouchSession(ctx context.Context, id string, seen time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteAccountSessions(ctx context.Context, account string) error
	DeleteSessionsBefore(ctx context.Context, created, seen time.Time) error
}

// ErrSessionExpired reports a token that names no live session.
var ErrSessionExpired = errors.New("auth: session expired")

// Sessions creates and checks sessions.
type Sessions struct {
	Store    SessionStore
	Idle     time.Duration // idle timeout; 30 minutes if zero
	Absolute time.Duration // absolute timeout; 12 hours if zero
	Pending  time.Duration // life of a session awaiting its second factor; 10 minutes if zero
	Now      func() time.Time
}

// Create starts a session for account and returns the token to hand to
// the client along with the session.
func (m *Sessions) Create(ctx context.Context, account string, pending bool, remote string) (string, Session, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Session{}, fmt.Errorf("auth: session token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	now := m.now()
	s := Session{ID: TokenID(token), Account: account, Pending: pending, Created: now, Seen: now, Remote: remote}
	if err := m.Store.CreateSession(ctx, s); err != nil {
		return "", Session{}, fmt.Errorf("auth: create session: %w", err)
	}
	return token, s, nil
}

// Get returns the live session of token and records its use. An unknown,
// idle or too old session gives ErrSessionExpired (and is deleted).
func (m *Sessions) Get(ctx context.Context, token string) (Session, error) {
	if token == "" {
		return Session{}, ErrSessionExpired
	}
	id := TokenID(token)
	s, err := m.Store.GetSession(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Session{}, ErrSessionExpired
	}
	if err != nil {
		return Session{}, fmt.Errorf("auth: read session: %w", err)
	}
	now := m.now()
	if m.expired(s, now) {
		if err := m.Store.DeleteSession(ctx, id); err != nil {
			return Session{}, fmt.Errorf("auth: drop session: %w", err)
		}
		return Session{}, ErrSessionExpired
	}
	// Writing on every request would cost a commit per page; a minute of
	// slack on a 30-minute idle timeout is invisible to the user.
	if now.Sub(s.Seen) >= time.Minute {
		if err := m.Store.TouchSession(ctx, id, now); err != nil {
			return Session{}, fmt.Errorf("auth: touch session: %w", err)
		}
		s.Seen = now
	}
	return s, nil
}

// Promote ends a pending session and starts a full one for the same
// account with a new token, so that a token seen before the second factor
// is worth nothing after it.
func (m *Sessions) Promote(ctx context.Context, pending Session, remote string) (string, Session, error) {
	if err := m.Store.DeleteSession(ctx, pending.ID); err != nil {
		return "", Session{}, fmt.Errorf("auth: drop pending session: %w", err)
	}
	return m.Create(ctx, pending.Account, false, remote)
}

// Delete ends the session of token.
func (m *Sessions) Delete(ctx context.Context, token string) error {
	if err := m.Store.DeleteSession(ctx, TokenID(token)); err != nil {
		return fmt.Errorf("auth: delete session: %w", err)
	}
	return nil
}

// Purge deletes every session past its idle or absolute timeout. Pending
// sessions are shorter than both, so their own limit is checked at Get.
func (m *Sessions) Purge(ctx context.Context) error {
	now := m.now()
	if err := m.Store.DeleteSessionsBefore(ctx, now.Add(-m.absolute()), now.Add(-m.idle())); err != nil {
		return fmt.Errorf("auth: purge sessions: %w", err)
	}
	return nil
}

// TokenID returns the store key of a session token.
func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (m *Sessions) expired(s Session, now time.Time) bool {
	if s.Pending {
		return now.Sub(s.Created) >= m.pending()
	}
	return now.Sub(s.Seen) >= m.idle() || now.Sub(s.Created) >= m.absolute()
}

func (m *Sessions) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Sessions) idle() time.Duration {
	if m.Idle > 0 {
		return m.Idle
	}
	return 30 * time.Minute
}

func (m *Sessions) absolute() time.Duration {
	if m.Absolute > 0 {
		return m.Absolute
	}
	return 12 * time.Hour
}

func (m *Sessions) pending() time.Duration {
	if m.Pending > 0 {
		return m.Pending
	}
	return 10 * time.Minute
}
