package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/netserve"
)

// The states of a connection (RFC 9051 §3).
const (
	stateNotAuth = iota
	stateAuth
	stateSelected
	stateLogout
)

// conn is one client connection. Only its own goroutine writes to it.
type conn struct {
	srv *Server
	raw net.Conn // the TCP connection, for Stop and Close from other goroutines
	nc  net.Conn // raw, or the TLS connection over it
	ip  string
	br  *bufio.Reader
	bw  *bufio.Writer
	w   *Writer
	p   *Parser

	ctx     context.Context
	cancel  context.CancelFunc
	closing atomic.Bool
	revoked atomic.Bool // closing because the credential was revoked
	running string      // the command being run, for the log of a panic

	tls     bool
	peer    *x509.Certificate // the client's TLS certificate, if it gave one
	state   int
	actor   core.Actor
	home    core.Access     // the person's own mailbox, once looked up
	opened  map[int64]bool  // shared mailboxes whose opening this connection traced
	enabled map[string]bool // ENABLEd extensions (RFC 5161)
	cond    bool            // CONDSTORE is on (RFC 7162 §3.1)
	sel     *selection
	notify  *notifier // NOTIFY SET in force (RFC 5465), or nil

	tokens float64 // command rate limit bucket
	last   time.Time
}

func newConn(s *Server, nc net.Conn, ip string) *conn {
	c := &conn{srv: s, raw: nc, nc: nc, ip: ip, enabled: map[string]bool{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.setStream(nc)
	c.tokens = s.opts.CommandBurst
	c.last = time.Now()
	return c
}

// setStream (re)builds the buffered reader, writer and parser over nc,
// after STARTTLS too.
func (c *conn) setStream(nc net.Conn) {
	c.nc = nc
	c.br = bufio.NewReaderSize(nc, 4096)
	c.bw = bufio.NewWriterSize(nc, 4096)
	utf8 := c.w != nil && c.w.UTF8
	c.w = NewWriter(c.bw)
	c.w.UTF8 = utf8
	c.w.beforeTagged = c.notifyFlush
	c.p = NewParser(c.br, c.srv.opts.Limits, func() error {
		c.w.Continue("ready")
		return c.w.Flush()
	})
}

// Stop makes the connection's pending read return, so it says BYE.
func (c *conn) Stop() {
	c.closing.Store(true)
	c.raw.SetReadDeadline(time.Now())
}

// Close ends the connection at once.
func (c *conn) Close() error { return c.raw.Close() }

// Serve runs the connection: greeting, commands, until LOGOUT or an error.
func (c *conn) Serve() {
	defer c.srv.dropConn(c)
	defer c.nc.Close()
	defer c.cancel()
	defer c.unselect()
	defer c.notifyStop()
	defer c.recoverPanic()
	if c.srv.opts.ImplicitTLS {
		if c.srv.opts.TLS == nil {
			return
		}
		tc := tls.Server(c.nc, c.srv.opts.TLS)
		c.nc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.HandshakeContext(c.ctx); err != nil {
			return
		}
		c.nc.SetDeadline(time.Time{})
		c.setStream(tc)
		c.tls = true
		c.peer = peerCertificate(tc)
	}
	c.w.Untagged()
	c.w.Atom("OK [CAPABILITY ")
	c.w.Atom(c.capabilities())
	c.w.Atom("] Caduceus IMAP ready\r\n")
	if c.w.Flush() != nil {
		return
	}
	for c.state != stateLogout {
		c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
		cmd, err := c.p.ReadCommand()
		if c.closing.Load() {
			c.bye(c.closingText())
			return
		}
		var pe *ParseError
		if errors.As(err, &pe) {
			c.w.Tagged(pe.Tag, pe.Status, pe.Code, pe.Msg)
			if pe.Fatal {
				c.bye("protocol error")
				return
			}
			if c.w.Flush() != nil {
				return
			}
			continue
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.bye("idle for too long")
			}
			return
		}
		c.throttle()
		c.nc.SetWriteDeadline(time.Now().Add(5 * time.Minute))
		c.running = cmd.Name
		if err := c.dispatch(cmd); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.srv.log.Debug("imap connection ended", "err", err)
			}
			return
		}
		if c.w.Flush() != nil {
			return
		}
	}
}

// recoverPanic ends a connection whose command hit a bug instead of the
// whole server with it, as net/http does for a handler: the client is told
// BYE, and the log gets the command's name and the stack, never its
// arguments or a panic value that may carry them (health data).
func (c *conn) recoverPanic() {
	v := recover()
	if v == nil {
		return
	}
	c.srv.log.Error("imap: command failed with a panic", "command", c.running, "panic", netserve.DescribePanic(v), "stack", string(debug.Stack()))
	c.bw.Reset(c.nc) // drop the half-written response
	c.bye("[SERVERBUG] internal error, please reconnect")
}

func (c *conn) bye(text string) {
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.w.Untagged()
	c.w.Atom("BYE ")
	c.w.Atom(text)
	c.w.CRLF()
	c.w.Flush()
}

// throttle applies the per-connection command rate: a token bucket that
// slows a client down instead of refusing it.
func (c *conn) throttle() {
	o := c.srv.opts
	now := time.Now()
	c.tokens = min(o.CommandBurst, c.tokens+now.Sub(c.last).Seconds()*o.CommandRate)
	c.last = now
	if c.tokens < 1 {
		wait := time.Duration((1 - c.tokens) / o.CommandRate * float64(time.Second))
		time.Sleep(wait)
		c.tokens = 1
		c.last = time.Now()
	}
	c.tokens--
}

// capabilities lists what the connection offers in its state: only what
// works (every item has an integration test).
func (c *conn) capabilities() string {
	caps := []string{"IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"}
	if c.state == stateNotAuth {
		if !c.tls && c.srv.opts.TLS != nil {
			caps = append(caps, "STARTTLS")
		}
		if c.tls || c.srv.opts.InsecureAuth {
			caps = append(caps, c.authCapabilities()...)
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
		return strings.Join(caps, " ")
	}
	caps = append(caps, "NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN",
		"SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS",
		"CONDSTORE", "QRESYNC", "ESEARCH", "SEARCHRES", "SORT", "ESORT", "CONTEXT=SEARCH", "THREAD=REFERENCES", "QUOTA", "QUOTA=RES-STORAGE",
		"ACL", "RIGHTS=kxte", "NOTIFY", "STATUS=SIZE", "UTF8=ACCEPT", "BINARY", "MULTIAPPEND", "CATENATE",
		"APPENDLIMIT="+strconv.FormatInt(c.srv.opts.Limits.MaxMessage, 10))
	return strings.Join(caps, " ")
}

// dispatch runs one command; an error ends the connection.
func (c *conn) dispatch(cmd *Command) error {
	if !allowedIn(cmd.Name, c.state) {
		c.w.Tagged(cmd.Tag, "BAD", "", cmd.Name+" is not allowed now")
		return nil
	}
	switch cmd.Name {
	case "CAPABILITY":
		c.w.Untagged()
		c.w.Atom("CAPABILITY ")
		c.w.Atom(c.capabilities())
		c.w.CRLF()
		c.ok(cmd.Tag, "", "CAPABILITY done")
	case "NOOP", "CHECK":
		c.sync(true)
		c.ok(cmd.Tag, "", cmd.Name+" done")
	case "LOGOUT":
		c.notifyStop()
		c.w.Untagged()
		c.w.Atom("BYE logging out\r\n")
		c.ok(cmd.Tag, "", "LOGOUT done")
		c.state = stateLogout
	case "ID":
		c.cmdID(cmd)
	case "STARTTLS":
		return c.cmdStartTLS(cmd)
	case "LOGIN":
		a := cmd.Args.(*LoginArgs)
		c.login(cmd.Tag, a.Username, a.Password)
	case "AUTHENTICATE":
		return c.cmdAuthenticate(cmd)
	case "ENABLE":
		c.cmdEnable(cmd)
	case "NAMESPACE":
		c.cmdNamespace(cmd)
	case "LIST", "LSUB":
		c.cmdList(cmd)
	case "STATUS":
		c.cmdStatus(cmd)
	case "CREATE":
		c.cmdCreate(cmd)
	case "DELETE":
		c.cmdDelete(cmd)
	case "RENAME":
		c.cmdRename(cmd)
	case "SUBSCRIBE", "UNSUBSCRIBE":
		c.cmdSubscribe(cmd)
	case "SELECT", "EXAMINE":
		c.cmdSelect(cmd)
	case "CLOSE", "UNSELECT":
		c.cmdClose(cmd)
	case "EXPUNGE":
		c.cmdExpunge(cmd)
	case "APPEND":
		return c.cmdAppend(cmd)
	case "FETCH":
		return c.cmdFetch(cmd)
	case "STORE":
		c.cmdStore(cmd)
	case "COPY", "MOVE":
		c.cmdCopy(cmd)
	case "SEARCH", "SORT", "THREAD":
		c.cmdSearch(cmd)
	case "IDLE":
		return c.cmdIdle(cmd)
	case "NOTIFY":
		c.cmdNotify(cmd)
	case "CANCELUPDATE":
		c.cmdCancelUpdate(cmd)
	case "GETACL", "SETACL", "DELETEACL", "LISTRIGHTS", "MYRIGHTS":
		c.cmdACL(cmd)
	case "GETQUOTA", "GETQUOTAROOT", "SETQUOTA":
		c.cmdQuota(cmd)
	default:
		c.w.Tagged(cmd.Tag, "BAD", "", cmd.Name+" is not supported")
	}
	return c.w.Err()
}

// allowedIn tells whether a command may be used in a state (RFC 9051 §6).
func allowedIn(name string, state int) bool {
	switch name {
	case "CAPABILITY", "NOOP", "LOGOUT", "ID":
		return true
	case "STARTTLS", "LOGIN", "AUTHENTICATE":
		return state == stateNotAuth
	case "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "SORT", "THREAD", "CANCELUPDATE":
		return state == stateSelected
	}
	return state == stateAuth || state == stateSelected
}

func (c *conn) ok(tag, code, text string) {
	c.w.Tagged(tag, "OK", code, text)
}

// fail answers a command that the core refused, with the response code
// that says why (RFC 5530). Unexpected errors are logged without content.
func (c *conn) fail(tag string, err error) {
	code, text := "", ""
	switch {
	case errors.Is(err, core.ErrNotFound):
		code, text = "NONEXISTENT", "no such mailbox or message"
	case errors.Is(err, core.ErrPermission):
		code, text = "NOPERM", "permission denied"
	case errors.Is(err, core.ErrQuota):
		code, text = "OVERQUOTA", "mailbox over quota"
	case errors.Is(err, core.ErrTooBig):
		code, text = "TOOBIG", "message too big"
	case errors.Is(err, core.ErrExists):
		code, text = "ALREADYEXISTS", "already exists"
	case errors.Is(err, core.ErrInvalid):
		code, text = "CANNOT", "not possible"
	case errors.Is(err, core.ErrAuth), errors.Is(err, core.ErrDisabled):
		code, text = "AUTHENTICATIONFAILED", "authentication failed"
	case errors.Is(err, core.ErrTooManyAttempts):
		code, text = "UNAVAILABLE", "too many failed attempts, try again later"
	case errors.Is(err, context.Canceled):
		code, text = "UNAVAILABLE", "connection closing"
	default:
		c.srv.log.Error("imap command failed", "account", c.actor.AccountID, "err", err)
		code, text = "SERVERBUG", "internal error"
	}
	c.w.Tagged(tag, "NO", code, text)
}

// cmdID answers ID (RFC 2971) with the server's name only.
func (c *conn) cmdID(cmd *Command) {
	c.w.Untagged()
	c.w.Atom(`ID ("name" "Caduceus")`)
	c.w.CRLF()
	c.ok(cmd.Tag, "", "ID done")
}

// cmdStartTLS upgrades the connection (RFC 9051 §6.2.1).
func (c *conn) cmdStartTLS(cmd *Command) error {
	if c.tls || c.srv.opts.TLS == nil {
		c.w.Tagged(cmd.Tag, "BAD", "", "STARTTLS not available")
		return nil
	}
	if c.br.Buffered() > 0 {
		// RFC 9051 §6.2.1: nothing may be pipelined after STARTTLS.
		c.w.Tagged(cmd.Tag, "BAD", "", "data after STARTTLS")
		return nil
	}
	c.ok(cmd.Tag, "", "begin TLS negotiation now")
	if err := c.w.Flush(); err != nil {
		return err
	}
	tc := tls.Server(c.nc, c.srv.opts.TLS)
	c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return fmt.Errorf("imap: STARTTLS handshake: %w", err)
	}
	c.nc.SetDeadline(time.Time{})
	c.setStream(tc)
	c.tls = true
	c.peer = peerCertificate(tc)
	return nil
}

// enableable are the extensions ENABLE turns on, upper case, with the
// names the ENABLED response gives them.
var enableable = map[string]string{
	"CONDSTORE": "CONDSTORE", "QRESYNC": "QRESYNC", "UTF8=ACCEPT": "UTF8=ACCEPT", "IMAP4REV2": "IMAP4rev2",
}

// cmdEnable turns on extensions (RFC 5161 §3.1); ENABLED lists those that
// were not on already.
func (c *conn) cmdEnable(cmd *Command) {
	var on []string
	for _, cp := range cmd.Args.(*EnableArgs).Caps {
		name, ok := enableable[cp]
		if !ok || c.enabled[cp] {
			continue
		}
		c.enabled[cp] = true
		on = append(on, name)
		switch cp {
		case "CONDSTORE", "QRESYNC":
			c.cond = true // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE
		case "UTF8=ACCEPT", "IMAP4REV2":
			c.w.UTF8 = true
		}
	}
	c.w.Untagged()
	c.w.Atom("ENABLED")
	for _, name := range on {
		c.w.SP()
		c.w.Atom(name)
	}
	c.w.CRLF()
	c.ok(cmd.Tag, "", "ENABLE done")
}
