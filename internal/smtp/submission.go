package smtp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

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
// over TLS.
func (ss *submissionSession) AuthMechanisms() []string {
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts a SASL exchange. RFC 4954 §4. Every failure is slowed down;
// the core refuses an account or an address that fails too often.
func (ss *submissionSession) Auth(mech string) (sasl.Server, error) {
	login := func(username, password string) error {
		actor, err := ss.srv.svc.Login(ss.ctx(), ss.srv.opts.Mode.String(), ss.remote.String(), username, password)
		if err != nil {
			pause(ss.ctx(), ss.srv.opts.AuthFailureDelay)
			return ss.refuse(fromCore(err))
		}
		ss.actor = actor
		ss.authenticated = true
		return nil
	}
	switch strings.ToUpper(mech) {
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
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
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
	if !ss.enter() {
		return shuttingDown()
	}
	defer ss.leave()
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
