package core

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"caduceus/internal/auth"
	"caduceus/internal/store"
)

// The managers' console (issue 12 item 8) acts on the accounts of the
// domains a person manages. Each method here checks, with mayManageAddress,
// that the actor is the system or a manager of the account's domain, and
// traces what it did.

// ManagedAccount returns the account at address if the actor may manage it.
// The web door uses it before acting on the account's sign-in factors,
// which internal/auth keeps.
func (s *Service) ManagedAccount(ctx context.Context, actor Actor, address string) (Account, error) {
	a, err := s.User(ctx, address)
	if err != nil {
		return Account{}, err
	}
	if err := s.mayManageAddress(ctx, actor, a.Address); err != nil {
		return Account{}, err
	}
	return a, nil
}

// tempAlphabet holds the characters of a generated password: no 0/O, 1/l/I.
const tempAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newTempPassword returns 20 random characters in groups of five, about 116
// bits, easy to read out over the phone.
func newTempPassword() string {
	var b strings.Builder
	for i := range 20 {
		if i > 0 && i%5 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(tempAlphabet[randIndex(len(tempAlphabet))])
	}
	return b.String()
}

// randIndex returns a uniform random index below n (n < 256), by rejection.
func randIndex(n int) int {
	limit := 256 - 256%n
	var c [1]byte
	for {
		rand.Read(c[:])
		if int(c[0]) < limit {
			return int(c[0]) % n
		}
	}
}

// ResetPassword gives the account at address a new password, on behalf of
// a manager of its domain: password when it is set (it must pass the
// password policy), else one generated here, which it returns so that it is
// shown once. Every session and remembered login of the account ends, as
// with SetPassword, and its owner must choose a new password
// (PasswordChangeDue) before anything else at their next web login.
func (s *Service) ResetPassword(ctx context.Context, actor Actor, address, password string) (string, error) {
	a, err := s.ManagedAccount(ctx, actor, address)
	if err != nil {
		return "", err
	}
	detail := "set by manager"
	if password == "" {
		password, detail = newTempPassword(), "generated"
	} else if err := auth.CheckPassword(password, a.Address); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	hash, err := auth.HashPassword(password, auth.DefaultPasswordParams())
	if err != nil {
		return "", err
	}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = ? WHERE id = ?`, hash, a.ID); err != nil {
			return fmt.Errorf("reset password: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM password_resets WHERE account_id = ?`, a.ID); err != nil {
			return fmt.Errorf("reset password: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO password_resets (account_id, at) VALUES (?, ?)`, a.ID, s.nowMillis()); err != nil {
			return fmt.Errorf("reset password: %w", err)
		}
		s.logins.forget(a.Address)
		if err := s.notifyRevoked(ctx, tx, "account:"+a.Address); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("user.passwd.reset", a.Address, nil, detail))
	})
	if err != nil {
		return "", err
	}
	return password, nil
}

// PasswordChangeDue reports whether the account's password was reset by a
// manager and not changed by its owner since (SetPassword clears it).
func (s *Service) PasswordChangeDue(ctx context.Context, accountID int64) (bool, error) {
	var n int
	if err := s.st.QueryRow(ctx, `SELECT COUNT(*) FROM password_resets WHERE account_id = ?`, accountID).Scan(&n); err != nil {
		return false, fmt.Errorf("password change due: %w", err)
	}
	return n > 0, nil
}

// SetCodeDelivery changes where the account's e-mailed login codes and
// notifications go (its notification address), on behalf of a manager of
// its domain.
func (s *Service) SetCodeDelivery(ctx context.Context, actor Actor, address, notify string) error {
	a, err := s.ManagedAccount(ctx, actor, address)
	if err != nil {
		return err
	}
	n, err := NormalizeAddress(notify)
	if err != nil {
		return fmt.Errorf("notification address: %w", err)
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE accounts SET notify_email = ? WHERE id = ?`, n, a.ID); err != nil {
			return fmt.Errorf("set code delivery: %w", err)
		}
		return s.audit.Record(ctx, tx, actor.audit("user.notify.set", a.Address, nil, "by manager"))
	})
}

// DayFigures are one day's figures of a domain, in UTC.
type DayFigures struct {
	Day       time.Time
	Mailboxes int            // mailboxes of the domain at the end of the day
	Sent      int            // messages sent from its addresses
	Received  int            // messages delivered to its addresses
	Logins    map[string]int // successful logins, by method
}

// dayMillis is one day in milliseconds.
const dayMillis = int64(24 * time.Hour / time.Millisecond)

// DomainFigures returns a domain's figures per day over the last days days,
// today last, counted from its mailboxes and from the audit trail (the
// "send", "deliver" and "login" entries).
func (s *Service) DomainFigures(ctx context.Context, actor Actor, domain string, days int) ([]DayFigures, error) {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if err := s.requireManager(ctx, actor, domain); err != nil {
		return nil, err
	}
	if days < 1 || days > 366 {
		return nil, fmt.Errorf("%w: figures over %d days", ErrInvalid, days)
	}
	today := s.nowMillis() / dayMillis
	first := today - int64(days) + 1
	out := make([]DayFigures, days)
	for i := range out {
		out[i] = DayFigures{Day: time.UnixMilli((first + int64(i)) * dayMillis).UTC(), Logins: map[string]int{}}
	}
	like := "%@" + domain
	rows, err := s.st.Query(ctx, `SELECT created FROM mailboxes WHERE address LIKE ?`, like)
	if err != nil {
		return nil, fmt.Errorf("domain figures: %w", err)
	}
	for rows.Next() {
		var created int64
		if err := rows.Scan(&created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("domain figures: %w", err)
		}
		for i := max(0, int(created/dayMillis-first)); i < days; i++ {
			out[i].Mailboxes++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("domain figures: %w", err)
	}
	rows, err = s.st.Query(ctx, `SELECT at, action, detail FROM audit
WHERE at >= ? AND result = 'ok' AND action IN ('send', 'deliver', 'login') AND target LIKE ?`, first*dayMillis, like)
	if err != nil {
		return nil, fmt.Errorf("domain figures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var at int64
		var action, detail string
		if err := rows.Scan(&at, &action, &detail); err != nil {
			return nil, fmt.Errorf("domain figures: %w", err)
		}
		i := int(at/dayMillis - first)
		if i < 0 || i >= days {
			continue
		}
		switch action {
		case "send":
			out[i].Sent++
		case "deliver":
			out[i].Received++
		case "login":
			if method, ok := loginMethod(detail); ok {
				out[i].Logins[method]++
			}
		}
	}
	return out, rows.Err()
}

// loginMethod reads the method of a "login" entry's detail, written by the
// core ("method=password …") or by the web door ("totp | …"). The web door
// also traces the enrolment, removal and linking of factors as "login"
// entries: those are no logins.
func loginMethod(detail string) (string, bool) {
	method, _, _ := strings.Cut(strings.TrimPrefix(detail, "method="), " ")
	for _, suffix := range []string{"-enrol", "-remove", "-link"} {
		if strings.HasSuffix(method, suffix) {
			return "", false
		}
	}
	return method, method != ""
}

// RemoveFactor takes a way in away from the account at address, on behalf of
// a manager of its domain: kind names it for the trail ("card", "psc") and
// remove does it, given the account's id (the sign-in factors live in
// internal/auth, which the core does not hold). The removal is traced, done
// or failed.
func (s *Service) RemoveFactor(ctx context.Context, actor Actor, address, kind string, id int64, remove func(ctx context.Context, accountID, id int64) error) error {
	a, err := s.ManagedAccount(ctx, actor, address)
	if err != nil {
		return err
	}
	err = remove(ctx, a.ID, id)
	if terr := s.audit.Write(ctx, actor.audit(kind+".unlink", a.Address, err, fmt.Sprintf("%s=%d by manager", kind, id))); terr != nil && err == nil {
		err = terr
	}
	return err
}
