package core

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"caduceus/internal/report"
	"caduceus/internal/store"
)

// The states of one recipient of a message sent, in the order they are
// reached; Failed ends the way before Delivered.
const (
	// ReceiptSent: the message left the sender; it waits in the queue.
	ReceiptSent = "sent"
	// ReceiptRelayed: the recipient's operator accepted it ("accepté par
	// l'opérateur").
	ReceiptRelayed = "relayed"
	// ReceiptDelivered: it is in the recipient's mailbox ("remis"): local
	// delivery, or a DSN with Action: delivered.
	ReceiptDelivered = "delivered"
	// ReceiptRead: a displayed MDN came back ("lu").
	ReceiptRead = "read"
	// ReceiptDeleted: a deleted MDN came back: removed without being read.
	ReceiptDeleted = "deleted"
	// ReceiptFailed: a DSN or the queue says it cannot be delivered.
	ReceiptFailed = "failed"
)

// The IMAP keywords that summarise the receipts on the Sent copy of a
// message; each is set once every recipient reached that state (or a
// later one), $DeliveryFailed as soon as one recipient failed.
const (
	KeywordAccepted       = "$Accepted"
	KeywordDelivered      = "$Delivered"
	KeywordRead           = "$Read"
	KeywordDeliveryFailed = "$DeliveryFailed"
	// KeywordMDNSent marks, on the reader's side, a message whose read
	// receipt was sent or refused (RFC 3503 §3.1): never asked again.
	KeywordMDNSent = "$MDNSent"
)

var receiptKeywords = []string{KeywordAccepted, KeywordDelivered, KeywordRead, KeywordDeliveryFailed}

func receiptRank(state string) int {
	switch state {
	case ReceiptSent:
		return 0
	case ReceiptRelayed:
		return 1
	case ReceiptFailed:
		return 2
	case ReceiptDelivered:
		return 3
	case ReceiptRead, ReceiptDeleted:
		return 4
	}
	return -1
}

// Receipt is the state of one recipient of a message sent.
type Receipt struct {
	Recipient string
	State     string
	// Detail is a short status ("5.1.1"), never content.
	Detail  string
	Updated time.Time
}

// Receipts lists what became of each recipient of a message the actor can
// read, by recipient; empty for a message not sent from that mailbox.
func (s *Service) Receipts(ctx context.Context, actor Actor, messageID int64) ([]Receipt, error) {
	m, err := s.Message(ctx, actor, messageID)
	if err != nil {
		return nil, err
	}
	f, _, err := s.folderAccess(ctx, actor, m.FolderID, RightRead)
	if err != nil {
		return nil, err
	}
	if m.MessageID == "" {
		return nil, nil
	}
	rows, err := s.st.Query(ctx, `SELECT rcpt, state, detail, updated FROM receipts WHERE mailbox_id = ? AND message_id = ? ORDER BY rcpt`, f.MailboxID, m.MessageID)
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	defer rows.Close()
	var out []Receipt
	for rows.Next() {
		var r Receipt
		var updated int64
		if err := rows.Scan(&r.Recipient, &r.State, &r.Detail, &updated); err != nil {
			return nil, err
		}
		r.Updated = time.UnixMilli(updated)
		out = append(out, r)
	}
	return out, rows.Err()
}

// insertReceipts records the recipients of a message just submitted.
func insertReceipts(ctx context.Context, tx *store.Tx, mailboxID int64, messageID string, states map[string]string, now time.Time) error {
	if messageID == "" {
		return nil
	}
	for rcpt, state := range states {
		if _, err := tx.Exec(ctx, `INSERT INTO receipts (mailbox_id, message_id, rcpt, state, updated) VALUES (?, ?, ?, ?, ?) ON CONFLICT (mailbox_id, message_id, rcpt) DO NOTHING`,
			mailboxID, messageID, strings.ToLower(rcpt), state, now.UnixMilli()); err != nil {
			return fmt.Errorf("record receipt: %w", err)
		}
	}
	return nil
}

// receiptKeywordsFor returns the keywords that summarise states.
func receiptKeywordsFor(states []string) []string {
	if len(states) == 0 {
		return nil
	}
	min := 99
	failed := false
	for _, st := range states {
		r := receiptRank(st)
		if st == ReceiptFailed {
			failed = true
			continue
		}
		if r < min {
			min = r
		}
	}
	var kw []string
	if failed {
		kw = append(kw, KeywordDeliveryFailed)
		return kw
	}
	if min >= receiptRank(ReceiptRelayed) {
		kw = append(kw, KeywordAccepted)
	}
	if min >= receiptRank(ReceiptDelivered) {
		kw = append(kw, KeywordDelivered)
	}
	allRead := true
	for _, st := range states {
		allRead = allRead && st == ReceiptRead
	}
	if allRead {
		kw = append(kw, KeywordRead)
	}
	return kw
}

// updateReceipt moves one recipient forward, never back (a late DSN does not
// undo a read receipt), then brings the keywords of the Sent copies up to
// date. It returns the events of the keyword change.
func (s *Service) updateReceipt(ctx context.Context, tx *store.Tx, mailboxID int64, messageID, rcpt, state, detail string) ([]Event, error) {
	rcpt = strings.ToLower(rcpt)
	var cur string
	err := tx.QueryRow(ctx, `SELECT state FROM receipts WHERE mailbox_id = ? AND message_id = ? AND rcpt = ?`, mailboxID, messageID, rcpt).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil // not a message sent from here, or a recipient it did not have
	}
	if err != nil {
		return nil, err
	}
	if receiptRank(state) <= receiptRank(cur) {
		return nil, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE receipts SET state = ?, detail = ?, updated = ? WHERE mailbox_id = ? AND message_id = ? AND rcpt = ?`,
		state, detail, s.nowMillis(), mailboxID, messageID, rcpt); err != nil {
		return nil, err
	}
	return s.syncReceiptKeywords(ctx, tx, mailboxID, messageID)
}

// syncReceiptKeywords sets the receipt keywords on the copies of a message
// in the mailbox's Sent folders.
func (s *Service) syncReceiptKeywords(ctx context.Context, tx *store.Tx, mailboxID int64, messageID string) ([]Event, error) {
	rows, err := tx.Query(ctx, `SELECT state FROM receipts WHERE mailbox_id = ? AND message_id = ?`, mailboxID, messageID)
	if err != nil {
		return nil, err
	}
	var states []string
	for rows.Next() {
		var st string
		if err := rows.Scan(&st); err != nil {
			rows.Close()
			return nil, err
		}
		states = append(states, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	want := receiptKeywordsFor(states)
	msgs, err := queryMessages(ctx, tx, `SELECT m.`+strings.ReplaceAll(messageColumns, ", ", ", m.")+` FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.mailbox_id = ? AND f.special_use = ? AND m.message_id = ?`, mailboxID, `\Sent`, messageID)
	if err != nil {
		return nil, err
	}
	var events []Event
	for _, m := range msgs {
		kw := slices.DeleteFunc(slices.Clone(m.Keywords), func(k string) bool { return slices.Contains(receiptKeywords, k) })
		kw = append(kw, want...)
		slices.Sort(kw)
		if equalKeywords(kw, m.Keywords) {
			continue
		}
		ev, err := setKeywords(ctx, tx, mailboxID, m, kw)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}

// setKeywords replaces a message's keywords with a new MODSEQ.
func setKeywords(ctx context.Context, tx *store.Tx, mailboxID int64, m Message, kw []string) (Event, error) {
	var modseq uint64
	if err := tx.QueryRow(ctx, `UPDATE folders SET highest_modseq = highest_modseq + 1 WHERE id = ? RETURNING highest_modseq`, m.FolderID).Scan(&modseq); err != nil {
		return Event{}, fmt.Errorf("next modseq: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET keywords = ?, modseq = ? WHERE id = ?`, strings.Join(kw, " "), modseq, m.ID); err != nil {
		return Event{}, err
	}
	return Event{MailboxID: mailboxID, FolderID: m.FolderID, Kind: EventFlags, ModSeq: modseq}, nil
}

// mayBeReport tells cheaply whether a message can be a DSN or an MDN.
func mayBeReport(data []byte) bool {
	head := data[:min(len(data), 16<<10)]
	return bytes.Contains(bytes.ToLower(head), []byte("multipart/report"))
}

// applyReport updates the receipts a DSN or an MDN delivered to a mailbox
// reports on, in the delivery's transaction.
func (s *Service) applyReport(ctx context.Context, tx *store.Tx, mailboxID int64, rep *report.Report) ([]Event, error) {
	var events []Event
	for _, r := range rep.Recipients {
		state, detail := "", r.Status
		switch {
		case rep.Kind == report.Disposition && r.Disposition == "displayed":
			state = ReceiptRead
		case rep.Kind == report.Disposition && r.Disposition == "deleted":
			state = ReceiptDeleted
		case r.Action == "delivered" || r.Action == "expanded":
			state = ReceiptDelivered
		case r.Action == "relayed":
			state = ReceiptRelayed
		case r.Action == "failed":
			state = ReceiptFailed
		default:
			continue
		}
		for _, rcpt := range []string{r.Final, r.Original} {
			if rcpt == "" {
				continue
			}
			ev, err := s.updateReceipt(ctx, tx, mailboxID, rep.MessageID, rcpt, state, detail)
			if err != nil {
				return nil, err
			}
			events = append(events, ev...)
		}
	}
	return events, nil
}
