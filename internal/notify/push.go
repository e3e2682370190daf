package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/SherClockHolmes/webpush-go"

	"caduceus/internal/core"
)

// PushNotice is what a Web Push notification carries, as the service worker
// reads it: the same content-free text as the mail (which mailbox, never the
// sender, the subject or anything of the message) and the path to open.
type PushNotice struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	URL   string `json:"url"`
	Tag   string `json:"tag"`
}

// Push writes the Web Push notification for d in lang ("fr" or "en"): that
// mail is waiting in the mailbox, and the path of the message (/m/ID) or,
// for several, of the mailbox.
func Push(d core.DueNotification, lang string) PushNotice {
	p := PushNotice{URL: fmt.Sprintf("/m/%d", d.LastMessage), Tag: fmt.Sprintf("mailbox-%d", d.MailboxID)}
	if d.Count > 1 {
		p.URL = fmt.Sprintf("/mail/%d", d.MailboxID)
	}
	switch {
	case lang == "en" && d.Count > 1:
		p.Title = "Secure messaging"
		p.Body = fmt.Sprintf("%d new messages are waiting for you in the secure mailbox %s.", d.Count, d.Mailbox)
	case lang == "en":
		p.Title = "Secure messaging"
		p.Body = fmt.Sprintf("A new message is waiting for you in the secure mailbox %s.", d.Mailbox)
	case d.Count > 1:
		p.Title = "Messagerie sécurisée"
		p.Body = fmt.Sprintf("%d nouveaux messages vous attendent dans la boîte sécurisée %s.", d.Count, d.Mailbox)
	default:
		p.Title = "Messagerie sécurisée"
		p.Body = fmt.Sprintf("Un nouveau message vous attend dans la boîte sécurisée %s.", d.Mailbox)
	}
	return p
}

// pushTTL is how long a push service keeps a notification for a browser
// that is offline (RFC 8030 §5.2).
const pushTTL = 24 * 60 * 60

// push sends d to each browser the person subscribed, and forgets those the
// push service says are gone (404, 410: RFC 8030 §7.3). Errors are counted
// and logged with the subscription's number and push service only: the
// endpoint is a capability.
func (n *Notifier) push(ctx context.Context, d core.DueNotification) {
	subs, err := n.core.PushSubscriptions(ctx, d.Target.AccountID)
	if err != nil {
		n.pushFailed.Add(1)
		n.opts.Logger.Error("web push: subscriptions", "account_id", d.Target.AccountID, "err", err)
		return
	}
	if len(subs) == 0 {
		return
	}
	keys, err := n.core.VAPIDKeys(ctx)
	if err != nil {
		n.pushFailed.Add(int64(len(subs)))
		n.opts.Logger.Error("web push: vapid keys", "err", err)
		return
	}
	for _, s := range subs {
		if err := n.pushOne(ctx, keys, s, d.MailboxID, Push(d, s.Lang)); err != nil {
			n.pushFailed.Add(1)
			if ctx.Err() == nil {
				n.opts.Logger.Warn("web push", "subscription", s.ID, "account_id", s.AccountID, "err", err)
			}
			continue
		}
		n.pushSent.Add(1)
	}
}

// pushOne sends one notification; the Topic header names the mailbox, so
// that a push service keeps only the newest of a mailbox for an offline
// browser (RFC 8030 §5.4).
func (n *Notifier) pushOne(ctx context.Context, keys core.VAPIDKeys, s core.PushSubscription, mailboxID int64, notice PushNotice) error {
	payload, err := json.Marshal(notice)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	resp, err := webpush.SendNotificationWithContext(ctx, payload,
		&webpush.Subscription{Endpoint: s.Endpoint, Keys: webpush.Keys{Auth: s.Auth, P256dh: s.P256dh}},
		&webpush.Options{
			HTTPClient:      n.opts.PushClient,
			Subscriber:      n.opts.From,
			VAPIDPublicKey:  keys.Public,
			VAPIDPrivateKey: keys.Private,
			TTL:             pushTTL,
			Topic:           fmt.Sprintf("mailbox%d", mailboxID),
			Urgency:         webpush.UrgencyNormal,
		})
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL quoted holds the capability
		}
		return fmt.Errorf("send to %s: %w", hostOf(s.Endpoint), err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		if err := n.core.DropPushSubscription(ctx, s.ID); err != nil {
			return err
		}
		n.opts.Logger.Info("web push: subscription gone, forgotten", "subscription", s.ID, "account_id", s.AccountID)
		return nil
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("%s answered %s", hostOf(s.Endpoint), resp.Status)
	}
	return nil
}

// PushClient returns the HTTP client that reaches push services: it answers
// within 30 seconds, follows no redirect and, so that a subscription cannot
// make the server reach its own network, connects to public addresses only.
func PushClient() *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: publicOnly}
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: 10 * time.Second, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// publicOnly refuses to connect to a loopback, private or link-local
// address.
func publicOnly(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("push endpoint %s: %w", address, err)
	}
	a := ap.Addr().Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return fmt.Errorf("push endpoint %s is not on a public address", a)
	}
	return nil
}

// hostOf is the push service of an endpoint, for logs.
func hostOf(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "?"
	}
	return u.Host
}
