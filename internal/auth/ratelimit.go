package auth

import (
	"sync"
	"time"
)

// Limiter is a token bucket per key: each key may spend Burst tokens at
// once and earns one back every Every. A key that has spent its burst is
// locked out until a token comes back. Doors keep one Limiter per thing
// they protect (password tries, code tries, code resends) and call it with
// keys such as "acct:"+address and "ip:"+address.
//
// The zero value is not usable; use NewLimiter. A Limiter is safe for
// concurrent use. Its buckets live in memory, so in a cluster each node
// counts on its own: a node sees at most Burst tries per key and period.
type Limiter struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter that allows burst events per key at once and
// one more every every.
func NewLimiter(burst int, every time.Duration) *Limiter {
	return &Limiter{burst: float64(burst), every: every, now: time.Now, buckets: make(map[string]*bucket)}
}

// Allow spends a token of key and reports whether one was there.
func (l *Limiter) Allow(key string) bool {
	ok, _ := l.Reserve(key)
	return ok
}

// Reserve spends a token of key if one is there. When none is, it reports
// false and how long until the next token.
func (l *Limiter) Reserve(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	b := l.refill(key, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.every))
}

// Reset forgets key, giving it a full bucket again.
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

func (l *Limiter) refill(key string, now time.Time) *bucket {
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
		return b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+float64(elapsed)/float64(l.every))
		b.at = now
	}
	return b
}

// sweep drops full buckets now and then so that the map holds only keys
// that were used recently.
func (l *Limiter) sweep(now time.Time) {
	full := l.every * time.Duration(l.burst)
	if now.Sub(l.swept) < full {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
}
