package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Code is a stored one-time code: only its keyed hash is kept.
type Code struct {
	Key     string    // what the code proves, such as a pending session id
	Hash    string    // hex HMAC-SHA256 of the code under the Codes pepper and Salt
	Salt    string    // hex random salt
	Created time.Time // when it was issued
	Expires time.Time // when it stops working
	Tries   int       // checks made so far, counted before comparing
}

// CodeStore keeps one code per key. AddCodeTry must increment and return in
// one step so that concurrent checks cannot exceed the try limit.
type CodeStore interface {
	PutCode(ctx context.Context, c Code) error
	GetCode(ctx context.Context, key string) (Code, error)
	AddCodeTry(ctx context.Context, key string) (Code, error)
	DeleteCode(ctx context.Context, key string) error
}

// Errors of one-time codes. Doors show one message for all of them.
var (
	ErrNotFound    = errors.New("auth: not found")
	ErrCodeWrong   = errors.New("auth: wrong code")
	ErrCodeExpired = errors.New("auth: code expired or used up")
	ErrCodeTooSoon = errors.New("auth: code sent too recently")
)

// Codes issues and checks 6-digit codes that are e-mailed to a user.
type Codes struct {
	Store    CodeStore
	Pepper   []byte        // secret mixed into every hash; the same on every node
	TTL      time.Duration // life of a code; 10 minutes if zero
	MaxTries int           // checks allowed per code; 5 if zero
	Resend   time.Duration // minimum time between two codes for one key; 30 seconds if zero
	Now      func() time.Time
}

// Issue makes a new code for key, replacing any earlier one, and returns it
// in clear for the caller to send. It fails with ErrCodeTooSoon when the
// previous code for key is younger than the resend interval.
func (c *Codes) Issue(ctx context.Context, key string) (string, error) {
	now := c.now()
	old, err := c.Store.GetCode(ctx, key)
	switch {
	case err == nil && now.Sub(old.Created) < c.resend():
		return "", ErrCodeTooSoon
	case err != nil && !errors.Is(err, ErrNotFound):
		return "", fmt.Errorf("auth: read code: %w", err)
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("auth: draw code: %w", err)
	}
	code := fmt.Sprintf("%06d", n.Int64())
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: code salt: %w", err)
	}
	rec := Code{Key: key, Salt: hex.EncodeToString(salt), Created: now, Expires: now.Add(c.ttl())}
	rec.Hash = c.hash(rec.Salt, code)
	if err := c.Store.PutCode(ctx, rec); err != nil {
		return "", fmt.Errorf("auth: store code: %w", err)
	}
	return code, nil
}

// Check verifies code for key. A right code is consumed; a wrong one uses up
// a try. It returns nil, ErrCodeWrong or ErrCodeExpired (also for a key that
// has no code, or whose tries are spent).
func (c *Codes) Check(ctx context.Context, key, code string) error {
	rec, err := c.Store.AddCodeTry(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return ErrCodeExpired
	}
	if err != nil {
		return fmt.Errorf("auth: count code try: %w", err)
	}
	if rec.Tries > c.maxTries() || !c.now().Before(rec.Expires) {
		if err := c.Store.DeleteCode(ctx, key); err != nil {
			return fmt.Errorf("auth: drop code: %w", err)
		}
		return ErrCodeExpired
	}
	if subtle.ConstantTimeCompare([]byte(c.hash(rec.Salt, code)), []byte(rec.Hash)) != 1 {
		return ErrCodeWrong
	}
	if err := c.Store.DeleteCode(ctx, key); err != nil {
		return fmt.Errorf("auth: consume code: %w", err)
	}
	return nil
}

func (c *Codes) hash(salt, code string) string {
	m := hmac.New(sha256.New, c.Pepper)
	m.Write([]byte(salt))
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

func (c *Codes) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Codes) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return 10 * time.Minute
}

func (c *Codes) maxTries() int {
	if c.MaxTries > 0 {
		return c.MaxTries
	}
	return 5
}

func (c *Codes) resend() time.Duration {
	if c.Resend > 0 {
		return c.Resend
	}
	return 30 * time.Second
}
