package auth

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSessions(t *testing.T) {
	tests := []struct {
		name    string
		pending bool
		steps   []time.Duration // waits between uses
		want    error           // of the last use
	}{
		{"used within idle", false, []time.Duration{29 * time.Minute}, nil},
		{"idle timeout", false, []time.Duration{30 * time.Minute}, ErrSessionExpired},
		{"kept alive by use", false, []time.Duration{20 * time.Minute, 20 * time.Minute, 20 * time.Minute}, nil},
		{"absolute timeout", false, repeat(25*time.Minute, 29), ErrSessionExpired},
		{"pending within limit", true, []time.Duration{9 * time.Minute}, nil},
		{"pending expires", true, []time.Duration{10 * time.Minute}, ErrSessionExpired},
	}
	for name, open := range stores() {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				c := newClock()
				m := &Sessions{Store: open(t), Now: c.Now}
				token, s, err := m.Create(ctx, "alice", tt.pending, "192.0.2.1")
				if err != nil {
					t.Fatal(err)
				}
				if s.ID == token || s.ID != TokenID(token) {
					t.Fatal("the session is keyed by its token in clear")
				}
				for _, wait := range tt.steps {
					c.Add(wait)
					s, err = m.Get(ctx, token)
				}
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if err == nil && (s.Account != "alice" || s.Pending != tt.pending || s.Remote != "192.0.2.1") {
					t.Fatalf("session = %+v", s)
				}
			})
		}
	}
}

func TestSessionPromoteAndDelete(t *testing.T) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			st := open(t)
			m := &Sessions{Store: st, Now: c.Now}
			pendingToken, pending, err := m.Create(ctx, "alice", true, "")
			if err != nil {
				t.Fatal(err)
			}
			token, s, err := m.Promote(ctx, pending, "")
			if err != nil {
				t.Fatal(err)
			}
			if token == pendingToken || s.Pending {
				t.Fatal("promotion kept the token or the pending state")
			}
			if _, err := m.Get(ctx, pendingToken); !errors.Is(err, ErrSessionExpired) {
				t.Fatalf("pending token after promotion: err = %v", err)
			}
			if _, err := m.Get(ctx, token); err != nil {
				t.Fatalf("promoted token: %v", err)
			}
			other, _, err := m.Create(ctx, "alice", false, "")
			if err != nil {
				t.Fatal(err)
			}
			bob, _, err := m.Create(ctx, "bob", false, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Delete(ctx, token); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Get(ctx, token); !errors.Is(err, ErrSessionExpired) {
				t.Fatalf("after logout: err = %v", err)
			}
			if err := st.DeleteAccountSessions(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Get(ctx, other); !errors.Is(err, ErrSessionExpired) {
				t.Fatalf("after logging out everywhere: err = %v", err)
			}
			c.Add(31 * time.Minute)
			if err := m.Purge(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := st.GetSession(ctx, TokenID(bob)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("idle session survived the purge: err = %v", err)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = d
	}
	return s
}
