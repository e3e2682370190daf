package core

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"caduceus/internal/store"
)

// NotifyMode says when a person is told by e-mail that mail is waiting in a
// mailbox they may read (the guide's F5: the notification holds a link, never
// the message).
type NotifyMode string

// The notification modes.
const (
	NotifyEach   NotifyMode = "each"   // for each message, at most one mail per MinNotifyInterval
	NotifyDigest NotifyMode = "digest" // one mail every Every minutes while mail arrives
	NotifyNone   NotifyMode = "none"
)

// MinNotifyInterval is the shortest time between two notification mails to
// one person for one mailbox, whatever the mode: a burst of mail gives one
// notification now and one summary later, not a flood.
const MinNotifyInterval = 5 * time.Minute

// NotifyPrefs is one person's notification setting for one mailbox.
type NotifyPrefs struct {
	Mode  NotifyMode
	Every time.Duration // for NotifyDigest: at least MinNotifyInterval
}

// DefaultNotifyPrefs is the setting of whoever has not chosen: each message,
// at most one mail per five minutes.
var DefaultNotifyPrefs = NotifyPrefs{Mode: NotifyEach, Every: MinNotifyInterval}

// NotifyTarget is a person to tell of new mail in a mailbox.
type NotifyTarget struct {
	AccountID   int64
	Address     string // their login address
	NotifyEmail string
	Prefs       NotifyPrefs
	// Push tells whether they have a browser subscribed to Web Push.
	Push bool
}

// NotifyPrefs returns the actor's notification setting for a mailbox they may read.
func (s *Service) NotifyPrefs(ctx context.Context, actor Actor, mailboxID int64) (NotifyPrefs, error) {
	if _, err := s.require(ctx, actor, mailboxID, RightRead); err != nil {
		return NotifyPrefs{}, err
	}
	return s.notifyPrefs(ctx, mailboxID, actor.AccountID)
}

// SetNotifyPrefs changes the actor's notification setting for a mailbox they
// may read. Everyone sets their own: the owner of a personal mailbox, each
// member of an organisational one, each delegate.
func (s *Service) SetNotifyPrefs(ctx context.Context, actor Actor, mailboxID int64, p NotifyPrefs) error {
	a, err := s.require(ctx, actor, mailboxID, RightRead)
	if err != nil {
		return err
	}
	switch p.Mode {
	case NotifyEach:
		p.Every = MinNotifyInterval
	case NotifyNone:
		p.Every = 0
	case NotifyDigest:
		if p.Every < MinNotifyInterval || p.Every > 24*time.Hour {
			return fmt.Errorf("digest every %v: want from 5 minutes to 24 hours: %w", p.Every, ErrInvalid)
		}
	default:
		return fmt.Errorf("notification mode %q: want each, digest or none: %w", p.Mode, ErrInvalid)
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM notify_prefs WHERE mailbox_id = ? AND account_id = ?`, mailboxID, actor.AccountID); err != nil {
			return fmt.Errorf("set notifications: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO notify_prefs (mailbox_id, account_id, mode, every_minutes) VALUES (?, ?, ?, ?)`,
			mailboxID, actor.AccountID, string(p.Mode), int64(p.Every/time.Minute)); err != nil {
			return fmt.Errorf("set notifications: %w", err)
		}
		return s.audit.Record(ctx, tx, actor.audit("notify.set", a.Address, nil, string(p.Mode)))
	})
}

// NotifyTargets lists who is told of new mail in a mailbox: every enabled
// account that may read it (its owner, the members and delegates holding the
// read right) and has a notification address or a browser subscribed to Web
// Push, with their setting.
func (s *Service) NotifyTargets(ctx context.Context, mailboxID int64) ([]NotifyTarget, error) {
	rows, err := s.st.Query(ctx, `
SELECT a.id, a.address, a.notify_email, COALESCE(p.mode, ''), COALESCE(p.every_minutes, 0),
	CASE WHEN EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.account_id = a.id) THEN 1 ELSE 0 END
FROM accounts a
LEFT JOIN notify_prefs p ON p.mailbox_id = ? AND p.account_id = a.id
WHERE a.disabled = 0 AND (a.notify_email <> '' OR EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.account_id = a.id)) AND (
	a.id = (SELECT owner_id FROM mailboxes WHERE id = ?)
	OR a.id IN (SELECT account_id FROM rights WHERE mailbox_id = ? AND rights & ? <> 0))
ORDER BY a.id`, mailboxID, mailboxID, mailboxID, int64(RightRead))
	if err != nil {
		return nil, fmt.Errorf("notification targets: %w", err)
	}
	defer rows.Close()
	var out []NotifyTarget
	for rows.Next() {
		var t NotifyTarget
		var mode string
		var every, push int64
		if err := rows.Scan(&t.AccountID, &t.Address, &t.NotifyEmail, &mode, &every, &push); err != nil {
			return nil, fmt.Errorf("notification targets: %w", err)
		}
		t.Prefs = prefsOf(mode, every)
		t.Push = push != 0
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Service) notifyPrefs(ctx context.Context, mailboxID, accountID int64) (NotifyPrefs, error) {
	var mode string
	var every int64
	err := s.st.QueryRow(ctx, `SELECT mode, every_minutes FROM notify_prefs WHERE mailbox_id = ? AND account_id = ?`, mailboxID, accountID).Scan(&mode, &every)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultNotifyPrefs, nil
	}
	if err != nil {
		return NotifyPrefs{}, fmt.Errorf("read notifications: %w", err)
	}
	return prefsOf(mode, every), nil
}

func prefsOf(mode string, everyMinutes int64) NotifyPrefs {
	if mode == "" {
		return DefaultNotifyPrefs
	}
	return NotifyPrefs{Mode: NotifyMode(mode), Every: time.Duration(everyMinutes) * time.Minute}
}

// NoteArrivals records that n messages arrived in a mailbox, the last one
// lastMessage, for everyone to be told of them. Notification addresses in a
// local domain are not written to (that mail is read here already): whoever
// has no other address and no Web Push is left out.
func (s *Service) NoteArrivals(ctx context.Context, mailboxID, lastMessage int64, n int) error {
	targets, err := s.NotifyTargets(ctx, mailboxID)
	if err != nil {
		return err
	}
	now := s.now().UnixMilli()
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		for _, t := range targets {
			if t.Prefs.Mode == NotifyNone {
				continue
			}
			email, err := s.emailNotice(ctx, t.NotifyEmail)
			if err != nil {
				return err
			}
			if !email && !t.Push {
				continue
			}
			res, err := tx.Exec(ctx, `UPDATE notify_state SET pending = pending + ?, last_message = ?,
				first_pending = CASE WHEN pending = 0 THEN ? ELSE first_pending END
				WHERE mailbox_id = ? AND account_id = ?`, n, lastMessage, now, mailboxID, t.AccountID)
			if err != nil {
				return fmt.Errorf("note arrival: %w", err)
			}
			if k, err := res.RowsAffected(); err != nil || k > 0 {
				if err != nil {
					return err
				}
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO notify_state (mailbox_id, account_id, pending, first_pending, last_message) VALUES (?, ?, ?, ?, ?)`,
				mailboxID, t.AccountID, n, now, lastMessage); err != nil {
				return fmt.Errorf("note arrival: %w", err)
			}
		}
		return nil
	})
}

// DueNotification is one notification to send now: Count messages arrived
// in the mailbox since the person was last told, the last one LastMessage.
// It goes by e-mail when Email is set, and by Web Push to each browser the
// person subscribed.
type DueNotification struct {
	Mailbox     string // the mailbox's address
	MailboxID   int64
	Target      NotifyTarget
	Count       int
	LastMessage int64
	Email       bool // the notification address is set and not local
}

// TakeDueNotifications returns the notifications due now and marks them
// sent, each to one caller only, whichever node asks. A person in NotifyEach
// mode is told at once, then at most once per MinNotifyInterval; in
// NotifyDigest mode once per period, the period starting at the first message
// not yet told.
func (s *Service) TakeDueNotifications(ctx context.Context) ([]DueNotification, error) {
	rows, err := s.st.Query(ctx, `
SELECT n.mailbox_id, m.address, n.account_id, a.address, a.notify_email, COALESCE(p.mode, ''), COALESCE(p.every_minutes, 0),
	n.pending, n.first_pending, n.last_message, n.last_sent
FROM notify_state n
JOIN mailboxes m ON m.id = n.mailbox_id
JOIN accounts a ON a.id = n.account_id
LEFT JOIN notify_prefs p ON p.mailbox_id = n.mailbox_id AND p.account_id = n.account_id
WHERE n.pending > 0`)
	if err != nil {
		return nil, fmt.Errorf("due notifications: %w", err)
	}
	type row struct {
		d               DueNotification
		first, lastSent int64
	}
	var candidates []row
	for rows.Next() {
		var r row
		var mode string
		var every int64
		if err := rows.Scan(&r.d.MailboxID, &r.d.Mailbox, &r.d.Target.AccountID, &r.d.Target.Address, &r.d.Target.NotifyEmail, &mode, &every,
			&r.d.Count, &r.first, &r.d.LastMessage, &r.lastSent); err != nil {
			rows.Close()
			return nil, fmt.Errorf("due notifications: %w", err)
		}
		r.d.Target.Prefs = prefsOf(mode, every)
		candidates = append(candidates, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due notifications: %w", err)
	}
	now := s.now()
	var due []DueNotification
	for _, r := range candidates {
		p := r.d.Target.Prefs
		var at time.Time
		switch p.Mode {
		case NotifyEach:
			at = time.UnixMilli(r.lastSent).Add(MinNotifyInterval)
		case NotifyDigest:
			at = time.UnixMilli(max(r.lastSent, r.first)).Add(p.Every)
		}
		if p.Mode != NotifyNone && now.Before(at) {
			continue
		}
		// Compare and set: another node that took it first changed pending
		// or last_sent, and this one sends nothing.
		res, err := s.st.Exec(ctx, `UPDATE notify_state SET pending = 0, first_pending = 0, last_sent = ?
			WHERE mailbox_id = ? AND account_id = ? AND pending = ? AND last_sent = ?`,
			now.UnixMilli(), r.d.MailboxID, r.d.Target.AccountID, r.d.Count, r.lastSent)
		if err != nil {
			return due, fmt.Errorf("take notification: %w", err)
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 || p.Mode == NotifyNone {
			continue
		}
		if r.d.Email, err = s.emailNotice(ctx, r.d.Target.NotifyEmail); err != nil {
			return due, err
		}
		due = append(due, r.d)
	}
	return due, nil
}

// emailNotice tells whether a notification mail goes to addr: it is set and
// not in one of this node's domains.
func (s *Service) emailNotice(ctx context.Context, addr string) (bool, error) {
	if addr == "" {
		return false, nil
	}
	local, err := s.isLocalAddress(ctx, addr)
	return !local, err
}

// isLocalAddress tells whether addr is in one of this node's domains.
func (s *Service) isLocalAddress(ctx context.Context, addr string) (bool, error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return false, nil
	}
	_, domain, _ := strings.Cut(a, "@")
	return s.IsLocalDomain(ctx, domain)
}
