package core

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net"
	"sync"
	"time"
)

// logins guards password checks for every door. It refuses, for a while,
// accounts and remote addresses that failed too often, and it remembers recent
// successes so that a client reconnecting every few seconds (IMAP, SMTP
// submission) does not pay for an argon2id hash each time, as Dovecot's auth
// cache does. The memory holds an HMAC of the password under a key drawn at
// start, never the password; a password change or a disabled account forgets it.
type logins struct {
	mu       sync.Mutex
	key      [32]byte
	ok       map[string]okEntry // login address → proof of a recent success
	failures map[string]*bucket // "acct:…" or "ip:…" → failures left
}

type okEntry struct {
	mac       [32]byte
	accountID int64
	expires   time.Time
}

// bucket is a token bucket of allowed failures.
type bucket struct {
	tokens float64
	at     time.Time
}

const (
	// okTTL is how long a successful password check is remembered.
	okTTL = 5 * time.Minute
	// failureBurst failures are allowed in a row; one more comes back every
	// failureEvery.
	failureBurst = 10
	failureEvery = 30 * time.Second
)

func newLogins() *logins {
	l := &logins{ok: map[string]okEntry{}, failures: map[string]*bucket{}}
	if _, err := rand.Read(l.key[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return l
}

// blocked tells whether the account or the remote address has no failure left.
func (l *logins) blocked(address, remote string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tokens("acct:"+address, now) < 1 || l.tokens("ip:"+host(remote), now) < 1
}

// failed spends a failure of the account and of the remote address.
func (l *logins) failed(address, remote string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) > 100000 {
		for k, b := range l.failures {
			if now.Sub(b.at) > failureBurst*failureEvery {
				delete(l.failures, k)
			}
		}
	}
	for _, k := range []string{"acct:" + address, "ip:" + host(remote)} {
		t := l.tokens(k, now)
		l.failures[k] = &bucket{tokens: t - 1, at: now}
	}
}

// succeeded gives the account its failures back; the address keeps its count,
// so one good password does not reopen guessing on others.
func (l *logins) succeeded(address string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, "acct:"+address)
}

func (l *logins) tokens(key string, now time.Time) float64 {
	b, ok := l.failures[key]
	if !ok {
		return failureBurst
	}
	return min(failureBurst, b.tokens+now.Sub(b.at).Seconds()/failureEvery.Seconds())
}

// remembered returns the account of a recent successful login with this very
// password, if any.
func (l *logins) remembered(address, password string, now time.Time) (int64, bool) {
	mac := l.mac(address, password)
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.ok[address]
	if !ok || now.After(e.expires) || !hmac.Equal(e.mac[:], mac[:]) {
		return 0, false
	}
	return e.accountID, true
}

func (l *logins) remember(address, password string, accountID int64, now time.Time) {
	mac := l.mac(address, password)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ok) > 100000 {
		for k, e := range l.ok {
			if now.After(e.expires) {
				delete(l.ok, k)
			}
		}
	}
	l.ok[address] = okEntry{mac: mac, accountID: accountID, expires: now.Add(okTTL)}
}

func (l *logins) forget(address string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.ok, address)
}

func (l *logins) mac(address, password string) [32]byte {
	m := hmac.New(sha256.New, l.key[:])
	m.Write([]byte(address))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

func host(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}
