package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Mix names the commands the rounds of an IMAP session run.
type Mix string

// The mixes IMAP knows. Every session starts with LOGIN and SELECT and
// ends with LOGOUT; the mix says what each round does in between.
const (
	// MixWrite stores a message and handles it at once: each round
	// APPENDs a small message, fetches its flags, envelope and header,
	// STOREs \Seen and \Deleted on it, and every fourth round UID
	// EXPUNGEs it. 2.25 of every 3.25 commands are durable writes.
	MixWrite Mix = "write"
	// MixRead is a client reading its mail: each round fetches the flags
	// of the 50 newest messages, the envelope and header of one of them,
	// then its body, sends a NOOP and marks it read (or unread again, so
	// that the STORE changes something); every fifth round APPENDs a
	// message and every tenth flags the session's last appended message
	// \Deleted and UID EXPUNGEs it. 14 of every 54 commands are durable
	// writes.
	MixRead Mix = "read"
)

// IMAPOptions configures IMAP: Clients connections run sessions against
// one account for Duration, then, with IdleConns, IMAP measures what idle
// connections cost the server (see Idle).
type IMAPOptions struct {
	Addr     string // host:port of the server, or several separated by commas (a cluster's nodes: connections are spread over them)
	Username string
	Password string
	// TLS, when set, is used with STARTTLS; nil connects in plain text,
	// which the server accepts only with InsecureAuth.
	TLS      *tls.Config
	Clients  int           // concurrent connections (10)
	Duration time.Duration // how long to run (10s)
	Mailbox  string        // folder to work in ("INBOX")
	Mix      Mix           // what the rounds do (MixWrite)
	Rounds   int           // rounds per session, between LOGIN and LOGOUT (20)

	// IdleConns, when positive, are opened after the load and left in
	// IDLE, as IdleOptions describes; Memory reads the server's memory
	// around them.
	IdleConns int
	IdleUsers []string // accounts the idle connections log in as (Username)
	Memory    ServerMemory
}

// IMAPResult is what IMAP measured. Ops counts IMAP commands, each timed
// from its sending to its tagged response; connecting and the STARTTLS
// handshake are not counted.
type IMAPResult struct {
	Ops    int
	Writes int // commands that made a durable change
	Errors int // commands answered NO or BAD, or cut by a failed connection
	// ErrorSamples are the first few errors, for a diagnosis.
	ErrorSamples []string
	Elapsed      time.Duration
	OpsPerSec    float64
	Latency      Latency            // of every command
	Logins       int                // sessions that logged in
	PerOp        map[string]Latency // by command of the mix
	Idle         *IdleResult        // with IdleConns
}

// IMAP runs the load and returns its figures. Protocol errors are
// counted, not fatal; a failed connection or login is fatal.
func IMAP(ctx context.Context, o IMAPOptions) (IMAPResult, error) {
	if o.Clients <= 0 {
		o.Clients = 10
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Mailbox == "" {
		o.Mailbox = "INBOX"
	}
	if o.Mix == "" {
		o.Mix = MixWrite
	}
	if o.Rounds <= 0 {
		o.Rounds = 20
	}
	if o.Mix != MixWrite && o.Mix != MixRead {
		return IMAPResult{}, fmt.Errorf("imap bench: unknown mix %q", o.Mix)
	}
	addrs := strings.Split(o.Addr, ",")
	for i := range addrs {
		addrs[i] = strings.TrimSpace(addrs[i])
	}
	o.Addr = addrs[0] // the seeding and the idle connections use the first
	if o.Mix == MixRead {
		if err := benchSeed(o, 50); err != nil {
			return IMAPResult{}, err
		}
	}
	load, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var (
		mu    sync.Mutex
		all   = map[string][]time.Duration{}
		res   IMAPResult
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	for i := 0; i < o.Clients; i++ {
		co := o
		co.Addr = addrs[i%len(addrs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := &benchClient{o: co, lat: map[string][]time.Duration{}}
			err := b.run(load)
			mu.Lock()
			defer mu.Unlock()
			for name, l := range b.lat {
				all[name] = append(all[name], l...)
			}
			res.Errors += b.errors
			for _, e := range b.samples {
				if len(res.ErrorSamples) < 5 {
					res.ErrorSamples = append(res.ErrorSamples, e)
				}
			}
			res.Writes += b.writes
			res.Logins += b.logins
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if first != nil {
		return res, first
	}
	var lat []time.Duration
	res.PerOp = map[string]Latency{}
	for name, l := range all {
		res.PerOp[name] = Summarize(l)
		lat = append(lat, l...)
	}
	res.Latency = Summarize(lat)
	res.Ops = len(lat)
	res.OpsPerSec = float64(res.Ops) / res.Elapsed.Seconds()
	if o.IdleConns > 0 {
		users := o.IdleUsers
		if len(users) == 0 {
			users = []string{o.Username}
		}
		idle, err := Idle(ctx, IdleOptions{
			Addr: o.Addr, Users: users, Password: o.Password, TLS: o.TLS,
			Conns: o.IdleConns, Mailbox: o.Mailbox, Memory: o.Memory,
		})
		if err != nil {
			return res, err
		}
		res.Idle = &idle
	}
	return res, nil
}

const benchMessage = "From: bench@example.org\r\nTo: bench@example.org\r\nSubject: bench\r\n" +
	"Message-ID: <bench@example.org>\r\n\r\nA short message body for the benchmark.\r\n"

// dialIMAP connects, with STARTTLS when tlsConfig is set.
func dialIMAP(addr string, tlsConfig *tls.Config, opts *imapclient.Options) (*imapclient.Client, error) {
	if opts == nil {
		opts = &imapclient.Options{}
	}
	if tlsConfig != nil {
		opts.TLSConfig = tlsConfig
		return imapclient.DialStartTLS(addr, opts)
	}
	return imapclient.DialInsecure(addr, opts)
}

// benchSeed makes sure the folder holds at least n messages, for the
// reading mix.
func benchSeed(o IMAPOptions, n int) error {
	c, err := dialIMAP(o.Addr, o.TLS, nil)
	if err != nil {
		return fmt.Errorf("imap bench: dial: %w", err)
	}
	defer c.Close()
	if err := c.Login(o.Username, o.Password).Wait(); err != nil {
		return fmt.Errorf("imap bench: login: %w", err)
	}
	st, err := c.Status(o.Mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return fmt.Errorf("imap bench: status: %w", err)
	}
	for i := int(*st.NumMessages); i < n; i++ {
		if _, err := appendBench(c, o.Mailbox); err != nil {
			return fmt.Errorf("imap bench: seed: %w", err)
		}
	}
	return c.Logout().Wait()
}

func appendBench(c *imapclient.Client, mailbox string) (imap.UID, error) {
	cmd := c.Append(mailbox, int64(len(benchMessage)), nil)
	if _, err := cmd.Write([]byte(benchMessage)); err != nil {
		return 0, err
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	d, err := cmd.Wait()
	return d.UID, err
}

// benchClient is one connection's loop of sessions.
type benchClient struct {
	o       IMAPOptions
	c       *imapclient.Client
	lat     map[string][]time.Duration
	errors  int
	samples []string
	writes  int
	logins  int

	last     imap.UID // the highest UID this client knows
	appended imap.UID // this session's last APPEND
}

// timed runs one command and records its latency under name; a failed
// command counts as an error.
func (b *benchClient) timed(name string, write bool, f func() error) error {
	t := time.Now()
	err := f()
	b.lat[name] = append(b.lat[name], time.Since(t))
	if err != nil {
		b.errors++
		if len(b.samples) < 5 {
			b.samples = append(b.samples, name+": "+err.Error())
		}
		return err
	}
	if write {
		b.writes++
	}
	return nil
}

// run opens sessions until ctx ends.
func (b *benchClient) run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := b.session(ctx); err != nil {
			return err
		}
	}
	return nil
}

// session is LOGIN, SELECT, the rounds, LOGOUT. A failed connection,
// login or select ends the run; other failures are counted and the
// session goes on.
func (b *benchClient) session(ctx context.Context) error {
	c, err := dialIMAP(b.o.Addr, b.o.TLS, nil)
	if err != nil {
		return fmt.Errorf("imap bench: dial: %w", err)
	}
	defer c.Close()
	b.c = c
	// LOGIN is traced by the core, a durable write.
	if err := b.timed("login", true, func() error { return c.Login(b.o.Username, b.o.Password).Wait() }); err != nil {
		return fmt.Errorf("imap bench: login: %w", err)
	}
	b.logins++
	var sel *imap.SelectData
	if err := b.timed("select", false, func() (err error) { sel, err = c.Select(b.o.Mailbox, nil).Wait(); return err }); err != nil {
		return fmt.Errorf("imap bench: select: %w", err)
	}
	if sel.UIDNext > 1 {
		b.last = max(b.last, sel.UIDNext-1)
	}
	for i := 0; i < b.o.Rounds && ctx.Err() == nil; i++ {
		if b.o.Mix == MixRead {
			b.readRound(i)
		} else {
			b.writeRound(i)
		}
	}
	b.timed("logout", false, func() error { return c.Logout().Wait() })
	return nil
}

func (b *benchClient) append() {
	var uid imap.UID
	if b.timed("append", true, func() (err error) { uid, err = appendBench(b.c, b.o.Mailbox); return err }) == nil {
		b.appended = uid
		b.last = max(b.last, uid)
	}
}

// writeRound is one round of MixWrite.
func (b *benchClient) writeRound(i int) {
	c := b.c
	b.append()
	uid := b.appended
	if uid == 0 {
		return
	}
	b.timed("fetch header", false, func() error {
		_, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, Flags: true, Envelope: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true, Specifier: imap.PartSpecifierHeader}}}).Collect()
		return err
	})
	b.timed("store", true, func() error {
		return c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
			Flags: []imap.Flag{imap.FlagSeen, imap.FlagDeleted}}, nil).Close()
	})
	if i%4 == 3 {
		b.timed("expunge", true, func() error { return c.UIDExpunge(imap.UIDSetNum(uid)).Close() })
		b.appended = 0
	}
}

// readRound is one round of MixRead.
func (b *benchClient) readRound(i int) {
	c := b.c
	var page imap.UIDSet
	page.AddRange(max(1, b.last-49), b.last)
	b.timed("fetch flags", false, func() error {
		_, err := c.Fetch(page, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		return err
	})
	uid := max(1, b.last-imap.UID(i%50))
	seen := false
	b.timed("fetch header", false, func() error {
		msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, Flags: true, Envelope: true, RFC822Size: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true, Specifier: imap.PartSpecifierHeader}}}).Collect()
		if len(msgs) == 1 {
			seen = slices.Contains(msgs[0].Flags, imap.FlagSeen)
		}
		return err
	})
	b.timed("fetch body", false, func() error {
		_, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		return err
	})
	b.timed("noop", false, func() error { return c.Noop().Wait() })
	// Mark it read, or unread again, so that the STORE changes something.
	op := imap.StoreFlagsAdd
	if seen {
		op = imap.StoreFlagsDel
	}
	b.timed("store", true, func() error {
		return c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
	})
	if i%5 == 4 {
		b.append()
	}
	if i%10 == 9 && b.appended != 0 {
		gone := b.appended
		b.appended = 0
		b.timed("store", true, func() error {
			return c.Store(imap.UIDSetNum(gone), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
				Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		})
		b.timed("expunge", true, func() error { return c.UIDExpunge(imap.UIDSetNum(gone)).Close() })
	}
}
