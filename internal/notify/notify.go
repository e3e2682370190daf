// Package notify tells people by e-mail and by Web Push that secure mail is
// waiting for them (the guide's F5: "a message is waiting", and a link). The
// mail says in which mailbox and links to the message (/m/ID) or the
// mailbox, in French and in English, and holds nothing else: no sender, no
// subject, no attachment name, nothing of the message. It is worded so that a patient or a professional can
// tell it from phishing: it asks for nothing and tells them to type the
// address themselves when in doubt.
//
// Who is told, and when, is the core's rule (NoteArrivals, TakeDueNotifications):
// every person who may read the mailbox and has a notification address or a
// browser subscribed to Web Push, in their chosen mode (each message, at most
// one mail per five minutes; a digest; none). This package listens for arrivals on its node, hands them to the
// core in batches, and sends what the core says is due: a mail to the
// notification address, and a Web Push notification (RFC 8030, encrypted
// to the browser per RFC 8291, signed with the installation's VAPID key per
// RFC 8292) to each browser the person subscribed, with the same text.
package notify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-message/mail"

	"caduceus/internal/core"
)

// Options configure a Notifier.
type Options struct {
	// BaseURL is the web app's public URL, without a trailing slash.
	BaseURL string
	// From is the address notifications come from.
	From string
	// Hostname names the node in Message-IDs.
	Hostname string
	Logger   *slog.Logger
	// Tick is how often due notifications are looked for when no mail
	// arrives (digests, the five-minute rule); default 15 s.
	Tick time.Duration
	// PushClient reaches the browsers' push services (Web Push); nil
	// means PushClient(), which connects to public addresses only.
	PushClient *http.Client
}

// Notifier sends the new-mail notifications of one node.
type Notifier struct {
	core *core.Service
	opts Options

	mu      sync.Mutex
	arrived map[int64]batch // by mailbox: what arrived since the last flush
	wake    chan struct{}

	sent, failed         atomic.Int64
	pushSent, pushFailed atomic.Int64
}

// batch counts the messages that arrived in one mailbox.
type batch struct {
	n    int
	last int64
}

// New returns a notifier that sends through svc and hears of arrivals from it.
// Run makes it work.
func New(svc *core.Service, opts Options) *Notifier {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Tick == 0 {
		opts.Tick = 15 * time.Second
	}
	if opts.PushClient == nil {
		opts.PushClient = PushClient()
	}
	n := &Notifier{core: svc, opts: opts, arrived: map[int64]batch{}, wake: make(chan struct{}, 1)}
	svc.OnArrival(n.arrival)
	return n
}

// Sent and Failed count the notification mails queued and those that could
// not be, for the metrics.
func (n *Notifier) Sent() int64   { return n.sent.Load() }
func (n *Notifier) Failed() int64 { return n.failed.Load() }

// PushSent and PushFailed count the Web Push notifications that push
// services accepted (or answered that the browser is gone) and those that
// could not be sent.
func (n *Notifier) PushSent() int64   { return n.pushSent.Load() }
func (n *Notifier) PushFailed() int64 { return n.pushFailed.Load() }

// Run hands arrivals to the core and sends the notifications due, until ctx
// ends. Arrivals are gathered for a second, so a burst gives one batch.
func (n *Notifier) Run(ctx context.Context) {
	t := time.NewTicker(n.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.wake:
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		n.Once(ctx)
	}
}

// Once records what arrived and sends what is due now.
func (n *Notifier) Once(ctx context.Context) {
	n.mu.Lock()
	arrived := n.arrived
	n.arrived = map[int64]batch{}
	n.mu.Unlock()
	for mailboxID, b := range arrived {
		if err := n.core.NoteArrivals(ctx, mailboxID, b.last, b.n); err != nil && ctx.Err() == nil {
			n.opts.Logger.Error("new-mail notifications: note arrivals", "mailbox_id", mailboxID, "err", err)
		}
	}
	due, err := n.core.TakeDueNotifications(ctx)
	if err != nil && ctx.Err() == nil {
		n.opts.Logger.Error("new-mail notifications", "err", err)
	}
	for _, d := range due {
		n.push(ctx, d)
		if !d.Email {
			continue
		}
		if err := n.send(ctx, d); err != nil {
			n.failed.Add(1)
			if ctx.Err() == nil {
				n.opts.Logger.Error("new-mail notification", "mailbox_id", d.MailboxID, "account_id", d.Target.AccountID, "err", err)
			}
			continue
		}
		n.sent.Add(1)
	}
}

// arrival is called by the core after each delivery's commit.
func (n *Notifier) arrival(a core.Arrival) {
	n.mu.Lock()
	b := n.arrived[a.MailboxID]
	b.n++
	b.last = max(b.last, a.MessageID)
	n.arrived[a.MailboxID] = b
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Notifier) send(ctx context.Context, d core.DueNotification) error {
	msg, err := Message(n.opts, d)
	if err != nil {
		return err
	}
	return n.core.SendNotice(ctx, core.System("notify"), d.Target.NotifyEmail, "new-mail", msg)
}

// Message writes the notification mail for d: where mail is waiting and a
// link, in French then English, and nothing of the messages.
func Message(o Options, d core.DueNotification) ([]byte, error) {
	link := fmt.Sprintf("%s/m/%d", o.BaseURL, d.LastMessage)
	fr := fmt.Sprintf("Un nouveau message vous attend dans la boîte sécurisée %s.\nPour le lire", d.Mailbox)
	en := fmt.Sprintf("A new message is waiting for you in the secure mailbox %s.\nTo read it", d.Mailbox)
	if d.Count > 1 {
		link = fmt.Sprintf("%s/mail/%d", o.BaseURL, d.MailboxID)
		fr = fmt.Sprintf("%d nouveaux messages vous attendent dans la boîte sécurisée %s.\nPour les lire", d.Count, d.Mailbox)
		en = fmt.Sprintf("%d new messages are waiting for you in the secure mailbox %s.\nTo read them", d.Count, d.Mailbox)
	}
	body := fmt.Sprintf(`Bonjour,

%s, connectez-vous à votre messagerie sécurisée :
%s

Ce courriel ne contient rien du message lui-même. Nous ne vous demanderons
jamais votre mot de passe ni votre code par courriel. En cas de doute, ne
cliquez pas : saisissez vous-même %s/ dans votre navigateur.

--

Hello,

%s, sign in to your secure messaging:
%s

This e-mail holds nothing of the message itself. We will never ask for your
password or code by e-mail. If in doubt, do not click: type %s/ in your
browser yourself.
`, fr, link, o.BaseURL, en, link, o.BaseURL)

	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Name: "Messagerie sécurisée", Address: o.From}})
	h.SetAddressList("To", []*mail.Address{{Address: d.Target.NotifyEmail}})
	h.SetSubject("Nouveau message sécurisé / New secure message")
	h.SetDate(time.Now())
	if err := h.GenerateMessageIDWithHostname(o.Hostname); err != nil {
		return nil, fmt.Errorf("notification: message id: %w", err)
	}
	h.Set("Auto-Submitted", "auto-generated") // RFC 3834 §5: no auto-reply to this
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("notification: %w", err)
	}
	if _, err := io.WriteString(w, body); err != nil {
		return nil, fmt.Errorf("notification: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("notification: %w", err)
	}
	return buf.Bytes(), nil
}
