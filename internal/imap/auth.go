package imap

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"

	"caduceus/internal/auth"
	"caduceus/internal/core"
)

// authCapabilities are the SASL mechanisms offered before login (RFC 9051
// §6.2.2): PLAIN for device credentials (and the account password where the
// configuration allows it), EXTERNAL when the client gave a TLS certificate
// (RFC 4422 Appendix A), OAUTHBEARER (RFC 7628) and XOAUTH2 when a Pro Santé
// Connect token verifier is configured.
func (c *conn) authCapabilities() []string {
	caps := []string{"AUTH=PLAIN"}
	if c.peer != nil {
		caps = append(caps, "AUTH=EXTERNAL")
	}
	if c.srv.svc.BearerEnabled() {
		caps = append(caps, "AUTH=OAUTHBEARER", "AUTH=XOAUTH2")
	}
	return caps
}

// cmdAuthenticate runs AUTHENTICATE (RFC 9051 §6.2.2) with an initial
// response (RFC 4959) or after a continuation, for any mechanism of
// authCapabilities. The core decides who the credentials prove.
func (c *conn) cmdAuthenticate(cmd *Command) error {
	a := cmd.Args.(*AuthenticateArgs)
	if !c.tls && !c.srv.opts.InsecureAuth {
		c.w.Tagged(cmd.Tag, "NO", "PRIVACYREQUIRED", "TLS required")
		return nil
	}
	var actor core.Actor
	var loginErr error
	login := func(mech, user, secret string) error {
		actor, loginErr = c.srv.svc.MailLogin(c.ctx, core.MailCredentials{
			Door: "imap", Remote: c.ip, Mechanism: mech, Username: user, Secret: secret, Certificate: c.peer,
		})
		return loginErr
	}
	var srv sasl.Server
	switch mech := strings.ToUpper(a.Mechanism); mech {
	case sasl.Plain:
		srv = sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return errors.New("authorisation identity differs") // RFC 4616 §2: no acting as another
			}
			return login(mech, username, password)
		})
	case sasl.External:
		if c.peer == nil {
			c.w.Tagged(cmd.Tag, "NO", "AUTHENTICATIONFAILED", "no client certificate")
			return nil
		}
		srv = sasl.NewExternalServer(func(identity string) error { return login(mech, identity, "") })
	case sasl.OAuthBearer, "XOAUTH2":
		if !c.srv.svc.BearerEnabled() {
			c.w.Tagged(cmd.Tag, "NO", "CANNOT", "unsupported mechanism")
			return nil
		}
		if mech == "XOAUTH2" {
			srv = auth.NewXOAuth2Server(func(user, token string) error { return login(mech, user, token) })
		} else {
			srv = sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
				if login(mech, o.Username, o.Token) != nil {
					return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
				}
				return nil
			})
		}
	default:
		c.w.Tagged(cmd.Tag, "NO", "CANNOT", "unsupported mechanism")
		return nil
	}
	var resp []byte
	if a.HasInitial {
		resp = a.InitialResponse
		if resp == nil {
			resp = []byte{}
		}
	}
	for {
		challenge, done, err := srv.Next(resp)
		if done || err != nil {
			if loginErr != nil {
				c.failLogin(cmd.Tag, loginErr)
				return nil
			}
			if err != nil {
				c.w.Tagged(cmd.Tag, "NO", "AUTHENTICATIONFAILED", "authentication failed")
				return nil
			}
			c.loggedIn(cmd.Tag, actor)
			return nil
		}
		c.w.Atom("+ ")
		c.w.Atom(base64.StdEncoding.EncodeToString(challenge))
		c.w.CRLF()
		if err := c.w.Flush(); err != nil {
			return err
		}
		line, err := c.p.ReadLine()
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) {
				c.w.Tagged(cmd.Tag, "BAD", "", pe.Msg)
				return nil
			}
			return err
		}
		if line == "*" {
			c.w.Tagged(cmd.Tag, "BAD", "", "authentication cancelled")
			return nil
		}
		if resp, err = decodeBase64(line); err != nil {
			c.w.Tagged(cmd.Tag, "BAD", "", "bad base64")
			return nil
		}
		if resp == nil {
			resp = []byte{}
		}
	}
}

// login runs LOGIN (RFC 9051 §6.2.3): a device credential, or the account
// password where the configuration allows it.
func (c *conn) login(tag, user, password string) {
	if !c.tls && !c.srv.opts.InsecureAuth {
		c.w.Tagged(tag, "NO", "PRIVACYREQUIRED", "TLS required")
		return
	}
	actor, err := c.srv.svc.MailLogin(c.ctx, core.MailCredentials{Door: "imap", Remote: c.ip, Mechanism: "LOGIN", Username: user, Secret: password})
	if err != nil {
		c.failLogin(tag, err)
		return
	}
	c.loggedIn(tag, actor)
}

// failLogin answers a refused login; the bare password, where it is not
// accepted, gets the advice to enrol a device.
func (c *conn) failLogin(tag string, err error) {
	if errors.Is(err, core.ErrDeviceRequired) {
		c.w.Tagged(tag, "NO", "AUTHENTICATIONFAILED", core.ErrDeviceRequired.Error())
		return
	}
	c.fail(tag, err)
}

// loggedIn moves to the authenticated state, and lets the server find the
// connection if its credential is revoked.
func (c *conn) loggedIn(tag string, actor core.Actor) {
	if !c.srv.claimAccount(actor.AccountID) {
		c.w.Tagged(tag, "NO", "UNAVAILABLE", "too many connections for this account")
		return
	}
	c.actor = actor
	c.state = stateAuth
	c.srv.byCred.Add(c.actor.Credential, c)
	c.ok(tag, "CAPABILITY "+c.capabilities(), "logged in")
}

// revoke closes the connection because its credential was revoked: its
// pending read (IDLE included) returns and the client is told BYE.
func (c *conn) revoke() {
	c.revoked.Store(true)
	c.Stop()
}

// closingText is the BYE of a connection the server is closing.
func (c *conn) closingText() string {
	if c.revoked.Load() {
		return "[UNAVAILABLE] this device's access was revoked"
	}
	return "server shutting down"
}

// closeRevoked closes the connections that logged in with cred.
func (s *Server) closeRevoked(cred string) {
	s.byCred.Each(cred, (*conn).revoke)
}

// watchRevocations closes connections whose credential the core revokes,
// until the watch ends (Shutdown).
func (s *Server) watchRevocations(revoked <-chan string) {
	for cred := range revoked {
		s.closeRevoked(cred)
	}
}

// peerCertificate is the client's certificate, if it gave one.
func peerCertificate(tc *tls.Conn) *x509.Certificate {
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		return certs[0]
	}
	return nil
}
