package core

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"caduceus/internal/blob"
	"caduceus/internal/store"
)

// Outbound is one remote recipient of a submitted message, waiting in the
// outbound queue. The queue package delivers it; the core keeps it durable.
type Outbound struct {
	ID          int64
	MailboxID   int64 // the sending mailbox, for the failure notice
	MailFrom    string
	Rcpt        string
	EnvID       string
	Notify      string
	Ret         string
	Created     time.Time
	NextAttempt time.Time
	Expires     time.Time
	Attempts    int
	LastError   string
	Size        int64
}

const outboundColumns = `o.id, COALESCE(o.mailbox_id, 0), o.mail_from, o.rcpt, o.envid, o.notify, o.ret, o.created, o.next_attempt, o.expires, o.attempts, o.last_error, b.size`

// QueueSignal receives a value whenever mail is queued or made due, so the queue
// runner wakes at once instead of at its next poll.
func (s *Service) QueueSignal() <-chan struct{} { return s.queueSignal }

// QueueLength counts the remote recipients waiting in the outbound queue.
func (s *Service) QueueLength(ctx context.Context) (int64, error) {
	var n int64
	if err := s.st.QueryRow(ctx, `SELECT COUNT(*) FROM outbound`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbound: %w", err)
	}
	return n, nil
}

// pokeQueue wakes this node's queue, and on PostgreSQL the other nodes'
// too (queueChannel), since any of them may send what was just queued.
func (s *Service) pokeQueue() {
	s.wakeQueue()
	if s.st.Dialect() != store.Postgres {
		return
	}
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s.st.Exec(ctx, `SELECT pg_notify(?, ?)`, queueChannel, s.node); err != nil {
			s.log.Warn("queue: tell other nodes", "err", err)
		}
	}()
}

// wakeQueue wakes this node's queue.
func (s *Service) wakeQueue() {
	select {
	case s.queueSignal <- struct{}{}:
	default:
	}
}

// OutboundList lists the queue, oldest first. Operators only.
func (s *Service) OutboundList(ctx context.Context, actor Actor) ([]Outbound, error) {
	if !actor.IsSystem() {
		return nil, ErrPermission
	}
	return s.queryOutbound(ctx, `SELECT `+outboundColumns+` FROM outbound o JOIN blobs b ON b.id = o.blob_id ORDER BY o.id`)
}

// RenewOutbound extends the lease of an entry being sent by lease from
// now, so that no other node claims it while the attempt lasts. An entry
// already done or released is left alone.
func (s *Service) RenewOutbound(ctx context.Context, id int64, lease time.Duration) error {
	if _, err := s.st.Exec(ctx, `UPDATE outbound SET lease_until = ? WHERE id = ? AND lease_until > 0`, s.nowMillis()+lease.Milliseconds(), id); err != nil {
		return fmt.Errorf("renew outbound lease: %w", err)
	}
	return nil
}

// ClaimOutbound returns up to limit entries due now and leases them for lease,
// so that no other runner (on this node or another) takes them meanwhile.
func (s *Service) ClaimOutbound(ctx context.Context, limit int, lease time.Duration) ([]Outbound, error) {
	now := s.nowMillis()
	var out []Outbound
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		q := `SELECT ` + outboundColumns + ` FROM outbound o JOIN blobs b ON b.id = o.blob_id WHERE o.next_attempt <= ? AND o.lease_until <= ? ORDER BY o.next_attempt LIMIT ?`
		if tx.Dialect() == store.Postgres {
			q += ` FOR UPDATE OF o SKIP LOCKED`
		}
		rows, err := tx.Query(ctx, q, now, now, limit)
		if err != nil {
			return err
		}
		out, err = scanOutbound(rows)
		if err != nil {
			return err
		}
		for _, o := range out {
			if _, err := tx.Exec(ctx, `UPDATE outbound SET lease_until = ? WHERE id = ?`, now+lease.Milliseconds(), o.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbound: %w", err)
	}
	return out, nil
}

// NextOutbound returns when the next queued entry falls due, or zero when the
// queue is empty.
func (s *Service) NextOutbound(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	if err := s.st.QueryRow(ctx, `SELECT MIN(CASE WHEN lease_until > next_attempt THEN lease_until ELSE next_attempt END) FROM outbound`).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("next outbound: %w", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return time.UnixMilli(next.Int64), nil
}

// OpenOutbound returns the content of a queued message.
func (s *Service) OpenOutbound(ctx context.Context, id int64) (*blob.Reader, error) {
	ref, err := s.blobRef(ctx, `SELECT b.segment, b.offset_bytes, b.length, b.size FROM blobs b JOIN outbound o ON o.blob_id = b.id WHERE o.id = ?`, id)
	if err != nil {
		return nil, err
	}
	return s.blobs.Open(ref)
}

// OutboundDone removes an entry after delivery (ok) or after a permanent
// failure or expiry (the queue has sent the failure notice), and traces it.
func (s *Service) OutboundDone(ctx context.Context, actor Actor, id int64, delivered bool, detail string) error {
	var events []Event
	return s.write(ctx, func(tx *store.Tx) error {
		events = nil
		var from, rcpt, messageID string
		var mailboxID int64
		err := tx.QueryRow(ctx, `SELECT mail_from, rcpt, message_id, COALESCE(mailbox_id, 0) FROM outbound WHERE id = ?`, id).Scan(&from, &rcpt, &messageID, &mailboxID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("outbound %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET refs = refs - 1 WHERE id = (SELECT blob_id FROM outbound WHERE id = ?)`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM outbound WHERE id = ?`, id); err != nil {
			return err
		}
		if mailboxID != 0 && messageID != "" {
			state := ReceiptRelayed
			if !delivered {
				state = ReceiptFailed
			}
			ev, err := s.updateReceipt(ctx, tx, mailboxID, messageID, rcpt, state, "")
			if err != nil {
				return fmt.Errorf("receipt: %w", err)
			}
			events = ev
		}
		e := actor.audit("relay", from, nil, detail)
		if !delivered {
			e.Result = "failed"
		}
		return s.audit.Record(ctx, tx, e)
	}, func() []Event { return events })
}

// OutboundRetry records a failed attempt and when to try again.
func (s *Service) OutboundRetry(ctx context.Context, id int64, next time.Time, lastError string) error {
	_, err := s.st.Exec(ctx, `UPDATE outbound SET attempts = attempts + 1, next_attempt = ?, last_error = ?, lease_until = 0 WHERE id = ?`, next.UnixMilli(), lastError, id)
	if err != nil {
		return fmt.Errorf("reschedule outbound %d: %w", id, err)
	}
	return nil
}

// RetryOutboundNow makes an entry due at once. Operators only.
func (s *Service) RetryOutboundNow(ctx context.Context, actor Actor, id int64) error {
	if !actor.IsSystem() {
		return ErrPermission
	}
	res, err := s.st.Exec(ctx, `UPDATE outbound SET next_attempt = ?, lease_until = 0 WHERE id = ?`, s.nowMillis(), id)
	if err != nil {
		return fmt.Errorf("retry outbound %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("outbound %d: %w", id, ErrNotFound)
	}
	s.pokeQueue()
	return s.audit.Write(ctx, actor.audit("queue.retry", fmt.Sprint(id), nil, ""))
}

// DropOutbound removes an entry without delivering it or notifying anyone.
// Operators only.
func (s *Service) DropOutbound(ctx context.Context, actor Actor, id int64) error {
	if !actor.IsSystem() {
		return ErrPermission
	}
	return s.OutboundDone(ctx, Actor{Door: actor.Door, Address: actor.Address, Remote: actor.Remote}, id, false, "dropped by operator")
}

func (s *Service) queryOutbound(ctx context.Context, q string, args ...any) ([]Outbound, error) {
	rows, err := s.st.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list outbound: %w", err)
	}
	return scanOutbound(rows)
}

func scanOutbound(rows *sql.Rows) ([]Outbound, error) {
	defer rows.Close()
	var out []Outbound
	for rows.Next() {
		var o Outbound
		var created, next, expires int64
		if err := rows.Scan(&o.ID, &o.MailboxID, &o.MailFrom, &o.Rcpt, &o.EnvID, &o.Notify, &o.Ret, &created, &next, &expires, &o.Attempts, &o.LastError, &o.Size); err != nil {
			return nil, err
		}
		o.Created, o.NextAttempt, o.Expires = time.UnixMilli(created), time.UnixMilli(next), time.UnixMilli(expires)
		out = append(out, o)
	}
	return out, rows.Err()
}

// SendNotice sends a message the system writes itself (a login code, a
// notification, a delivery status notice) with a null reverse-path, so that it
// never bounces back: delivered here when to is local, queued otherwise. kind
// names it in the audit trail ("login-code", "dsn"…); the recipient is not
// traced.
func (s *Service) SendNotice(ctx context.Context, actor Actor, to, kind string, data []byte) error {
	if int64(len(data)) > s.opts.MessageSizeLimit {
		return ErrTooBig
	}
	rc, err := s.CheckRecipient(ctx, to)
	if err == nil {
		return s.Deliver(ctx, actor, Delivery{Recipients: []string{rc.Address}, Data: data})
	}
	if !errors.Is(err, ErrInvalid) {
		return err
	}
	if _, err := NormalizeAddress(to); err != nil {
		return err
	}
	if data, err = s.dkimSign(ctx, data); err != nil {
		return fmt.Errorf("send notice: %w", err)
	}
	sealed, err := s.blobs.Seal(data)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	now := s.now()
	j := &job{sealed: sealed, size: int64(len(data)), apply: func(ctx context.Context, tx *store.Tx, blobID int64) ([]Event, error) {
		if _, err := tx.Exec(ctx, `INSERT INTO outbound (blob_id, mail_from, rcpt, created, next_attempt, expires) VALUES (?, '', ?, ?, ?, ?)`,
			blobID, strings.TrimSpace(to), now.UnixMilli(), now.UnixMilli(), now.Add(s.opts.QueueExpire).UnixMilli()); err != nil {
			return nil, fmt.Errorf("queue notice: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET refs = refs + 1 WHERE id = ?`, blobID); err != nil {
			return nil, err
		}
		return nil, s.audit.Record(ctx, tx, actor.audit("notice", kind, nil, ""))
	}}
	if err := s.commit.submit(ctx, j); err != nil {
		return fmt.Errorf("send notice: %w", err)
	}
	s.pokeQueue()
	return nil
}
