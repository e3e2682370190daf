package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// BenchOptions configures Bench: C clients log in to one account, select
// a folder and run a mixed load of APPEND, FETCH, STORE and EXPUNGE for
// Duration.
type BenchOptions struct {
	Addr     string // host:port of the server
	Username string
	Password string
	// TLS, when set, is used with STARTTLS; nil connects in plain text,
	// which the server accepts only with InsecureAuth.
	TLS      *tls.Config
	Clients  int           // concurrent connections (10)
	Duration time.Duration // how long to run (10s)
	Mailbox  string        // folder to work in ("INBOX")
	Out      io.Writer     // where to print the summary; nil prints nothing
}

// BenchResult is what Bench measured.
type BenchResult struct {
	Ops       int
	Errors    int
	Elapsed   time.Duration
	OpsPerSec float64
	P50, P99  time.Duration
	Logins    int
}

// Bench runs the load and returns its figures. Protocol errors are
// counted, not fatal; a failed login is.
func Bench(ctx context.Context, o BenchOptions) (BenchResult, error) {
	if o.Clients <= 0 {
		o.Clients = 10
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Mailbox == "" {
		o.Mailbox = "INBOX"
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	res := BenchResult{}
	var wg sync.WaitGroup
	errc := make(chan error, o.Clients)
	start := time.Now()
	for i := 0; i < o.Clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, errs, err := benchClient(ctx, o)
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, l...)
			res.Errors += errs
			if err != nil {
				errc <- err
				return
			}
			res.Logins++
		}()
	}
	wg.Wait()
	close(errc)
	res.Elapsed = time.Since(start)
	if err := <-errc; err != nil {
		return res, err
	}
	slices.Sort(lat)
	res.Ops = len(lat)
	if res.Ops > 0 {
		res.P50 = lat[res.Ops/2]
		res.P99 = lat[res.Ops*99/100]
	}
	res.OpsPerSec = float64(res.Ops) / res.Elapsed.Seconds()
	if o.Out != nil {
		fmt.Fprintf(o.Out, "imap bench: %d clients, %d ops in %v: %.0f ops/s, p50 %v, p99 %v, %d errors\n",
			o.Clients, res.Ops, res.Elapsed.Round(time.Millisecond), res.OpsPerSec, res.P50, res.P99, res.Errors)
	}
	return res, nil
}

const benchMessage = "From: bench@example.org\r\nTo: bench@example.org\r\nSubject: bench\r\n\r\nA short message body for the benchmark.\r\n"

// benchClient runs one client's loop and returns its latencies.
func benchClient(ctx context.Context, o BenchOptions) ([]time.Duration, int, error) {
	var c *imapclient.Client
	var err error
	if o.TLS != nil {
		c, err = imapclient.DialStartTLS(o.Addr, &imapclient.Options{TLSConfig: o.TLS})
	} else {
		c, err = imapclient.DialInsecure(o.Addr, nil)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("imap bench: dial: %w", err)
	}
	defer c.Close()
	var lat []time.Duration
	timed := func(f func() error) error {
		t := time.Now()
		err := f()
		lat = append(lat, time.Since(t))
		return err
	}
	if err := timed(func() error { return c.Login(o.Username, o.Password).Wait() }); err != nil {
		return nil, 0, fmt.Errorf("imap bench: login: %w", err)
	}
	if err := timed(func() error { _, err := c.Select(o.Mailbox, nil).Wait(); return err }); err != nil {
		return lat, 1, fmt.Errorf("imap bench: select: %w", err)
	}
	errs := 0
	for i := 0; ctx.Err() == nil; i++ {
		var uid imap.UID
		err := timed(func() error {
			cmd := c.Append(o.Mailbox, int64(len(benchMessage)), nil)
			cmd.Write([]byte(benchMessage))
			cmd.Close()
			d, err := cmd.Wait()
			uid = d.UID
			return err
		})
		if err == nil {
			err = timed(func() error {
				_, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, Flags: true, Envelope: true,
					BodySection: []*imap.FetchItemBodySection{{Peek: true, Specifier: imap.PartSpecifierHeader}}}).Collect()
				return err
			})
		}
		if err == nil {
			err = timed(func() error {
				return c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, imap.FlagDeleted}, Silent: true}, nil).Close()
			})
		}
		if err == nil && i%4 == 3 {
			err = timed(func() error { return c.UIDExpunge(imap.UIDSetNum(uid)).Close() })
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			errs++
		}
	}
	c.Logout().Wait()
	return lat, errs, nil
}
