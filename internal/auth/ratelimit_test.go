package auth

import (
	"testing"
	"time"
)

// clock is a settable time source for tests.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time      { return c.t }
func (c *clock) Add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func TestLimiter(t *testing.T) {
	c := newClock()
	l := NewLimiter(3, time.Minute)
	l.now = c.Now
	steps := []struct {
		advance time.Duration
		key     string
		want    bool
	}{
		{0, "acct:a", true},
		{0, "acct:a", true},
		{0, "acct:a", true},
		{0, "acct:a", false}, // burst spent: locked out
		{0, "acct:b", true},  // another key is not affected
		{30 * time.Second, "acct:a", false},
		{30 * time.Second, "acct:a", true}, // one token back after a minute
		{0, "acct:a", false},
		{time.Hour, "acct:a", true}, // refills, capped at the burst
		{0, "acct:a", true},
		{0, "acct:a", true},
		{0, "acct:a", false},
	}
	for i, s := range steps {
		c.Add(s.advance)
		if got := l.Allow(s.key); got != s.want {
			t.Fatalf("step %d: Allow(%q) = %v, want %v", i, s.key, got, s.want)
		}
	}
	ok, wait := l.Reserve("acct:a")
	if ok || wait <= 0 || wait > time.Minute {
		t.Fatalf("Reserve = %v, %v; want false and a wait up to a minute", ok, wait)
	}
	l.Reset("acct:a")
	if !l.Allow("acct:a") {
		t.Fatal("Reset did not give a full bucket")
	}
}

func TestLimiterSweep(t *testing.T) {
	c := newClock()
	l := NewLimiter(2, time.Second)
	l.now = c.Now
	for i := range 100 {
		l.Allow(string(rune('a' + i%26)))
	}
	c.Add(time.Minute)
	l.Allow("z")
	if n := len(l.buckets); n != 1 {
		t.Fatalf("after a sweep %d buckets remain, want 1", n)
	}
}
