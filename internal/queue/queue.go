package queue

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/textproto"

	"caduceus/internal/core"
	"caduceus/internal/smtp"
)

// Transport hands a message to its recipients' servers. *smtp.Outbound is
// the real one; DevOutbox keeps mail on the machine.
type Transport interface {
	Deliver(ctx context.Context, env smtp.Envelope, content smtp.Content) []smtp.Result
}

// Options configures a Queue.
type Options struct {
	// Transport delivers; it is required.
	Transport Transport
	// Schedule spaces the attempts of a failing delivery.
	Schedule Schedule
	// Concurrency is how many deliveries run at once, 4 when 0.
	Concurrency int
	// Lease is how long a claimed entry is ours before another runner may
	// take it, 15 minutes when 0. It must outlast one attempt.
	Lease time.Duration
	// Poll is the longest the runner sleeps between looks at the queue,
	// one minute when 0; the core wakes it sooner when mail is queued.
	Poll time.Duration
	// Hostname names us in failure notices; the core's when empty.
	Hostname string
	// Logger gets one line per attempt, without any correspondent's address.
	Logger *slog.Logger
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Queue delivers the mail the core queued for remote recipients: it claims
// due entries, hands them to the Transport, reschedules temporary failures
// with exponential backoff, and on a permanent failure or at expiry puts a
// failure notice (RFC 3464) in the sender's Inbox before removing the entry.
type Queue struct {
	svc  *core.Service
	opts Options
	log  *slog.Logger
}

// New returns a queue over svc; Run starts delivering.
func New(svc *core.Service, opts Options) *Queue {
	opts.Concurrency = cmp.Or(opts.Concurrency, 4)
	opts.Lease = cmp.Or(opts.Lease, time.Minute)
	opts.Poll = cmp.Or(opts.Poll, time.Minute)
	opts.Hostname = cmp.Or(opts.Hostname, svc.Hostname())
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Queue{svc: svc, opts: opts, log: opts.Logger}
}

// actor is who the queue's own work is traced as.
var actor = core.System("queue")

// Run delivers until ctx ends, then waits for the deliveries under way. It
// returns nil when ctx ends; an entry cut short stays queued, leased, and is
// tried again once its lease runs out.
func (q *Queue) Run(ctx context.Context) error {
	if q.opts.Transport == nil {
		return errors.New("queue: no transport")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, q.opts.Concurrency) // one per delivery under way
	finished := make(chan struct{}, 1)
	for {
		n := cap(slots) - len(slots)
		claimed := 0
		if n > 0 {
			entries, err := q.svc.ClaimOutbound(ctx, n, q.opts.Lease)
			if err != nil && ctx.Err() == nil {
				q.log.Error("claim", "err", err)
			}
			for _, e := range entries {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() {
						<-slots
						select {
						case finished <- struct{}{}:
						default:
						}
					}()
					q.deliver(ctx, e)
				}()
			}
			claimed = len(entries)
		}
		if claimed > 0 && claimed == n {
			continue // more may be due
		}
		if err := q.wait(ctx, finished); err != nil {
			return nil
		}
	}
}

// wait sleeps until the next entry falls due, mail is queued, a delivery
// finishes, or Poll passes.
func (q *Queue) wait(ctx context.Context, finished <-chan struct{}) error {
	d := q.opts.Poll
	if next, err := q.svc.NextOutbound(ctx); err == nil && !next.IsZero() {
		d = min(d, max(next.Sub(q.opts.Now()), 0))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-q.svc.QueueSignal():
	case <-finished:
	}
	return nil
}

// deliver makes one attempt at one entry and records its outcome. The
// entry's lease is renewed while the attempt lasts, so that a long one
// keeps it and a node that dies loses it within one lease.
func (q *Queue) deliver(ctx context.Context, e core.Outbound) {
	stop := q.keepLease(ctx, e.ID)
	defer stop()
	start := q.opts.Now()
	header, err := q.header(ctx, e.ID)
	if err != nil {
		q.log.Error("open queued message", "id", e.ID, "err", err)
		return
	}
	env := smtp.Envelope{
		From:       e.MailFrom,
		To:         []smtp.Recipient{{Address: e.Rcpt, Notify: notify(e.Notify)}},
		UTF8:       !isASCII(e.MailFrom) || !isASCII(e.Rcpt) || !isASCII(string(header)),
		Size:       e.Size,
		EnvelopeID: e.EnvID,
		Return:     e.Ret,
	}
	content := func() (io.ReadCloser, error) {
		r, err := q.svc.OpenOutbound(ctx, e.ID)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(r), nil
	}
	res := q.opts.Transport.Deliver(ctx, env, content)[0]
	attrs := []any{"id", e.ID, "attempt", e.Attempts + 1, "remote", res.Remote, "ms", q.opts.Now().Sub(start).Milliseconds()}
	if res.Err == nil {
		q.log.Info("relayed", attrs...)
		q.done(ctx, e, true, "250")
		return
	}
	attrs = append(attrs, "code", res.Err.Code, "status", res.Err.Status())
	if ctx.Err() != nil {
		// Shutting down: the entry stays leased and is tried again later.
		q.log.Info("interrupted", attrs...)
		return
	}
	now := q.opts.Now()
	if res.Err.Temporary() && now.Before(e.Expires) {
		// The last attempt is made at expiry.
		next := now.Add(q.opts.Schedule.Delay(e.Attempts + 1))
		if next.After(e.Expires) {
			next = e.Expires
		}
		q.log.Info("deferred", append(attrs, "next", next)...)
		if err := q.svc.OutboundRetry(ctx, e.ID, next, res.Err.Error()); err != nil {
			q.log.Error("reschedule", "id", e.ID, "err", err)
		}
		return
	}
	status := res.Err.Enhanced
	if res.Err.Temporary() {
		// RFC 3463 §3.5: 5.4.7, delivery time expired.
		status = [3]int{5, 4, 7}
		q.log.Info("expired", attrs...)
	} else {
		q.log.Info("failed", attrs...)
	}
	if err := q.notify(ctx, e, header, res, status, now); err != nil {
		q.log.Error("failure notice", "id", e.ID, "err", err)
		return
	}
	q.done(ctx, e, false, fmt.Sprintf("%d %d.%d.%d", res.Err.Code, status[0], status[1], status[2]))
}

// keepLease renews the lease of entry id every third of a lease until
// stop is called.
func (q *Queue) keepLease(ctx context.Context, id int64) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(q.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := q.svc.RenewOutbound(ctx, id, q.opts.Lease); err != nil && ctx.Err() == nil {
					q.log.Error("renew lease", "id", id, "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (q *Queue) done(ctx context.Context, e core.Outbound, delivered bool, detail string) {
	if err := q.svc.OutboundDone(ctx, actor, e.ID, delivered, detail); err != nil {
		q.log.Error("remove from queue", "id", e.ID, "err", err)
	}
}

// notify sends the sender a failure notice, unless they asked for none
// (NOTIFY=NEVER, RFC 3461 §4.1) or the message was itself a notice (null
// reverse-path, RFC 5321 §4.5.5). The core delivers it to their Inbox, or
// queues it when the sender is remote.
func (q *Queue) notify(ctx context.Context, e core.Outbound, header []byte, res smtp.Result, status [3]int, now time.Time) error {
	if e.MailFrom == "" || !wantsFailureNotice(e.Notify) {
		return nil
	}
	// The reply of the remote host, or our own reason (a TLS or trust-space
	// failure), so that the sender learns why.
	diagnostic := fmt.Sprintf("%d %s %s", res.Err.Code, res.Err.Status(), res.Err.Message)
	report := smtp.Report{
		Hostname:   q.opts.Hostname,
		To:         e.MailFrom,
		EnvelopeID: e.EnvID,
		Arrival:    e.Created,
		Date:       now,
		Header:     header,
		MessageID:  messageID(header),
		UTF8:       !isASCII(e.MailFrom) || !isASCII(e.Rcpt),
		Recipients: []smtp.ReportRecipient{{
			Final:       e.Rcpt,
			Action:      smtp.ActionFailed,
			Status:      status,
			RemoteMTA:   res.Err.Remote,
			Diagnostic:  diagnostic,
			LastAttempt: now,
		}},
	}
	var buf bytes.Buffer
	if _, err := report.WriteTo(&buf); err != nil {
		return err
	}
	err := q.svc.SendNotice(ctx, actor, e.MailFrom, "dsn", buf.Bytes())
	if errors.Is(err, core.ErrNoSuchRecipient) || errors.Is(err, core.ErrInvalid) {
		// The sending mailbox is gone: nobody is left to tell.
		q.log.Info("failure notice dropped: sender gone", "id", e.ID)
		return nil
	}
	return err
}

// maxHeader bounds the header section read for SMTPUTF8 detection and the
// failure notice.
const maxHeader = 256 << 10

// header returns the header section of a queued message.
func (q *Queue) header(ctx context.Context, id int64) ([]byte, error) {
	r, err := q.svc.OpenOutbound(ctx, id)
	if err != nil {
		return nil, err
	}
	m, err := smtp.ReadMessage(r, maxHeader)
	if err != nil {
		return nil, nil // a malformed header is still sent; the notice goes without it
	}
	var buf bytes.Buffer
	if err := textproto.WriteHeader(&buf, m.Header); err != nil {
		return nil, nil
	}
	return buf.Bytes(), nil
}

// notify splits a NOTIFY value such as "SUCCESS,FAILURE".
func notify(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(strings.ToUpper(v), ",")
}

// wantsFailureNotice reports whether NOTIFY asks for a failure notice;
// without NOTIFY it does (RFC 3461 §4.1).
func wantsFailureNotice(v string) bool {
	n := notify(v)
	if len(n) == 0 {
		return true
	}
	for _, x := range n {
		if x == "FAILURE" {
			return true
		}
	}
	return false
}

func messageID(header []byte) string {
	m, err := smtp.ReadMessage(bytes.NewReader(header), maxHeader)
	if err != nil {
		return ""
	}
	if id := m.MessageID(); id != "" {
		return "<" + id + ">"
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// List returns the queue, oldest first, for `caduceus queue list`.
func (q *Queue) List(ctx context.Context) ([]core.Outbound, error) {
	return q.svc.OutboundList(ctx, core.System("cli"))
}

// Retry makes an entry due now, for `caduceus queue retry`.
func (q *Queue) Retry(ctx context.Context, id int64) error {
	return q.svc.RetryOutboundNow(ctx, core.System("cli"), id)
}

// Drop removes an entry without delivering it or telling the sender, for
// `caduceus queue drop`.
func (q *Queue) Drop(ctx context.Context, id int64) error {
	return q.svc.DropOutbound(ctx, core.System("cli"), id)
}
