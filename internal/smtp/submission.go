package smtp

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"caduceus/internal/auth"
	"caduceus/internal/core"
)

// submissionSession is one submission connection: the client logs in, then
// sends as the core allows it to.
type submissionSession struct {
	*session
	actor core.Actor
}

var _ gosmtp.AuthSession = (*submissionSession)(nil)

// AuthMechanisms lists the SASL mechanisms offered; go-smtp offers them only
// over TLS. PLAIN and LOGIN take a device credential (or the account
// password where the configuration allows it); EXTERNAL a client
// certificate pinned to a mailbox (RFC 4422 Appendix A), when the client gave
// one; OAUTHBEARER (RFC 7628) and XOAUTH2 a Pro Santé Connect token, when a
// verifier is configured.
func (ss *submissionSession) AuthMechanisms() []string {
	mechs := []string{sasl.Plain, sasl.Login}
	if ss.peerCertificate() != nil {
		mechs = append(mechs, sasl.External)
	}
	if ss.srv.svc.BearerEnabled() {
		mechs = append(mechs, sasl.OAuthBearer, "XOAUTH2")
	}
	return mechs
}

// peerCertificate is the client's TLS certificate, if it gave one.
func (ss *submissionSession) peerCertificate() *x509.Certificate {
	if st, ok := ss.conn.TLSConnectionState(); ok && len(st.PeerCertificates) > 0 {
		return st.PeerCertificates[0]
	}
	return nil
}

// Auth starts a SASL exchange. RFC 4954 §4. The core decides who the
// credentials prove, and refuses an account or an address that fails too
// often; every failure is slowed down here too.
func (ss *submissionSession) Auth(mech string) (sasl.Server, error) {
	mech = strings.ToUpper(mech)
	login := func(username, secret string) error {
		actor, err := ss.srv.svc.MailLogin(ss.ctx(), core.MailCredentials{
			Door: ss.srv.opts.Mode.String(), Remote: ss.remote.String(), Mechanism: mech,
			Username: username, Secret: secret, Certificate: ss.peerCertificate(),
		})
		if err != nil {
			pause(ss.ctx(), ss.srv.opts.AuthFailureDelay)
			if errors.Is(err, core.ErrDeviceRequired) {
				// RFC 4954 §6: 535 5.7.8, credentials invalid (for mail clients).
				return ss.refuse(&Error{Code: 535, Enhanced: [3]int{5, 7, 8}, Message: core.ErrDeviceRequired.Error()})
			}
			return ss.refuse(fromCore(err))
		}
		ss.actor = actor
		ss.authenticated = true
		ss.srv.byCred.Add(ss.actor.Credential, ss)
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && !strings.EqualFold(identity, username) {
				// RFC 4616 §2: we do not let one user act as another.
				return gosmtp.ErrAuthFailed
			}
			return login(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{login: login}, nil
	case sasl.External:
		if ss.peerCertificate() == nil {
			return nil, gosmtp.ErrAuthUnknownMechanism
		}
		return sasl.NewExternalServer(func(identity string) error { return login(identity, "") }), nil
	case sasl.OAuthBearer:
		if !ss.srv.svc.BearerEnabled() {
			return nil, gosmtp.ErrAuthUnknownMechanism
		}
		return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if login(o.Username, o.Token) != nil {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			return nil
		}), nil
	case "XOAUTH2":
		if !ss.srv.svc.BearerEnabled() {
			return nil, gosmtp.ErrAuthUnknownMechanism
		}
		return auth.NewXOAuth2Server(login), nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

// Logout ends the session, and its filing under its credential.
func (ss *submissionSession) Logout() error {
	if ss.authenticated {
		ss.srv.byCred.Remove(ss.actor.Credential, ss)
	}
	return ss.session.Logout()
}

// revoke ends the session because its credential was revoked: what it has
// under way in the core is cancelled, unacknowledged, and the connection is
// closed, so the client's next command fails and it must log in again.
func (ss *submissionSession) revoke() {
	ss.cancel()
	ss.conn.Conn().Close()
}

// Mail starts a transaction from an address the user may send from: their
// own, or one they hold send-as or send-on-behalf on. The core decides.
func (ss *submissionSession) Mail(from string, opts *gosmtp.MailOptions) error {
	if !ss.authenticated {
		// RFC 4954 §6: 530 5.7.0, authentication required.
		return ss.refuse(&Error{Code: 530, Enhanced: [3]int{5, 7, 0}, Message: "Authentication required"})
	}
	if err := ss.session.Mail(from, opts); err != nil {
		return err
	}
	if from == "" {
		ss.Reset()
		return ss.refuse(&Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "A null sender is for the server alone"})
	}
	if _, err := ss.srv.svc.CheckSender(ss.ctx(), ss.actor, from); err != nil {
		ss.Reset()
		return ss.refuse(fromCore(err))
	}
	return nil
}

// Rcpt adds a recipient: local ones must exist and have room, remote ones
// go to the outbound queue.
func (ss *submissionSession) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	addr, err := ss.recipient(to)
	if err != nil {
		return ss.refuse(err)
	}
	_, cerr := ss.srv.svc.CheckRecipient(ss.ctx(), addr)
	if cerr != nil && !errors.Is(cerr, core.ErrInvalid) {
		return ss.refuse(fromCore(cerr))
	}
	if cerr != nil {
		if err := ss.srv.svc.CheckRemote(ss.ctx(), ss.actor, addr); err != nil {
			return ss.refuse(fromCore(err))
		}
		// Remote: keep the local part's case as the client wrote it.
		addr = to
	}
	ss.addRecipient(addr, cerr == nil, opts)
	return nil
}

// Data reads the message, adds Received and submits it: the core checks the
// From: field against the user's rights, adds Message-ID, Date and Sender
// where needed (RFC 6409 §8), delivers local recipients, queues remote ones
// and files the Sent copy, all in one commit before the 250.
func (ss *submissionSession) Data(r io.Reader) error {
	// The transaction stays under way until go-smtp has written the reply
	// and calls Reset, so that a drain never closes the connection between
	// the commit and the 250.
	if !ss.enter() {
		return shuttingDown()
	}
	start := time.Now()
	var buf bytes.Buffer
	buf.Grow(4096)
	if _, err := buf.ReadFrom(r); err != nil {
		return ss.refuse(dataError(err))
	}
	data := buf.Bytes()
	res, cerr := ss.srv.svc.Submit(ss.ctx(), ss.actor, core.Submission{
		MailFrom:   ss.from,
		Recipients: ss.addresses(),
		Data:       data,
		EnvID:      ss.opts.EnvelopeID,
		Notify:     ss.firstNotify(),
		Ret:        string(ss.opts.Return),
		Trace:      ss.trace().Field(),
	})
	if cerr != nil {
		return ss.refuse(fromCore(cerr))
	}
	ss.srv.log.Info("submitted", "session", ss.id, "remote", ss.remote.String(), "local", res.Local, "queued", res.Queued,
		"size", len(data), "message_id", res.MessageID, "ms", time.Since(start).Milliseconds())
	ss.notifyDelivered(data, res.MessageID)
	return nil
}

// firstNotify returns the first NOTIFY given: the core keeps one for the
// whole submission.
func (ss *submissionSession) firstNotify() string {
	for _, r := range ss.rcpts {
		if len(r.notify) > 0 {
			return strings.Join(r.notify, ",")
		}
	}
	return ""
}

// pause waits d, or less if ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// loginServer is the server side of the LOGIN mechanism, which many mail
// clients still use (draft-murchison-sasl-login-00): the user name and the
// password each in answer to a prompt.
type loginServer struct {
	login    func(username, password string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		// An initial response is the user name (draft §2.1).
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 1:
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.login(l.username, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}
