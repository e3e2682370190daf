package sieve

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"caduceus/internal/message"
)

// headerMessage is a Message over a parsed header.
type headerMessage struct {
	h        textproto.Header
	from, to string
	size     int64
}

// NewMessage returns the Message a script sees of a message whose header
// is header (the bytes up to the blank line, or the whole message),
// arriving from the envelope sender from for the recipient to.
func NewMessage(header []byte, from, to string, size int64) Message {
	if i := bytes.Index(header, []byte("\r\n\r\n")); i >= 0 {
		header = header[:i+2]
	} else if i := bytes.Index(header, []byte("\n\n")); i >= 0 {
		header = header[:i+1]
	}
	return &headerMessage{h: message.ParseHeader(header), from: from, to: to, size: size}
}

func (m *headerMessage) Header(name string) []string {
	vs := m.h.Values(name)
	out := make([]string, len(vs))
	for i, v := range vs {
		v = strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
		out[i] = message.DecodeWords(v)
	}
	return out
}

func (m *headerMessage) Envelope(part string) string {
	if strings.EqualFold(part, "from") {
		return m.from
	}
	return m.to
}

func (m *headerMessage) Size() int64 { return m.size }

// Key returns what identifies this vacation for the once-per-period rule
// (RFC 5230 §4.2): its :handle, or else a digest of its reason, subject
// and :from, so that a changed text answers again.
func (v *Vacation) Key() string {
	if v.Handle != "" {
		return "handle:" + v.Handle
	}
	h := sha256.Sum256([]byte(v.Reason + "\x00" + v.Subject + "\x00" + v.From))
	return "text:" + hex.EncodeToString(h[:16])
}

// ReplyTo returns the address to answer, or "" and why no answer may go
// (RFC 3834 §2, RFC 5230 §4.5 and §4.6). own holds the recipient's own
// addresses; the vacation's :addresses are added to them.
func (v *Vacation) ReplyTo(msg Message, own []string) (string, string) {
	sender := strings.TrimSpace(msg.Envelope("from"))
	if sender == "" {
		return "", "null sender"
	}
	local := strings.ToLower(sender)
	if at := strings.LastIndexByte(local, '@'); at >= 0 {
		local = local[:at]
	}
	switch {
	case local == "mailer-daemon", local == "listserv", local == "majordomo",
		strings.HasPrefix(local, "owner-"), strings.HasSuffix(local, "-request"):
		return "", "sender is a list or a mail system"
	}
	for _, a := range msg.Header("Auto-Submitted") {
		if !strings.EqualFold(strings.TrimSpace(strings.SplitN(a, ";", 2)[0]), "no") {
			return "", "message is auto-submitted"
		}
	}
	for _, f := range []string{"List-Id", "List-Post", "List-Unsubscribe"} {
		if len(msg.Header(f)) > 0 {
			return "", "message is from a list"
		}
	}
	for _, p := range msg.Header("Precedence") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "bulk", "list", "junk":
			return "", "message has precedence " + strings.ToLower(strings.TrimSpace(p))
		}
	}
	mine := append(append([]string(nil), own...), v.Addresses...)
	if msg.Envelope("to") != "" {
		mine = append(mine, msg.Envelope("to"))
	}
	isMine := func(a string) bool {
		for _, m := range mine {
			if strings.EqualFold(strings.TrimSpace(m), a) {
				return true
			}
		}
		return false
	}
	if isMine(sender) {
		return "", "message is from the recipient"
	}
	for _, f := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, val := range msg.Header(f) {
			for _, a := range addresses(val) {
				if isMine(a) {
					return sender, ""
				}
			}
		}
	}
	return "", "recipient is not named in To or Cc"
}

// Reply is what a vacation answer needs beyond the vacation itself.
type Reply struct {
	From      string // the answering address (when the vacation has no :from)
	To        string // the address ReplyTo gave
	MessageID string // the answer's Message-ID, with angle brackets
	Date      time.Time
}

// Compose writes the answer to msg (RFC 5230 §5, RFC 3834 §3): subject
// the vacation's or "Auto: " and the original's, In-Reply-To and
// References, Auto-Submitted: auto-replied, and the reason as a text
// part, or as the MIME entity it is with :mime.
func (v *Vacation) Compose(msg Message, r Reply) []byte {
	var b bytes.Buffer
	from := r.From
	if v.From != "" {
		from = v.From
	}
	subject := v.Subject
	if subject == "" {
		orig := ""
		if s := msg.Header("Subject"); len(s) > 0 {
			orig = strings.TrimSpace(s[0])
		}
		subject = "Auto: " + orig
	}
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: %s\r\n", (&mail.Address{Address: r.To}).String())
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", oneLine(subject)))
	fmt.Fprintf(&b, "Date: %s\r\n", r.Date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: %s\r\n", r.MessageID)
	if id := firstOf(msg, "Message-ID"); id != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s\r\n", oneLine(id))
		refs := strings.TrimSpace(firstOf(msg, "References") + " " + id)
		fmt.Fprintf(&b, "References: %s\r\n", oneLine(refs))
	}
	b.WriteString("Auto-Submitted: auto-replied\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	if v.MIME {
		b.WriteString(crlf(v.Reason))
		return b.Bytes()
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(crlf(v.Reason))
	if !strings.HasSuffix(v.Reason, "\n") {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func firstOf(msg Message, name string) string {
	if vs := msg.Header(name); len(vs) > 0 {
		return strings.TrimSpace(vs[0])
	}
	return ""
}

// oneLine keeps a header value on one line, whatever it was given.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// crlf writes every line end as CRLF.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}
