package core

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"caduceus/internal/blob"
	"caduceus/internal/message"
	"caduceus/internal/report"
	"caduceus/internal/store"
)

var errClosed = errors.New("service closed")

// Recipient is a local mailbox that mail can be delivered to.
type Recipient struct {
	MailboxID int64
	Address   string
}

// CheckRecipient tells whether mail for addr can be delivered here: ErrInvalid
// when the address is malformed or its domain is not local, ErrNoSuchRecipient
// when the domain is local but no mailbox has that address, ErrQuota when the
// mailbox is already full. Doors call it at RCPT time (RFC 5321 §3.3).
func (s *Service) CheckRecipient(ctx context.Context, addr string) (Recipient, error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return Recipient{}, err
	}
	var r Recipient
	var quota, used int64
	err = s.st.QueryRow(ctx, `SELECT id, address, quota_bytes, used_bytes FROM mailboxes WHERE address = ?`, a).Scan(&r.MailboxID, &r.Address, &quota, &used)
	if errors.Is(err, sql.ErrNoRows) {
		local, lerr := s.IsLocalDomain(ctx, DomainOf(a))
		if lerr != nil {
			return Recipient{}, lerr
		}
		if local {
			return Recipient{}, fmt.Errorf("%s: %w", a, ErrNoSuchRecipient)
		}
		return Recipient{}, fmt.Errorf("%w: %s is not a local domain", ErrInvalid, DomainOf(a))
	}
	if err != nil {
		return Recipient{}, fmt.Errorf("look up %s: %w", a, err)
	}
	if quota > 0 && used >= quota {
		return Recipient{}, fmt.Errorf("%s: %w", a, ErrQuota)
	}
	return r, nil
}

// Delivery is a message arriving for local recipients.
type Delivery struct {
	// MailFrom is the envelope sender; empty for a bounce.
	MailFrom string
	// Recipients are local addresses, each checked with CheckRecipient.
	Recipients []string
	// Data is the whole message as it will be stored, trace headers included.
	Data []byte
}

// Deliver stores a message in the Inbox of each recipient, with one blob for
// all of them, and returns once it is durable. It is all or nothing: if one
// recipient cannot take it (quota), no one gets it and the error says why.
func (s *Service) Deliver(ctx context.Context, actor Actor, d Delivery) error {
	if int64(len(d.Data)) > s.opts.MessageSizeLimit {
		return ErrTooBig
	}
	rcpts, err := s.resolveLocal(ctx, d.Recipients)
	if err != nil {
		return err
	}
	md := modelOf(d.Data)
	if err := s.checkPatientMessage(ctx, d.MailFrom, md.Header, rcpts); err != nil {
		return err
	}
	var rep *report.Report
	if mayBeReport(d.Data) {
		rep, _ = report.Parse(d.Data) // not a readable report: stored all the same
	}
	sealed, err := s.blobs.Seal(d.Data)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	size := int64(len(d.Data))
	internal := s.now()
	plans := make([]sievePlan, len(rcpts))
	for i, r := range rcpts {
		plans[i] = s.planDelivery(ctx, r, d.MailFrom, d.Data, md)
	}
	j := &job{sealed: sealed, size: size, model: md.stored, text: newSearchText(md), apply: func(ctx context.Context, tx *store.Tx, blobID int64) ([]Event, error) {
		var events []Event
		for i, r := range rcpts {
			for _, pl := range plans[i].places {
				e, err := s.insertInto(ctx, tx, r.MailboxID, pl.folder, blobID, size, pl.flags, pl.keywords, internal, md)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", r.Address, err)
				}
				events = append(events, e.arrival())
			}
			if rep != nil {
				ev, err := s.applyReport(ctx, tx, r.MailboxID, rep)
				if err != nil {
					return nil, fmt.Errorf("%s: receipts: %w", r.Address, err)
				}
				events = append(events, ev...)
			}
			if err := s.audit.Record(ctx, tx, actor.audit("deliver", r.Address, nil, plans[i].detail)); err != nil {
				return nil, err
			}
		}
		return events, nil
	}}
	if err := s.commit.submit(ctx, j); err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	for i, r := range rcpts {
		s.afterDelivery(ctx, r, d.MailFrom, d.Data, plans[i])
	}
	return nil
}

// Append stores a message in a folder with the given flags and internal date
// (RFC 9051 §6.3.12). It takes the insert right; flags the actor may not set are
// dropped as in StoreFlags.
func (s *Service) Append(ctx context.Context, actor Actor, folderID int64, flags Flags, keywords []string, date time.Time, data []byte) (Message, error) {
	return s.AppendFrom(ctx, actor, folderID, flags, keywords, date, bytes.NewReader(data), int64(len(data)))
}

// spoolFrom is the size from which AppendFrom seals a message into a spool
// file rather than in memory.
const spoolFrom = 1 << 20

// Limits of one AppendAll: how many messages, and how many bytes of small
// ones it keeps sealed in memory before it spools them too.
const (
	maxAppendAll    = 1000
	appendAllMemory = 32 << 20
)

// AppendFrom is Append reading the message from r, which must hold size
// bytes and end there: a large message is sealed chunk by chunk into a
// spool file as it is read, and its model computed from the same stream,
// so that it is never whole in memory (an IMAP APPEND literal). An error
// of r, even at its very end, fails the append.
func (s *Service) AppendFrom(ctx context.Context, actor Actor, folderID int64, flags Flags, keywords []string, date time.Time, r io.Reader, size int64) (Message, error) {
	given := false
	msgs, err := s.AppendAll(ctx, actor, folderID, func() (*AppendItem, error) {
		if given {
			return nil, nil
		}
		given = true
		return &AppendItem{Flags: flags, Keywords: keywords, Date: date, R: r, Size: size}, nil
	})
	if err != nil {
		return Message{}, err
	}
	return msgs[0], nil
}

// AppendItem is one message of AppendAll.
type AppendItem struct {
	Flags    Flags
	Keywords []string
	Date     time.Time // zero for now
	R        io.Reader // exactly Size bytes
	Size     int64
}

// AppendAll appends to a folder the messages next returns, until it returns
// nil, all in one commit or none (IMAP MULTIAPPEND, RFC 3502 §6.3.11). Each
// message is read to its end, sealed and modelled as AppendFrom does,
// before next is called again, so that a door can read them one after the
// other from its connection; an error of next or of a reader fails them
// all, and is returned wrapped. It takes the insert right; flags the actor
// may not set are dropped as in StoreFlags. The messages come back in order.
func (s *Service) AppendAll(ctx context.Context, actor Actor, folderID int64, next func() (*AppendItem, error)) ([]Message, error) {
	f, a, err := s.folderAccess(ctx, actor, folderID, RightInsert)
	if err != nil {
		return nil, err
	}
	var jobs []*job
	defer func() {
		for _, j := range jobs {
			if j.spool != nil {
				j.spool.Close()
			}
		}
	}()
	ids := make([]int64, 0, 1)
	inMemory := int64(0)
	for {
		it, err := next()
		if err != nil {
			return nil, fmt.Errorf("append to %s: %w", a.Address, err)
		}
		if it == nil {
			break
		}
		if len(jobs) == maxAppendAll {
			return nil, fmt.Errorf("%w: more than %d messages in one append", ErrInvalid, maxAppendAll)
		}
		if it.Size > s.opts.MessageSizeLimit {
			return nil, ErrTooBig
		}
		flags, keywords := it.Flags, it.Keywords
		if !a.Rights.Has(RightSeen) {
			flags &^= FlagSeen
		}
		if !a.Rights.Has(RightDeleteMessages) {
			flags &^= FlagDeleted
		}
		if !a.Rights.Has(RightWrite) {
			flags &^= FlagAnswered | FlagFlagged | FlagDraft
			keywords = nil
		}
		date := it.Date
		if date.IsZero() {
			date = s.now()
		}
		spool := it.Size >= spoolFrom || inMemory+it.Size > appendAllMemory
		j, md, err := s.sealStream(it.R, it.Size, spool)
		if err != nil {
			return nil, fmt.Errorf("append to %s: %w", a.Address, err)
		}
		if !spool {
			inMemory += it.Size
		}
		k, size := len(jobs), it.Size
		ids = append(ids, 0)
		j.apply = func(ctx context.Context, tx *store.Tx, blobID int64) ([]Event, error) {
			e, err := s.insertInto(ctx, tx, f.MailboxID, f.Name, blobID, size, flags, keywords, date, md)
			if err != nil {
				return nil, err
			}
			ids[k] = e.messageID
			return []Event{e.Event}, s.audit.Record(ctx, tx, actor.audit("append", a.Address, nil, ""))
		}
		jobs = append(jobs, j)
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("%w: no message to append", ErrInvalid)
	}
	first := jobs[0]
	first.with = jobs[1:]
	if err := s.commit.submit(ctx, first); err != nil {
		return nil, fmt.Errorf("append to %s: %w", a.Address, err)
	}
	out := make([]Message, len(ids))
	for i, id := range ids {
		if out[i], err = s.Message(ctx, actor, id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sealStream reads a message of size bytes from r to its end and returns
// the job that stores it, without its apply, and its model: sealed in
// memory, or into a spool file when spool is set while a second reader of
// the same stream computes the model.
func (s *Service) sealStream(r io.Reader, size int64, spool bool) (*job, *model, error) {
	if !spool {
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, nil, err
		}
		if int64(len(data)) != size {
			return nil, nil, fmt.Errorf("%w: %d bytes, %d announced", ErrInvalid, len(data), size)
		}
		md := modelOf(data)
		sealed, err := s.blobs.Seal(data)
		if err != nil {
			return nil, nil, fmt.Errorf("seal: %w", err)
		}
		return &job{sealed: sealed, size: size, model: md.stored, text: newSearchText(md)}, md, nil
	}
	pr, pw := io.Pipe()
	type parsed struct {
		md  *model
		err error
	}
	done := make(chan parsed, 1)
	go func() {
		md, err := parseModel(pr)
		io.Copy(io.Discard, pr) // whatever happens, the sealing side is not blocked
		done <- parsed{md, err}
	}()
	sp, err := s.blobs.SealSpool(io.TeeReader(r, pw), size)
	pw.CloseWithError(err)
	res := <-done
	if err != nil {
		if errors.Is(err, blob.ErrSize) {
			err = fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return nil, nil, err
	}
	if res.err != nil {
		sp.Close()
		return nil, nil, res.err
	}
	return &job{spool: sp, size: size, model: res.md.stored, text: newSearchText(res.md)}, res.md, nil
}

// Submission is a message a person sends.
type Submission struct {
	// MailFrom is the envelope sender: an address the actor may send from.
	MailFrom string
	// Recipients are local or remote addresses.
	Recipients []string
	// Data is the message as the client wrote it; the core adds Message-ID,
	// Date and Sender where needed and removes Bcc.
	Data []byte
	// EnvID, Notify and Ret are the DSN parameters (RFC 3461) to carry along.
	EnvID, Notify, Ret string
	// DraftID, when set, is a draft of the actor's to remove once sent.
	DraftID int64
	// External sends remote recipients outside the trust space a secure
	// link instead of the message, which stays here (see ShareExternal).
	External bool
	// BlockPatientReplies asks that a patient may not answer: X-MSS-MES:
	// FIN on a message to a patient (Référentiel #2 ECO.2.2.8).
	BlockPatientReplies bool
	// Trace holds header fields the door puts on top of the message, above
	// what the core adds (RFC 5321 §4.4): its Received field, CRLF-terminated.
	Trace []byte
}

// SubmitResult says what became of a submission.
type SubmitResult struct {
	MessageID string // the Message-ID header, as sent
	SentUID   uint32 // the copy in the sender's Sent folder
	Local     int    // recipients delivered here
	Queued    int    // recipients queued for remote delivery
	// External holds the links made for recipients outside the trust
	// space (Submission.External), for the door to mail.
	External []ExternalLink
}

// Submit sends a message for the actor: it checks the actor may send from the
// envelope sender and every From: address (own mailbox, or send-as, or
// send-on-behalf, which adds Sender:), delivers to local recipients, queues the
// remote ones and files a copy in the sending mailbox's Sent folder, all in one
// durable commit.
func (s *Service) Submit(ctx context.Context, actor Actor, sub Submission) (SubmitResult, error) {
	if actor.IsSystem() {
		return SubmitResult{}, fmt.Errorf("%w: the system does not submit mail", ErrPermission)
	}
	if len(sub.Recipients) == 0 {
		return SubmitResult{}, fmt.Errorf("%w: no recipients", ErrInvalid)
	}
	if int64(len(sub.Data)) > s.opts.MessageSizeLimit {
		return SubmitResult{}, ErrTooBig
	}
	from, err := s.CheckSender(ctx, actor, sub.MailFrom)
	if err != nil {
		return SubmitResult{}, err
	}
	onBehalf := ""
	if !from.Owned && !from.Rights.Has(RightSendAs) {
		onBehalf = actor.Address
	}
	data, fromAddrs, err := prepareSubmission(sub.Data, s.opts.Hostname, s.now(), onBehalf, newMessageID)
	if err != nil {
		return SubmitResult{}, err
	}
	for _, fa := range fromAddrs {
		if fa == from.Address {
			continue
		}
		other, err := s.CheckSender(ctx, actor, fa)
		if err != nil {
			return SubmitResult{}, fmt.Errorf("header From: %w", err)
		}
		if !other.Owned && !other.Rights.Has(RightSendAs) && onBehalf == "" {
			return SubmitResult{}, fmt.Errorf("header From: %s: %w", fa, ErrPermission)
		}
	}
	if data, err = s.mssHeaders(data, sub.Recipients, sub.BlockPatientReplies); err != nil {
		return SubmitResult{}, err
	}
	if len(sub.Trace) > 0 {
		data = append(append(make([]byte, 0, len(sub.Trace)+len(data)), sub.Trace...), data...)
	}
	if int64(len(data)) > s.opts.MessageSizeLimit {
		return SubmitResult{}, ErrTooBig
	}
	var local []Recipient
	var remote, external []string
	seen := map[string]bool{}
	for _, r := range sub.Recipients {
		addr, err := NormalizeAddress(r)
		if err != nil {
			return SubmitResult{}, err
		}
		if seen[addr] {
			continue
		}
		seen[addr] = true
		rc, err := s.CheckRecipient(ctx, addr)
		switch {
		case err == nil:
			local = append(local, rc)
		case errors.Is(err, ErrInvalid):
			if sub.External && s.outsideTrustSpace(ctx, actor, addr) {
				external = append(external, addr)
				continue
			}
			if err := s.CheckRemote(ctx, actor, addr); err != nil {
				return SubmitResult{}, err
			}
			// RFC 5321 §2.4: the case of a remote local part is the remote
			// domain's business; keep it as written.
			remote = append(remote, strings.TrimSpace(r))
		default:
			return SubmitResult{}, err
		}
	}
	if len(remote) > 0 {
		// One blob serves every copy: the signed message leaves, and the
		// local and Sent copies carry the same signature.
		if data, err = s.dkimSign(ctx, data); err != nil {
			return SubmitResult{}, fmt.Errorf("submit: %w", err)
		}
	}
	md := modelOf(data)
	sealed, err := s.blobs.Seal(data)
	if err != nil {
		return SubmitResult{}, fmt.Errorf("seal: %w", err)
	}
	size := int64(len(data))
	now := s.now()
	res := SubmitResult{MessageID: md.Header.MessageID, Local: len(local), Queued: len(remote)}
	states := map[string]string{}
	for _, r := range local {
		states[r.Address] = ReceiptDelivered
	}
	for _, r := range append(remote, external...) {
		states[strings.ToLower(r)] = ReceiptSent
	}
	res.External = s.newExternalLinks(external)
	stateList := make([]string, 0, len(states))
	for _, st := range states {
		stateList = append(stateList, st)
	}
	sentKeywords := receiptKeywordsFor(stateList)
	plans := make([]sievePlan, len(local))
	for i, r := range local {
		plans[i] = s.planDelivery(ctx, r, from.Address, data, md)
	}
	j := &job{sealed: sealed, size: size, model: md.stored, text: newSearchText(md), apply: func(ctx context.Context, tx *store.Tx, blobID int64) ([]Event, error) {
		var events []Event
		for i, r := range local {
			for _, pl := range plans[i].places {
				e, err := s.insertInto(ctx, tx, r.MailboxID, pl.folder, blobID, size, pl.flags, pl.keywords, now, md)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", r.Address, err)
				}
				events = append(events, e.arrival())
			}
		}
		sent, err := s.insertInto(ctx, tx, from.ID, `\Sent`, blobID, size, FlagSeen, sentKeywords, now, md)
		if err != nil {
			return nil, fmt.Errorf("copy to Sent: %w", err)
		}
		res.SentUID = sent.uid
		events = append(events, sent.Event)
		for _, rcpt := range remote {
			if _, err := tx.Exec(ctx, `INSERT INTO outbound (blob_id, mailbox_id, mail_from, rcpt, envid, notify, ret, created, next_attempt, expires, message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				blobID, from.ID, from.Address, rcpt, sub.EnvID, sub.Notify, sub.Ret, now.UnixMilli(), now.UnixMilli(), now.Add(s.opts.QueueExpire).UnixMilli(), md.Header.MessageID); err != nil {
				return nil, fmt.Errorf("queue: %w", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE blobs SET refs = refs + 1 WHERE id = ?`, blobID); err != nil {
				return nil, err
			}
		}
		if err := insertReceipts(ctx, tx, from.ID, md.Header.MessageID, states, now); err != nil {
			return nil, err
		}
		if err := insertExternalLinks(ctx, tx, res.External, from.ID, blobID, md.Header.MessageID, now); err != nil {
			return nil, err
		}
		if sub.DraftID != 0 {
			ev, err := s.dropDraft(ctx, tx, actor, sub.DraftID)
			if err != nil {
				return nil, err
			}
			events = append(events, ev...)
		}
		if action, parent := answered(md.Header); action != "" {
			if err := s.recordHandled(ctx, tx, actor, from.Mailbox, action, "", parent); err != nil {
				return nil, err
			}
		}
		detail := fmt.Sprintf("%d local, %d remote", len(local), len(remote))
		if onBehalf != "" {
			detail += ", on behalf"
		}
		return events, s.audit.Record(ctx, tx, actor.audit("send", from.Address, nil, detail))
	}}
	if err := s.commit.submit(ctx, j); err != nil {
		return SubmitResult{}, fmt.Errorf("submit: %w", err)
	}
	for i, r := range local {
		s.afterDelivery(ctx, r, from.Address, data, plans[i])
	}
	if len(remote) > 0 {
		s.pokeQueue()
	}
	return res, nil
}

// CheckRemote tells whether the actor may send to addr, a remote address:
// nil without a RemotePolicy, or an error wrapping ErrUntrusted with the
// policy's reason. Submission doors call it at RCPT time; Submit calls it for
// every remote recipient.
func (s *Service) CheckRemote(ctx context.Context, actor Actor, addr string) error {
	if s.opts.RemotePolicy == nil {
		return nil
	}
	if err := s.opts.RemotePolicy.AllowRemote(ctx, actor, addr); err != nil {
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	return nil
}

// CheckSender tells whether the actor may send from addr: they own its mailbox,
// or hold send-as or send-on-behalf on it (no other right is needed). Submission
// doors call it at MAIL FROM.
func (s *Service) CheckSender(ctx context.Context, actor Actor, addr string) (Access, error) {
	norm, err := NormalizeAddress(addr)
	if err != nil {
		return Access{}, fmt.Errorf("send as %s: %w", addr, ErrPermission)
	}
	var id int64
	if err := s.st.QueryRow(ctx, `SELECT id FROM mailboxes WHERE address = ?`, norm).Scan(&id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Access{}, fmt.Errorf("send as %s: %w", norm, ErrPermission)
		}
		return Access{}, err
	}
	a, err := s.access(ctx, actor, id)
	if err != nil {
		return Access{}, err
	}
	if !a.Owned && !a.Rights.Has(RightSendAs) && !a.Rights.Has(RightSendOnBehalf) {
		return Access{}, fmt.Errorf("send as %s: %w", a.Address, ErrPermission)
	}
	return a, nil
}

func (s *Service) dropDraft(ctx context.Context, tx *store.Tx, actor Actor, id int64) ([]Event, error) {
	var folderID, mailboxID int64
	var uid int64
	var flags int64
	err := tx.QueryRow(ctx, `SELECT m.folder_id, f.mailbox_id, m.uid, m.flags FROM messages m JOIN folders f ON f.id = m.folder_id WHERE m.id = ?`, id).Scan(&folderID, &mailboxID, &uid, &flags)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil // already gone: nothing to drop
	}
	if err != nil {
		return nil, err
	}
	a, err := s.access(ctx, actor, mailboxID)
	if err != nil {
		return nil, err
	}
	if !a.Rights.Has(RightDeleteMessages | RightExpunge) {
		return nil, fmt.Errorf("drop draft: %w", ErrPermission)
	}
	msgs, err := messagesByUID(ctx, tx, folderID, []uint32{uint32(uid)})
	if err != nil {
		return nil, err
	}
	modseq, err := s.removeMessages(ctx, tx, folderID, msgs, true)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if _, err := tx.Exec(ctx, `UPDATE mailboxes SET used_bytes = used_bytes - ? WHERE id = ?`, m.Size, mailboxID); err != nil {
			return nil, err
		}
	}
	return []Event{{MailboxID: mailboxID, FolderID: folderID, Kind: EventExpunge, ModSeq: modseq}}, nil
}

// inserted is a message just written, with the event to publish for it.
type inserted struct {
	Event
	messageID int64
	uid       uint32
}

// arrival is the event of a message that arrived, rather than one a client
// filed: it also tells the new-mail notifications.
func (i inserted) arrival() Event {
	e := i.Event
	e.Delivered = i.messageID
	return e
}

// insertInto writes one message row into a mailbox's folder: by name when
// folderName is set, by special use when it starts with a backslash, else the
// INBOX. It charges the quota, takes a UID and a MODSEQ, threads the message and
// counts a reference to its blob.
func (s *Service) insertInto(ctx context.Context, tx *store.Tx, mailboxID int64, folderName string, blobID, size int64, flags Flags, keywords []string, internal time.Time, md *model) (inserted, error) {
	if err := chargeQuota(ctx, tx, mailboxID, size); err != nil {
		return inserted{}, err
	}
	// One statement finds the folder, takes its next UID and MODSEQ and
	// counts the message in it: each statement is a round trip on PostgreSQL.
	q := `UPDATE folders SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1,
		messages = messages + 1, unseen = unseen + ?, deleted = deleted + ?, bytes = bytes + ?`
	args := []any{boolInt(flags&FlagSeen == 0), boolInt(flags&FlagDeleted != 0), size, mailboxID}
	switch {
	case strings.HasPrefix(folderName, `\`):
		q += ` WHERE id = (SELECT id FROM folders WHERE mailbox_id = ? AND special_use = ? ORDER BY id LIMIT 1)`
		args = append(args, folderName)
	case folderName != "":
		q += ` WHERE mailbox_id = ? AND name = ?`
		args = append(args, folderName)
	default:
		q += ` WHERE mailbox_id = ? AND name = 'INBOX'`
	}
	var folderID, uid, modseq int64
	err := tx.QueryRow(ctx, q+` RETURNING id, uidnext - 1, highest_modseq`, args...).Scan(&folderID, &uid, &modseq)
	if errors.Is(err, sql.ErrNoRows) {
		return inserted{}, fmt.Errorf("folder %q: %w", folderName, ErrNotFound)
	}
	if err != nil {
		return inserted{}, fmt.Errorf("take uid and modseq: %w", err)
	}
	kw := append([]string(nil), keywords...)
	sort.Strings(kw)
	var sent int64
	h := md.Header
	if !h.Date.IsZero() {
		sent = h.Date.UnixMilli()
	}
	// The INSERT looks the thread up itself, saving a round trip; a message
	// that starts a thread is its own, which only its new id can say.
	thread, threadArgs := threadOf(mailboxID, h)
	args = append([]any{folderID, uid, modseq, int64(flags), strings.Join(kw, " "), internal.UnixMilli(), size, blobID}, threadArgs...)
	args = append(args, h.MessageID, h.InReplyTo, h.References, sent, h.Subject, h.From, h.To, h.Cc, strings.Join(md.attachments, "\n"), boolInt(len(md.attachments) > 0))
	var id, threadID int64
	err = tx.QueryRow(ctx, `INSERT INTO messages (folder_id, uid, modseq, flags, keywords, internal_date, size, blob_id, thread_id, message_id, in_reply_to, refs, sent_date, subject, from_addr, to_addrs, cc_addrs, attachments, has_attachments)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, `+thread+`, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id, thread_id`, args...).Scan(&id, &threadID)
	if err != nil {
		return inserted{}, fmt.Errorf("insert message: %w", err)
	}
	if threadID == 0 {
		if _, err := tx.Exec(ctx, `UPDATE messages SET thread_id = id WHERE id = ?`, id); err != nil {
			return inserted{}, err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE blobs SET refs = refs + 1 WHERE id = ?`, blobID); err != nil {
		return inserted{}, err
	}
	return inserted{Event: Event{MailboxID: mailboxID, FolderID: folderID, Kind: EventNew, ModSeq: uint64(modseq)}, messageID: id, uid: uint32(uid)}, nil
}

// threadOf returns an SQL expression, and its arguments, for the thread of a
// message this one refers to (or is a copy of) in the same mailbox, or 0 for
// a new thread.
func threadOf(mailboxID int64, h message.Header) (string, []any) {
	ids := h.Parents()
	if h.MessageID != "" {
		ids = append(ids, h.MessageID)
	}
	if len(ids) == 0 {
		return "0", nil
	}
	if len(ids) > 20 {
		ids = ids[len(ids)-20:]
	}
	args := []any{mailboxID}
	for _, id := range ids {
		args = append(args, id)
	}
	return `COALESCE((SELECT m.thread_id FROM messages m JOIN folders f ON f.id = m.folder_id
		WHERE f.mailbox_id = ? AND m.message_id IN (?` + strings.Repeat(", ?", len(ids)-1) + `) LIMIT 1), 0)`, args
}

func (s *Service) resolveLocal(ctx context.Context, addrs []string) ([]Recipient, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: no recipients", ErrInvalid)
	}
	seen := map[int64]bool{}
	var out []Recipient
	for _, a := range addrs {
		r, err := s.CheckRecipient(ctx, a)
		if err != nil && !errors.Is(err, ErrQuota) {
			return nil, err
		}
		if !seen[r.MailboxID] {
			seen[r.MailboxID] = true
			out = append(out, r)
		}
	}
	return out, nil
}

func newMessageID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}
