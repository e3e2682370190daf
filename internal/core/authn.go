package core

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"caduceus/internal/auth"
	"caduceus/internal/store"
)

// Method names how a person proved who they are, in the audit trail and on
// their actor.
type Method string

// The ways into an account.
const (
	MethodPassword    Method = "password"    // the account password (argon2id)
	MethodDevice      Method = "device"      // a device credential (PLAIN/LOGIN)
	MethodCertificate Method = "certificate" // a client certificate pinned to a mailbox (SASL EXTERNAL)
	MethodBearer      Method = "psc-token"   // a Pro Santé Connect access token (OAUTHBEARER, XOAUTH2)
	MethodCode        Method = "code"        // an e-mailed one-time code
	MethodTOTP        Method = "totp"        // a TOTP code
	MethodRecovery    Method = "recovery"    // a recovery code
)

// guessable tells whether a person could guess the secret of this method
// online: an account's lockout stops those, not 256-bit credentials.
func (m Method) guessable() bool {
	switch m {
	case MethodDevice, MethodCertificate, MethodBearer:
		return false
	}
	return true
}

// BearerVerifier checks an OAuth 2.0 access token with the identity provider
// that issued it (Pro Santé Connect) and returns the account the
// professional it was issued to linked to it (auth.PSCBearer).
type BearerVerifier interface {
	VerifyBearer(ctx context.Context, token string) (accountID int64, err error)
}

// MailCredentials is what a mail client presents to IMAP or SMTP submission.
type MailCredentials struct {
	Door      string // imap, submission, submissions
	Remote    string // the client's network address
	UserAgent string // what the client says it is (IMAP ID), for the trail
	// Mechanism is the SASL mechanism: PLAIN or LOGIN (IMAP LOGIN too),
	// EXTERNAL, OAUTHBEARER or XOAUTH2.
	Mechanism string
	// Username is the login address; for EXTERNAL and OAUTHBEARER the
	// authorisation identity, which may be empty.
	Username string
	// Secret is the password or device credential (PLAIN, LOGIN), or the
	// access token (OAUTHBEARER, XOAUTH2).
	Secret string
	// Certificate is the client certificate of the TLS connection (EXTERNAL).
	Certificate *x509.Certificate
}

// ErrDeviceRequired: a mail client offered the bare account password where
// the configuration accepts device credentials only. The door says so,
// whether or not the account exists (the password is not checked).
var ErrDeviceRequired = errors.New("the account password is not accepted by mail clients: enrol a device in the web app (Sécurité, Appareils mobiles) and use its credential")

// MailLogin is the one login of the mail doors: it checks a device
// credential, an account password (when Options.AccountPasswordForMail
// allows it), a client certificate pinned to a mailbox or a Pro Santé Connect
// token, through the guard that counts failures per account and per network
// address for every door, and traces every attempt. Failures are ErrAuth
// whatever the reason, ErrTooManyAttempts during delays and lockouts, or
// ErrDeviceRequired.
func (s *Service) MailLogin(ctx context.Context, c MailCredentials) (Actor, error) {
	att := attempt{door: c.Door, remote: c.Remote, userAgent: c.UserAgent, address: strings.ToLower(strings.TrimSpace(c.Username))}
	switch strings.ToUpper(c.Mechanism) {
	case "PLAIN", "LOGIN":
		if auth.IsDeviceToken(c.Secret) {
			att.method = MethodDevice
			return s.guarded(ctx, att, func(ctx context.Context) (verified, error) { return s.checkDevice(ctx, att, c.Secret) })
		}
		att.method = MethodPassword
		if !s.opts.AccountPasswordForMail {
			s.traceLogin(ctx, att, Actor{}, ErrDeviceRequired, "account password refused")
			return Actor{}, ErrDeviceRequired
		}
		return s.passwordLogin(ctx, att, c.Secret)
	case "EXTERNAL":
		att.method = MethodCertificate
		return s.guarded(ctx, att, func(ctx context.Context) (verified, error) { return s.checkCertificate(ctx, att, c.Certificate) })
	case "OAUTHBEARER", "XOAUTH2":
		att.method = MethodBearer
		return s.guarded(ctx, att, func(ctx context.Context) (verified, error) { return s.checkBearer(ctx, att, c.Secret) })
	}
	return Actor{}, fmt.Errorf("%w: mechanism %s", ErrAuth, c.Mechanism)
}

// GuardedCheck runs a check of a guessable second factor made outside the
// core (an e-mailed code, a TOTP code, a recovery code in the web app)
// through the same guard as every login: delays and lockouts per account
// and per address, shared with every door, one notice to the owner per
// lockout, and the trail. check returns the account the secret proves, or
// an error (ErrAuth for a wrong secret). A refusal or a failure is traced
// here; a success is not, since the door traces the login it completes.
func (s *Service) GuardedCheck(ctx context.Context, door, remote, userAgent, address string, method Method, check func(ctx context.Context) (accountID int64, err error)) (Actor, error) {
	att := attempt{door: door, remote: remote, userAgent: userAgent, address: strings.ToLower(strings.TrimSpace(address)), method: method, factor: true}
	return s.guarded(ctx, att, func(ctx context.Context) (verified, error) {
		id, err := check(ctx)
		if err != nil {
			return verified{}, err
		}
		a, err := s.Account(ctx, id)
		if err != nil {
			return verified{}, err
		}
		return verified{accountID: a.ID, address: a.Address, disabled: a.Disabled}, nil
	})
}

// attempt is one try at logging in.
type attempt struct {
	door, remote, userAgent, address string
	method                           Method
	factor                           bool // a second factor: its success is the door's to trace
}

// verified is who a secret proved, before the account's state is checked.
type verified struct {
	accountID  int64
	address    string
	disabled   bool
	credential string // "device:12", "cert:<fingerprint>"…
}

// guarded checks one secret through the guard: refused unchecked in a delay
// or lockout, counted when wrong, traced either way.
func (s *Service) guarded(ctx context.Context, att attempt, check func(context.Context) (verified, error)) (Actor, error) {
	now := s.now()
	v, err := s.logins.check(ctx, att.address, att.remote, att.method.guessable(), now)
	if err != nil {
		return Actor{}, err
	}
	if v != allowed {
		s.fail(ctx, att, now)
		s.traceLogin(ctx, att, Actor{}, ErrTooManyAttempts, blockReason(v))
		return Actor{}, ErrTooManyAttempts
	}
	who, err := check(ctx)
	if err == nil && who.disabled {
		err = ErrDisabled
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return Actor{}, err
		}
		s.fail(ctx, att, now)
		s.traceLogin(ctx, att, Actor{}, ErrAuth, reasonOf(err))
		return Actor{}, ErrAuth
	}
	if att.method.guessable() {
		if err := s.logins.succeeded(ctx, att.address, now); err != nil {
			return Actor{}, err
		}
	}
	actor := Actor{AccountID: who.accountID, Address: who.address, Door: att.door, Remote: att.remote, Method: att.method, Credential: who.credential}
	if att.factor {
		return actor, nil
	}
	if err := s.traceLogin(ctx, att, actor, nil, ""); err != nil {
		return Actor{}, err
	}
	return actor, nil
}

// fail counts a failure and, when it starts a lockout of the account, tells
// the owner (in the background, so that the answer takes no longer than for
// an address that has no account).
func (s *Service) fail(ctx context.Context, att attempt, now time.Time) {
	locked, err := s.logins.failed(ctx, att.address, att.remote, now)
	if err != nil {
		s.log.Error("login failure not counted", "err", err)
		return
	}
	if !locked {
		return
	}
	until := now.Add(s.opts.LoginPolicy.Lockout)
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := s.sendLockoutNotice(nctx, att.address, until); err != nil {
			s.log.Warn("lockout notice not sent", "err", err)
		}
	}()
}

func blockReason(v verdict) string {
	switch v {
	case tooSoon:
		return "delayed after failures"
	case lockedOut:
		return "account locked out"
	}
	return "address locked out"
}

// reasonOf is the content-free reason a check failed, for the trail only:
// doors answer ErrAuth whatever it is.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, ErrDisabled):
		return "account disabled"
	case errors.Is(err, errUnknownCredential):
		return "unknown credential"
	case errors.Is(err, errCertExpired):
		return "certificate expired"
	case errors.Is(err, errNoBearer):
		return "no token verifier configured"
	}
	return "wrong secret"
}

var (
	errUnknownCredential = errors.New("unknown credential")
	errCertExpired       = errors.New("certificate expired or not yet valid")
	errNoBearer          = errors.New("no bearer token verifier")
)

// traceLogin writes one authentication event: door, address, method,
// result and the client's user agent.
func (s *Service) traceLogin(ctx context.Context, att attempt, actor Actor, err error, reason string) error {
	a := actor
	if a.Address == "" {
		a = Actor{Address: att.address, Door: att.door, Remote: att.remote}
	}
	detail := "method=" + string(att.method)
	if actor.Credential != "" {
		detail += " credential=" + actor.Credential
	}
	if ua := cleanUserAgent(att.userAgent); ua != "" {
		detail += " ua=" + strconv.Quote(ua)
	}
	if reason != "" {
		detail += " reason=" + strconv.Quote(reason)
	}
	e := a.audit("login", a.Address, err, detail)
	if err != nil {
		e.Result = "failed"
	}
	// Through the group committer: logins arriving together share one
	// transaction and one sync, each still durable before it is answered.
	return s.write(ctx, func(tx *store.Tx) error { return s.audit.Record(ctx, tx, e) }, noEvents)
}

// cleanUserAgent keeps a short, printable user agent.
func cleanUserAgent(ua string) string {
	ua = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, ua)
	if len(ua) > 120 {
		ua = ua[:120]
	}
	return ua
}

// Login checks an account password, for the web app and the LDAP bind, and
// returns the actor to use for the rest of the session. Every failure is the
// same ErrAuth, whether the account exists or not, and is traced. After
// repeated failures of an account or from an address, the core delays and
// then refuses further tries with ErrTooManyAttempts, for every door (see
// LoginPolicy).
func (s *Service) Login(ctx context.Context, door, remote, address, password string) (Actor, error) {
	att := attempt{door: door, remote: remote, address: strings.ToLower(strings.TrimSpace(address)), method: MethodPassword}
	return s.passwordLogin(ctx, att, password)
}

func (s *Service) passwordLogin(ctx context.Context, att attempt, password string) (Actor, error) {
	return s.guarded(ctx, att, func(ctx context.Context) (verified, error) {
		now := s.now()
		if id, ok := s.logins.remembered(att.address, password, now); ok {
			a, err := s.Account(ctx, id)
			if err == nil {
				return verified{accountID: a.ID, address: a.Address, disabled: a.Disabled, credential: "password"}, nil
			}
			s.logins.forget(att.address)
		}
		a, hash, err := s.credentials(ctx, att.address)
		if err != nil {
			// Spend the same time as a real check, so timing tells nothing.
			hash = dummyHash()
		}
		ok, verr := s.verifyPassword(ctx, hash, password)
		if err == nil {
			err = verr
		}
		if err == nil && !ok {
			err = ErrAuth
		}
		if err != nil {
			return verified{}, err
		}
		if !a.Disabled {
			s.logins.remember(a.Address, password, a.ID, now)
		}
		return verified{accountID: a.ID, address: a.Address, disabled: a.Disabled, credential: "password"}, nil
	})
}

// checkBearer verifies a Pro Santé Connect access token and finds the
// account it is linked to. A given login address must be that account's.
func (s *Service) checkBearer(ctx context.Context, att attempt, token string) (verified, error) {
	if s.opts.Bearer == nil {
		return verified{}, errNoBearer
	}
	id, err := s.opts.Bearer.VerifyBearer(ctx, token)
	if err != nil {
		return verified{}, fmt.Errorf("%w: %w", ErrAuth, err)
	}
	v, err := s.lookupAccountState(ctx, id)
	if err != nil {
		return verified{}, err
	}
	if att.address != "" && att.address != v.address {
		return verified{}, errUnknownCredential
	}
	v.credential = "psc"
	return v, nil
}

// lookupAccountState reads an account's address and state by id.
func (s *Service) lookupAccountState(ctx context.Context, id int64) (verified, error) {
	var v verified
	var disabled int
	err := s.st.QueryRow(ctx, `SELECT id, address, disabled FROM accounts WHERE id = ?`, id).Scan(&v.accountID, &v.address, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return verified{}, errUnknownCredential
	}
	v.disabled = disabled != 0
	return v, err
}

// BearerEnabled tells whether Pro Santé Connect tokens are accepted, so that
// doors offer OAUTHBEARER and XOAUTH2 only then.
func (s *Service) BearerEnabled() bool { return s.opts.Bearer != nil }
