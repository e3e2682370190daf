package smtp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Message is a message being passed on: its header section, read and held
// in memory so that trace fields can be added and forged ones removed, and
// its body, still unread, to be streamed once to its destination.
type Message struct {
	// Header holds the fields in their original bytes, so that unchanged
	// fields go out exactly as they came in (DKIM signatures keep verifying).
	Header textproto.Header
	body   io.Reader
}

// ErrHeaderTooLarge is returned by ReadMessage when the header section is
// longer than allowed.
var ErrHeaderTooLarge = errors.New("message: header section too large")

// ReadMessage reads the header section of r, at most maxHeader octets up to
// and including the blank line that ends it (RFC 5322 §2.1), and leaves the
// body in r to be streamed by Reader. A message without a body is accepted.
func ReadMessage(r io.Reader, maxHeader int) (*Message, error) {
	br := bufio.NewReader(r)
	var raw bytes.Buffer
	atLineStart := true
	for {
		line, err := br.ReadSlice('\n')
		raw.Write(line)
		if raw.Len() > maxHeader {
			return nil, ErrHeaderTooLarge
		}
		if err == bufio.ErrBufferFull {
			atLineStart = false
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("message: reading header: %w", err)
		}
		if atLineStart && (len(line) == 1 || len(line) == 2 && line[0] == '\r') {
			break
		}
		atLineStart = true
	}
	h, err := textproto.ReadHeader(bufio.NewReader(&raw))
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	return &Message{Header: h, body: br}, nil
}

// Reader returns the whole message, header then body, for reading once.
func (m *Message) Reader() io.Reader {
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, m.Header); err != nil {
		return &errReader{fmt.Errorf("message: %w", err)}
	}
	return io.MultiReader(&b, m.body)
}

// MessageID returns the Message-ID of the message, without angle brackets,
// or "" when it has none or it does not parse.
func (m *Message) MessageID() string {
	h := mail.Header{Header: message.Header{Header: m.Header}}
	id, err := h.MessageID()
	if err != nil {
		return ""
	}
	return id
}

// AddTrace prepends the trace fields of a hop: Received always, and on final
// delivery a Return-Path holding the reverse-path, after removing any
// Return-Path that came with the message. RFC 5321 §4.4.
func (m *Message) AddTrace(t Trace, finalDelivery bool, reversePath string) {
	m.Header.AddRaw(t.Field())
	if finalDelivery {
		m.Header.Del("Return-Path")
		// RFC 5322 §3.6.7: path = angle-addr / "<>".
		m.Header.Add("Return-Path", "<"+reversePath+">")
	}
}

// Trace describes one hop of a message, the transaction that brought it
// here: what the Received field records. RFC 5321 §4.4.
type Trace struct {
	// Helo is the argument the client gave to EHLO or HELO.
	Helo string
	// RemoteIP is the client's address.
	RemoteIP netip.Addr
	// Hostname is our own host name.
	Hostname string
	// TLS is the state of the connection's TLS, nil for plain text.
	TLS *tls.ConnectionState
	// Authenticated is true when the client logged in with AUTH.
	Authenticated bool
	// PeerSubject and PeerIssuer name the client certificate the trust
	// space verified, empty when none was.
	PeerSubject, PeerIssuer string
	// UTF8 is true when the transaction used SMTPUTF8.
	UTF8 bool
	// ID identifies the transaction in our logs.
	ID string
	// For is the one recipient of the transaction; it is left out of the
	// field when there were several, so that it does not tell one recipient
	// who the others were.
	For string
	// Time is when the message was received.
	Time time.Time
}

// Field returns the Received field for t, folded before each clause and
// ending in CRLF.
func (t Trace) Field() []byte {
	return []byte("Received: " + t.received() + "\r\n")
}

// received returns the value of the Received field, folded before each
// clause.
func (t Trace) received() string {
	var b strings.Builder
	// RFC 5321 §4.4 Stamp: From-domain By-domain Opt-info ";" date-time.
	ip := t.RemoteIP.Unmap()
	literal := "unknown"
	switch {
	case ip.Is4():
		literal = "[" + ip.String() + "]"
	case ip.Is6():
		literal = "[IPv6:" + ip.WithZone("").String() + "]"
	}
	helo := literal
	if d, err := ParseDomain(t.Helo); err == nil {
		helo = d
	}
	fmt.Fprintf(&b, "from %s (%s)", helo, literal)
	fmt.Fprintf(&b, "\r\n\tby %s with %s", t.Hostname, t.protocol())
	if t.TLS != nil {
		// RFC 8314 §4.3: record the TLS version and cipher in a comment.
		fmt.Fprintf(&b, " (%s %s)", strings.ReplaceAll(tls.VersionName(t.TLS.Version), " ", ""), tls.CipherSuiteName(t.TLS.CipherSuite))
	}
	if t.PeerSubject != "" {
		// The operator's certificate, as Postfix records it: a comment
		// (RFC 5322 §3.2.2), quotes and backslashes escaped.
		fmt.Fprintf(&b, "\r\n\t(client certificate %s issued by %s verified by the MSSante trust space)", quoteComment(t.PeerSubject), quoteComment(t.PeerIssuer))
	}
	if t.ID != "" {
		fmt.Fprintf(&b, " id %s", t.ID)
	}
	if t.For != "" {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", t.For)
	}
	fmt.Fprintf(&b, ";\r\n\t%s", t.Time.Format(time.RFC1123Z))
	return b.String()
}

// quoteComment makes s a quoted string safe inside a comment: no controls,
// no parentheses, quotes and backslashes escaped.
func quoteComment(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r < ' ' || r == 0x7f, r == '(' || r == ')':
			b.WriteByte('_')
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// protocol returns the "with" keyword: ESMTP and its S and A suffixes from
// RFC 3848 §1-2, or UTF8SMTP and its suffixes from RFC 6531 §3.7.3.
func (t Trace) protocol() string {
	p := "ESMTP"
	if t.UTF8 {
		p = "UTF8SMTP"
	}
	if t.TLS != nil {
		p += "S"
	}
	if t.Authenticated {
		p += "A"
	}
	return p
}

// errReader is a reader that fails with err.
type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }
