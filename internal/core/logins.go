package core

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"sync"
	"time"
)

// LoginPolicy bounds how many secrets may be tried against one account and
// from one network address, for every door and every kind of secret
// (password, e-mailed code, TOTP, recovery code, device credential, LDAP
// bind). The first failures are answered at once; after Free of them, each
// further try must wait a delay that doubles from DelayBase up to DelayMax
// after the last failure, and a try made sooner is refused unchecked (and
// counted). After LockAfter failures the key is locked for Lockout; the
// account's owner is told once per lockout. Failures older than Window are
// forgotten.
//
// A lockout of an account stops the secrets a person can guess (password,
// codes); credentials of 256 random bits (device credentials, pinned
// certificates, Pro Santé Connect tokens) are still checked, because
// guessing them is hopeless, so that an attack cannot shut the owner out:
// their phone and mail client keep working. A lockout of a network address
// refuses everything from it.
type LoginPolicy struct {
	AccountFree, AccountLockAfter int
	AddressFree, AddressLockAfter int
	DelayBase, DelayMax           time.Duration
	Lockout                       time.Duration
	Window                        time.Duration
}

// DefaultLoginPolicy: 5 free failures per account and 20 per address,
// delays from 1 s to 1 min, a 15-minute lockout after 20 failures of an
// account or 100 from an address.
func DefaultLoginPolicy() LoginPolicy {
	return LoginPolicy{
		AccountFree: 5, AccountLockAfter: 20,
		AddressFree: 20, AddressLockAfter: 100,
		DelayBase: time.Second, DelayMax: time.Minute,
		Lockout: 15 * time.Minute, Window: time.Hour,
	}
}

// logins guards secret checks for every door with the LoginPolicy, and it
// remembers recent password successes so that a client reconnecting every
// few seconds (IMAP, SMTP submission) does not pay for an argon2id hash each
// time, as Dovecot's auth cache does. The memory holds an HMAC of the
// password under a key drawn at start, never the password; a password change
// or a disabled account forgets it, on every node (see forgetEverywhere).
//
// The failure counts live in a strikes: this node's memory for a node alone
// (SQLite), or the database's login_strikes table on PostgreSQL, so that
// every node of a cluster counts the same failures and a lockout on one
// holds on all.
type logins struct {
	policy  LoginPolicy
	strikes strikes

	mu  sync.Mutex
	key [32]byte
	ok  map[string]okEntry // login address → proof of a recent success
}

type okEntry struct {
	mac       [32]byte
	accountID int64
	expires   time.Time
}

// strike is the failure record of one account or address.
type strike struct {
	failures    int
	last        time.Time // last failure
	lockedUntil time.Time
}

// strikes keeps the failure records by key ("acct:…", "ip:…").
type strikes interface {
	// get returns the records of keys that have one.
	get(ctx context.Context, keys ...string) (map[string]strike, error)
	// update changes the record of key (the zero strike if it has none)
	// with fn, atomically, and reports what fn reported.
	update(ctx context.Context, key string, fn func(*strike) bool) (bool, error)
	// clear removes the record of key when keep reports false for it.
	clear(ctx context.Context, key string, keep func(strike) bool) error
}

// verdict is what the guard says before a secret is checked.
type verdict int

const (
	allowed      verdict = iota
	tooSoon              // within a growing delay
	lockedOut            // in a lockout
	addressBlock         // the network address is delayed or locked
)

const okTTL = 5 * time.Minute

func newLogins(p LoginPolicy, st strikes) *logins {
	l := &logins{policy: p, strikes: st, ok: map[string]okEntry{}}
	if _, err := rand.Read(l.key[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return l
}

// check says whether a try of a secret of this kind may be checked now.
// guessable is false for 256-bit credentials, which an account's lockout
// does not stop.
func (l *logins) check(ctx context.Context, address, remote string, guessable bool, now time.Time) (verdict, error) {
	ip, acct := "ip:"+host(remote), "acct:"+address
	keys := []string{ip}
	if guessable {
		keys = append(keys, acct)
	}
	recs, err := l.strikes.get(ctx, keys...)
	if err != nil {
		return allowed, fmt.Errorf("read login failures: %w", err)
	}
	p := l.policy
	if l.state(recs, ip, p.AddressFree, now) != allowed {
		return addressBlock, nil
	}
	if !guessable {
		return allowed, nil
	}
	return l.state(recs, acct, p.AccountFree, now), nil
}

func (l *logins) state(recs map[string]strike, key string, free int, now time.Time) verdict {
	s, ok := recs[key]
	if !ok {
		return allowed
	}
	if now.Before(s.lockedUntil) {
		return lockedOut
	}
	if s.failures < free {
		return allowed
	}
	if now.Before(s.last.Add(l.delay(s.failures - free))) {
		return tooSoon
	}
	return allowed
}

// delay is the wait after the n-th failure past the free ones.
func (l *logins) delay(n int) time.Duration {
	d := l.policy.DelayBase
	for i := 0; i < n && d < l.policy.DelayMax; i++ {
		d *= 2
	}
	return min(d, l.policy.DelayMax)
}

// failed counts a failure of the account and of the address. It reports
// whether this failure started a lockout of the account, so that its owner
// is told once.
func (l *logins) failed(ctx context.Context, address, remote string, now time.Time) (accountLocked bool, err error) {
	p := l.policy
	if _, err := l.strikes.update(ctx, "ip:"+host(remote), func(s *strike) bool { return l.strike(s, p.AddressLockAfter, now) }); err != nil {
		return false, fmt.Errorf("count login failure: %w", err)
	}
	locked, err := l.strikes.update(ctx, "acct:"+address, func(s *strike) bool { return l.strike(s, p.AccountLockAfter, now) })
	if err != nil {
		return false, fmt.Errorf("count login failure: %w", err)
	}
	return locked, nil
}

// strike counts one failure in s; it reports whether it started a lockout.
func (l *logins) strike(s *strike, lockAfter int, now time.Time) bool {
	if now.Sub(s.last) > l.policy.Window && now.After(s.lockedUntil) {
		*s = strike{}
	}
	if now.Before(s.lockedUntil) {
		s.last = now
		return false
	}
	s.failures++
	s.last = now
	if s.failures >= lockAfter {
		// The lockout starts; once it ends, counting starts afresh.
		s.lockedUntil = now.Add(l.policy.Lockout)
		s.failures = 0
		return true
	}
	return false
}

// succeeded gives the account its failures back; the address keeps its count,
// so one good password does not reopen guessing on others. A lockout stays
// until it ends.
func (l *logins) succeeded(ctx context.Context, address string, now time.Time) error {
	err := l.strikes.clear(ctx, "acct:"+address, func(s strike) bool { return now.Before(s.lockedUntil) })
	if err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
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
