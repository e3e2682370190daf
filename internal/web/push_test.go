package web

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"caduceus/internal/core/coretest"
)

// "Notifications sur cet appareil": the messaging page gives the browser
// the VAPID public key; the JSON endpoints record and forget this browser's
// subscription, for the person logged in only, from this origin only.
func TestPushSubscription(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.login(alice)
	account := coretest.Mailbox(t, e.svc, alice).OwnerID
	keys, err := e.svc.VAPIDKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, body := e.get(c, "/account/messaging")
	for _, want := range []string{"Notifications sur cet appareil", `data-key="` + keys.Public + `"`, "Activer les notifications sur cet appareil"} {
		if !strings.Contains(body, want) {
			t.Errorf("messaging page lacks %q", want)
		}
	}

	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	authSecret := make([]byte, 16)
	rand.Read(authSecret)
	sub := map[string]any{
		"endpoint":       "https://push.example/send/abc123",
		"expirationTime": nil,
		"keys": map[string]string{
			"p256dh": base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
			"auth":   base64.RawURLEncoding.EncodeToString(authSecret),
		},
	}
	send := func(c *http.Client, path string, v any, ctype, site string) int {
		t.Helper()
		b, _ := json.Marshal(v)
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(string(b)))
		req.Header.Set("Content-Type", ctype)
		if site == "cross-site" {
			req.Header.Set("Origin", "https://evil.example")
		} else {
			req.Header.Set("Origin", e.srv.URL)
		}
		req.Header.Set("Sec-Fetch-Site", site)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	count := func() int {
		t.Helper()
		subs, err := e.svc.PushSubscriptions(ctx, account)
		if err != nil {
			t.Fatal(err)
		}
		return len(subs)
	}
	bad := map[string]any{"endpoint": "http://push.example/x", "keys": sub["keys"]}
	for _, tt := range []struct {
		name   string
		c      *http.Client
		path   string
		v      any
		ctype  string
		site   string
		status int
		subs   int
	}{
		{"another site", c, "/account/push/subscribe", sub, "application/json", "cross-site", http.StatusForbidden, 0},
		{"a form", c, "/account/push/subscribe", sub, "application/x-www-form-urlencoded", "same-origin", http.StatusUnsupportedMediaType, 0},
		{"no session", e.client(), "/account/push/subscribe", sub, "application/json", "same-origin", http.StatusUnauthorized, 0},
		{"http endpoint", c, "/account/push/subscribe", bad, "application/json", "same-origin", http.StatusBadRequest, 0},
		{"subscribe", c, "/account/push/subscribe", sub, "application/json", "same-origin", http.StatusNoContent, 1},
		{"again", c, "/account/push/subscribe", sub, "application/json; charset=utf-8", "same-origin", http.StatusNoContent, 1},
		{"unsubscribe by another person", e.login(bob), "/account/push/unsubscribe", sub, "application/json", "same-origin", http.StatusNoContent, 1},
		{"unsubscribe from another site", c, "/account/push/unsubscribe", sub, "application/json", "cross-site", http.StatusForbidden, 1},
		{"unsubscribe", c, "/account/push/unsubscribe", map[string]string{"endpoint": "https://push.example/send/abc123"}, "application/json", "same-origin", http.StatusNoContent, 0},
	} {
		if got := send(tt.c, tt.path, tt.v, tt.ctype, tt.site); got != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.status)
		}
		if n := count(); n != tt.subs {
			t.Errorf("%s: %d subscriptions, want %d", tt.name, n, tt.subs)
		}
	}
}
