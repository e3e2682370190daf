package ldap

import (
	"bufio"
	"context"
	"crypto/tls"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"caduceus/internal/netserve"
)

// Object identifiers of the extended operations this server knows.
const (
	oidStartTLS              = "1.3.6.1.4.1.1466.20037" // RFC 4511 §4.14
	oidNoticeOfDisconnection = "1.3.6.1.4.1.1466.20036" // RFC 4511 §4.4.1
)

// requestTimeout bounds the work of one request.
const requestTimeout = 10 * time.Second

// handle answers one message; it returns false when the connection must close.
func (c *conn) handle(msg *ber.Packet) bool {
	id := integer(msg.Children[0])
	op := msg.Children[1]
	if op.ClassType != ber.ClassApplication {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var err error
	switch tag := int(op.Tag); tag {
	case goldap.ApplicationUnbindRequest:
		return false
	case goldap.ApplicationAbandonRequest:
		// Requests are answered one at a time: none is left to abandon.
	case goldap.ApplicationBindRequest:
		err = c.bind(ctx, id, op)
	case goldap.ApplicationSearchRequest:
		err = c.search(ctx, id, op)
	case goldap.ApplicationExtendedRequest:
		return c.extended(id, op)
	default:
		resp, ok := responseTag(tag)
		if !ok {
			return false
		}
		err = c.write(id, result(resp, goldap.LDAPResultUnwillingToPerform, "the directory is read-only"))
	}
	return err == nil
}

// bind answers a BindRequest (RFC 4511 §4.2): simple binds only, anonymous or
// with an account's password, the latter over TLS when the server offers it.
func (c *conn) bind(ctx context.Context, id int64, op *ber.Packet) error {
	reply := func(code int, diagnostic string) error {
		return c.write(id, result(goldap.ApplicationBindResponse, code, diagnostic))
	}
	c.bound, c.login = false, ""
	name, auth := str(child(op, 1)), child(op, 2)
	switch {
	case integer(child(op, 0)) != 3:
		return reply(goldap.LDAPResultProtocolError, "only LDAP version 3 is supported")
	case auth == nil || auth.ClassType != ber.ClassContext || auth.Tag != 0:
		return reply(goldap.LDAPResultAuthMethodNotSupported, "only simple binds are supported")
	}
	password := str(auth)
	switch {
	case name == "" && password == "":
		return reply(goldap.LDAPResultSuccess, "")
	case password == "":
		// RFC 4513 §5.1.2: an unauthenticated bind must not pass for a login.
		return reply(goldap.LDAPResultUnwillingToPerform, "a password is required")
	case c.srv.opts.TLSConfig != nil && !c.tls:
		return reply(goldap.LDAPResultConfidentialityRequired, "use STARTTLS before sending a password")
	case c.srv.auth == nil:
		return reply(goldap.LDAPResultInvalidCredentials, "invalid credentials")
	}
	login := loginOf(name)
	if err := c.srv.auth(ctx, netserve.RemoteIP(c.raw), login, password); err != nil {
		return reply(goldap.LDAPResultInvalidCredentials, "invalid credentials")
	}
	c.bound, c.login = true, login
	return reply(goldap.LDAPResultSuccess, "")
}

// loginOf returns the account a bind name stands for: the value of its first
// RDN ("uid=alice@example.org,ou=…" gives alice@example.org), or the name itself
// when it is not a DN.
func loginOf(name string) string {
	if !strings.Contains(name, "=") {
		return name
	}
	dn, err := goldap.ParseDN(name)
	if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) == 0 {
		return name
	}
	return dn.RDNs[0].Attributes[0].Value
}

// extended answers an ExtendedRequest (RFC 4511 §4.12): STARTTLS only. It
// returns false when the connection must close.
func (c *conn) extended(id int64, op *ber.Packet) bool {
	name := str(child(op, 0))
	reply := func(code int, diagnostic string) bool {
		resp := result(goldap.ApplicationExtendedResponse, code, diagnostic)
		resp.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 10, name, ""))
		return c.write(id, resp) == nil
	}
	cfg := c.srv.opts.TLSConfig
	switch {
	case name != oidStartTLS:
		return reply(goldap.LDAPResultProtocolError, "unknown extended operation")
	case cfg == nil:
		return reply(goldap.LDAPResultUnavailable, "STARTTLS is not offered")
	case c.tls:
		return reply(goldap.LDAPResultOperationsError, "TLS is already established")
	case c.r.Buffered() > 0:
		// RFC 4511 §4.14.1: nothing may follow the request before the response.
		return false
	}
	if !reply(goldap.LDAPResultSuccess, "") {
		return false
	}
	tc := tls.Server(c.raw, cfg)
	c.raw.SetDeadline(time.Now().Add(requestTimeout))
	if err := tc.Handshake(); err != nil {
		return false
	}
	c.raw.SetWriteDeadline(time.Time{})
	c.wmu.Lock()
	c.nc, c.r, c.tls = tc, bufio.NewReader(tc), true
	c.wmu.Unlock()
	return true
}

// noticeOfDisconnection tells the client the server is going away (RFC 4511
// §4.4.1).
func (c *conn) noticeOfDisconnection() {
	resp := result(goldap.ApplicationExtendedResponse, goldap.LDAPResultUnavailable, "the server is shutting down")
	resp.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 10, oidNoticeOfDisconnection, ""))
	c.write(0, resp)
}
