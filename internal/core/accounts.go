package core

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"caduceus/internal/auth"
	"caduceus/internal/store"
)

// Account is a person who logs in.
type Account struct {
	ID          int64
	Address     string // login address, also their personal mailbox's address
	Name        string
	NotifyEmail string // where notifications and login codes go
	NationalID  string // RPPS-based national identifier (idNatPS), for card and PSC login
	Disabled    bool
	Created     time.Time
}

// Kind is the type of a mailbox, as the MSSanté directory publishes it.
type Kind string

// The mailbox kinds (TRE_R257-TypeBAL).
const (
	KindPersonal       Kind = "PER"
	KindOrganisational Kind = "ORG"
	KindApplicative    Kind = "APP"
	KindPractice       Kind = "CAB"
)

// ParseKind reads a kind name, in either case: per, org, app, cab.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToUpper(s)); k {
	case KindPersonal, KindOrganisational, KindApplicative, KindPractice:
		return k, nil
	}
	return "", fmt.Errorf("%w: mailbox kind %q (want per, org, app or cab)", ErrInvalid, s)
}

// Mailbox is an address that receives mail (a BAL): a person's own, an
// organisation's shared one, an application's, or a practice's.
type Mailbox struct {
	ID         int64
	Address    string
	Kind       Kind
	Name       string
	OwnerID    int64 // 0 for a mailbox governed by its grants alone
	QuotaBytes int64 // 0 means no quota
	UsedBytes  int64
}

// Access is a mailbox together with the rights the actor holds on it.
type Access struct {
	Mailbox
	Rights Rights
	Owned  bool
}

// Grant is one person's rights on a mailbox.
type Grant struct {
	AccountID int64
	Address   string
	Name      string
	Rights    Rights
}

// NewUser describes an account to create.
type NewUser struct {
	Address     string
	Name        string
	Password    string
	NotifyEmail string
	NationalID  string
}

// AddDomain makes a domain local: mail to it is delivered here.
func (s *Service) AddDomain(ctx context.Context, actor Actor, name string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || strings.ContainsAny(name, "@ /") {
		return fmt.Errorf("%w: domain %q", ErrInvalid, name)
	}
	if !actor.IsSystem() {
		return ErrPermission
	}
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO domains (name, created) VALUES (?, ?)`, name, s.nowMillis()); err != nil {
			if isUnique(err) {
				return fmt.Errorf("domain %s: %w", name, ErrExists)
			}
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("domain.add", name, nil, ""))
	})
	if err != nil {
		return fmt.Errorf("add domain %s: %w", name, err)
	}
	return nil
}

// Domains lists the local domains.
func (s *Service) Domains(ctx context.Context) ([]string, error) {
	rows, err := s.st.Query(ctx, `SELECT name FROM domains ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// RemoveDomain removes a local domain that no mailbox uses any more.
func (s *Service) RemoveDomain(ctx context.Context, actor Actor, name string) error {
	if !actor.IsSystem() {
		return ErrPermission
	}
	name = strings.ToLower(strings.TrimSpace(name))
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM mailboxes WHERE address LIKE ?`, "%@"+name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %d mailboxes still use %s", ErrInvalid, n, name)
		}
		res, err := tx.Exec(ctx, `DELETE FROM domains WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return ErrNotFound
		}
		return s.audit.Record(ctx, tx, actor.audit("domain.remove", name, nil, ""))
	})
	if err != nil {
		return fmt.Errorf("remove domain %s: %w", name, err)
	}
	return nil
}

// IsLocalDomain tells whether mail for domain is delivered here.
func (s *Service) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	var n int
	err := s.st.QueryRow(ctx, `SELECT COUNT(*) FROM domains WHERE name = ?`, strings.ToLower(domain)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up domain: %w", err)
	}
	return n > 0, nil
}

// AddUser creates an account and its personal mailbox, with the standard folders.
func (s *Service) AddUser(ctx context.Context, actor Actor, u NewUser) (Account, error) {
	addr, err := NormalizeAddress(u.Address)
	if err != nil {
		return Account{}, err
	}
	if err := s.mayManageAddress(ctx, actor, addr); err != nil {
		return Account{}, err
	}
	if strings.TrimSpace(u.Name) == "" {
		return Account{}, fmt.Errorf("%w: a name is required", ErrInvalid)
	}
	hash := ""
	if u.Password != "" {
		if len(u.Password) < 10 {
			return Account{}, fmt.Errorf("%w: password shorter than 10 characters", ErrInvalid)
		}
		if hash, err = auth.HashPassword(u.Password, auth.DefaultPasswordParams()); err != nil {
			return Account{}, err
		}
	}
	notify := strings.TrimSpace(u.NotifyEmail)
	if notify != "" {
		if notify, err = NormalizeAddress(notify); err != nil {
			return Account{}, fmt.Errorf("notification address: %w", err)
		}
	}
	var acct Account
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		if err := s.requireLocal(ctx, tx, addr); err != nil {
			return err
		}
		now := s.nowMillis()
		id, err := tx.Insert(ctx, `INSERT INTO accounts (address, name, notify_email, national_id, password_hash, created) VALUES (?, ?, ?, ?, ?, ?)`,
			addr, u.Name, notify, u.NationalID, hash, now)
		if err != nil {
			if isUnique(err) {
				return fmt.Errorf("account %s: %w", addr, ErrExists)
			}
			return err
		}
		if _, err := s.insertMailbox(ctx, tx, addr, KindPersonal, u.Name, id); err != nil {
			return err
		}
		acct = Account{ID: id, Address: addr, Name: u.Name, NotifyEmail: notify, NationalID: u.NationalID, Created: time.UnixMilli(now)}
		return s.audit.Record(ctx, tx, actor.audit("user.add", addr, nil, ""))
	})
	if err != nil {
		return Account{}, fmt.Errorf("add user %s: %w", addr, err)
	}
	return acct, nil
}

// AddMailbox creates a mailbox that is not a person's own: organisational,
// applicative or practice. owner may be empty.
func (s *Service) AddMailbox(ctx context.Context, actor Actor, address string, kind Kind, name, owner string) (Mailbox, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return Mailbox{}, err
	}
	if err := s.mayManageAddress(ctx, actor, addr); err != nil {
		return Mailbox{}, err
	}
	if strings.TrimSpace(name) == "" {
		return Mailbox{}, fmt.Errorf("%w: a name is required", ErrInvalid)
	}
	var mb Mailbox
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		if err := s.requireLocal(ctx, tx, addr); err != nil {
			return err
		}
		var ownerID int64
		if owner != "" {
			a, err := accountByAddress(ctx, tx, owner)
			if err != nil {
				return fmt.Errorf("owner %s: %w", owner, err)
			}
			ownerID = a.ID
		}
		id, err := s.insertMailbox(ctx, tx, addr, kind, name, ownerID)
		if err != nil {
			return err
		}
		mb = Mailbox{ID: id, Address: addr, Kind: kind, Name: name, OwnerID: ownerID, QuotaBytes: s.opts.DefaultQuota}
		return s.audit.Record(ctx, tx, actor.audit("mailbox.add", addr, nil, string(kind)))
	})
	if err != nil {
		return Mailbox{}, fmt.Errorf("add mailbox %s: %w", addr, err)
	}
	return mb, nil
}

// defaultFolders are created in every new mailbox (RFC 6154 special-use).
var defaultFolders = []struct{ name, use string }{
	{"INBOX", ""},
	{"Drafts", `\Drafts`},
	{"Sent", `\Sent`},
	{"Trash", `\Trash`},
	{"Junk", `\Junk`},
	{"Archive", `\Archive`},
}

func (s *Service) insertMailbox(ctx context.Context, tx *store.Tx, addr string, kind Kind, name string, ownerID int64) (int64, error) {
	var owner any
	if ownerID != 0 {
		owner = ownerID
	}
	now := s.nowMillis()
	id, err := tx.Insert(ctx, `INSERT INTO mailboxes (address, kind, name, owner_id, quota_bytes, created) VALUES (?, ?, ?, ?, ?, ?)`,
		addr, string(kind), name, owner, s.opts.DefaultQuota, now)
	if err != nil {
		if isUnique(err) {
			return 0, fmt.Errorf("mailbox %s: %w", addr, ErrExists)
		}
		return 0, err
	}
	for i, f := range defaultFolders {
		if _, err := tx.Exec(ctx, `INSERT INTO folders (mailbox_id, name, special_use, uidvalidity, created) VALUES (?, ?, ?, ?, ?)`,
			id, f.name, f.use, uidValidity(now, i), now); err != nil {
			return 0, err
		}
	}
	return id, nil
}

func (s *Service) requireLocal(ctx context.Context, tx *store.Tx, addr string) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM domains WHERE name = ?`, DomainOf(addr)).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: domain %s is not local (caduceus domain add %s)", ErrInvalid, DomainOf(addr), DomainOf(addr))
	}
	return nil
}

// Users lists the accounts.
func (s *Service) Users(ctx context.Context) ([]Account, error) {
	rows, err := s.st.Query(ctx, `SELECT id, address, name, notify_email, national_id, disabled, created FROM accounts ORDER BY address`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// User returns one account by login address.
func (s *Service) User(ctx context.Context, address string) (Account, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return Account{}, err
	}
	row := s.st.QueryRow(ctx, `SELECT id, address, name, notify_email, national_id, disabled, created FROM accounts WHERE address = ?`, addr)
	a, err := scanAccount(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("user %s: %w", addr, ErrNotFound)
	}
	return a, err
}

// Account returns one account by id.
func (s *Service) Account(ctx context.Context, id int64) (Account, error) {
	row := s.st.QueryRow(ctx, `SELECT id, address, name, notify_email, national_id, disabled, created FROM accounts WHERE id = ?`, id)
	a, err := scanAccount(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("account %d: %w", id, ErrNotFound)
	}
	return a, err
}

// SetPassword replaces an account's password. A person may change their own;
// the system may change anyone's. A change a manager's reset asked for
// (PasswordChangeDue) is then done.
func (s *Service) SetPassword(ctx context.Context, actor Actor, address, password string) error {
	a, err := s.User(ctx, address)
	if err != nil {
		return err
	}
	if !actor.IsSystem() && actor.AccountID != a.ID {
		return ErrPermission
	}
	if len(password) < 10 {
		return fmt.Errorf("%w: password shorter than 10 characters", ErrInvalid)
	}
	hash, err := auth.HashPassword(password, auth.DefaultPasswordParams())
	if err != nil {
		return err
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = ? WHERE id = ?`, hash, a.ID); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM password_resets WHERE account_id = ?`, a.ID); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		s.logins.forget(a.Address)
		if err := s.notifyRevoked(ctx, tx, "account:"+a.Address); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("user.passwd", a.Address, nil, ""))
	})
}

// ChangePassword replaces the actor's own password after checking the
// current one, as a person does from the account page. A wrong current
// password gives ErrAuth and counts as a failed login of the account, so
// that the form cannot be used to guess it.
func (s *Service) ChangePassword(ctx context.Context, actor Actor, current, password string) error {
	a, err := s.Account(ctx, actor.AccountID)
	if err != nil {
		return err
	}
	att := attempt{door: actor.Door, remote: actor.Remote, address: a.Address, method: MethodPassword}
	_, err = s.guarded(ctx, att, func(ctx context.Context) (verified, error) {
		_, hash, err := s.credentials(ctx, a.Address)
		if err != nil {
			hash = dummyHash()
		}
		ok, verr := s.verifyPassword(ctx, hash, current)
		if err != nil || verr != nil || !ok {
			s.audit.Write(ctx, actor.audit("user.passwd", a.Address, ErrAuth, "wrong current password"))
			return verified{}, ErrAuth
		}
		return verified{accountID: a.ID, address: a.Address, disabled: a.Disabled, credential: "password"}, nil
	})
	if err != nil {
		return err
	}
	return s.SetPassword(ctx, actor, a.Address, password)
}

// SetDisabled disables or re-enables an account; a disabled account cannot log in
// through any door.
func (s *Service) SetDisabled(ctx context.Context, actor Actor, address string, disabled bool) error {
	a, err := s.User(ctx, address)
	if err != nil {
		return err
	}
	if err := s.mayManageAddress(ctx, actor, a.Address); err != nil {
		return err
	}
	if a.ID == actor.AccountID {
		return fmt.Errorf("%w: a manager cannot disable their own account", ErrInvalid)
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE accounts SET disabled = ? WHERE id = ?`, boolInt(disabled), a.ID); err != nil {
			return fmt.Errorf("disable user: %w", err)
		}
		s.logins.forget(a.Address)
		if err := s.notifyRevoked(ctx, tx, "account:"+a.Address); err != nil {
			return err
		}
		action := "user.enable"
		if disabled {
			action = "user.disable"
		}
		return s.audit.Record(ctx, tx, actor.audit(action, a.Address, nil, ""))
	})
}

// UpdateProfile changes an account's display name, notification address and
// national identifier; empty fields are left as they are.
func (s *Service) UpdateProfile(ctx context.Context, actor Actor, address string, name, notifyEmail, nationalID string) error {
	a, err := s.User(ctx, address)
	if err != nil {
		return err
	}
	if !actor.IsSystem() && actor.AccountID != a.ID {
		return ErrPermission
	}
	if name != "" {
		a.Name = name
	}
	if notifyEmail != "" {
		if a.NotifyEmail, err = NormalizeAddress(notifyEmail); err != nil {
			return fmt.Errorf("notification address: %w", err)
		}
	}
	if nationalID != "" {
		a.NationalID = nationalID
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE accounts SET name = ?, notify_email = ?, national_id = ? WHERE id = ?`, a.Name, a.NotifyEmail, a.NationalID, a.ID); err != nil {
			return fmt.Errorf("update profile: %w", err)
		}
		return s.audit.Record(ctx, tx, actor.audit("user.update", a.Address, nil, ""))
	})
}

// RemoveUser deletes an account, its personal mailbox and everything in it,
// its signatures and its directory profile.
func (s *Service) RemoveUser(ctx context.Context, actor Actor, address string) error {
	if !actor.IsSystem() {
		return ErrPermission
	}
	a, err := s.User(ctx, address)
	if err != nil {
		return err
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		if err := releaseMailboxBlobs(ctx, tx, `SELECT id FROM mailboxes WHERE owner_id = ? AND kind = 'PER'`, a.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM mailboxes WHERE owner_id = ? AND kind = 'PER'`, a.ID); err != nil {
			return fmt.Errorf("delete mailbox: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE mailboxes SET owner_id = NULL WHERE owner_id = ?`, a.ID); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM web_signatures WHERE account_id = ?`, `DELETE FROM web_directory_profiles WHERE account_id = ?`} {
			if _, err := tx.Exec(ctx, q, a.ID); err != nil {
				return fmt.Errorf("delete preferences: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM accounts WHERE id = ?`, a.ID); err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		return s.audit.Record(ctx, tx, actor.audit("user.remove", a.Address, nil, ""))
	})
}

// verifyPassword checks a password against its argon2id hash, at most
// 2 × CPUs at a time: each check takes 64 MiB, and a burst of logins (every
// client of a ward reconnecting at once) must not exhaust the memory.
func (s *Service) verifyPassword(ctx context.Context, hash, password string) (bool, error) {
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.hashing }()
	return auth.VerifyPassword(hash, password)
}

// ActorFor returns the actor of an account already authenticated by a door (a
// web session, a client certificate), after checking it is still enabled.
func (s *Service) ActorFor(ctx context.Context, accountID int64, door, remote string) (Actor, error) {
	a, err := s.Account(ctx, accountID)
	if err != nil {
		return Actor{}, err
	}
	if a.Disabled {
		return Actor{}, ErrDisabled
	}
	return Actor{AccountID: a.ID, Address: a.Address, Door: door, Remote: remote}, nil
}

// dummyHash is checked against when an account does not exist, so that a failed
// login takes as long either way.
var dummyHash = sync.OnceValue(func() string {
	h, _ := auth.HashPassword("caduceus-timing-equaliser", auth.DefaultPasswordParams())
	return h
})

func (s *Service) credentials(ctx context.Context, address string) (Account, string, error) {
	var a Account
	var hash string
	var disabled int
	err := s.st.QueryRow(ctx, `SELECT id, address, disabled, password_hash FROM accounts WHERE address = ?`, address).Scan(&a.ID, &a.Address, &disabled, &hash)
	if err != nil {
		return Account{}, "", err
	}
	if hash == "" {
		return Account{}, "", ErrAuth
	}
	a.Disabled = disabled != 0
	return a, hash, nil
}

type scanner interface{ Scan(...any) error }

func scanAccount(r scanner) (Account, error) {
	var a Account
	var disabled int
	var created int64
	if err := r.Scan(&a.ID, &a.Address, &a.Name, &a.NotifyEmail, &a.NationalID, &disabled, &created); err != nil {
		return Account{}, err
	}
	a.Disabled = disabled != 0
	a.Created = time.UnixMilli(created)
	return a, nil
}

func accountByAddress(ctx context.Context, tx *store.Tx, address string) (Account, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return Account{}, err
	}
	var a Account
	err = tx.QueryRow(ctx, `SELECT id, address, name FROM accounts WHERE address = ?`, addr).Scan(&a.ID, &a.Address, &a.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	return a, err
}

func isUnique(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "unique") || strings.Contains(msg, "duplicate key")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// uidValidity gives each folder a distinct, increasing UIDVALIDITY (RFC 9051 §2.3.1.1).
func uidValidity(nowMillis int64, i int) int64 {
	return (nowMillis/1000)&0x7fffffff + int64(i)
}
