package core

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"caduceus/internal/report"
	"caduceus/internal/store"
)

// The read-receipt policies of a mailbox.
const (
	// MDNAsk: the reader is asked, message by message (the default).
	MDNAsk = "ask"
	// MDNAlways: a receipt goes without asking, when the request comes from
	// the message's own sender (Disposition-Notification-To equal to
	// Return-Path); otherwise the reader is still asked.
	MDNAlways = "always"
	// MDNNever: no receipt is offered.
	MDNNever = "never"
)

// MDNRequest tells whether a message asks for a read receipt (RFC 8098 §2.1)
// and what may be done about it.
type MDNRequest struct {
	// Requested: the message has Disposition-Notification-To, To is its
	// address.
	Requested bool
	To        string
	// Done: a receipt was sent or refused already ($MDNSent).
	Done bool
	// MustAsk: the request's address differs from the Return-Path, so no
	// receipt may go without the reader's consent.
	MustAsk bool
	// Policy is the mailbox's policy (MDNAsk, MDNAlways, MDNNever).
	Policy string
}

// Automatic tells whether the policy sends the receipt without asking.
func (r MDNRequest) Automatic() bool {
	return r.Requested && !r.Done && !r.MustAsk && r.Policy == MDNAlways
}

// Prompt tells whether the reader should be asked.
func (r MDNRequest) Prompt() bool {
	return r.Requested && !r.Done && r.Policy != MDNNever && !r.Automatic()
}

// ReadReceipt says whether a message the actor can read asks for a read
// receipt.
func (s *Service) ReadReceipt(ctx context.Context, actor Actor, messageID int64) (MDNRequest, error) {
	m, err := s.Message(ctx, actor, messageID)
	if err != nil {
		return MDNRequest{}, err
	}
	return s.mdnRequest(ctx, actor, m)
}

func (s *Service) mdnRequest(ctx context.Context, actor Actor, m Message) (MDNRequest, error) {
	raw, err := s.ReadMessage(ctx, actor, m.ID)
	if err != nil {
		return MDNRequest{}, err
	}
	head := raw
	if i := strings.Index(string(raw[:min(len(raw), 1<<20)]), "\r\n\r\n"); i >= 0 {
		head = raw[:i+4]
	}
	to, matches := report.Requested(head)
	r := MDNRequest{Requested: to != "", To: to, Done: slices.Contains(m.Keywords, KeywordMDNSent), MustAsk: !matches}
	if err := s.st.QueryRow(ctx, `SELECT mb.mdn_policy FROM folders f JOIN mailboxes mb ON mb.id = f.mailbox_id WHERE f.id = ?`, m.FolderID).Scan(&r.Policy); err != nil {
		return MDNRequest{}, fmt.Errorf("mdn policy: %w", err)
	}
	return r, nil
}

// SendReadReceipt sends the MDN a message asks for (RFC 8098 §3): disposition
// "displayed" or "deleted". consent says the reader chose to; without it the
// mailbox policy must allow an automatic receipt, which it never does when
// Disposition-Notification-To differs from Return-Path (RFC 8098 §2.1,
// MSSanté IG-MSS-LPS). A receipt goes once: the message is marked $MDNSent.
func (s *Service) SendReadReceipt(ctx context.Context, actor Actor, messageID int64, disposition string, consent bool) error {
	if disposition != "displayed" && disposition != "deleted" {
		return fmt.Errorf("%w: disposition %q", ErrInvalid, disposition)
	}
	m, err := s.Message(ctx, actor, messageID)
	if err != nil {
		return err
	}
	f, a, err := s.folderAccess(ctx, actor, m.FolderID, RightRead)
	if err != nil {
		return err
	}
	req, err := s.mdnRequest(ctx, actor, m)
	if err != nil {
		return err
	}
	switch {
	case !req.Requested:
		return fmt.Errorf("%w: the message asks for no read receipt", ErrInvalid)
	case req.Done:
		return fmt.Errorf("read receipt of message %d: %w", messageID, ErrExists)
	case !consent && !req.Automatic():
		return fmt.Errorf("read receipt of message %d without the reader's consent: %w", messageID, ErrPermission)
	}
	raw, err := s.ReadMessage(ctx, actor, messageID)
	if err != nil {
		return err
	}
	orig := strings.TrimSpace(headerValue(raw, "Original-Recipient"))
	if _, addr, ok := strings.Cut(orig, ";"); ok {
		orig = strings.TrimSpace(addr)
	}
	extra := ""
	if s.opts.NIL != "" {
		extra = "X-MSS-NIL: " + s.opts.NIL + "\r\n"
	}
	mdn := report.MDN{
		From: a.Address, To: req.To, ReportingUA: s.opts.Hostname,
		FinalRecipient: a.Address, OriginalRecipient: orig, OriginalMessageID: m.MessageID,
		Subject: m.Subject, Disposition: disposition, Automatic: !consent,
		Original: raw, Extra: extra, Date: s.now(), MessageID: "<" + newMessageID() + "@" + s.opts.Hostname + ">",
	}
	data := mdn.Bytes()
	if int64(len(data)) > s.opts.MessageSizeLimit {
		mdn.Original = raw[:0]
		data = mdn.Bytes()
	}
	// RFC 8098 §2.1: an MDN goes with a null reverse-path, so it never bounces.
	if err := s.SendNotice(ctx, actor, req.To, "mdn", data); err != nil {
		return fmt.Errorf("send read receipt: %w", err)
	}
	return s.markMDNSent(ctx, actor, f.MailboxID, m, "mdn."+disposition)
}

// DeclineReadReceipt records that the reader refused to send the receipt a
// message asks for: it is not asked again (RFC 3503 §3.1).
func (s *Service) DeclineReadReceipt(ctx context.Context, actor Actor, messageID int64) error {
	m, err := s.Message(ctx, actor, messageID)
	if err != nil {
		return err
	}
	f, _, err := s.folderAccess(ctx, actor, m.FolderID, RightRead)
	if err != nil {
		return err
	}
	return s.markMDNSent(ctx, actor, f.MailboxID, m, "mdn.declined")
}

func (s *Service) markMDNSent(ctx context.Context, actor Actor, mailboxID int64, m Message, action string) error {
	var ev Event
	changed := false
	return s.write(ctx, func(tx *store.Tx) error {
		changed = false
		var kw string
		if err := tx.QueryRow(ctx, `SELECT keywords FROM messages WHERE id = ?`, m.ID).Scan(&kw); err != nil {
			return err
		}
		cur := strings.Fields(kw)
		if !slices.Contains(cur, KeywordMDNSent) {
			next := append(slices.Clone(cur), KeywordMDNSent)
			slices.Sort(next)
			var err error
			if ev, err = setKeywords(ctx, tx, mailboxID, m, next); err != nil {
				return err
			}
			changed = true
		}
		return s.audit.Record(ctx, tx, actor.audit(action, fmt.Sprint(m.ID), nil, ""))
	}, func() []Event {
		if !changed {
			return nil
		}
		return []Event{ev}
	})
}

// SetReadReceiptPolicy sets a mailbox's read-receipt policy (MDNAsk,
// MDNAlways, MDNNever). It takes the owner or the admin right.
func (s *Service) SetReadReceiptPolicy(ctx context.Context, actor Actor, mailboxID int64, policy string) error {
	if policy != MDNAsk && policy != MDNAlways && policy != MDNNever {
		return fmt.Errorf("%w: read-receipt policy %q (want ask, always or never)", ErrInvalid, policy)
	}
	if !actor.IsSystem() {
		a, err := s.access(ctx, actor, mailboxID)
		if err != nil {
			return err
		}
		if !a.Owned && !a.Rights.Has(RightAdmin) {
			return fmt.Errorf("read-receipt policy of %s: %w", a.Address, ErrPermission)
		}
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE mailboxes SET mdn_policy = ? WHERE id = ?`, policy, mailboxID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("mailbox %d: %w", mailboxID, ErrNotFound)
		}
		return s.audit.Record(ctx, tx, actor.audit("mdn.policy", fmt.Sprint(mailboxID), nil, policy))
	})
}

// ReadReceiptPolicy returns a mailbox's read-receipt policy.
func (s *Service) ReadReceiptPolicy(ctx context.Context, actor Actor, mailboxID int64) (string, error) {
	if _, err := s.access(ctx, actor, mailboxID); err != nil {
		return "", err
	}
	var p string
	if err := s.st.QueryRow(ctx, `SELECT mdn_policy FROM mailboxes WHERE id = ?`, mailboxID).Scan(&p); err != nil {
		return "", fmt.Errorf("read-receipt policy: %w", err)
	}
	return p, nil
}

// headerValue returns one header field of a raw message, unfolded; "" when
// absent.
func headerValue(raw []byte, name string) string {
	head, _, _ := strings.Cut(string(raw[:min(len(raw), 1<<20)]), "\r\n\r\n")
	var val string
	found := false
	for _, line := range strings.Split(head, "\r\n") {
		if found && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			val += " " + strings.TrimSpace(line)
			continue
		}
		if found {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			val, found = strings.TrimSpace(v), true
		}
	}
	return val
}
