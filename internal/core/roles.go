package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"caduceus/internal/store"
)

// Role is what an account may do beyond its own mail. A manager
// ("gestionnaire") of a domain creates and disables its accounts and reads
// its part of the audit trail, through the managers' console; operators keep
// the command line, which acts as the system.
type Role string

// The roles.
const (
	RoleManager Role = "manager"
	RoleNone    Role = "none"
)

// SetRole makes the account at address a manager of domain, or nothing more
// than a user (RoleNone). Only operators (the system actor) hand out roles.
func (s *Service) SetRole(ctx context.Context, actor Actor, address, domain string, role Role) error {
	if !actor.IsSystem() {
		return ErrPermission
	}
	a, err := s.User(ctx, address)
	if err != nil {
		return err
	}
	domain = strings.ToLower(strings.TrimSpace(domain))
	if local, err := s.IsLocalDomain(ctx, domain); err != nil || !local {
		if err != nil {
			return err
		}
		return fmt.Errorf("domain %s: %w", domain, ErrNotFound)
	}
	if role != RoleManager && role != RoleNone {
		return fmt.Errorf("role %q: want manager or none: %w", role, ErrInvalid)
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM roles WHERE account_id = ? AND domain = ?`, a.ID, domain); err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		if role == RoleManager {
			if _, err := tx.Exec(ctx, `INSERT INTO roles (account_id, domain, role) VALUES (?, ?, ?)`, a.ID, domain, string(role)); err != nil {
				return fmt.Errorf("set role: %w", err)
			}
		}
		return s.audit.Record(ctx, tx, actor.audit("role.set", a.Address, nil, string(role)+" of "+domain))
	})
}

// ManagedDomains lists the domains the actor manages: every local domain for
// the system, none for a plain user.
func (s *Service) ManagedDomains(ctx context.Context, actor Actor) ([]string, error) {
	if actor.IsSystem() {
		return s.Domains(ctx)
	}
	rows, err := s.st.Query(ctx, `SELECT domain FROM roles WHERE account_id = ? AND role = ? ORDER BY domain`, actor.AccountID, string(RoleManager))
	if err != nil {
		return nil, fmt.Errorf("managed domains: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DomainAccount is an account as its domain's managers see it: who, whether
// it may log in, and what its personal mailbox holds.
type DomainAccount struct {
	Account
	UsedBytes, QuotaBytes int64
	Manager               bool
}

// DomainAccounts lists the accounts of a domain the actor manages.
func (s *Service) DomainAccounts(ctx context.Context, actor Actor, domain string) ([]DomainAccount, error) {
	if err := s.requireManager(ctx, actor, domain); err != nil {
		return nil, err
	}
	rows, err := s.st.Query(ctx, `
SELECT a.id, a.address, a.name, a.notify_email, a.national_id, a.disabled, a.created,
	COALESCE(m.used_bytes, 0), COALESCE(m.quota_bytes, 0),
	EXISTS (SELECT 1 FROM roles r WHERE r.account_id = a.id AND r.domain = ? AND r.role = ?)
FROM accounts a LEFT JOIN mailboxes m ON m.owner_id = a.id AND m.address = a.address
WHERE a.address LIKE ? ORDER BY a.address`, domain, string(RoleManager), "%@"+domain)
	if err != nil {
		return nil, fmt.Errorf("domain accounts: %w", err)
	}
	defer rows.Close()
	var out []DomainAccount
	for rows.Next() {
		var d DomainAccount
		var disabled int
		var created int64
		if err := rows.Scan(&d.ID, &d.Address, &d.Name, &d.NotifyEmail, &d.NationalID, &disabled, &created, &d.UsedBytes, &d.QuotaBytes, &d.Manager); err != nil {
			return nil, fmt.Errorf("domain accounts: %w", err)
		}
		d.Disabled = disabled != 0
		d.Created = time.UnixMilli(created)
		out = append(out, d)
	}
	return out, rows.Err()
}

// DomainMailbox is a shared mailbox (organisational, applicative, practice)
// of a domain with who holds rights on it.
type DomainMailbox struct {
	Mailbox
	Members []Grant
}

// DomainMailboxes lists the shared mailboxes of a domain the actor manages,
// with their members.
func (s *Service) DomainMailboxes(ctx context.Context, actor Actor, domain string) ([]DomainMailbox, error) {
	if err := s.requireManager(ctx, actor, domain); err != nil {
		return nil, err
	}
	rows, err := s.st.Query(ctx, `SELECT id FROM mailboxes WHERE kind <> ? AND address LIKE ? ORDER BY address`, string(KindPersonal), "%@"+domain)
	if err != nil {
		return nil, fmt.Errorf("domain mailboxes: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]DomainMailbox, 0, len(ids))
	for _, id := range ids {
		mb, err := s.access(ctx, System("admin"), id)
		if err != nil {
			return nil, err
		}
		members, err := s.ACL(ctx, actor, id)
		if err != nil {
			return nil, err
		}
		out = append(out, DomainMailbox{Mailbox: mb.Mailbox, Members: members})
	}
	return out, nil
}

// requireManager checks that the actor may manage domain: the system, or a
// manager of it. A domain the actor does not manage is not found.
func (s *Service) requireManager(ctx context.Context, actor Actor, domain string) error {
	if actor.IsSystem() {
		return nil
	}
	var n int
	err := s.st.QueryRow(ctx, `SELECT COUNT(*) FROM roles WHERE account_id = ? AND domain = ? AND role = ?`, actor.AccountID, strings.ToLower(domain), string(RoleManager)).Scan(&n)
	if err != nil {
		return fmt.Errorf("check manager: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("domain %s: %w", domain, ErrPermission)
	}
	return nil
}

// mayManageAddress checks that the actor may manage the account or mailbox at
// addr: the system, or a manager of its domain.
func (s *Service) mayManageAddress(ctx context.Context, actor Actor, addr string) error {
	if actor.IsSystem() {
		return nil
	}
	_, domain, ok := strings.Cut(addr, "@")
	if !ok {
		return ErrPermission
	}
	return s.requireManager(ctx, actor, domain)
}
