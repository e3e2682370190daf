package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// IdleOptions configures Idle: Conns connections log in, in turn
// as each of Users, select Mailbox and IDLE.
type IdleOptions struct {
	Addr     string
	Users    []string
	Password string
	TLS      *tls.Config // STARTTLS when set
	Conns    int
	Mailbox  string // ("INBOX")
	// Dialers is how many connections are opened at once (32).
	Dialers int
	// Memory reads the server's memory before and after; nil skips it.
	Memory ServerMemory
}

// IdleResult is what Idle measured.
type IdleResult struct {
	Conns         int
	Opened        time.Duration // to open, log in, select and IDLE them all
	Before, After MemoryUse     // the server's memory around them
	// HeapPerConn and RSSPerConn are the growth of the server's heap in
	// use and resident set, divided by Conns.
	HeapPerConn, RSSPerConn float64
	// Woken counts the connections of Users[0] that heard of a message
	// appended while they idled, and WakeP50, WakeMax how long after
	// the APPEND was sent each one heard.
	Woken            int
	WakeP50, WakeMax time.Duration
}

// MemoryUse is a server's memory at one moment, in bytes.
type MemoryUse struct {
	Heap uint64 // Go heap in use
	RSS  uint64 // resident set of the process
}

// ServerMemory reads a server's memory use.
type ServerMemory func(ctx context.Context) (MemoryUse, error)

// MetricsMemory reads a node's memory from its Prometheus endpoint:
// go_memstats_heap_inuse_bytes and process_resident_memory_bytes.
func MetricsMemory(url string) ServerMemory {
	return func(ctx context.Context) (MemoryUse, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return MemoryUse{}, fmt.Errorf("metrics: %w", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return MemoryUse{}, fmt.Errorf("metrics: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return MemoryUse{}, fmt.Errorf("metrics: %s", resp.Status)
		}
		var m MemoryUse
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			name, value, ok := strings.Cut(sc.Text(), " ")
			if !ok {
				continue
			}
			var dst *uint64
			switch name {
			case "go_memstats_heap_inuse_bytes":
				dst = &m.Heap
			case "process_resident_memory_bytes":
				dst = &m.RSS
			default:
				continue
			}
			f, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return MemoryUse{}, fmt.Errorf("metrics: %s: %w", name, err)
			}
			*dst = uint64(f)
		}
		if err := sc.Err(); err != nil {
			return MemoryUse{}, fmt.Errorf("metrics: %w", err)
		}
		if m.Heap == 0 || m.RSS == 0 {
			return MemoryUse{}, fmt.Errorf("metrics: no heap or resident memory figure at %s", url)
		}
		return m, nil
	}
}

// idleConn is one connection left in IDLE.
type idleConn struct {
	c     *imapclient.Client
	idle  *imapclient.IdleCommand
	woken chan struct{} // closed when an EXISTS arrives
	once  sync.Once
	wake  atomic.Int64 // when, in nanoseconds since the Unix epoch
}

// Idle opens connections that log in, select a folder and IDLE,
// reads the server's memory before and after, then APPENDs a message
// and waits until every idle connection of the first user hears of it.
// It closes them all before it returns.
func Idle(ctx context.Context, o IdleOptions) (IdleResult, error) {
	if o.Mailbox == "" {
		o.Mailbox = "INBOX"
	}
	if o.Dialers <= 0 {
		o.Dialers = 32
	}
	if len(o.Users) == 0 || o.Conns <= 0 {
		return IdleResult{}, fmt.Errorf("imap bench idle: no users or no connections")
	}
	res := IdleResult{Conns: o.Conns}
	if err := warmLogins(o); err != nil {
		return res, err
	}
	var err error
	if o.Memory != nil {
		if res.Before, err = o.Memory(ctx); err != nil {
			return res, err
		}
	}
	conns := make([]*idleConn, o.Conns)
	defer closeIdle(conns)
	var armed atomic.Bool // set once the APPEND that should wake them is sent
	start := time.Now()
	jobs := make(chan int)
	errc := make(chan error, o.Dialers)
	var wg sync.WaitGroup
	for range o.Dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				ic, err := openIdle(o, o.Users[i%len(o.Users)], &armed)
				if err != nil {
					errc <- fmt.Errorf("imap bench idle: connection %d: %w", i, err)
					return
				}
				conns[i] = ic
			}
		}()
	}
feed:
	for i := range o.Conns {
		select {
		case jobs <- i:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil && len(errc) > 0 {
		err = <-errc
	}
	if err != nil {
		return res, err
	}
	res.Opened = time.Since(start)
	if o.Memory != nil {
		if res.After, err = o.Memory(ctx); err != nil {
			return res, err
		}
		res.HeapPerConn = (float64(res.After.Heap) - float64(res.Before.Heap)) / float64(o.Conns)
		res.RSSPerConn = (float64(res.After.RSS) - float64(res.Before.RSS)) / float64(o.Conns)
	}
	if err := wakeIdle(ctx, o, conns, &armed, &res); err != nil {
		return res, err
	}
	return res, nil
}

// warmLogins logs every user in once, two at a time, before anything is
// measured: the server checks a password with argon2id (64 MiB each) and
// remembers it for a while, so the measured logins cost what a client's
// reconnection costs, and the hashes' memory is not counted as the
// connections'.
func warmLogins(o IdleOptions) error {
	sem := make(chan struct{}, 2)
	errc := make(chan error, len(o.Users))
	var wg sync.WaitGroup
	for _, u := range o.Users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dialIMAP(o.Addr, o.TLS, nil)
			if err == nil {
				err = c.Login(u, o.Password).Wait()
				c.Close()
			}
			if err != nil {
				errc <- fmt.Errorf("imap bench idle: first login as %s: %w", u, err)
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// openIdle opens one connection and leaves it in IDLE on the folder. It
// notes the first EXISTS that arrives once armed is set.
func openIdle(o IdleOptions, user string, armed *atomic.Bool) (*idleConn, error) {
	ic := &idleConn{woken: make(chan struct{})}
	c, err := dialIMAP(o.Addr, o.TLS, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil && armed.Load() {
					ic.once.Do(func() {
						ic.wake.Store(time.Now().UnixNano())
						close(ic.woken)
					})
				}
			},
		},
	})
	if err != nil {
		return nil, err
	}
	ic.c = c
	if err := c.Login(user, o.Password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login: %w", err)
	}
	if _, err := c.Select(o.Mailbox, nil).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("select: %w", err)
	}
	if ic.idle, err = c.Idle(); err != nil {
		c.Close()
		return nil, fmt.Errorf("idle: %w", err)
	}
	return ic, nil
}

// wakeIdle appends a message as the first user and times how long each of
// that user's idle connections takes to hear of it.
func wakeIdle(ctx context.Context, o IdleOptions, conns []*idleConn, armed *atomic.Bool, res *IdleResult) error {
	var mine []*idleConn
	for i, ic := range conns {
		if i%len(o.Users) == 0 {
			mine = append(mine, ic)
		}
	}
	c, err := dialIMAP(o.Addr, o.TLS, nil)
	if err != nil {
		return fmt.Errorf("imap bench idle: dial: %w", err)
	}
	defer c.Close()
	if err := c.Login(o.Users[0], o.Password).Wait(); err != nil {
		return fmt.Errorf("imap bench idle: login: %w", err)
	}
	armed.Store(true)
	sent := time.Now()
	if _, err := appendBench(c, o.Mailbox); err != nil {
		return fmt.Errorf("imap bench idle: append: %w", err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var lat []time.Duration
	for _, ic := range mine {
		select {
		case <-ic.woken:
			lat = append(lat, time.Duration(ic.wake.Load()-sent.UnixNano()))
		case <-wait.Done():
		}
	}
	wake := Summarize(lat)
	res.Woken, res.WakeP50, res.WakeMax = wake.Count, wake.P50, wake.Max
	if res.Woken < len(mine) {
		return fmt.Errorf("imap bench idle: %d of %d idle connections heard of the new message within a minute", res.Woken, len(mine))
	}
	return c.Logout().Wait()
}

// closeIdle ends IDLE and closes every connection, in parallel.
func closeIdle(conns []*idleConn) {
	var wg sync.WaitGroup
	for _, ic := range conns {
		if ic == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ic.idle != nil {
				ic.idle.Close()
			}
			ic.c.Close()
		}()
	}
	wg.Wait()
}
