// Package smtptest provides what SMTP tests need: a receiving SMTP server
// that records what it is sent and answers as a test script says (its
// certificates come from certstest).
package smtptest

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Message is one message a Server accepted.
type Message struct {
	From string
	To   []string
	Opts gosmtp.MailOptions
	Rcpt []gosmtp.RcptOptions
	Data []byte
	TLS  bool
}

// Server is a receiving SMTP server on loopback that records the messages
// it accepts. Its hooks decide the replies; they are called from the
// server's goroutines.
type Server struct {
	// Addr is the "host:port" the server listens on.
	Addr string

	srv *gosmtp.Server

	mu       sync.Mutex
	messages []Message
	rcpt     func(to string) error
	data     func(from string, to []string) error
	arrived  chan struct{} // has a value after a message is accepted
}

// NewServer starts a server on 127.0.0.1 that offers STARTTLS with
// tlsConfig when it is not nil, and closes it at the end of the test.
func NewServer(t testing.TB, tlsConfig *tls.Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), arrived: make(chan struct{}, 1)}
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{s: s, tls: isTLS}, nil
	}))
	s.srv.Domain = "test.example"
	s.srv.TLSConfig = tlsConfig
	s.srv.EnableSMTPUTF8 = true
	s.srv.EnableDSN = true
	s.srv.ErrorLog = nopLogger{}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// OnRcpt sets the function that answers RCPT; a nil error accepts.
func (s *Server) OnRcpt(f func(to string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcpt = f
}

// OnData sets the function that answers the end of DATA; a nil error
// accepts the message.
func (s *Server) OnData(f func(from string, to []string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = f
}

// Wait waits until the server has accepted n messages and returns them; the
// test fails after 10 seconds.
func (s *Server) Wait(t testing.TB, n int) []Message {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrived:
		case <-timeout:
			t.Fatalf("server got %d messages, want %d", len(s.Messages()), n)
		}
	}
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

type session struct {
	s   *Server
	tls bool
	msg Message
}

func (ss *session) Reset() { ss.msg = Message{} }

func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, opts *gosmtp.MailOptions) error {
	ss.msg = Message{From: from, TLS: ss.tls}
	if opts != nil {
		ss.msg.Opts = *opts
	}
	return nil
}

func (ss *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	ss.s.mu.Lock()
	f := ss.s.rcpt
	ss.s.mu.Unlock()
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.msg.To = append(ss.msg.To, to)
	if opts != nil {
		ss.msg.Rcpt = append(ss.msg.Rcpt, *opts)
	} else {
		ss.msg.Rcpt = append(ss.msg.Rcpt, gosmtp.RcptOptions{})
	}
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.data != nil {
		if err := ss.s.data(ss.msg.From, ss.msg.To); err != nil {
			return err
		}
	}
	ss.msg.Data = b
	ss.s.messages = append(ss.s.messages, ss.msg)
	select {
	case ss.s.arrived <- struct{}{}:
	default:
	}
	return nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}
