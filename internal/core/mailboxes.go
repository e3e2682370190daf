package core

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"caduceus/internal/store"
)

// Mailboxes lists the mailboxes the actor may see: their own first, then those
// they hold the lookup right on (organisational mailboxes, delegations).
func (s *Service) Mailboxes(ctx context.Context, actor Actor) ([]Access, error) {
	q := `SELECT m.id, m.address, m.kind, m.name, COALESCE(m.owner_id, 0), m.quota_bytes, m.used_bytes, COALESCE(r.rights, 0)
		FROM mailboxes m LEFT JOIN rights r ON r.mailbox_id = m.id AND r.account_id = ?
		WHERE m.owner_id = ? OR r.rights IS NOT NULL
		ORDER BY CASE WHEN m.owner_id = ? AND m.kind = 'PER' THEN 0 ELSE 1 END, m.address`
	args := []any{actor.AccountID, actor.AccountID, actor.AccountID}
	if actor.IsSystem() {
		q = `SELECT id, address, kind, name, COALESCE(owner_id, 0), quota_bytes, used_bytes, 0 FROM mailboxes ORDER BY address`
		args = nil
	}
	rows, err := s.st.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list mailboxes: %w", err)
	}
	defer rows.Close()
	var out []Access
	for rows.Next() {
		var a Access
		var rights int64
		var kind string
		if err := rows.Scan(&a.ID, &a.Address, &kind, &a.Name, &a.OwnerID, &a.QuotaBytes, &a.UsedBytes, &rights); err != nil {
			return nil, err
		}
		a.Kind = Kind(kind)
		a.Rights, a.Owned = effectiveRights(actor, a.OwnerID, Rights(rights))
		if a.Rights.Has(RightLookup) {
			out = append(out, a)
		}
	}
	return out, rows.Err()
}

// MailboxByAddress returns a mailbox and the actor's rights on it. A mailbox the
// actor may not look up is ErrNotFound, so its existence is not disclosed.
func (s *Service) MailboxByAddress(ctx context.Context, actor Actor, address string) (Access, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return Access{}, err
	}
	var id int64
	if err := s.st.QueryRow(ctx, `SELECT id FROM mailboxes WHERE address = ?`, addr).Scan(&id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Access{}, fmt.Errorf("mailbox %s: %w", addr, ErrNotFound)
		}
		return Access{}, err
	}
	return s.Mailbox(ctx, actor, id)
}

// Mailbox returns a mailbox by id and the actor's rights on it.
func (s *Service) Mailbox(ctx context.Context, actor Actor, id int64) (Access, error) {
	a, err := s.access(ctx, actor, id)
	if err != nil {
		return Access{}, err
	}
	if !a.Rights.Has(RightLookup) {
		return Access{}, fmt.Errorf("mailbox %d: %w", id, ErrNotFound)
	}
	return a, nil
}

// access loads a mailbox and the actor's rights without checking any.
func (s *Service) access(ctx context.Context, actor Actor, id int64) (Access, error) {
	var a Access
	var kind string
	var rights sql.NullInt64
	err := s.st.QueryRow(ctx, `SELECT m.id, m.address, m.kind, m.name, COALESCE(m.owner_id, 0), m.quota_bytes, m.used_bytes, r.rights
		FROM mailboxes m LEFT JOIN rights r ON r.mailbox_id = m.id AND r.account_id = ? WHERE m.id = ?`, actor.AccountID, id).
		Scan(&a.ID, &a.Address, &kind, &a.Name, &a.OwnerID, &a.QuotaBytes, &a.UsedBytes, &rights)
	if errors.Is(err, sql.ErrNoRows) {
		return Access{}, fmt.Errorf("mailbox %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Access{}, fmt.Errorf("load mailbox %d: %w", id, err)
	}
	a.Kind = Kind(kind)
	a.Rights, a.Owned = effectiveRights(actor, a.OwnerID, Rights(rights.Int64))
	return a, nil
}

// require loads a mailbox and fails unless the actor holds every right in want.
// Without even lookup, the mailbox is reported as not found.
func (s *Service) require(ctx context.Context, actor Actor, mailboxID int64, want Rights) (Access, error) {
	a, err := s.access(ctx, actor, mailboxID)
	if err != nil {
		return Access{}, err
	}
	if !a.Rights.Has(RightLookup) {
		return Access{}, fmt.Errorf("mailbox %d: %w", mailboxID, ErrNotFound)
	}
	if !a.Rights.Has(want) {
		return Access{}, fmt.Errorf("%s on %s: %w", (want &^ a.Rights).Names(), a.Address, ErrPermission)
	}
	return a, nil
}

// requireAdmin checks that the actor may change who holds rights on a
// mailbox: the admin right (RFC 4314), or being a manager of the mailbox's
// domain, which lets one hand out rights but read nothing.
func (s *Service) requireAdmin(ctx context.Context, actor Actor, mailboxID int64) (Access, error) {
	a, err := s.require(ctx, actor, mailboxID, RightAdmin)
	if err == nil || actor.IsSystem() {
		return a, err
	}
	mb, lerr := s.access(ctx, System("rights"), mailboxID)
	if lerr != nil {
		return Access{}, err
	}
	if s.mayManageAddress(ctx, actor, mb.Address) != nil {
		return Access{}, err
	}
	mb.Rights, mb.Owned = RightLookup|RightAdmin, false
	return mb, nil
}

func effectiveRights(actor Actor, ownerID int64, granted Rights) (Rights, bool) {
	if actor.IsSystem() {
		return AllRights, false
	}
	if ownerID != 0 && ownerID == actor.AccountID {
		return AllRights, true
	}
	return granted, false
}

// ACL lists who holds rights on a mailbox: the owner first, then the grants.
// RFC 4314 §3.3: it takes the admin right.
func (s *Service) ACL(ctx context.Context, actor Actor, mailboxID int64) ([]Grant, error) {
	a, err := s.requireAdmin(ctx, actor, mailboxID)
	if err != nil {
		return nil, err
	}
	var out []Grant
	if a.OwnerID != 0 {
		owner, err := s.Account(ctx, a.OwnerID)
		if err != nil {
			return nil, err
		}
		out = append(out, Grant{AccountID: owner.ID, Address: owner.Address, Name: owner.Name, Rights: AllRights})
	}
	rows, err := s.st.Query(ctx, `SELECT a.id, a.address, a.name, r.rights FROM rights r JOIN accounts a ON a.id = r.account_id WHERE r.mailbox_id = ? ORDER BY a.address`, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("list rights: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g Grant
		var r int64
		if err := rows.Scan(&g.AccountID, &g.Address, &g.Name, &r); err != nil {
			return nil, err
		}
		g.Rights = Rights(r)
		out = append(out, g)
	}
	return out, rows.Err()
}

// SetRights gives a person exactly these rights on a mailbox; zero rights revoke
// them. It takes the admin right (RFC 4314 §3.1), and takes effect for every door
// at once, since each door asks the core on every command.
func (s *Service) SetRights(ctx context.Context, actor Actor, mailboxID int64, user string, rights Rights) error {
	a, err := s.requireAdmin(ctx, actor, mailboxID)
	if err != nil {
		return err
	}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		u, err := accountByAddress(ctx, tx, user)
		if err != nil {
			return fmt.Errorf("user %s: %w", user, err)
		}
		if u.ID == a.OwnerID {
			return fmt.Errorf("%w: %s owns %s; the owner's rights cannot change", ErrInvalid, u.Address, a.Address)
		}
		if rights == 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM rights WHERE mailbox_id = ? AND account_id = ?`, mailboxID, u.ID); err != nil {
				return err
			}
			return s.audit.Record(ctx, tx, actor.audit("rights.revoke", a.Address+" "+u.Address, nil, ""))
		}
		res, err := tx.Exec(ctx, `UPDATE rights SET rights = ? WHERE mailbox_id = ? AND account_id = ?`, int64(rights), mailboxID, u.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO rights (mailbox_id, account_id, rights) VALUES (?, ?, ?)`, mailboxID, u.ID, int64(rights)); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, tx, actor.audit("rights.set", a.Address+" "+u.Address, nil, rights.String()))
	})
	if err != nil {
		return fmt.Errorf("set rights on %s: %w", a.Address, err)
	}
	s.publish(Event{MailboxID: mailboxID, Kind: EventRights})
	return nil
}

// SetQuota changes a mailbox's storage quota; 0 removes it. Operators only.
func (s *Service) SetQuota(ctx context.Context, actor Actor, mailboxID int64, bytes int64) error {
	if !actor.IsSystem() {
		return ErrPermission
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE mailboxes SET quota_bytes = ? WHERE id = ?`, bytes, mailboxID); err != nil {
			return fmt.Errorf("set quota: %w", err)
		}
		return s.audit.Record(ctx, tx, actor.audit("mailbox.quota", fmt.Sprint(mailboxID), nil, fmt.Sprint(bytes)))
	})
}

// RemoveMailbox deletes a non-personal mailbox and everything in it.
func (s *Service) RemoveMailbox(ctx context.Context, actor Actor, address string) error {
	if !actor.IsSystem() {
		return ErrPermission
	}
	a, err := s.MailboxByAddress(ctx, actor, address)
	if err != nil {
		return err
	}
	if a.Kind == KindPersonal {
		return fmt.Errorf("%w: %s is a personal mailbox; remove the user instead", ErrInvalid, a.Address)
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		if err := releaseMailboxBlobs(ctx, tx, `SELECT ?`, a.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM mailboxes WHERE id = ?`, a.ID); err != nil {
			return fmt.Errorf("delete mailbox: %w", err)
		}
		return s.audit.Record(ctx, tx, actor.audit("mailbox.remove", a.Address, nil, ""))
	})
}

// releaseMailboxBlobs drops one reference to the blob of every message in the
// mailboxes selected by q, before they are deleted.
func releaseMailboxBlobs(ctx context.Context, tx *store.Tx, q string, arg any) error {
	_, err := tx.Exec(ctx, `UPDATE blobs SET refs = refs - (SELECT COUNT(*) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE m.blob_id = blobs.id AND f.mailbox_id IN (`+q+`))
		WHERE id IN (SELECT m.blob_id FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.mailbox_id IN (`+q+`))`, arg, arg)
	if err != nil {
		return fmt.Errorf("release blobs: %w", err)
	}
	return nil
}
