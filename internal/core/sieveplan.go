package core

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"

	"caduceus/internal/sieve"
	"caduceus/internal/store"
)

// At delivery, each recipient's active Sieve script, then its automatic
// reply, decide where the message goes. Rules this file keeps:
//   - A message is never lost to a filter: a script that does not parse
//     or fails when run, a folder that does not exist, a redirect that is
//     not allowed or cannot be sent, a refusal that cannot be sent: each
//     falls back to keeping the message in the Inbox (RFC 5228 §2.10.6).
//   - Filing happens in the delivery's own commit; what goes out
//     (refusal, redirect, automatic reply) goes through the normal queue
//     once the message is durable.
//   - Redirect reaches only local mailboxes and the trust space, and
//     never a mailbox the message already passed (Delivered-To).
//   - The automatic reply follows RFC 3834 and answers one sender once per
//     period (sieve_replies).

// placement is one copy of a message to store for a recipient.
type placement struct {
	folder   string // "" for the Inbox
	flags    Flags
	keywords []string
}

// sievePlan is what the filters decided for one recipient.
type sievePlan struct {
	places   []placement
	acts     *sieve.Actions // nil when no filter ran
	msg      sieve.Message
	kept     bool // the message is stored in the Inbox
	redirect []string
	detail   string // for the audit trail: what the filter did, never content
}

var inboxOnly = []placement{{}}

// planDelivery runs a recipient's filters on a message. It never fails:
// whatever goes wrong keeps the message in the Inbox.
func (s *Service) planDelivery(ctx context.Context, r Recipient, mailFrom string, data []byte, md *model) sievePlan {
	script, vac := s.filtersOf(ctx, r.MailboxID)
	if script == "" && vac == nil {
		return sievePlan{places: inboxOnly, kept: true}
	}
	msg := sieve.NewMailMessage(data, md.Message, mailFrom, r.Address)
	acts := sieve.Actions{Keep: true}
	if script != "" {
		a, err := s.runSieve(ctx, script, msg)
		if err != nil {
			s.log.Warn("sieve script failed, message kept", "mailbox", r.Address, "err", err)
			return sievePlan{places: inboxOnly, kept: true, detail: "sieve: error, kept"}
		}
		acts = a
	}
	// The page's automatic reply answers what the person's own script
	// let through: not what it refused or discarded (spam would get
	// replies), nor in place of the script's own vacation.
	delivered := acts.Keep || len(acts.FileInto) > 0 || len(acts.Redirect) > 0
	if vac != nil && acts.Vacation == nil && !acts.Rejected && delivered {
		if a, err := s.runSieve(ctx, VacationScript(*vac), msg); err == nil {
			acts.Vacation = a.Vacation
		} else {
			s.log.Warn("automatic reply failed", "mailbox", r.Address, "err", err)
		}
	}
	p := sievePlan{acts: &acts, msg: msg}
	if acts.Keep {
		p.places = append(p.places, s.placementFor("", acts.KeepFlags))
	}
	for _, f := range acts.FileInto {
		name, ok := s.sieveFolder(ctx, r.MailboxID, f.Folder)
		if !ok {
			p.detail = "sieve: folder missing, kept"
			if !acts.Keep {
				p.places = append(p.places, s.placementFor("", f.Flags))
			}
			continue
		}
		p.places = append(p.places, s.placementFor(name, f.Flags))
	}
	looped := passedThrough(data, r.Address)
	for _, to := range acts.Redirect {
		if looped || !s.mayRedirect(ctx, to) {
			p.detail = "sieve: redirect refused, kept"
			p.places = append(p.places, placement{})
			continue
		}
		p.redirect = append(p.redirect, to)
	}
	p.places = dedupePlaces(p.places)
	for _, pl := range p.places {
		if pl.folder == "" {
			p.kept = true
		}
	}
	if p.detail == "" {
		p.detail = sieveDetail(acts)
	}
	return p
}

func sieveDetail(a sieve.Actions) string {
	var parts []string
	switch {
	case a.Rejected:
		parts = append(parts, "rejected")
	case len(a.FileInto) > 0:
		parts = append(parts, "filed")
	case a.Keep:
		parts = append(parts, "kept")
	case len(a.Redirect) == 0:
		parts = append(parts, "discarded")
	}
	if len(a.Redirect) > 0 {
		parts = append(parts, "redirected")
	}
	if a.Vacation != nil {
		parts = append(parts, "vacation")
	}
	return "sieve: " + strings.Join(parts, ", ")
}

// dedupePlaces keeps one copy per folder, the last flags winning.
func dedupePlaces(in []placement) []placement {
	var out []placement
	for _, p := range in {
		found := false
		for i := range out {
			if out[i].folder == p.folder {
				out[i], found = p, true
			}
		}
		if !found {
			out = append(out, p)
		}
	}
	return out
}

// runSieve parses and runs a script, bounded in time.
func (s *Service) runSieve(ctx context.Context, script string, msg sieve.Message) (sieve.Actions, error) {
	sc, err := sieve.Parse([]byte(script))
	if err != nil {
		return sieve.Actions{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return sieve.RunAt(ctx, sc, msg, s.now())
}

// filtersOf loads a mailbox's active script and enabled automatic reply,
// when it has them and the reply is within its dates.
func (s *Service) filtersOf(ctx context.Context, mailboxID int64) (string, *VacationSettings) {
	// One round trip in the common case of a mailbox without filters.
	var script sql.NullString
	var vacation int
	err := s.st.QueryRow(ctx, `SELECT (SELECT content FROM sieve_scripts WHERE mailbox_id = ? AND active = 1),
		(SELECT COUNT(*) FROM sieve_vacation WHERE mailbox_id = ? AND enabled = 1)`, mailboxID, mailboxID).Scan(&script, &vacation)
	if err != nil {
		s.log.Warn("load sieve filters", "err", err)
		return "", nil
	}
	if vacation == 0 {
		return script.String, nil
	}
	v, err := s.vacation(ctx, mailboxID, true)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.log.Warn("load vacation", "err", err)
		}
		return script.String, nil
	}
	now := s.now()
	if !v.Start.IsZero() && now.Before(v.Start) || !v.End.IsZero() && !now.Before(v.End) {
		return script.String, nil
	}
	return script.String, &v
}

// placementFor maps Sieve flags to a placement: system flags by name,
// the rest as keywords when they are IMAP atoms (RFC 5232 §3 lets
// invalid flags be ignored).
func (s *Service) placementFor(folder string, flags []string) placement {
	p := placement{folder: folder}
	for _, f := range flags {
		if fl, ok := ParseFlag(f); ok {
			p.flags |= fl
		} else if validKeyword(f) {
			p.keywords = append(p.keywords, f)
		}
	}
	return p
}

func validKeyword(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 127 || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// sieveFolder returns the stored name of a folder a script names, or false
// when the mailbox has no such folder: RFC 5228 §4.1 lets the message go
// to the Inbox instead, which is what we do.
func (s *Service) sieveFolder(ctx context.Context, mailboxID int64, name string) (string, bool) {
	if strings.EqualFold(name, "INBOX") {
		return "", true
	}
	var stored string
	err := s.st.QueryRow(ctx, `SELECT name FROM folders WHERE mailbox_id = ? AND name = ?`, mailboxID, name).Scan(&stored)
	return stored, err == nil
}

// mayRedirect tells whether a script may send a message on to addr: a
// local mailbox, or a remote address inside the trust space.
func (s *Service) mayRedirect(ctx context.Context, addr string) bool {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return false
	}
	_, err = s.CheckRecipient(ctx, a)
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrInvalid):
		return !s.IsPatientAddress(a) && !s.outsideTrustSpace(ctx, System("sieve"), a)
	}
	return false
}

// passedThrough tells whether the message already went through addr's
// filters (a Delivered-To field naming it), so that redirects do not loop.
func passedThrough(data []byte, addr string) bool {
	h := sieve.NewMessage(data, "", "", 0)
	for _, v := range h.Header("Delivered-To") {
		if strings.EqualFold(strings.TrimSpace(v), addr) {
			return true
		}
	}
	return false
}

// afterDelivery does what the filters decided beyond storing: the
// refusal, the redirects and the automatic reply. What cannot go out is
// kept in the Inbox, unless it already is.
func (s *Service) afterDelivery(ctx context.Context, r Recipient, mailFrom string, data []byte, p sievePlan) {
	if p.acts == nil {
		return
	}
	keep := false
	if p.acts.Rejected {
		if err := s.sendRefusal(ctx, r, mailFrom, data, p); err != nil {
			s.log.Warn("sieve reject failed, message kept", "mailbox", r.Address, "err", err)
			keep = true
		}
	}
	for _, to := range p.redirect {
		if err := s.redirect(ctx, r, mailFrom, to, data); err != nil {
			s.log.Warn("sieve redirect failed, message kept", "mailbox", r.Address, "err", err)
			keep = true
		}
	}
	if keep && !p.kept {
		if err := s.keepFallback(ctx, r, data); err != nil {
			s.log.Error("sieve fallback keep failed", "mailbox", r.Address, "err", err)
		}
	}
	if p.acts.Vacation != nil {
		if err := s.sendVacation(ctx, r, p); err != nil {
			s.log.Warn("automatic reply not sent", "mailbox", r.Address, "err", err)
		}
	}
}

// keepFallback stores a message in a recipient's Inbox, on its own.
func (s *Service) keepFallback(ctx context.Context, r Recipient, data []byte) error {
	md := modelOf(data)
	sealed, err := s.blobs.Seal(data)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	size, now := int64(len(data)), s.now()
	return s.commit.submit(ctx, &job{sealed: sealed, size: size, model: md.stored, text: newSearchText(md), apply: func(ctx context.Context, tx *store.Tx, blobID int64) ([]Event, error) {
		e, err := s.insertInto(ctx, tx, r.MailboxID, "", blobID, size, 0, nil, now, md)
		if err != nil {
			return nil, err
		}
		return []Event{e.arrival()}, s.audit.Record(ctx, tx, System("sieve").audit("deliver", r.Address, nil, "sieve: fallback keep"))
	}})
}

// redirect sends a message on to addr (RFC 5228 §4.2), with a
// Delivered-To field naming the recipient on top: delivered here when addr
// is local, else queued with the recipient as sender, so that a failure
// comes back to them.
func (s *Service) redirect(ctx context.Context, r Recipient, mailFrom, to string, data []byte) error {
	out := append([]byte("Delivered-To: "+r.Address+"\r\n"), data...)
	addr, err := NormalizeAddress(to)
	if err != nil {
		return err
	}
	if _, err := s.CheckRecipient(ctx, addr); err == nil {
		return s.Deliver(ctx, System("sieve"), Delivery{MailFrom: mailFrom, Recipients: []string{addr}, Data: out})
	}
	return s.queue(ctx, System("sieve"), r.MailboxID, r.Address, to, "sieve-redirect", out)
}

// queue puts a message the core writes for a mailbox in the outbound
// queue, from mailFrom to one remote recipient.
func (s *Service) queue(ctx context.Context, actor Actor, mailboxID int64, mailFrom, rcpt, kind string, data []byte) error {
	if int64(len(data)) > s.opts.MessageSizeLimit {
		return ErrTooBig
	}
	data, err := s.dkimSign(ctx, data)
	if err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	sealed, err := s.blobs.Seal(data)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	now := s.now()
	j := &job{sealed: sealed, size: int64(len(data)), apply: func(ctx context.Context, tx *store.Tx, blobID int64) ([]Event, error) {
		if _, err := tx.Exec(ctx, `INSERT INTO outbound (blob_id, mailbox_id, mail_from, rcpt, created, next_attempt, expires) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			blobID, mailboxID, mailFrom, strings.TrimSpace(rcpt), now.UnixMilli(), now.UnixMilli(), now.Add(s.opts.QueueExpire).UnixMilli()); err != nil {
			return nil, fmt.Errorf("queue %s: %w", kind, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET refs = refs + 1 WHERE id = ?`, blobID); err != nil {
			return nil, err
		}
		return nil, s.audit.Record(ctx, tx, actor.audit(kind, mailFrom, nil, ""))
	}}
	if err := s.commit.submit(ctx, j); err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	s.pokeQueue()
	return nil
}

// sendRefusal answers a rejected message with a refusal to its sender
// (RFC 5429 §2.1.1: an MDN with disposition "deleted"), with a null
// sender. A message with a null sender is refused silently.
func (s *Service) sendRefusal(ctx context.Context, r Recipient, mailFrom string, data []byte, p sievePlan) error {
	if strings.TrimSpace(mailFrom) == "" {
		return nil
	}
	orig := ""
	if ids := p.msg.Header("Message-ID"); len(ids) > 0 {
		orig = strings.TrimSpace(ids[0])
	}
	subject := ""
	if subj := p.msg.Header("Subject"); len(subj) > 0 {
		subject = strings.Join(strings.Fields(subj[0]), " ")
	}
	boundary := "refusal-" + newMessageID()
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Mail Delivery System <mailer-daemon@%s>\r\n", s.opts.Hostname)
	fmt.Fprintf(&b, "To: <%s>\r\n", mailFrom)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", "Refusé / Rejected: "+subject))
	fmt.Fprintf(&b, "Date: %s\r\n", s.now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", newMessageID(), s.opts.Hostname)
	if orig != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", orig, orig)
	}
	b.WriteString("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=disposition-notification; boundary=%q\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Votre message à %s a été refusé. / Your message to %s was rejected.\r\n\r\n%s\r\n", r.Address, r.Address, strings.ReplaceAll(strings.ReplaceAll(p.acts.Reject, "\r\n", "\n"), "\n", "\r\n"))
	fmt.Fprintf(&b, "--%s\r\nContent-Type: message/disposition-notification\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-UA: %s; Caduceus\r\nFinal-Recipient: rfc822; %s\r\n", s.opts.Hostname, r.Address)
	if orig != "" {
		fmt.Fprintf(&b, "Original-Message-ID: %s\r\n", orig)
	}
	b.WriteString("Disposition: automatic-action/MDN-sent-automatically; deleted\r\n\r\n")
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
	b.Write(headerOf(data))
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return s.SendNotice(ctx, System("sieve"), mailFrom, "sieve-reject", b.Bytes())
}

// headerOf returns the header of a message, without the blank line.
func headerOf(data []byte) []byte {
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		return data[:i+2]
	}
	if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
		return data[:i+1]
	}
	return data
}

// sendVacation sends the automatic reply a script asked for, when RFC 3834
// allows and the sender was not answered within the period.
func (s *Service) sendVacation(ctx context.Context, r Recipient, p sievePlan) error {
	v := p.acts.Vacation
	own := s.ownAddresses(ctx, r)
	to, why := v.ReplyTo(p.msg, own)
	if to == "" {
		s.log.Debug("no automatic reply", "mailbox", r.Address, "why", why)
		return nil
	}
	// RFC 5230 §4.4: a :from that is not the recipient's own is not used.
	if v.From != "" {
		if a, err := mail.ParseAddress(v.From); err != nil || !containsFold(own, a.Address) {
			v.From = ""
		}
	}
	sender := strings.ToLower(to)
	key := v.Key()
	now := s.now()
	due := false
	err := s.write(ctx, func(tx *store.Tx) error {
		var sent int64
		err := tx.QueryRow(ctx, `SELECT sent FROM sieve_replies WHERE mailbox_id = ? AND handle = ? AND sender = ?`, r.MailboxID, key, sender).Scan(&sent)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil && now.Sub(time.UnixMilli(sent)) < time.Duration(v.Days)*24*time.Hour {
			return nil
		}
		due = true
		_, err = tx.Exec(ctx, `INSERT INTO sieve_replies (mailbox_id, handle, sender, sent) VALUES (?, ?, ?, ?)
			ON CONFLICT (mailbox_id, handle, sender) DO UPDATE SET sent = excluded.sent`, r.MailboxID, key, sender, now.UnixMilli())
		return err
	}, noEvents)
	if err != nil || !due {
		return err
	}
	reply := v.Compose(p.msg, sieve.Reply{From: r.Address, To: to, MessageID: "<" + newMessageID() + "@" + s.opts.Hostname + ">", Date: now})
	return s.SendNotice(ctx, System("sieve"), to, "vacation", reply)
}

// ownAddresses are the recipient's addresses: the mailbox's and its
// owner's login.
func (s *Service) ownAddresses(ctx context.Context, r Recipient) []string {
	own := []string{r.Address}
	var login sql.NullString
	if err := s.st.QueryRow(ctx, `SELECT a.address FROM mailboxes m JOIN accounts a ON a.id = m.owner_id WHERE m.id = ?`, r.MailboxID).Scan(&login); err == nil && login.Valid {
		own = append(own, login.String)
	}
	return own
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
