// Package ldap serves a read-only LDAP view of the directory of health
// professionals (RFC 4511), so that Thunderbird's address book and health
// software can look people up: bind with an account's credentials (or not at all
// when anonymous searches are allowed), STARTTLS, and searches on cn, sn,
// givenName, mail and a few more, under one base DN such as
// "ou=annuaire,dc=example,dc=org".
//
// Each entry is "uid=<entry id>,<base DN>", an inetOrgPerson with cn (the
// name as "First Last" and "Last First"), sn, givenName, displayName, mail, o,
// ou, title (profession), businessCategory (specialty), street, postalCode, l,
// st (département), employeeNumber (the national id) and employeeType (the
// mailbox type). Substrings are looked up by the beginnings of words:
// (cn=*mart*) finds Marie Martin, (cn=*art*) does not.
//
// # Rules a change must keep
//
//   - Read-only: every update operation is refused.
//   - The directory decides who is listed: searches go through
//     directory.Search and directory.Entry, which leave out the red list.
//   - Nothing read from a client (names searched, bind names, passwords) is
//     logged.
//   - A connection handles one request at a time, in order; a message longer
//     than maxMessage closes it.
package ldap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"caduceus/internal/directory"
	"caduceus/internal/netserve"
)

// AuthFunc checks an account's credentials; remote is the client's IP
// address, login the bind name, an address taken from a DN such as
// "uid=alice@example.org,ou=annuaire,dc=example,dc=org" or given as is. The
// core counts failures by account and by remote address, and traces both.
type AuthFunc func(ctx context.Context, remote, login, password string) error

// Options configure a Server.
type Options struct {
	// BaseDN is the DN entries are listed under, e.g. "ou=annuaire,dc=example,dc=org".
	BaseDN string
	// TLSConfig enables STARTTLS; binding with a password then requires it.
	TLSConfig *tls.Config
	// Anonymous lets clients search without binding.
	Anonymous bool
	// SizeLimit is the most entries a search returns; 0 means 100, and more
	// than directory.MaxLimit is lowered to it.
	SizeLimit int
	// IdleTimeout closes connections that send nothing for that long; 0 means
	// five minutes.
	IdleTimeout time.Duration
	// Logger receives errors of the listener; nil discards them.
	Logger *slog.Logger
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = netserve.ErrClosed

// Server is a read-only LDAP server over a directory.
type Server struct {
	dir  *directory.Directory
	auth AuthFunc
	opts Options
	base *goldap.DN // BaseDN, parsed

	net netserve.Server // accepting, tracking and shutting down connections
}

// NewServer returns a server answering from dir, checking binds with auth. It
// fails when opts.BaseDN is not a DN.
func NewServer(dir *directory.Directory, auth AuthFunc, opts Options) (*Server, error) {
	base, err := goldap.ParseDN(opts.BaseDN)
	if err != nil || len(base.RDNs) == 0 {
		return nil, fmt.Errorf("ldap: base DN %q: want a DN such as ou=annuaire,dc=example,dc=org", opts.BaseDN)
	}
	if opts.SizeLimit <= 0 {
		opts.SizeLimit = 100
	}
	opts.SizeLimit = min(opts.SizeLimit, directory.MaxLimit)
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{dir: dir, auth: auth, opts: opts, base: base, net: netserve.Server{Logger: opts.Logger}}, nil
}

// Serve accepts connections on ln until Shutdown, which makes it return
// ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	return s.net.Serve(ln, func(nc net.Conn) netserve.Conn {
		return &conn{srv: s, raw: nc, nc: nc, r: bufio.NewReader(nc)}
	})
}

// Shutdown stops accepting connections, tells each client the server goes away
// once its request in progress is answered, and waits for them to close or for
// ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.net.Shutdown(ctx)
}

// conn is one client connection.
type conn struct {
	srv *Server
	raw net.Conn // the TCP connection, for deadlines and closing from Shutdown
	nc  net.Conn // raw, or the TLS connection over it after STARTTLS
	r   *bufio.Reader

	wmu      sync.Mutex // serialises writes: a response, and a notice at shutdown
	login    string     // bound account, "" when anonymous
	bound    bool
	tls      bool
	stopping bool
}

// Stop makes the connection end after its current request: its next read
// fails at once.
func (c *conn) Stop() {
	c.wmu.Lock()
	c.stopping = true
	c.wmu.Unlock()
	c.raw.SetReadDeadline(time.Now())
}

// Close ends the connection at once.
func (c *conn) Close() error { return c.raw.Close() }

// Serve answers the connection's requests until it ends.
func (c *conn) Serve() {
	defer func() { c.nc.Close() }()
	defer c.recoverPanic()
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
		c.wmu.Lock()
		stopping := c.stopping
		c.wmu.Unlock()
		if stopping {
			c.noticeOfDisconnection()
			return
		}
		msg, err := readMessage(c.r)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.wmu.Lock()
				stopping = c.stopping
				c.wmu.Unlock()
				if stopping {
					c.noticeOfDisconnection()
				}
			}
			return
		}
		if !c.handle(msg) {
			return
		}
	}
}

// recoverPanic ends a connection whose request hit a bug instead of the
// whole node with it; the log gets the stack, never the request or a panic
// value that may carry what was searched.
func (c *conn) recoverPanic() {
	v := recover()
	if v == nil {
		return
	}
	c.srv.opts.Logger.Error("ldap: request failed with a panic", "panic", netserve.DescribePanic(v), "stack", string(debug.Stack()))
}

// write sends one response.
func (c *conn) write(id int64, op *ber.Packet) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := c.nc.Write(envelope(id, op).Bytes())
	return err
}

// BaseDN returns the base DN for a mail domain: "ou=annuaire,dc=example,dc=org"
// for "example.org".
func BaseDN(domain string) string {
	dn := "ou=annuaire"
	for _, label := range strings.Split(strings.Trim(domain, "."), ".") {
		if label != "" {
			dn += ",dc=" + goldap.EscapeDN(label)
		}
	}
	return dn
}
