package smtp

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"caduceus/internal/core"
	"caduceus/internal/netserve"
	"caduceus/internal/trust"
)

// Mode says which service a Server provides.
type Mode int

const (
	// MX receives mail for local addresses from other servers (port 25).
	// It offers STARTTLS when given a TLS configuration, and no AUTH.
	MX Mode = iota
	// Submission lets users send mail (port 587, RFC 6409), after STARTTLS
	// (RFC 3207) and AUTH (RFC 4954).
	Submission
	// Submissions is Submission over implicit TLS (port 465, RFC 8314 §3.3).
	Submissions
)

// String returns the mode's name, as logs and the audit trail show it.
func (m Mode) String() string {
	switch m {
	case Submission:
		return "submission"
	case Submissions:
		return "submissions"
	}
	return "smtp"
}

// Options configures a Server.
type Options struct {
	// Mode is the service: MX, Submission or Submissions.
	Mode Mode
	// Hostname is our name in the greeting and in Received fields; the
	// core's host name when empty.
	Hostname string
	// TLS is offered with STARTTLS, or used for every connection in
	// Submissions mode. Submission modes need it: AUTH is only offered over
	// TLS. The caller sets the trust space (CA pool, client certificates).
	TLS *tls.Config
	// MaxMessageBytes is the largest message accepted and the value of the
	// SIZE extension (RFC 1870); 0 means the core's limit.
	MaxMessageBytes int64
	// MaxRecipients bounds the recipients of one transaction, 100 when 0
	// (RFC 5321 §4.5.3.1.8).
	MaxRecipients int
	// Timeout is how long a client may stay silent, 5 minutes when 0 (RFC
	// 5321 §4.5.3.2.7).
	Timeout time.Duration
	// AuthFailureDelay slows every failed AUTH down, one second when 0. The
	// core refuses an account or address that keeps failing.
	AuthFailureDelay time.Duration
	// LookupTXT looks up the DNS TXT records of DKIM keys (RFC 6376 §3.6.2)
	// for the MX's verification; nil uses net.DefaultResolver.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// Trust, in MX mode, applies the MSSanté trust space: STARTTLS before
	// MAIL, a client certificate chaining to the bundle and not revoked,
	// and a whitelisted sender domain; TLS must then come from
	// Trust.ServerTLS. Nil accepts mail from anyone.
	Trust *trust.Space
	// Logger receives one line per transaction: never a subject, body,
	// attachment name or correspondent's address.
	Logger *slog.Logger
}

// Server is an SMTP door over the core: an MX or a submission service.
type Server struct {
	svc  *core.Service
	opts Options
	log  *slog.Logger
	srv  *gosmtp.Server

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closing bool
	busy    sync.WaitGroup // transactions under way, from MAIL to their end
	// byCred files logged-in submission sessions by credential, so that
	// a revoked device's open sessions are closed at once.
	byCred      netserve.ByCredential[*submissionSession]
	stopRevoked func()

	// sessionStarted, when set (by tests), is told each session's context.
	sessionStarted func(context.Context)
}

// traceReserve is room left under the core's size limit for the trace
// fields the door adds to a message.
const traceReserve = 1024

// NewServer returns a server for svc; Serve starts it.
func NewServer(svc *core.Service, opts Options) *Server {
	opts.Hostname = cmp.Or(opts.Hostname, svc.Hostname())
	limit := svc.MessageSizeLimit() - traceReserve
	if opts.MaxMessageBytes <= 0 || opts.MaxMessageBytes > limit {
		opts.MaxMessageBytes = limit
	}
	opts.MaxRecipients = cmp.Or(opts.MaxRecipients, 100)
	opts.Timeout = cmp.Or(opts.Timeout, 5*time.Minute)
	opts.AuthFailureDelay = cmp.Or(opts.AuthFailureDelay, time.Second)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{svc: svc, opts: opts, log: opts.Logger}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv := gosmtp.NewServer(gosmtp.BackendFunc(s.newSession))
	srv.Domain = opts.Hostname
	srv.TLSConfig = opts.TLS
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.MaxRecipients = opts.MaxRecipients
	srv.ReadTimeout = opts.Timeout
	srv.WriteTimeout = opts.Timeout
	srv.EnableSMTPUTF8 = true // RFC 6531
	srv.EnableDSN = true      // RFC 3461
	srv.ErrorLog = errorLog{s.log}
	s.srv = srv
	s.stopRevoked = func() {}
	if opts.Mode != MX {
		var revoked <-chan string
		revoked, s.stopRevoked = svc.WatchRevocations()
		go s.watchRevocations(revoked)
	}
	return s
}

// Serve accepts connections on ln until Shutdown. In Submissions mode every
// connection starts with a TLS handshake.
func (s *Server) Serve(ln net.Listener) error {
	if s.opts.Mode != MX && s.opts.TLS == nil {
		return errors.New("smtp: submission needs a TLS configuration")
	}
	if s.opts.Mode == Submissions {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	if err := s.srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections, lets the transactions under way
// (from MAIL on) finish (their clients get their 250), refuses new ones,
// then closes every connection. If ctx ends first, connections are closed at
// once; a message the core already committed is kept either way.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.busy.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.cancel()
	s.stopRevoked()
	if cerr := s.srv.Close(); cerr != nil && !errors.Is(cerr, gosmtp.ErrServerClosed) && err == nil {
		err = cerr
	}
	return err
}

// begin counts a transaction as under way, unless the server is closing.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.busy.Add(1)
	return true
}

// watchRevocations closes the submission sessions whose credential the
// core revokes, until the watch ends (Shutdown).
func (s *Server) watchRevocations(revoked <-chan string) {
	for cred := range revoked {
		s.byCred.Each(cred, (*submissionSession).revoke)
	}
}

func (s *Server) newSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	// Each connection runs on its own context: it ends when the connection
	// does (go-smtp calls Logout as it closes, and before STARTTLS starts a
	// new session) or when the server shuts down.
	ctx, cancel := context.WithCancel(s.ctx)
	ss := &session{srv: s, conn: c, remote: remoteAddr(c.Conn()), context: ctx, cancel: cancel}
	if s.sessionStarted != nil {
		s.sessionStarted(ctx)
	}
	if s.opts.Mode == MX {
		return ss, nil
	}
	return &submissionSession{session: ss}, nil
}

// errorLog passes go-smtp's internal errors to the logger. They name
// connections and protocol faults, never message content.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) {
	l.log.Debug("smtp protocol", "detail", fmt.Sprintf(format, v...))
}

func (l errorLog) Println(v ...any) {
	l.log.Debug("smtp protocol", "detail", fmt.Sprint(v...))
}
