package smtp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
	gosmtp "github.com/emersion/go-smtp"
	"golang.org/x/text/unicode/norm"

	"caduceus/internal/core"
	"caduceus/internal/dkim"
	"caduceus/internal/trust"
)

// maxHeaderBytes bounds the header section the door holds in memory.
const maxHeaderBytes = 1 << 20

// session is one MX connection: it accepts mail for local recipients from
// anyone, and delivers it through the core.
type session struct {
	srv    *Server
	conn   *gosmtp.Conn
	remote netip.Addr
	// context is the connection's: every core call of the session runs on
	// it, and cancel ends it when the connection ends.
	context context.Context
	cancel  context.CancelFunc
	// authenticated is set once a submission client has logged in.
	authenticated bool
	// peer is the operator the trust space verified on this connection.
	peer *trust.Peer
	// inTx is set from MAIL to the end of the transaction: Shutdown waits
	// for it (the server counts it busy), so a message under way is finished.
	inTx bool

	// The transaction under way.
	id    string
	from  string
	opts  gosmtp.MailOptions
	rcpts []recipient
}

// recipient is one accepted forward-path with its DSN parameters (RFC 3461
// §4.1-4.2).
type recipient struct {
	addr     string
	local    bool
	notify   []string
	original string
}

var _ gosmtp.Session = (*session)(nil)

// Reset forgets the transaction. RFC 5321 §4.1.1.5.
func (ss *session) Reset() {
	ss.from, ss.opts, ss.rcpts = "", gosmtp.MailOptions{}, nil
	ss.leave()
}

// Logout ends the session and its context: go-smtp calls it when the
// connection closes, and before STARTTLS starts the session again.
func (ss *session) Logout() error {
	ss.leave()
	ss.cancel()
	return nil
}

// enter counts the transaction as under way, so that Shutdown lets it
// finish; it fails once the server is closing.
func (ss *session) enter() bool {
	if ss.inTx {
		return true
	}
	if !ss.srv.begin() {
		return false
	}
	ss.inTx = true
	return true
}

// leave ends what enter started.
func (ss *session) leave() {
	if ss.inTx {
		ss.inTx = false
		ss.srv.busy.Done()
	}
}

// Mail starts a transaction. The reverse-path of an MX transaction may be
// null: it is a bounce. RFC 5321 §4.1.1.2.
func (ss *session) Mail(from string, opts *gosmtp.MailOptions) error {
	ss.Reset()
	if opts != nil {
		ss.opts = *opts
	}
	var sender Address
	if from != "" {
		a, err := ss.parsePath(from, 553, [3]int{5, 1, 7})
		if err != nil {
			return ss.refuse(err)
		}
		sender = a
	}
	if ss.srv.opts.Mode == MX && ss.srv.opts.Trust != nil {
		if err := ss.checkTrust(from, sender); err != nil {
			return ss.refuse(err)
		}
	}
	if !ss.enter() {
		return shuttingDown()
	}
	ss.from = from
	ss.id = strings.ToLower(rand.Text()[:16])
	return nil
}

// Rcpt adds a local recipient; the core says whether it exists and has
// room. RFC 5321 §4.1.1.3.
func (ss *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	addr, err := ss.recipient(to)
	if err != nil {
		return ss.refuse(err)
	}
	if _, cerr := ss.srv.svc.CheckRecipient(ss.ctx(), addr); cerr != nil {
		if errors.Is(cerr, core.ErrInvalid) {
			// RFC 5321 §3.6.2: we relay for nobody.
			return ss.refuse(&Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "Relaying denied", Err: cerr})
		}
		return ss.refuse(fromCore(cerr))
	}
	ss.addRecipient(addr, true, opts)
	return nil
}

// Data reads the message, adds Received and Return-Path and delivers it to
// every recipient's Inbox. The reply is 250 only once the core has
// committed it. RFC 5321 §4.1.1.4 and §4.4.
func (ss *session) Data(r io.Reader) error {
	// The transaction stays under way until go-smtp has written the reply
	// and calls Reset, so that a drain never closes the connection between
	// the commit and the 250.
	if !ss.enter() {
		return shuttingDown()
	}
	start := time.Now()
	m, err := ReadMessage(r, maxHeaderBytes)
	if err != nil {
		return ss.refuse(dataError(err))
	}
	if err := ss.authenticate(m); err != nil {
		return ss.refuse(dataError(err))
	}
	m.AddTrace(ss.trace(), true, ss.from)
	var buf bytes.Buffer
	buf.Grow(4096)
	if _, err := buf.ReadFrom(m.Reader()); err != nil {
		return ss.refuse(dataError(err))
	}
	data := buf.Bytes()
	actor := core.System(ss.srv.opts.Mode.String())
	actor.Remote = ss.remote.String()
	if cerr := ss.srv.svc.Deliver(ss.ctx(), actor, core.Delivery{MailFrom: ss.from, Recipients: ss.addresses(), Data: data}); cerr != nil {
		return ss.refuse(fromCore(cerr))
	}
	msgID := m.MessageID()
	ss.srv.log.Info("delivered", "session", ss.id, "remote", ss.remote.String(), "recipients", len(ss.rcpts),
		"size", len(data), "message_id", msgID, "ms", time.Since(start).Milliseconds())
	if msgID != "" {
		msgID = "<" + msgID + ">"
	}
	ss.notifyDelivered(data, msgID)
	return nil
}

// authenticate puts an Authentication-Results field on the message with
// its DKIM verdict (RFC 8601 §2.2, RFC 6376 §6), after removing any such
// field that claims to come from us (RFC 8601 §5). The trace fields go on
// top of it afterwards. Only a signed message is read whole here.
func (ss *session) authenticate(m *Message) error {
	authserv := ss.srv.opts.Hostname
	for f := m.Header.FieldsByKey("Authentication-Results"); f.Next(); {
		if id, _, err := authres.Parse(f.Value()); err == nil && strings.EqualFold(id, authserv) {
			f.Del()
		}
	}
	if !m.Header.Has("Dkim-Signature") {
		m.Header.Add("Authentication-Results", dkim.None(authserv))
		return nil
	}
	body, err := io.ReadAll(m.body)
	if err != nil {
		return err
	}
	m.body = bytes.NewReader(body)
	var whole bytes.Buffer
	if err := textproto.WriteHeader(&whole, m.Header); err != nil {
		return err
	}
	whole.Write(body)
	lookup := ss.srv.opts.LookupTXT
	if lookup == nil {
		lookup = net.DefaultResolver.LookupTXT
	}
	ctx, cancel := context.WithTimeout(ss.ctx(), 20*time.Second)
	defer cancel()
	m.Header.Add("Authentication-Results", dkim.Verify(&whole, authserv, func(name string) ([]string, error) { return lookup(ctx, name) }))
	return nil
}

// checkTrust applies the trust space to a MAIL command: TLS first, then the
// operator's certificate (verified once per connection), then the domain of
// the reverse-path. A null reverse-path (a notice) needs the certificate
// only. Every refusal is logged and counted under its rule.
func (ss *session) checkTrust(from string, sender Address) *Error {
	sp := ss.srv.opts.Trust
	door := ss.srv.opts.Mode.String()
	state, ok := ss.conn.TLSConnectionState()
	var err error
	switch {
	case !ok || !state.HandshakeComplete:
		err = &trust.RuleError{Rule: trust.RuleStartTLS, Detail: "Must issue a STARTTLS command first"}
	case ss.peer == nil:
		err = trust.CheckTLS(state)
		if err == nil {
			var p trust.Peer
			if p, err = sp.VerifyClient(state.PeerCertificates); err == nil {
				ss.peer = &p
			}
		}
	}
	if err == nil && from != "" {
		err = sp.CheckDomain(sender.Domain)
	}
	if err == nil {
		return nil
	}
	var re *trust.RuleError
	if !errors.As(err, &re) {
		return AsError(err)
	}
	sp.Refused(door, re, "session", ss.id, "remote", ss.remote.String())
	return trustError(re)
}

// trustError turns a trust-space refusal into its reply: 530 5.7.0 until
// TLS and a certificate are there (RFC 3207 §4, RFC 3463 §3.8), 550 5.7.1
// for a peer or a domain outside the trust space. The text names the rule.
func trustError(re *trust.RuleError) *Error {
	e := &Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "Trust space [" + re.Rule + "]: " + asciiText(re.Detail), Err: re}
	switch re.Rule {
	case trust.RuleStartTLS:
		e.Code, e.Enhanced, e.Message = 530, [3]int{5, 7, 0}, "Must issue a STARTTLS command first (MSSante trust space)"
	case trust.RuleClientCert:
		e.Code, e.Enhanced = 530, [3]int{5, 7, 0}
	}
	return e
}

// asciiText makes s fit a reply (RFC 5321 §4.2: replies are ASCII): accents
// go, other non-ASCII characters become '?'. Certificate subjects may hold
// UTF-8 ("Santé").
func asciiText(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		case r < 0x80:
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// recipient checks the syntax of a forward-path and returns it normalised
// as the core wants it.
func (ss *session) recipient(to string) (string, *Error) {
	if _, err := ss.parsePath(to, 553, [3]int{5, 1, 3}); err != nil {
		return "", err
	}
	addr, err := core.NormalizeAddress(to)
	if err != nil {
		return "", &Error{Code: 553, Enhanced: [3]int{5, 1, 3}, Message: "Bad recipient address syntax", Err: err}
	}
	return addr, nil
}

func (ss *session) addRecipient(addr string, local bool, opts *gosmtp.RcptOptions) {
	for _, r := range ss.rcpts {
		if r.addr == addr {
			return
		}
	}
	rc := recipient{addr: addr, local: local}
	if opts != nil {
		for _, v := range opts.Notify {
			rc.notify = append(rc.notify, string(v))
		}
		rc.original = opts.OriginalRecipient
	}
	ss.rcpts = append(ss.rcpts, rc)
}

// addresses returns the forward-paths of the transaction.
func (ss *session) addresses() []string {
	out := make([]string, len(ss.rcpts))
	for i, r := range ss.rcpts {
		out[i] = r.addr
	}
	return out
}

// parsePath checks an envelope address; UTF-8 needs the SMTPUTF8 parameter
// of MAIL (RFC 6531 §3.4).
func (ss *session) parsePath(path string, code int, enhanced [3]int) (Address, *Error) {
	a, err := ParseAddress(path)
	if err != nil {
		return Address{}, &Error{Code: code, Enhanced: enhanced, Message: "Bad address syntax", Err: err}
	}
	if !a.IsASCII() && !ss.opts.UTF8 {
		return Address{}, &Error{Code: 553, Enhanced: [3]int{5, 6, 7}, Message: "Non-ASCII address needs SMTPUTF8"}
	}
	return a, nil
}

// trace describes the transaction for its Received field.
func (ss *session) trace() Trace {
	t := Trace{
		Helo:          ss.conn.Hostname(),
		RemoteIP:      ss.remote,
		Hostname:      ss.srv.opts.Hostname,
		UTF8:          ss.opts.UTF8,
		Authenticated: ss.authenticated,
		ID:            ss.id,
		Time:          time.Now(),
	}
	if tlsState, ok := ss.conn.TLSConnectionState(); ok && tlsState.HandshakeComplete {
		t.TLS = &tlsState
	}
	if ss.peer != nil {
		t.PeerSubject, t.PeerIssuer = ss.peer.Subject, ss.peer.Issuer
	}
	if len(ss.rcpts) == 1 {
		t.For = ss.rcpts[0].addr
	}
	return t
}

// ctx is the session's context, for the core calls it makes.
func (ss *session) ctx() context.Context { return ss.context }

// refuse logs a refusal and turns it into the reply go-smtp writes.
func (ss *session) refuse(e *Error) error {
	attrs := []any{"session", ss.id, "remote", ss.remote.String(), "code", e.Code, "status", e.Status()}
	if e.Code == 451 && e.Enhanced == [3]int{4, 3, 0} {
		// An unexpected fault: the cause is for the operator.
		attrs = append(attrs, "cause", e.Err)
		ss.srv.log.Error("refused", attrs...)
	} else {
		ss.srv.log.Info("refused", attrs...)
	}
	return e.reply()
}

// dataError turns a failure to read DATA into a reply.
func dataError(err error) *Error {
	var ge *gosmtp.SMTPError
	if errors.As(err, &ge) {
		// go-smtp's own, such as 552 5.3.4 when the message outgrows SIZE.
		return fromReply(ge, "")
	}
	if errors.Is(err, gosmtp.ErrTooLongLine) {
		// RFC 5322 §2.1.1: a line is at most 998 characters.
		return &Error{Code: 554, Enhanced: [3]int{5, 6, 0}, Message: "Line too long", Err: err}
	}
	if errors.Is(err, ErrHeaderTooLarge) {
		return &Error{Code: 552, Enhanced: [3]int{5, 3, 4}, Message: "Header section too large", Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Code: 451, Enhanced: [3]int{4, 4, 2}, Message: "Connection lost", Err: err}
	}
	// RFC 3463 §3.7: 5.6.0, other or undefined media error.
	return &Error{Code: 554, Enhanced: [3]int{5, 6, 0}, Message: "Malformed message header", Err: err}
}

// fromCore turns a core error into a reply. RFC 3463 gives the codes.
func fromCore(err error) *Error {
	switch {
	case errors.Is(err, core.ErrNoSuchRecipient):
		return &Error{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "No such recipient", Err: err}
	case errors.Is(err, core.ErrQuota):
		return &Error{Code: 452, Enhanced: [3]int{4, 2, 2}, Message: "Mailbox full", Err: err}
	case errors.Is(err, core.ErrTooBig):
		return &Error{Code: 552, Enhanced: [3]int{5, 3, 4}, Message: "Message too big", Err: err}
	case errors.Is(err, core.ErrPermission):
		return &Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "Not authorised to send from this address", Err: err}
	case errors.Is(err, core.ErrUntrusted):
		// The sender learns which domain and why: the text names no message.
		var re *trust.RuleError
		msg := "Recipient outside the MSSante trust space"
		if errors.As(err, &re) {
			msg += " [" + re.Rule + "]: " + asciiText(re.Detail)
		}
		return &Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: msg, Err: err}
	case errors.Is(err, core.ErrInvalid):
		return &Error{Code: 550, Enhanced: [3]int{5, 6, 0}, Message: "Message refused: malformed", Err: err}
	case errors.Is(err, core.ErrAuth), errors.Is(err, core.ErrDisabled):
		return &Error{Code: 535, Enhanced: [3]int{5, 7, 8}, Message: "Authentication failed", Err: err}
	case errors.Is(err, core.ErrTooManyAttempts):
		// RFC 4954 §6: 454 4.7.0, temporary authentication failure.
		return &Error{Code: 454, Enhanced: [3]int{4, 7, 0}, Message: "Too many failed logins, try again later", Err: err}
	}
	return AsError(err)
}

func shuttingDown() error {
	return (&Error{Code: 421, Enhanced: [3]int{4, 3, 2}, Message: "Shutting down, try again later"}).reply()
}

func remoteAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
