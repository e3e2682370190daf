package notify_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/notify"
	"caduceus/internal/store/storetest"
)

// browser is one subscribed browser: the keys it gave, which only it can
// decrypt with.
type browser struct {
	priv *ecdh.PrivateKey
	auth []byte
	sub  core.PushSubscription
}

func newBrowser(t *testing.T, endpoint, lang string) *browser {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return &browser{priv: priv, auth: auth, sub: core.PushSubscription{
		Endpoint: endpoint, Lang: lang,
		P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:   base64.RawURLEncoding.EncodeToString(auth),
	}}
}

// decrypt opens an aes128gcm push message (RFC 8188 §2, keys per RFC 8291 §3.4).
func (b *browser) decrypt(t *testing.T, body []byte) []byte {
	t.Helper()
	if len(body) < 21 {
		t.Fatalf("push body of %d bytes", len(body))
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	keyID, ct := body[21:21+idlen], body[21+idlen:]
	if rs < 18 || len(ct) > int(rs) {
		t.Fatalf("record size %d, ciphertext %d: want one record", rs, len(ct))
	}
	server, err := ecdh.P256().NewPublicKey(keyID)
	if err != nil {
		t.Fatalf("sender key: %v", err)
	}
	shared, err := b.priv.ECDH(server)
	if err != nil {
		t.Fatal(err)
	}
	info := "WebPush: info\x00" + string(b.priv.PublicKey().Bytes()) + string(keyID)
	ikm, err := hkdf.Key(sha256.New, shared, b.auth, info, 32)
	if err != nil {
		t.Fatal(err)
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 || plain[len(plain)-1] != 2 {
		t.Fatal("no last-record delimiter")
	}
	return plain[:len(plain)-1]
}

// pushService is a push service on loopback: it keeps what it receives and
// answers 201, or the status set for an endpoint.
type pushService struct {
	srv *httptest.Server

	mu       sync.Mutex
	got      map[string][]*http.Request
	bodies   map[string][][]byte
	statuses map[string]int
}

func newPushService(t *testing.T) *pushService {
	p := &pushService{got: map[string][]*http.Request{}, bodies: map[string][][]byte{}, statuses: map[string]int{}}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.got[r.URL.Path] = append(p.got[r.URL.Path], r)
		p.bodies[r.URL.Path] = append(p.bodies[r.URL.Path], body)
		if s := p.statuses[r.URL.Path]; s != 0 {
			w.WriteHeader(s)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pushService) received(path string) ([]*http.Request, [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.got[path], p.bodies[path]
}

// checkVAPID verifies the request's VAPID authorization (RFC 8292 §2-3): a
// JWT for the push service's origin signed with the installation's key.
func checkVAPID(t *testing.T, r *http.Request, public, origin string) {
	t.Helper()
	h := r.Header.Get("Authorization")
	tok, k, ok := strings.Cut(strings.TrimPrefix(h, "vapid t="), ", k=")
	if !ok || k != public {
		t.Fatalf("Authorization %q: want vapid t=…, k=%s", h, public)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT %q", tok)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(k)
	if _, err := ecdh.P256().NewPublicKey(raw); err != nil {
		t.Fatalf("VAPID public key: %v", err)
	}
	x, y := new(big.Int).SetBytes(raw[1:33]), new(big.Int).SetBytes(raw[33:])
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
	if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("VAPID JWT signature does not verify with the installation's public key")
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct{ Aud, Sub string }
	if err := json.Unmarshal(claims, &c); err != nil || c.Aud != origin || c.Sub != "mailto:noreply@mx.test" {
		t.Fatalf("VAPID claims %s: want aud %s, sub mailto:noreply@mx.test", claims, origin)
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("TTL") == "" {
		t.Fatalf("headers %v: want Content-Encoding aes128gcm and a TTL", r.Header)
	}
}

// A new message is pushed, encrypted, to each browser subscribed: one in
// French, one in English for a person with no notification address; the
// text names the mailbox and links to the message, and holds no word of it.
// A browser the push service says is gone (410) is forgotten.
func TestWebPush(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		e := newEnv(t, engine)
		ps := newPushService(t)
		e.n = notify.New(e.svc, notify.Options{BaseURL: "https://messagerie.test", From: "noreply@mx.test", Hostname: "mx.test", PushClient: ps.srv.Client()})
		claire := e.user(t, "claire", "claire@perso.example")
		paul := e.user(t, "paul", "")
		bc := newBrowser(t, ps.srv.URL+"/push/claire", "fr")
		bp := newBrowser(t, ps.srv.URL+"/push/paul", "en")
		for _, c := range []struct {
			who core.Actor
			b   *browser
		}{{claire, bc}, {paul, bp}} {
			if err := e.svc.AddPushSubscription(ctx, c.who, c.b.sub); err != nil {
				t.Fatal(err)
			}
		}
		keys, err := e.svc.VAPIDKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}

		e.deliver(t, claire.Address, "Résultats de Mme Josiane Dupuis-Lemaire", "Hémoglobine glyquée 9,1 %, diabète déséquilibré")
		e.deliver(t, paul.Address, "Compte rendu opératoire Josiane", "Cholécystectomie")
		e.n.Once(ctx)

		for _, c := range []struct {
			who        core.Actor
			b          *browser
			path, text string
		}{
			{claire, bc, "/push/claire", "Un nouveau message vous attend dans la boîte sécurisée claire@test.mssante.fr."},
			{paul, bp, "/push/paul", "A new message is waiting for you in the secure mailbox paul@test.mssante.fr."},
		} {
			reqs, bodies := ps.received(c.path)
			if len(reqs) != 1 {
				t.Fatalf("%s: %d pushes, want 1", c.path, len(reqs))
			}
			checkVAPID(t, reqs[0], keys.Public, ps.srv.URL)
			plain := c.b.decrypt(t, bodies[0])
			for _, word := range []string{"Josiane", "Dupuis", "Résultats", "Compte rendu", "glyqu", "diab", "Cholé", "secretariat", "clinique"} {
				if bytes.Contains(plain, []byte(word)) {
					t.Errorf("push holds %q: %s", word, plain)
				}
			}
			var got notify.PushNotice
			if err := json.Unmarshal(plain, &got); err != nil {
				t.Fatalf("push payload %s: %v", plain, err)
			}
			want := fmt.Sprintf("/m/%d", e.inbox(t, c.who)[0].ID)
			if got.Body != c.text || got.URL != want {
				t.Errorf("push %+v: want body %q, url %s", got, c.text, want)
			}
		}
		if n := len(e.sent(t)["claire@perso.example"]); n != 1 {
			t.Errorf("claire's notification mails: %d, want 1 besides the push", n)
		}
		if e.n.PushSent() != 2 || e.n.PushFailed() != 0 {
			t.Errorf("pushes sent %d, failed %d; want 2, 0", e.n.PushSent(), e.n.PushFailed())
		}

		ps.mu.Lock()
		ps.statuses["/push/paul"] = http.StatusGone
		ps.mu.Unlock()
		e.clock.Add(5 * time.Minute)
		e.deliver(t, paul.Address, "suite", "texte")
		e.n.Once(ctx)
		if reqs, _ := ps.received("/push/paul"); len(reqs) != 2 {
			t.Fatalf("paul's browser: %d pushes, want 2", len(reqs))
		}
		if subs, err := e.svc.PushSubscriptions(ctx, paul.AccountID); err != nil || len(subs) != 0 {
			t.Fatalf("after 410: paul's subscriptions %v, %v; want none", subs, err)
		}
		if subs, err := e.svc.PushSubscriptions(ctx, claire.AccountID); err != nil || len(subs) != 1 {
			t.Fatalf("claire's subscriptions %v, %v; want hers kept", subs, err)
		}
	})
}

// The push client that production uses connects to public addresses only:
// a subscription naming a loopback endpoint is not reached.
func TestPushClientRefusesLocalAddresses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "sqlite")
	ps := newPushService(t)
	claire := e.user(t, "claire", "")
	if err := e.svc.AddPushSubscription(ctx, claire, newBrowser(t, ps.srv.URL+"/push/claire", "fr").sub); err != nil {
		t.Fatal(err)
	}
	e.deliver(t, claire.Address, "analyse", "texte")
	e.n.Once(ctx)
	if reqs, _ := ps.received("/push/claire"); len(reqs) != 0 {
		t.Fatalf("the loopback push service got %d requests, want none", len(reqs))
	}
	if e.n.PushFailed() != 1 {
		t.Errorf("pushes failed %d, want 1", e.n.PushFailed())
	}
}

// Subscriptions must be https endpoints with a P-256 key and a 16-byte secret.
func TestAddPushSubscriptionChecks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "sqlite")
	claire := e.user(t, "claire", "")
	good := newBrowser(t, "https://push.example/abc", "fr").sub
	for _, c := range []struct {
		name string
		edit func(*core.PushSubscription)
	}{
		{"http endpoint", func(s *core.PushSubscription) { s.Endpoint = "http://push.example/abc" }},
		{"no host", func(s *core.PushSubscription) { s.Endpoint = "https:///abc" }},
		{"bad point", func(s *core.PushSubscription) { s.P256dh = base64.RawURLEncoding.EncodeToString(make([]byte, 65)) }},
		{"short auth", func(s *core.PushSubscription) { s.Auth = "AAAA" }},
	} {
		s := good
		c.edit(&s)
		if err := e.svc.AddPushSubscription(ctx, claire, s); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if err := e.svc.AddPushSubscription(ctx, claire, good); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AddPushSubscription(ctx, claire, good); err != nil {
		t.Fatalf("subscribing again: %v", err)
	}
	if subs, _ := e.svc.PushSubscriptions(ctx, claire.AccountID); len(subs) != 1 {
		t.Fatalf("subscriptions after subscribing twice: %d, want 1", len(subs))
	}
	if err := e.svc.RemovePushSubscription(ctx, claire, good.Endpoint); err != nil {
		t.Fatal(err)
	}
	if subs, _ := e.svc.PushSubscriptions(ctx, claire.AccountID); len(subs) != 0 {
		t.Fatalf("subscriptions after removing: %d, want 0", len(subs))
	}
}
