package smtp

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// Outbound hands messages to other mail servers: to a configured relay, or
// to the mail exchangers of each recipient's domain (RFC 5321 §5.1). It
// upgrades every connection with STARTTLS when the server offers it (RFC
// 3207) and never falls back to plain text after a failed handshake.
//
// The zero value delivers by MX lookup on port 25 with the system resolver
// and verified TLS. An Outbound is safe for concurrent use once set up.
type Outbound struct {
	// Hostname is the name we give in EHLO.
	Hostname string
	// Relay, as "host:port", receives every message when set; no MX lookup
	// is made.
	Relay string
	// RelayUsername and RelayPassword, when set, log in to the relay with
	// AUTH PLAIN (RFC 4616), over TLS only.
	RelayUsername, RelayPassword string
	// Port is the port of mail exchangers, "25" when empty.
	Port string
	// TLS configures STARTTLS. ServerName is set to the host dialled when
	// empty. Nil verifies the server's certificate against the system roots.
	// The trust space of MSSanté (its own CA, client certificates for mutual
	// TLS) is set up here by the caller.
	TLS *tls.Config
	// RequireTLS refuses to send to a server that does not offer STARTTLS.
	RequireTLS bool
	// CheckDomain, when set, is asked about every recipient's domain before
	// any connection; an error keeps that recipient queued (a temporary
	// 451 4.7.1 naming the reason), so that it is retried and, at expiry,
	// bounced with the reason in the DSN. The trust space sets it to the
	// whitelist.
	CheckDomain func(domain string) error
	// Resolver looks up MX records; nil uses net.DefaultResolver.
	Resolver Resolver
	// Dialer opens connections; nil uses a net.Dialer with a 30 s timeout.
	Dialer Dialer
	// Timeout bounds one attempt to one host, 10 minutes when zero. The
	// context given to Deliver bounds the whole call.
	Timeout time.Duration
}

// Resolver looks up the mail exchangers of a domain. *net.Resolver is one.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// Dialer opens a network connection. *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Envelope is what the SMTP transaction carries besides the message: the
// reverse-path, the recipients and the parameters of the SMTP extensions.
type Envelope struct {
	// From is the reverse-path; empty for the null path of a DSN.
	From string
	// To lists the recipients.
	To []Recipient
	// UTF8 asks for SMTPUTF8 (RFC 6531): an address or the header is not
	// ASCII.
	UTF8 bool
	// Size is the message size in octets, for the SIZE parameter (RFC 1870);
	// 0 when unknown.
	Size int64
	// EnvelopeID and Return are the ENVID and RET parameters of MAIL
	// (RFC 3461 §4.3-4.4), passed on to the next hop.
	EnvelopeID string
	Return     string
}

// Recipient is one forward-path with its DSN parameters (RFC 3461 §4.1-4.2).
type Recipient struct {
	// Address is the forward-path, without angle brackets.
	Address string
	// Notify lists the NOTIFY values: NEVER, or some of SUCCESS, FAILURE
	// and DELAY. Empty means the default, FAILURE and DELAY.
	Notify []string
	// Original is the ORCPT address, as the client first gave it.
	Original string
}

// Content opens the message for one attempt; it is called once per host
// tried, and the returned reader is closed after the attempt.
type Content func() (io.ReadCloser, error)

// Result is what became of one recipient.
type Result struct {
	// Recipient is the forward-path the result is for.
	Recipient string
	// Remote names the host that answered, empty when none did.
	Remote string
	// Err is nil when Remote accepted the message, otherwise the failure:
	// temporary (retry later) or permanent (send a DSN).
	Err *Error
}

// Deliver sends the message to every recipient of env and returns one result
// per recipient, in the order of env.To. Recipients are grouped by domain,
// one transaction per domain (or one through the relay).
func (o *Outbound) Deliver(ctx context.Context, env Envelope, content Content) []Result {
	results := make([]Result, 0, len(env.To))
	to := env.To
	if o.CheckDomain != nil {
		to = nil
		for _, r := range env.To {
			d := strings.ToLower(r.Address[strings.LastIndexByte(r.Address, '@')+1:])
			if err := o.CheckDomain(d); err != nil {
				results = append(results, Result{Recipient: r.Address, Err: &Error{Code: 451, Enhanced: [3]int{4, 7, 1}, Message: err.Error(), Err: err}})
				continue
			}
			to = append(to, r)
		}
	}
	for _, group := range o.groups(to) {
		results = append(results, o.deliverGroup(ctx, env, group, content)...)
	}
	order := make(map[string]int, len(env.To))
	for i, r := range env.To {
		order[r.Address] = i
	}
	slices.SortStableFunc(results, func(a, b Result) int {
		return cmp.Compare(order[a.Recipient], order[b.Recipient])
	})
	return results
}

// groups splits recipients into one group per transaction: a single group
// through a relay, or one per domain.
func (o *Outbound) groups(rcpts []Recipient) [][]Recipient {
	if len(rcpts) == 0 {
		return nil
	}
	if o.Relay != "" {
		return [][]Recipient{rcpts}
	}
	var keys []string
	byDomain := map[string][]Recipient{}
	for _, r := range rcpts {
		d := strings.ToLower(r.Address[strings.LastIndexByte(r.Address, '@')+1:])
		if _, ok := byDomain[d]; !ok {
			keys = append(keys, d)
		}
		byDomain[d] = append(byDomain[d], r)
	}
	groups := make([][]Recipient, 0, len(keys))
	for _, k := range keys {
		groups = append(groups, byDomain[k])
	}
	return groups
}

// deliverGroup delivers to recipients that share a destination, trying its
// hosts in order until one gives an answer for the recipients.
func (o *Outbound) deliverGroup(ctx context.Context, env Envelope, rcpts []Recipient, content Content) []Result {
	hosts, err := o.hosts(ctx, rcpts[0].Address)
	if err != nil {
		return failAll(rcpts, err)
	}
	var last *Error
	for _, host := range hosts {
		results, err, final := o.attempt(ctx, host, env, rcpts, content)
		if err == nil {
			return results
		}
		last = err
		if final || ctx.Err() != nil {
			break
		}
	}
	return failAll(rcpts, last)
}

func failAll(rcpts []Recipient, err *Error) []Result {
	results := make([]Result, len(rcpts))
	for i, r := range rcpts {
		results[i] = Result{Recipient: r.Address, Remote: err.Remote, Err: err}
	}
	return results
}

// host is one server to try, as "host:port" with the name to check its
// certificate against.
type host struct {
	addr, name string
	implicit   bool // the domain itself, for want of MX records
}

// hosts returns the servers to try for the domain of address, best first.
func (o *Outbound) hosts(ctx context.Context, address string) ([]host, *Error) {
	if o.Relay != "" {
		name, _, err := net.SplitHostPort(o.Relay)
		if err != nil {
			return nil, &Error{Code: 451, Enhanced: [3]int{4, 3, 5}, Message: "Relay misconfigured", Err: err}
		}
		return []host{{addr: o.Relay, name: name}}, nil
	}
	port := cmp.Or(o.Port, "25")
	a, err := ParseAddress(address)
	if err != nil {
		return nil, &Error{Code: 553, Enhanced: [3]int{5, 1, 3}, Message: "Bad recipient address syntax", Err: err}
	}
	if strings.HasPrefix(a.Domain, "[") {
		ip := strings.TrimPrefix(strings.Trim(a.Domain, "[]"), "IPv6:")
		return []host{{addr: net.JoinHostPort(ip, port), name: ip}}, nil
	}
	domain, err := a.ASCIIDomain()
	if err != nil {
		return nil, &Error{Code: 553, Enhanced: [3]int{5, 1, 2}, Message: "Bad destination domain", Err: err}
	}
	var resolver Resolver = net.DefaultResolver
	if o.Resolver != nil {
		resolver = o.Resolver
	}
	mxs, err := resolver.LookupMX(ctx, domain)
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound, err == nil && len(mxs) == 0:
		// RFC 5321 §5.1: without MX records the domain itself is the
		// implicit mail exchanger.
		return []host{{addr: net.JoinHostPort(domain, port), name: domain, implicit: true}}, nil
	case err != nil:
		// RFC 3463 §3.5: 4.4.3, directory (DNS) server failure.
		return nil, &Error{Code: 451, Enhanced: [3]int{4, 4, 3}, Message: "MX lookup failed", Err: err}
	}
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		// RFC 7505 §4.1: a null MX says the domain accepts no mail.
		return nil, &Error{Code: 556, Enhanced: [3]int{5, 1, 10}, Message: "Recipient domain accepts no mail (null MX)"}
	}
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	hosts := make([]host, 0, len(mxs))
	for _, mx := range mxs {
		name := strings.TrimSuffix(mx.Host, ".")
		hosts = append(hosts, host{addr: net.JoinHostPort(name, port), name: name})
	}
	return hosts, nil
}

// attempt runs one SMTP transaction with h. It returns the per-recipient
// results once the transaction reached RCPT, or an error that applies to
// every recipient before that, final when the host refused the sender for
// good: other hosts of the domain would say the same.
func (o *Outbound) attempt(ctx context.Context, h host, env Envelope, rcpts []Recipient, content Content) ([]Result, *Error, bool) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(o.Timeout, 10*time.Minute))
	defer cancel()
	var dialer Dialer = &net.Dialer{Timeout: 30 * time.Second}
	if o.Dialer != nil {
		dialer = o.Dialer
	}
	conn, err := dialer.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		var dnsErr *net.DNSError
		if h.implicit && errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			// RFC 3463 §3.2: 5.1.2, bad destination system address.
			return nil, &Error{Code: 550, Enhanced: [3]int{5, 1, 2}, Message: "Recipient domain does not exist", Err: err}, true
		}
		// RFC 3463 §3.5: 4.4.1, no answer from host.
		return nil, &Error{Code: 451, Enhanced: [3]int{4, 4, 1}, Message: "Connection to " + h.name + " failed", Err: err}, false
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	c, tlsState, serr := o.open(ctx, conn, h)
	if serr != nil {
		return nil, serr, false
	}
	if o.RelayUsername != "" {
		if tlsState == nil {
			return nil, &Error{Code: 451, Enhanced: [3]int{4, 7, 10}, Message: "Relay offers no TLS for AUTH", Remote: h.name}, false
		}
		if err := c.Auth(sasl.NewPlainClient("", o.RelayUsername, o.RelayPassword)); err != nil {
			return nil, o.classify(err, h, [3]int{4, 7, 0}), false
		}
	}
	if env.UTF8 {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			// RFC 6531 §3.2: the message needs SMTPUTF8 and the server
			// lacks it; we do not downgrade.
			return nil, &Error{Code: 553, Enhanced: [3]int{5, 6, 7}, Message: "Server does not support SMTPUTF8", Remote: h.name}, true
		}
	}
	mailOpts := &gosmtp.MailOptions{Size: env.Size, UTF8: env.UTF8, EnvelopeID: env.EnvelopeID, Return: gosmtp.DSNReturn(env.Return)}
	if err := c.Mail(env.From, mailOpts); err != nil {
		e := o.classify(err, h, [3]int{4, 4, 2})
		return nil, e, !e.Temporary()
	}
	results := make([]Result, len(rcpts))
	var accepted []int
	for i, r := range rcpts {
		results[i] = Result{Recipient: r.Address, Remote: h.name}
		if err := c.Rcpt(r.Address, rcptOptions(r)); err != nil {
			results[i].Err = o.classify(err, h, [3]int{4, 4, 2})
			if results[i].Err.Remote == "" {
				// The connection broke: nothing more will be said.
				return nil, results[i].Err, false
			}
			continue
		}
		accepted = append(accepted, i)
	}
	if len(accepted) == 0 {
		c.Quit()
		return results, nil, false
	}
	if err := o.data(c, content); err != nil {
		e := o.classify(err, h, [3]int{4, 4, 2})
		for _, i := range accepted {
			results[i].Err = e
		}
		return results, nil, false
	}
	c.Quit()
	return results, nil, false
}

// open reads the greeting, says EHLO and upgrades the connection with
// STARTTLS when offered, then hands the session to a go-smtp client that
// has said EHLO again over TLS (RFC 3207 §4.2). It returns the TLS state,
// nil on a plain connection.
func (o *Outbound) open(ctx context.Context, conn net.Conn, h host) (*gosmtp.Client, *tls.ConnectionState, *Error) {
	hostname := cmp.Or(o.Hostname, "localhost")
	tp := textproto.NewConn(conn)
	_, greeting, err := tp.ReadResponse(220)
	if err != nil {
		return nil, nil, o.classify(err, h, [3]int{4, 4, 2})
	}
	id, err := tp.Cmd("EHLO %s", hostname)
	if err != nil {
		return nil, nil, o.classify(err, h, [3]int{4, 4, 2})
	}
	tp.StartResponse(id)
	_, ehlo, err := tp.ReadResponse(250)
	tp.EndResponse(id)
	startTLS := err == nil && hasExtension(ehlo, "STARTTLS")
	var state *tls.ConnectionState
	if startTLS {
		if _, _, err := cmdLine(tp, 220, "STARTTLS"); err != nil {
			return nil, nil, o.classify(err, h, [3]int{4, 7, 0})
		}
		if tp.R.Buffered() > 0 {
			// RFC 3207 §4: nothing may follow the reply before the
			// handshake; plain text sent ahead would be injected.
			return nil, nil, &Error{Code: 451, Enhanced: [3]int{4, 7, 0}, Message: "Data sent ahead of the TLS handshake", Remote: h.name}
		}
		cfg := o.tlsConfig(h.name)
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			// RFC 3463 §3.8: 4.7.0, security failure; no plain text retry.
			// The cause (an unknown authority, a revoked certificate, a
			// name that does not match) goes into the DSN if it persists.
			return nil, nil, &Error{Code: 451, Enhanced: [3]int{4, 7, 0}, Message: "TLS handshake with " + h.name + " failed: " + oneLine(err.Error()), Err: err}
		}
		cs := tc.ConnectionState()
		state = &cs
		conn = tc
	} else if o.RequireTLS {
		return nil, nil, &Error{Code: 451, Enhanced: [3]int{4, 7, 10}, Message: h.name + " offers no STARTTLS", Remote: h.name}
	}
	// go-smtp's client starts by reading a greeting: give it the one we
	// read, then let it say EHLO itself.
	var rest io.Reader = tp.R
	if state != nil {
		rest = conn
	}
	c := gosmtp.NewClient(&replayConn{Conn: conn, r: io.MultiReader(strings.NewReader("220 "+firstLine(greeting)+"\r\n"), rest)})
	if err := c.Hello(hostname); err != nil {
		return nil, nil, o.classify(err, h, [3]int{4, 4, 2})
	}
	return c, state, nil
}

func (o *Outbound) tlsConfig(name string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLS != nil {
		cfg = o.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = name
	}
	return cfg
}

func (o *Outbound) data(c *gosmtp.Client, content Content) error {
	r, err := content()
	if err != nil {
		return &Error{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: "Local error reading the message", Err: err}
	}
	defer r.Close()
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	return w.Close()
}

// classify turns what a step of the transaction returned into an *Error: a
// reply keeps its codes; a broken connection is a temporary failure with
// the given enhanced code.
func (o *Outbound) classify(err error, h host, enhanced [3]int) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ge *gosmtp.SMTPError
	if errors.As(err, &ge) {
		return fromReply(ge, h.name)
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		code, msg := parseEnhanced(te.Msg)
		return fromReply(&gosmtp.SMTPError{Code: te.Code, EnhancedCode: code, Message: msg}, h.name)
	}
	return &Error{Code: 451, Enhanced: enhanced, Message: "Connection to " + h.name + " failed", Err: err}
}

func rcptOptions(r Recipient) *gosmtp.RcptOptions {
	opts := &gosmtp.RcptOptions{}
	for _, n := range r.Notify {
		opts.Notify = append(opts.Notify, gosmtp.DSNNotify(strings.ToUpper(n)))
	}
	if r.Original != "" {
		opts.OriginalRecipient = r.Original
		opts.OriginalRecipientType = gosmtp.DSNAddressTypeRFC822
		if !isASCII(r.Original) {
			opts.OriginalRecipientType = gosmtp.DSNAddressTypeUTF8
		}
	}
	return opts
}

// cmdLine sends one command on tp and reads its reply.
func cmdLine(tp *textproto.Conn, expect int, cmd string) (int, string, error) {
	id, err := tp.Cmd("%s", cmd)
	if err != nil {
		return 0, "", err
	}
	tp.StartResponse(id)
	defer tp.EndResponse(id)
	return tp.ReadResponse(expect)
}

// hasExtension reports whether an EHLO reply lists keyword. RFC 5321 §4.1.1.1.
func hasExtension(ehlo, keyword string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], keyword) {
			return true
		}
	}
	return false
}

// parseEnhanced splits an RFC 2034 enhanced status code off a reply text.
func parseEnhanced(msg string) (gosmtp.EnhancedCode, string) {
	code, rest, ok := strings.Cut(msg, " ")
	if !ok {
		return gosmtp.EnhancedCode{}, msg
	}
	parts := strings.Split(code, ".")
	if len(parts) != 3 {
		return gosmtp.EnhancedCode{}, msg
	}
	var ec gosmtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return gosmtp.EnhancedCode{}, msg
		}
		ec[i] = n
	}
	return ec, rest
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// replayConn is a connection whose first bytes come from r, which holds
// what was already read from it.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(b []byte) (int, error) { return c.r.Read(b) }
