// Package managesieve is Caduceus's ManageSieve door (RFC 5804): desktop
// clients and webmails list, fetch, check, store, activate, rename and
// delete a mailbox's Sieve scripts, which the core runs at delivery.
//
// The protocol is line based, like IMAP without tags: a command is an
// atom followed by strings (quoted, or literals {n+} and {n}) and
// numbers, and every command is answered by OK, NO or BYE with an
// optional response code in parentheses and a human-readable text.
//
// Rules a change must keep:
//   - Nothing is answered but CAPABILITY, STARTTLS, NOOP and LOGOUT
//     before a login, and no login happens over a connection without TLS
//     (RFC 5804 §2.1: PLAIN needs a confidential channel).
//   - Every login goes through core.MailLogin, so its lockouts, rate
//     limits and trail apply as on the other mail doors; the scripts are
//     read and written only through the core, which checks rights and
//     traces every change.
//   - Whatever a client sends is bounded: one command line, one literal
//     (a script's size limit), the failed logins of one connection, the
//     time a connection may stay idle, the connections of one address.
//   - Capabilities announced are exactly those implemented.
package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/netserve"
	"caduceus/internal/sieve"
)

// Options configure a Server.
type Options struct {
	// Hostname is the name the greeting gives; empty means the core's.
	Hostname string
	// TLS is offered by STARTTLS, or spoken from the first byte with
	// ImplicitTLS. Without it, no one can log in.
	TLS         *tls.Config
	ImplicitTLS bool
	// IdleTimeout closes a connection silent this long; 0 means 10 minutes.
	IdleTimeout time.Duration
	// Logger receives the door's events, never a script's content.
	Logger *slog.Logger
	// MaxConnsPerIP bounds the connections from one address; 0 means 20.
	MaxConnsPerIP int
}

// Limits of one connection.
const (
	// maxLine bounds a command, literals aside.
	maxLine = 8 << 10
	// maxLiteral bounds one literal: a script at the core's limit.
	maxLiteral = core.MaxSieveSize
	// maxAuthFailures failed logins end a connection.
	maxAuthFailures = 3
)

// Server serves ManageSieve over the core.
type Server struct {
	svc  *core.Service
	opts Options
	log  *slog.Logger
	net  netserve.Server

	mu    sync.Mutex
	perIP map[string]int
}

// NewServer returns a ManageSieve server over svc.
func NewServer(svc *core.Service, opts Options) *Server {
	if opts.Hostname == "" {
		opts.Hostname = svc.Hostname()
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.MaxConnsPerIP == 0 {
		opts.MaxConnsPerIP = 20
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{svc: svc, opts: opts, log: log, net: netserve.Server{Logger: log}, perIP: map[string]int{}}
}

// Serve accepts connections on ln until Shutdown.
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
func (s *Server) Shutdown(ctx context.Context) error { return s.net.Shutdown(ctx) }

// conn is one client connection.
type conn struct {
	srv      *Server
	nc       net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	ip       string
	tls      bool
	actor    core.Actor
	mailbox  int64 // the mailbox whose scripts this session manages
	failures int
	stopping atomic.Bool
	mu       sync.Mutex // guards nc swaps against Stop and Close
}

// newConn counts a connection against its address's cap, or refuses it
// when the address has too many already.
func (s *Server) newConn(nc net.Conn) *conn {
	ip := netserve.RemoteIP(nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip] >= s.opts.MaxConnsPerIP {
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write([]byte("BYE (TRYLATER) \"Too many connections from your address\"\r\n"))
		nc.Close()
		return nil
	}
	s.perIP[ip]++
	c := &conn{srv: s, nc: nc, ip: ip}
	if s.opts.ImplicitTLS && s.opts.TLS != nil {
		c.nc, c.tls = tls.Server(nc, s.opts.TLS), true
	}
	c.r, c.w = bufio.NewReader(c.nc), bufio.NewWriter(c.nc)
	return c
}

// Stop asks the connection to end: its read is interrupted and the client
// told BYE.
func (c *conn) Stop() {
	c.stopping.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nc.SetReadDeadline(time.Now())
}

// Close closes the connection at once.
func (c *conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc.Close()
}

func (c *conn) ctx() context.Context { return context.Background() }

// dropConn gives back what a connection counted against its address.
func (s *Server) dropConn(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
}

// Serve runs the session.
func (c *conn) Serve() {
	defer c.srv.dropConn(c)
	defer c.Close()
	defer func() {
		if v := recover(); v != nil {
			c.srv.log.Error("managesieve session panicked", "remote", c.ip, "panic", netserve.DescribePanic(v))
		}
	}()
	c.capabilities()
	c.reply("OK", "", "Caduceus ManageSieve ready")
	if c.flush() != nil {
		return
	}
	for {
		// Stop sets its flag, then the deadline: checking the flag after
		// setting ours never misses it.
		c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
		if c.stopping.Load() {
			break
		}
		args, err := c.readCommand()
		if c.stopping.Load() {
			break
		}
		var pe *protocolError
		switch {
		case errors.As(err, &pe):
			c.reply("NO", "", pe.msg)
			if pe.fatal {
				c.reply("BYE", "", "closing")
				c.flush()
				return
			}
			if c.flush() != nil {
				return
			}
			continue
		case err != nil:
			return
		}
		if len(args) == 0 {
			c.reply("NO", "", "empty command")
		} else if !c.command(strings.ToUpper(args[0].text), args[1:]) {
			c.flush()
			return
		}
		if c.flush() != nil {
			return
		}
	}
	c.reply("BYE", "", "server shutting down")
	c.flush()
}

func (c *conn) flush() error {
	c.nc.SetWriteDeadline(time.Now().Add(time.Minute))
	return c.w.Flush()
}

// reply writes a response line: OK, NO or BYE, an optional response
// code, and a human-readable text (RFC 5804 §1.3).
func (c *conn) reply(status, code, text string) {
	c.w.WriteString(status)
	if code != "" {
		c.w.WriteString(" (" + code + ")")
	}
	if text != "" {
		c.w.WriteString(" " + quote(text))
	}
	c.w.WriteString("\r\n")
}

// quote writes s as a quoted string, or as a literal when it holds a line
// end or is long (RFC 5804 §4).
func quote(s string) string {
	if strings.ContainsAny(s, "\r\n\x00") || len(s) > 1024 {
		return fmt.Sprintf("{%d}\r\n%s", len(s), s)
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// capabilities writes the capability lines (RFC 5804 §1.7).
func (c *conn) capabilities() {
	w := c.w
	w.WriteString(`"IMPLEMENTATION" "Caduceus"` + "\r\n")
	if c.tls && c.actor.AccountID == 0 {
		w.WriteString(`"SASL" "PLAIN"` + "\r\n")
	} else if !c.tls {
		w.WriteString(`"SASL" ""` + "\r\n")
	}
	w.WriteString(`"SIEVE" ` + quote(strings.Join(core.SieveExtensions(), " ")) + "\r\n")
	if !c.tls && c.srv.opts.TLS != nil {
		w.WriteString(`"STARTTLS"` + "\r\n")
	}
	fmt.Fprintf(w, "\"MAXREDIRECTS\" \"%d\"\r\n", sieve.DefaultLimits.MaxRedirects)
	if c.actor.AccountID != 0 {
		w.WriteString(`"OWNER" ` + quote(c.actor.Address) + "\r\n")
	}
	w.WriteString(`"VERSION" "1.0"` + "\r\n")
}
