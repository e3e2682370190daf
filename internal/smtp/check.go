package smtp

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/textproto"
	"slices"
	"time"

	"caduceus/internal/trust"
)

// CheckOptions configures CheckPeer.
type CheckOptions struct {
	// Addr is the peer's "host:port".
	Addr string
	// Name is the name its certificate must be valid for; the host of Addr
	// when empty.
	Name string
	// Hostname is the name we give in EHLO.
	Hostname string
	// Space is the trust space in force.
	Space *trust.Space
	// ClientCert is the certificate we present, as delivery does.
	ClientCert *tls.Certificate
	// From is the reverse-path of the MAIL command that asks whether the
	// peer accepts us; no mail is sent (the transaction is reset).
	From string
	// Domain, when set, is checked against the whitelist.
	Domain string
	// Timeout bounds the whole check, 30 seconds when 0.
	Timeout time.Duration
}

// CheckStep is one rule CheckPeer tried.
type CheckStep struct {
	Rule   string // a trust.Rule* name, or "connect", "smtp", "peer_accepts_us"
	OK     bool
	Detail string
}

// CheckPeer connects to a peer the way the queue delivers in trust mode and
// reports every rule: STARTTLS offered, the TLS version and suite, the
// server's certificate (bundle, revocation, name), the whitelist, and
// whether the peer accepts our certificate and sender at MAIL. It stops at
// the first step that makes the next ones impossible.
func CheckPeer(ctx context.Context, o CheckOptions) []CheckStep {
	var steps []CheckStep
	add := func(rule string, ok bool, format string, args ...any) {
		steps = append(steps, CheckStep{Rule: rule, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(o.Timeout, 30*time.Second))
	defer cancel()
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		add("connect", false, "%v", err)
		return steps
	}
	name := cmp.Or(o.Name, host)
	if o.Domain != "" {
		if err := o.Space.CheckDomain(o.Domain); err != nil {
			add(trust.RuleWhitelist, false, "%v", err)
		} else {
			add(trust.RuleWhitelist, true, "%s is on the whitelist", o.Domain)
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		add("connect", false, "%v", err)
		return steps
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	add("connect", true, "connected to %s", o.Addr)
	hostname := cmp.Or(o.Hostname, "localhost")
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		add("smtp", false, "greeting: %v", err)
		return steps
	}
	_, ehlo, err := cmdLine(tp, 250, "EHLO "+hostname)
	if err != nil {
		add("smtp", false, "EHLO: %v", err)
		return steps
	}
	if !hasExtension(ehlo, "STARTTLS") {
		add(trust.RuleStartTLS, false, "the peer does not offer STARTTLS")
		return steps
	}
	if _, _, err := cmdLine(tp, 220, "STARTTLS"); err != nil {
		add(trust.RuleStartTLS, false, "STARTTLS: %v", err)
		return steps
	}
	add(trust.RuleStartTLS, true, "STARTTLS offered and accepted")
	cfg := o.Space.ClientTLS(o.ClientCert)
	// Look at everything first, then judge each rule on its own.
	cfg.VerifyConnection = nil
	cfg.ServerName = name
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		add(trust.RuleTLSVersion, false, "TLS handshake with TLS 1.2+ and the allowed suites failed: %v", err)
		return steps
	}
	cs := tc.ConnectionState()
	if err := trust.CheckTLS(cs); err != nil {
		add(trust.RuleCipher, false, "%v", err)
	} else {
		add(trust.RuleTLSVersion, true, "%s, %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
	}
	if p, err := o.Space.VerifyServer(cs.PeerCertificates, ""); err != nil {
		add(trust.RuleChain, false, "%v", err)
	} else {
		add(trust.RuleChain, true, "%s, issued by %s, not revoked", p.Subject, p.Issuer)
	}
	if len(cs.PeerCertificates) > 0 {
		if err := cs.PeerCertificates[0].VerifyHostname(name); err != nil {
			add(trust.RuleName, false, "%v", err)
		} else {
			add(trust.RuleName, true, "valid for %s", name)
		}
	}
	tp = textproto.NewConn(tc)
	if _, _, err := cmdLine(tp, 250, "EHLO "+hostname); err != nil {
		add("smtp", false, "EHLO over TLS: %v", err)
		return steps
	}
	if _, msg, err := cmdLine(tp, 250, "MAIL FROM:<"+o.From+">"); err != nil {
		add("peer_accepts_us", false, "MAIL FROM:<%s> refused: %v", o.From, err)
	} else {
		add("peer_accepts_us", true, "MAIL FROM:<%s> accepted with our certificate: %s", o.From, firstLine(msg))
	}
	cmdLine(tp, 250, "RSET")
	cmdLine(tp, 221, "QUIT")
	return steps
}

// CheckPassed reports whether every step passed.
func CheckPassed(steps []CheckStep) bool {
	return !slices.ContainsFunc(steps, func(s CheckStep) bool { return !s.OK })
}
