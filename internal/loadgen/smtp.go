package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// SMTPOptions describes a load run against an SMTP server, as `caduceus
// bench smtp` takes it.
type SMTPOptions struct {
	// Addr is the server, "host:port", or several separated by commas:
	// the nodes of a cluster, which the sessions are spread over in turn.
	Addr string
	// From is the reverse-path, "bench@localhost" when empty.
	From string
	// To is the recipient of every message.
	To string
	// Messages is how many messages to send, 1000 when 0.
	Messages int
	// Size is the size of each message in bytes, 4096 when 0.
	Size int
	// Concurrency is how many sessions send at once, 10 when 0. Each
	// session keeps its connection for all its messages.
	Concurrency int
	// TLS, when set, is used with STARTTLS, or from the first byte when
	// ImplicitTLS is set.
	TLS         *tls.Config
	ImplicitTLS bool
	// Username and Password, when set, log in with AUTH PLAIN (submission).
	Username, Password string
	// PerConnection is how many messages a session sends before it quits
	// and connects again (a new TLS handshake each time); 0 keeps one
	// connection for all its messages.
	PerConnection int
}

// SMTPResult is what a load run against an SMTP server measured.
type SMTPResult struct {
	// Sent is the number of messages the server accepted with a 250.
	Sent int
	// Failed is the number of messages refused or lost.
	Failed int
	// FirstError is the first failure, if any.
	FirstError error
	// Elapsed is the wall time of the run, connections included.
	Elapsed time.Duration
	// PerSecond is Sent divided by Elapsed.
	PerSecond float64
	// Latency is that of the messages sent, each from MAIL to the
	// server's final reply to DATA.
	Latency Latency
}

// SMTP sends opts.Messages messages of opts.Size bytes to opts.To over
// opts.Concurrency sessions and measures throughput and latency. Every
// message has its own Message-ID. It stops early when ctx ends.
func SMTP(ctx context.Context, opts SMTPOptions) (SMTPResult, error) {
	if opts.Addr == "" || opts.To == "" {
		return SMTPResult{}, errors.New("smtp bench: a server address and a recipient are needed")
	}
	opts.From = cmp.Or(opts.From, "bench@localhost")
	opts.Messages = cmp.Or(opts.Messages, 1000)
	opts.Size = cmp.Or(opts.Size, 4096)
	opts.Concurrency = min(cmp.Or(opts.Concurrency, 10), opts.Messages)

	run := strings.ToLower(rand.Text()[:8])
	var next atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	var res SMTPResult
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		res.Failed++
		if res.FirstError == nil {
			res.FirstError = err
		}
	}

	addrs := strings.Split(opts.Addr, ",")
	start := time.Now()
	var wg sync.WaitGroup
	for i := range opts.Concurrency {
		addr := strings.TrimSpace(addrs[i%len(addrs)])
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *gosmtp.Client
			sent := 0
			defer func() {
				if c != nil {
					c.Quit()
				}
			}()
			for ctx.Err() == nil {
				n := next.Add(1)
				if n > int64(opts.Messages) {
					return
				}
				if c == nil {
					var err error
					if c, err = dialSMTP(ctx, opts, addr); err != nil {
						fail(err)
						continue
					}
				}
				msg := smtpMessage(opts, run, n)
				t0 := time.Now()
				if err := c.SendMail(opts.From, []string{opts.To}, bytes.NewReader(msg)); err != nil {
					fail(err)
					var se *gosmtp.SMTPError
					if !errors.As(err, &se) {
						c.Close()
						c = nil
					} else {
						c.Reset()
					}
					continue
				}
				d := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
				if sent++; opts.PerConnection > 0 && sent%opts.PerConnection == 0 {
					c.Quit()
					c = nil
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Sent = len(latencies)
	if res.Elapsed > 0 {
		res.PerSecond = float64(res.Sent) / res.Elapsed.Seconds()
	}
	res.Latency = Summarize(latencies)
	return res, nil
}

// dialSMTP connects to the server at addr and says EHLO, STARTTLS and
// AUTH as opts asks.
func dialSMTP(ctx context.Context, opts SMTPOptions, addr string) (*gosmtp.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtp bench: %w", err)
	}
	cfg := opts.TLS
	if cfg != nil && cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	var c *gosmtp.Client
	switch {
	case cfg != nil && opts.ImplicitTLS:
		c = gosmtp.NewClient(tls.Client(conn, cfg))
	case cfg != nil:
		if c, err = gosmtp.NewClientStartTLS(conn, cfg); err != nil {
			return nil, fmt.Errorf("smtp bench: %w", err)
		}
	default:
		c = gosmtp.NewClient(conn)
	}
	if opts.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", opts.Username, opts.Password)); err != nil {
			c.Close()
			return nil, fmt.Errorf("smtp bench: %w", err)
		}
	}
	return c, nil
}

// smtpMessage returns message n of the run: a plain header with a unique
// Message-ID, and a body of 76-character lines up to opts.Size bytes.
func smtpMessage(opts SMTPOptions, run string, n int64) []byte {
	var b bytes.Buffer
	b.Grow(opts.Size + 80)
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: bench %d\r\nMessage-ID: <bench-%s-%d@caduceus>\r\nDate: %s\r\n\r\n",
		opts.From, opts.To, n, run, n, time.Now().Format(time.RFC1123Z))
	line := strings.Repeat("x", 76) + "\r\n"
	for b.Len()+len(line) <= opts.Size {
		b.WriteString(line)
	}
	for b.Len() < opts.Size-2 {
		b.WriteByte('y')
	}
	b.WriteString("\r\n")
	return b.Bytes()
}
