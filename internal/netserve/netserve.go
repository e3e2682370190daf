// Package netserve is the part of a TCP server that has nothing to do with
// its protocol: the accept loop, the set of live connections and a graceful
// shutdown, in the manner of net/http.Server. Caduceus's own IMAP and LDAP
// servers run on it.
package netserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"time"
)

// ErrClosed is returned by Serve once Shutdown has begun.
var ErrClosed = errors.New("server closed")

// Conn is one accepted connection, as its protocol serves it.
type Conn interface {
	// Serve speaks the protocol until the connection ends.
	Serve()
	// Stop asks the connection to end once the command in progress is
	// answered. It must not block.
	Stop()
	// Close ends the connection at once, when a shutdown runs out of time.
	Close() error
}

// Server accepts connections and keeps track of them until Shutdown. Its
// zero value is ready to use.
type Server struct {
	// Logger hears of accept errors that are retried; nil discards them.
	Logger *slog.Logger

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[Conn]struct{}
	wg        sync.WaitGroup
}

// Serve accepts connections on ln until Shutdown, when it returns ErrClosed.
// Each accepted connection goes to open, which returns the Conn to serve on
// a goroutine of its own, or nil after refusing and closing it. open runs
// under the server's lock, so that no connection slips past a shutdown: it
// must not wait for the network beyond a short refusal. Temporary accept
// errors (too many open files) are retried after a growing pause.
func (s *Server) Serve(ln net.Listener, open func(net.Conn) Conn) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[Conn]struct{}{}
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var pause time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.Closing() {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				if s.Logger != nil {
					s.Logger.Warn("accept failed, retrying", "addr", ln.Addr().String(), "err", err, "pause", pause)
				}
				time.Sleep(pause)
				continue
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		pause = 0
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return ErrClosed
		}
		c := open(nc)
		if c != nil {
			s.conns[c] = struct{}{}
			s.wg.Add(1)
		}
		s.mu.Unlock()
		if c != nil {
			go s.run(c)
		}
	}
}

// Closing reports whether Shutdown has begun.
func (s *Server) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown stops accepting connections, asks every connection to stop after
// its command in progress and waits for them to end; when ctx is done first,
// it closes those left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Stop()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// RemoteIP is the IP address of a connection's peer, without the port: what
// the core counts login failures by and the audit trail records.
func RemoteIP(nc net.Conn) string {
	addr := nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// DescribePanic names a recovered panic value for a log without what it
// may carry: a runtime error's own message (an index out of range, a nil
// dereference), otherwise only the value's type, since a value built from
// a request may hold health data.
func DescribePanic(v any) string {
	if re, ok := v.(runtime.Error); ok {
		return re.Error()
	}
	return fmt.Sprintf("%T", v)
}

func (s *Server) run(c Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	c.Serve()
}

// ByCredential files a door's logged-in sessions by the credential they
// logged in with ("device:12"), so that the door closes every session of a
// credential the core revokes, at once. Its zero value is ready to use and
// safe for concurrent use.
type ByCredential[S comparable] struct {
	mu sync.Mutex
	m  map[string]map[S]struct{}
}

// Add files s under cred; an empty cred (a password login) is not filed.
func (b *ByCredential[S]) Add(cred string, s S) {
	if cred == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]map[S]struct{}{}
	}
	set := b.m[cred]
	if set == nil {
		set = map[S]struct{}{}
		b.m[cred] = set
	}
	set[s] = struct{}{}
}

// Remove forgets s, filed under cred.
func (b *ByCredential[S]) Remove(cred string, s S) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if set := b.m[cred]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(b.m, cred)
		}
	}
}

// Each calls f for every session filed under cred. f must not call Add
// or Remove.
func (b *ByCredential[S]) Each(cred string, f func(S)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.m[cred] {
		f(s)
	}
}
