package core

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"caduceus/internal/auth"
	"caduceus/internal/store"
)

// MailboxCert is a client certificate pinned to a mailbox: a hospital
// system's software logs in to the mailbox's IMAP and submission with it
// (SASL EXTERNAL, RFC 4422 Appendix A), without any password. The pin is the
// certificate's SHA-256 fingerprint; TLS proves the client holds its key.
type MailboxCert struct {
	Fingerprint string // SHA-256 of the DER, lower-case hex
	MailboxID   int64
	Subject     string
	NotAfter    time.Time
	Created     time.Time
	LastUsed    time.Time
}

// certRights are what the login of a mailbox's certificate may do in it:
// everything but changing who else may.
const certRights = AllRights &^ RightAdmin

// AddMailboxCert pins a client certificate to the mailbox at address. For a
// person's own mailbox the certificate logs its owner in; for an
// applicative, organisational or practice mailbox it logs in a service
// account of the mailbox's own address (created here, with no password),
// which holds every right on that mailbox but admin, and nothing elsewhere.
// Operator only.
func (s *Service) AddMailboxCert(ctx context.Context, actor Actor, address string, cert *x509.Certificate) (MailboxCert, error) {
	if !actor.IsSystem() {
		return MailboxCert{}, ErrPermission
	}
	addr, err := NormalizeAddress(address)
	if err != nil {
		return MailboxCert{}, err
	}
	now := s.now()
	if now.After(cert.NotAfter) {
		return MailboxCert{}, fmt.Errorf("%w: the certificate expired on %s", ErrInvalid, cert.NotAfter.UTC().Format(time.DateOnly))
	}
	mc := MailboxCert{Fingerprint: auth.CertFingerprint(cert.Raw), Subject: cert.Subject.String(), NotAfter: cert.NotAfter, Created: time.UnixMilli(now.UnixMilli())}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		var kind string
		var owner int64
		err := tx.QueryRow(ctx, `SELECT id, kind, COALESCE(owner_id, 0) FROM mailboxes WHERE address = ?`, addr).Scan(&mc.MailboxID, &kind, &owner)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mailbox %s: %w", addr, ErrNotFound)
		}
		if err != nil {
			return err
		}
		accountID := owner
		if Kind(kind) != KindPersonal {
			if accountID, err = s.serviceAccount(ctx, tx, addr, mc.MailboxID, now); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO mailbox_certs (fingerprint, mailbox_id, account_id, subject, not_after, created) VALUES (?, ?, ?, ?, ?, ?)`,
			mc.Fingerprint, mc.MailboxID, accountID, mc.Subject, cert.NotAfter.UnixMilli(), now.UnixMilli()); err != nil {
			if isUnique(err) {
				return fmt.Errorf("certificate %s: %w", mc.Fingerprint, ErrExists)
			}
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("mailbox.cert.add", addr, nil, "fingerprint="+mc.Fingerprint))
	})
	if err != nil {
		return MailboxCert{}, fmt.Errorf("pin certificate to %s: %w", addr, err)
	}
	return mc, nil
}

// serviceAccount returns the account of a mailbox's own address, creating it
// with the mailbox's rights when there is none.
func (s *Service) serviceAccount(ctx context.Context, tx *store.Tx, addr string, mailboxID int64, now time.Time) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM accounts WHERE address = ?`, addr).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		var name string
		if err := tx.QueryRow(ctx, `SELECT name FROM mailboxes WHERE id = ?`, mailboxID).Scan(&name); err != nil {
			return 0, err
		}
		if id, err = tx.Insert(ctx, `INSERT INTO accounts (address, name, created) VALUES (?, ?, ?)`, addr, name, now.UnixMilli()); err != nil {
			return 0, fmt.Errorf("service account: %w", err)
		}
	} else if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM rights WHERE mailbox_id = ? AND account_id = ?`, mailboxID, id); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO rights (mailbox_id, account_id, rights) VALUES (?, ?, ?)`, mailboxID, id, int64(certRights)); err != nil {
		return 0, err
	}
	return id, nil
}

// MailboxCerts lists the certificates pinned to the mailbox at address.
func (s *Service) MailboxCerts(ctx context.Context, actor Actor, address string) ([]MailboxCert, error) {
	if !actor.IsSystem() {
		return nil, ErrPermission
	}
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	rows, err := s.st.Query(ctx, `SELECT c.fingerprint, c.mailbox_id, c.subject, c.not_after, c.created, c.last_used
		FROM mailbox_certs c JOIN mailboxes m ON m.id = c.mailbox_id WHERE m.address = ? ORDER BY c.created, c.fingerprint`, addr)
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	defer rows.Close()
	var out []MailboxCert
	for rows.Next() {
		var c MailboxCert
		var notAfter, created, used int64
		if err := rows.Scan(&c.Fingerprint, &c.MailboxID, &c.Subject, &notAfter, &created, &used); err != nil {
			return nil, err
		}
		c.NotAfter, c.Created = time.UnixMilli(notAfter), time.UnixMilli(created)
		if used != 0 {
			c.LastUsed = time.UnixMilli(used)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RemoveMailboxCert unpins a certificate from the mailbox at address; the
// connections it opened are closed, on every node.
func (s *Service) RemoveMailboxCert(ctx context.Context, actor Actor, address, fingerprint string) error {
	if !actor.IsSystem() {
		return ErrPermission
	}
	addr, err := NormalizeAddress(address)
	if err != nil {
		return err
	}
	fp := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(fingerprint))
	cred := "cert:" + fp
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM mailbox_certs WHERE fingerprint = ? AND mailbox_id = (SELECT id FROM mailboxes WHERE address = ?)`, fp, addr)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("certificate %s on %s: %w", fp, addr, ErrNotFound)
		}
		if err := s.notifyRevoked(ctx, tx, cred); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("mailbox.cert.remove", addr, nil, "fingerprint="+fp))
	})
	if err != nil {
		return fmt.Errorf("unpin certificate: %w", err)
	}
	s.revoked.publish(cred)
	return nil
}

// checkCertificate finds the mailbox a client certificate is pinned to. An
// authorisation identity, when given, must be that mailbox's address.
func (s *Service) checkCertificate(ctx context.Context, att attempt, cert *x509.Certificate) (verified, error) {
	if cert == nil {
		return verified{}, errUnknownCredential
	}
	now := s.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return verified{}, errCertExpired
	}
	fp := auth.CertFingerprint(cert.Raw)
	var accountID, used int64
	var mailbox string
	err := s.st.QueryRow(ctx, `SELECT c.account_id, c.last_used, m.address FROM mailbox_certs c JOIN mailboxes m ON m.id = c.mailbox_id WHERE c.fingerprint = ?`, fp).Scan(&accountID, &used, &mailbox)
	if errors.Is(err, sql.ErrNoRows) {
		return verified{}, errUnknownCredential
	}
	if err != nil {
		return verified{}, err
	}
	if att.address != "" && att.address != mailbox {
		return verified{}, errUnknownCredential
	}
	v, err := s.lookupAccountState(ctx, accountID)
	if err != nil {
		return verified{}, err
	}
	v.credential = "cert:" + fp
	if now.Sub(time.UnixMilli(used)) >= deviceTouchEvery {
		if _, err := s.st.Exec(ctx, `UPDATE mailbox_certs SET last_used = ? WHERE fingerprint = ?`, now.UnixMilli(), fp); err != nil {
			return verified{}, fmt.Errorf("note certificate use: %w", err)
		}
	}
	return v, nil
}
