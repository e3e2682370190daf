package web

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/notify"
)

// standInPushService replaces the browser's push service, which headless
// Chromium does not have (pushManager.subscribe never answers): subscribe
// keeps the key it was given and returns a subscription with keys made by
// WebCrypto, as a browser's would be.
const standInPushService = `(async () => {
  const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const b64 = (a) => btoa(String.fromCharCode(...new Uint8Array(a))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const auth = crypto.getRandomValues(new Uint8Array(16));
  let current = null;
  PushManager.prototype.subscribe = async function (opts) {
    window.subscribedWith = b64(opts.applicationServerKey);
    current = {
      endpoint: "https://push.example/browser-test",
      unsubscribe: async () => { current = null; return true; },
      toJSON() { return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: b64(raw), auth: b64(auth) } }; },
    };
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
  return true;
})()`

// TestBrowserPush: "Notifications sur cet appareil" turned on and off with
// the notification permission granted, the subscription reaching the server
// with the installation's key; and the service worker showing a push as
// the notifier writes it.
func TestBrowserPush(t *testing.T) {
	e := newEnv(t)
	bg := context.Background()
	ctx := newBrowser(t, 1280, 900)
	e.browserLogin(t, ctx, alice)
	if _, err := chromedp.Call(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted, Origin: e.srv.URL}); err != nil {
		t.Fatal(err)
	}
	box := coretest.Mailbox(t, e.svc, alice)
	subs := func() []core.PushSubscription {
		t.Helper()
		s, err := e.svc.PushSubscriptions(bg, box.OwnerID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	keys, err := e.svc.VAPIDKeys(bg)
	if err != nil {
		t.Fatal(err)
	}

	do(t, ctx, chromedp.Navigate(e.srv.URL+"/account/messaging"), chromedp.WaitVisible(chromedp.ID("push")))
	waitText(t, ctx, ".push-state", "Les notifications sont désactivées sur cet appareil.")
	run(t, ctx, chromedp.Evaluate[bool](standInPushService, chromedp.EvalAwaitPromise))
	do(t, ctx, click(chromedp.CSS(`[data-push="on"]`)))
	waitText(t, ctx, ".push-state", "Les notifications sont activées sur cet appareil.")
	if got := run(t, ctx, chromedp.Evaluate[string](`window.subscribedWith`)); got != keys.Public {
		t.Errorf("subscribed with key %q, want the installation's %q", got, keys.Public)
	}
	if s := subs(); len(s) != 1 || s[0].Endpoint != "https://push.example/browser-test" || s[0].Lang != "fr" {
		t.Fatalf("subscriptions after turning on: %+v", s)
	}
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[data-push="off"]`)), click(chromedp.CSS(`[data-push="off"]`)))
	waitText(t, ctx, ".push-state", "Les notifications sont désactivées sur cet appareil.")
	if s := subs(); len(s) != 0 {
		t.Fatalf("subscriptions after turning off: %+v", s)
	}

	// A push as the notifier sends it, delivered to the service worker.
	var mu sync.Mutex
	var reg serviceworker.RegistrationID
	if err := chromedp.Listen(ctx, func(ev any) {
		if u, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			mu.Lock()
			for _, r := range u.Registrations {
				if !r.IsDeleted && strings.HasPrefix(r.ScopeURL, e.srv.URL) {
					reg = r.RegistrationID
				}
			}
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, serviceworker.Enable, struct{}{}); err != nil {
		t.Fatal(err)
	}
	var id serviceworker.RegistrationID
	for deadline := time.Now().Add(10 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		id = reg
		mu.Unlock()
	}
	if id == "" {
		t.Fatal("no service worker registration")
	}
	notice := notify.Push(core.DueNotification{Mailbox: alice, MailboxID: box.ID, Count: 1, LastMessage: 42}, "fr")
	data, _ := json.Marshal(notice)
	if _, err := chromedp.Call(ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{Origin: e.srv.URL, RegistrationID: id, Data: string(data)}); err != nil {
		t.Fatal(err)
	}
	want := notice.Title + "|" + notice.Body + "|/m/42"
	var shown string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		shown = run(t, ctx, chromedp.Evaluate[string](`navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => n.title + "|" + n.body + "|" + n.data.url).join(";"))`, chromedp.EvalAwaitPromise))
		if shown != "" {
			break
		}
	}
	if shown != want {
		t.Fatalf("notifications shown %q, want %q", shown, want)
	}
}
