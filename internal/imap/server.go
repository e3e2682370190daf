package imap

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/netserve"
)

// Options configures a Server. Zero limits take the defaults named beside
// them.
type Options struct {
	// Hostname names the server in its greeting.
	Hostname string
	// TLS enables STARTTLS, or implicit TLS with ImplicitTLS. Without TLS,
	// passwords are refused (LOGINDISABLED) unless InsecureAuth is set.
	TLS         *tls.Config
	ImplicitTLS bool
	// InsecureAuth allows LOGIN and AUTHENTICATE without TLS, for tests and
	// benchmarks on loopback only.
	InsecureAuth bool
	Logger       *slog.Logger

	// Limits on what one command may hold (DefaultLimits).
	Limits Limits
	// IdleTimeout closes a connection silent for this long outside IDLE
	// (30 minutes; RFC 9051 §5.4 asks for at least 30).
	IdleTimeout time.Duration
	// IdleMax ends an IDLE after this long (24 hours).
	IdleMax time.Duration
	// CommandRate and CommandBurst bound the commands one connection may
	// send per second (500 per second, bursts of 1000); a faster client
	// is slowed down, not refused.
	CommandRate  float64
	CommandBurst float64
	// MaxConnsPerAccount and MaxConnsPerIP cap the connections of one
	// account (50) and one remote address (500).
	MaxConnsPerAccount int
	MaxConnsPerIP      int
}

// Server is an IMAP server over the core.
type Server struct {
	svc  *core.Service
	opts Options
	log  *slog.Logger

	net netserve.Server // accepting, tracking and shutting down connections

	mu      sync.Mutex
	perIP   map[string]int
	perUser map[int64]int
	byCred  netserve.ByCredential[*conn] // logged-in connections by credential, to close revoked ones

	stopRevoked func() // ends the watch of revoked credentials
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = netserve.ErrClosed

// NewServer returns a server that translates IMAP into calls on svc.
func NewServer(svc *core.Service, opts Options) *Server {
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	if m := svc.MessageSizeLimit(); m > 0 && m < opts.Limits.MaxMessage {
		opts.Limits.MaxMessage = m
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.IdleMax == 0 {
		opts.IdleMax = 24 * time.Hour
	}
	if opts.CommandRate == 0 {
		opts.CommandRate = 500
	}
	if opts.CommandBurst == 0 {
		opts.CommandBurst = 2 * opts.CommandRate
	}
	if opts.MaxConnsPerAccount == 0 {
		opts.MaxConnsPerAccount = 50
	}
	if opts.MaxConnsPerIP == 0 {
		opts.MaxConnsPerIP = 500
	}
	if opts.Hostname == "" {
		opts.Hostname = svc.Hostname()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		svc: svc, opts: opts, log: log,
		net:     netserve.Server{Logger: log},
		perIP:   map[string]int{},
		perUser: map[int64]int{},
	}
	var revoked <-chan string
	revoked, s.stopRevoked = svc.WatchRevocations()
	go s.watchRevocations(revoked)
	return s
}

// Serve accepts connections on ln until Shutdown; each is served on its
// own goroutine. With ImplicitTLS, connections start with a TLS handshake.
func (s *Server) Serve(ln net.Listener) error {
	return s.net.Serve(ln, func(nc net.Conn) netserve.Conn {
		if c := s.newConn(nc); c != nil {
			return c
		}
		return nil
	})
}

// Shutdown stops accepting connections, tells every client BYE and waits
// for the connections to end or ctx to be done, when it closes them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopRevoked()
	return s.net.Shutdown(ctx)
}

// newConn counts a connection against its address's cap, or refuses it
// when the address has too many already.
func (s *Server) newConn(nc net.Conn) *conn {
	ip := netserve.RemoteIP(nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip] >= s.opts.MaxConnsPerIP {
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write([]byte("* BYE [UNAVAILABLE] too many connections\r\n"))
		nc.Close()
		return nil
	}
	s.perIP[ip]++
	return newConn(s, nc, ip)
}

// dropConn gives back what a connection counted against its caps.
func (s *Server) dropConn(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
	s.byCred.Remove(c.actor.Credential, c)
	if c.actor.AccountID != 0 {
		if s.perUser[c.actor.AccountID]--; s.perUser[c.actor.AccountID] <= 0 {
			delete(s.perUser, c.actor.AccountID)
		}
	}
}

// claimAccount counts a logged-in connection against its account's cap.
func (s *Server) claimAccount(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser[id] >= s.opts.MaxConnsPerAccount {
		return false
	}
	s.perUser[id]++
	return true
}
