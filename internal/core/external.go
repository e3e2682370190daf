package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/store"
)

// External recipients (a patient or a professional outside the trust space):
// the message stays here; the recipient gets a link (its token is never
// stored, only its hash), asks for a one-time code sent to their address,
// and reads, downloads and replies through the web app. Every step is
// traced; five wrong codes lock the link; the link expires.

// Errors of the external-recipient links.
var (
	// ErrLinkExpired: the link is past its lifetime.
	ErrLinkExpired = errors.New("link expired")
	// ErrLinkLocked: too many wrong codes were typed for this link.
	ErrLinkLocked = errors.New("link locked after too many wrong codes")
)

// External link rules.
const (
	// MaxCodeFailures wrong codes lock a link for good.
	MaxCodeFailures = 5
	// externalCodeLifetime bounds how long a code sent may be typed.
	externalCodeLifetime = 15 * time.Minute
	// externalSessionLifetime bounds a reading session opened by a code.
	externalSessionLifetime = time.Hour
	// DefaultLinkLifetime is how long a link works when the configuration
	// does not say ([external] link_lifetime).
	DefaultLinkLifetime = 30 * 24 * time.Hour
)

// ExternalLink is the token of a link made for one external recipient, as
// Submit returns it so that the door mails it; it is not kept.
type ExternalLink struct {
	Recipient string
	Token     string
	Expires   time.Time
}

// ExternalState is what a link's page may show before the code is typed.
type ExternalState struct {
	ID        int64
	Recipient string
	Expires   time.Time
	Failures  int
	// Session tells the session given is open.
	Session bool
}

// ExternalMessage is the message a link opens.
type ExternalMessage struct {
	ExternalState
	// Raw is the message as it was sent.
	Raw []byte
}

// outsideTrustSpace tells whether a remote address is outside the trust
// space: refused by the remote policy (the whitelist in trust mode), or,
// without one, not on an .mssante.fr domain. Patients' mailboxes (Mon
// Espace Santé) are inside: they take the trust-space path.
func (s *Service) outsideTrustSpace(ctx context.Context, actor Actor, addr string) bool {
	if s.IsPatientAddress(addr) {
		return false
	}
	if s.opts.RemotePolicy != nil {
		return s.CheckRemote(ctx, actor, addr) != nil
	}
	return !strings.HasSuffix(DomainOf(addr), ".mssante.fr")
}

func (s *Service) linkLifetime() time.Duration {
	if s.opts.LinkLifetime > 0 {
		return s.opts.LinkLifetime
	}
	return DefaultLinkLifetime
}

func hashSecret(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newExternalLinks makes the tokens of the links of a submission.
func (s *Service) newExternalLinks(rcpts []string) []ExternalLink {
	exp := s.now().Add(s.linkLifetime())
	out := make([]ExternalLink, len(rcpts))
	for i, r := range rcpts {
		out[i] = ExternalLink{Recipient: r, Token: rand.Text() + rand.Text(), Expires: exp}
	}
	return out
}

// insertExternalLinks records the links in the submission's transaction.
func insertExternalLinks(ctx context.Context, tx *store.Tx, links []ExternalLink, mailboxID, blobID int64, messageID string, now time.Time) error {
	for _, l := range links {
		if _, err := tx.Exec(ctx, `INSERT INTO external_links (token_hash, mailbox_id, blob_id, message_id, rcpt, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			hashSecret(l.Token), mailboxID, blobID, messageID, l.Recipient, now.UnixMilli(), l.Expires.UnixMilli()); err != nil {
			return fmt.Errorf("external link: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET refs = refs + 1 WHERE id = ?`, blobID); err != nil {
			return err
		}
	}
	return nil
}

type linkRow struct {
	ExternalState
	mailboxID, blobID           int64
	messageID                   string
	locked                      bool
	codeHash, sessionHash       string
	codeExpires, sessionExpires int64
}

func (s *Service) loadLink(ctx context.Context, q interface {
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}, token string) (linkRow, error) {
	var l linkRow
	var expires int64
	var locked int
	err := q.QueryRow(ctx, `SELECT id, rcpt, expires, failures, locked, mailbox_id, blob_id, message_id, code_hash, code_expires, session_hash, session_expires FROM external_links WHERE token_hash = ?`, hashSecret(token)).
		Scan(&l.ID, &l.Recipient, &expires, &l.Failures, &locked, &l.mailboxID, &l.blobID, &l.messageID, &l.codeHash, &l.codeExpires, &l.sessionHash, &l.sessionExpires)
	if errors.Is(err, sql.ErrNoRows) {
		return linkRow{}, fmt.Errorf("external link: %w", ErrNotFound)
	}
	if err != nil {
		return linkRow{}, fmt.Errorf("external link: %w", err)
	}
	l.Expires, l.locked = time.UnixMilli(expires), locked != 0
	return l, nil
}

// usable refuses a locked or expired link.
func (s *Service) usable(l linkRow) error {
	switch {
	case l.locked:
		return fmt.Errorf("external link %d: %w", l.ID, ErrLinkLocked)
	case !s.now().Before(l.Expires):
		return fmt.Errorf("external link %d: %w", l.ID, ErrLinkExpired)
	}
	return nil
}

func (s *Service) sessionOpen(l linkRow, session string) bool {
	return session != "" && l.sessionHash != "" && s.nowMillis() < l.sessionExpires &&
		subtle.ConstantTimeCompare([]byte(l.sessionHash), []byte(hashSecret(session))) == 1
}

// OpenExternal tells what a link is, and whether session (the cookie of a
// reader who typed the code) is open. The visit is traced.
func (s *Service) OpenExternal(ctx context.Context, actor Actor, token, session string) (ExternalState, error) {
	l, err := s.loadLink(ctx, s.st, token)
	if err != nil {
		return ExternalState{}, err
	}
	err = s.usable(l)
	s.traceLink(ctx, actor, "external.open", l.ID, err)
	if err != nil {
		return ExternalState{}, err
	}
	l.Session = s.sessionOpen(l, session)
	return l.ExternalState, nil
}

// ExternalCode issues the one-time code of a link, for the door to mail to
// the link's recipient (and to no one else); a new code replaces the last.
func (s *Service) ExternalCode(ctx context.Context, actor Actor, token string) (code, rcpt string, err error) {
	l, err := s.loadLink(ctx, s.st, token)
	if err != nil {
		return "", "", err
	}
	if err := s.usable(l); err != nil {
		s.traceLink(ctx, actor, "external.code", l.ID, err)
		return "", "", err
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", "", err
	}
	code = fmt.Sprintf("%06d", n.Int64())
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE external_links SET code_hash = ?, code_expires = ? WHERE id = ?`,
			hashSecret(fmt.Sprint(l.ID), code), s.now().Add(externalCodeLifetime).UnixMilli(), l.ID); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("external.code", fmt.Sprint(l.ID), nil, ""))
	})
	if err != nil {
		return "", "", fmt.Errorf("external code: %w", err)
	}
	return code, l.Recipient, nil
}

// VerifyExternal checks a code typed on a link's page and opens a reading
// session, whose secret it returns. A wrong code counts; the fifth locks the
// link for good (ErrLinkLocked); others return ErrAuth.
func (s *Service) VerifyExternal(ctx context.Context, actor Actor, token, code string) (string, error) {
	var session string
	var result error
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		session, result = "", nil
		l, err := s.loadLink(ctx, tx, token)
		if err != nil {
			return err
		}
		if err := s.usable(l); err != nil {
			result = err
			return s.audit.Record(ctx, tx, actor.audit("external.verify", fmt.Sprint(l.ID), err, ""))
		}
		want := l.codeHash
		ok := want != "" && s.nowMillis() < l.codeExpires &&
			subtle.ConstantTimeCompare([]byte(want), []byte(hashSecret(fmt.Sprint(l.ID), strings.TrimSpace(code)))) == 1
		if !ok {
			failures := l.Failures + 1
			locked := failures >= MaxCodeFailures
			if _, err := tx.Exec(ctx, `UPDATE external_links SET failures = ?, locked = ? WHERE id = ?`, failures, boolInt(locked), l.ID); err != nil {
				return err
			}
			result = fmt.Errorf("external link %d: wrong code: %w", l.ID, ErrAuth)
			detail := fmt.Sprintf("wrong code %d/%d", failures, MaxCodeFailures)
			if locked {
				result = fmt.Errorf("external link %d: %w", l.ID, ErrLinkLocked)
				detail += ", locked"
			}
			e := actor.audit("external.verify", fmt.Sprint(l.ID), nil, detail)
			e.Result = "denied"
			return s.audit.Record(ctx, tx, e)
		}
		session = rand.Text() + rand.Text()
		until := min(s.now().Add(externalSessionLifetime).UnixMilli(), l.Expires.UnixMilli())
		if _, err := tx.Exec(ctx, `UPDATE external_links SET failures = 0, code_hash = '', code_expires = 0, session_hash = ?, session_expires = ? WHERE id = ?`,
			hashSecret(session), until, l.ID); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("external.verify", fmt.Sprint(l.ID), nil, ""))
	})
	if err != nil {
		return "", fmt.Errorf("verify external code: %w", err)
	}
	return session, result
}

// ReadExternal returns the message of a link to a reader whose session is
// open, traced; the first reading sets the recipient's receipt to read.
func (s *Service) ReadExternal(ctx context.Context, actor Actor, token, session, what string) (ExternalMessage, error) {
	l, err := s.loadLink(ctx, s.st, token)
	if err != nil {
		return ExternalMessage{}, err
	}
	if err := s.usable(l); err != nil {
		s.traceLink(ctx, actor, "external."+what, l.ID, err)
		return ExternalMessage{}, err
	}
	if !s.sessionOpen(l, session) {
		err := fmt.Errorf("external link %d: no open session: %w", l.ID, ErrPermission)
		s.traceLink(ctx, actor, "external."+what, l.ID, err)
		return ExternalMessage{}, err
	}
	ref, err := s.blobRef(ctx, `SELECT segment, offset_bytes, length, size FROM blobs WHERE id = ?`, l.blobID)
	if err != nil {
		return ExternalMessage{}, err
	}
	raw, err := s.blobs.ReadAll(ref)
	if err != nil {
		return ExternalMessage{}, fmt.Errorf("external link %d: %w", l.ID, err)
	}
	var events []Event
	err = s.write(ctx, func(tx *store.Tx) error {
		events = nil
		if _, err := tx.Exec(ctx, `UPDATE external_links SET opened = ? WHERE id = ? AND opened = 0`, s.nowMillis(), l.ID); err != nil {
			return err
		}
		ev, err := s.updateReceipt(ctx, tx, l.mailboxID, l.messageID, l.Recipient, ReceiptRead, "secure link")
		if err != nil {
			return err
		}
		events = ev
		return s.audit.Record(ctx, tx, actor.audit("external."+what, fmt.Sprint(l.ID), nil, ""))
	}, func() []Event { return events })
	if err != nil {
		return ExternalMessage{}, err
	}
	l.Session = true
	return ExternalMessage{ExternalState: l.ExternalState, Raw: raw}, nil
}

// ReplyExternal delivers the reply of a link's reader to the sender's
// mailbox: From the link's recipient, threaded under the original.
func (s *Service) ReplyExternal(ctx context.Context, actor Actor, token, session, body string) error {
	m, err := s.ReadExternal(ctx, actor, token, session, "reply")
	if err != nil {
		return err
	}
	if strings.TrimSpace(body) == "" {
		return fmt.Errorf("%w: empty reply", ErrInvalid)
	}
	l, err := s.loadLink(ctx, s.st, token)
	if err != nil {
		return err
	}
	var sender string
	if err := s.st.QueryRow(ctx, `SELECT address FROM mailboxes WHERE id = ?`, l.mailboxID).Scan(&sender); err != nil {
		return fmt.Errorf("external reply: %w", err)
	}
	subject := headerValue(m.Raw, "Subject")
	if dec, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = dec
	}
	if !strings.HasPrefix(strings.ToLower(subject), "re:") {
		subject = "Re: " + subject
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\n", l.Recipient, sender, mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s@%s>\r\n", s.now().Format(time.RFC1123Z), newMessageID(), s.opts.Hostname)
	if l.messageID != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", l.messageID, l.messageID)
	}
	b.WriteString("X-Caduceus-External: reply through a secure link\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n"))
	b.WriteString("\r\n")
	return s.Deliver(ctx, actor, Delivery{Recipients: []string{sender}, Data: []byte(b.String())})
}

// traceLink writes one step on a link to the audit trail.
func (s *Service) traceLink(ctx context.Context, actor Actor, action string, id int64, err error) {
	if werr := s.audit.Write(ctx, actor.audit(action, fmt.Sprint(id), err, "")); werr != nil {
		s.log.Error("audit external link", "err", werr)
	}
}

// PurgeExternalLinks deletes the external links expired before before: the
// copy of the message each held for its recipient is released (compaction
// reclaims its blob once nothing else refers to it), and the recipient's
// address, code and session go with the link, so that nothing of an
// outside reader outlives the link's life by more than the purge period.
// Only the system may; the trail records how many went. It returns that
// count.
func (s *Service) PurgeExternalLinks(ctx context.Context, actor Actor, before time.Time) (int64, error) {
	if !actor.IsSystem() {
		return 0, fmt.Errorf("purge external links: %w", ErrPermission)
	}
	var n int64
	err := s.write(ctx, func(tx *store.Tx) error {
		cut := before.UnixMilli()
		if _, err := tx.Exec(ctx, `UPDATE blobs SET refs = refs - (SELECT COUNT(*) FROM external_links l WHERE l.blob_id = blobs.id AND l.expires < ?)
			WHERE id IN (SELECT blob_id FROM external_links WHERE expires < ?)`, cut, cut); err != nil {
			return fmt.Errorf("release the messages of expired links: %w", err)
		}
		res, err := tx.Exec(ctx, `DELETE FROM external_links WHERE expires < ?`, cut)
		if err != nil {
			return fmt.Errorf("delete expired links: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("external.purge", "", nil, "links="+strconv.FormatInt(n, 10)))
	}, noEvents)
	if err != nil {
		return 0, fmt.Errorf("purge external links: %w", err)
	}
	return n, nil
}
