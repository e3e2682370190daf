package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"caduceus/internal/auth"
	"caduceus/internal/auth/cardtest"
	"caduceus/internal/auth/passkeytest"
	"caduceus/internal/auth/psctest"
	"caduceus/internal/core/coretest"
)

// postPage posts a form and returns the answer with its body.
func (e *env) postPage(c *http.Client, path string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// postJSON posts a JSON body and decodes the JSON answer into out.
func (e *env) postJSON(c *http.Client, path string, body []byte, out any) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", e.srv.URL)
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			e.t.Fatalf("%s: %s, not JSON: %v", path, res.Status, err)
		}
	}
	return res
}

// password posts the password step and expects the code page.
func (e *env) password(c *http.Client, addr, pw string) {
	e.t.Helper()
	res := e.post(c, "/login", url.Values{"email": {addr}, "password": {pw}, "next": {"/"}})
	if !strings.HasPrefix(res.Header.Get("Location"), "/login/code") {
		e.t.Fatalf("password of %s: %s → %q", addr, res.Status, res.Header.Get("Location"))
	}
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Fatalf("%s lacks %q", what, w)
		}
	}
}

func TestTOTPAndRecoveryCodes(t *testing.T) {
	e := newEnv(t)
	c := e.login(alice)
	_, page := e.postPage(c, "/account/security/totp-begin", nil)
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `src="data:image/png;base64,`) {
		t.Fatal("the enrolment shows no secret or no QR code")
	}
	secret := m[1]
	if res, _ := e.postPage(c, "/account/security/totp-confirm", url.Values{"totp": {"000000"}}); !strings.Contains(res.Header.Get("Location"), "error=totp_code") {
		t.Fatalf("wrong first code: %s → %q", res.Status, res.Header.Get("Location"))
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	_, page = e.postPage(c, "/account/security/totp-confirm", url.Values{"totp": {code}})
	codes := regexp.MustCompile(`<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>`).FindAllStringSubmatch(page, -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	_, page = e.get(c, "/account/security")
	mustContain(t, "security page", page, `id="totp-on"`, "Codes de secours restants : 10.")
	if strings.Contains(page, codes[0][1]) {
		t.Fatal("the recovery codes are shown a second time")
	}

	// The next login asks for the app's code, and mails none.
	before, _ := filepath.Glob(filepath.Join(e.outbox, "*.eml"))
	c2 := e.client()
	e.password(c2, alice, coretest.Password)
	if after, _ := filepath.Glob(filepath.Join(e.outbox, "*.eml")); len(after) != len(before) {
		t.Fatal("a code was e-mailed to an account that uses an app")
	}
	_, page = e.get(c2, "/login/code")
	mustContain(t, "code page", page, `name="totp"`, "Utiliser un code de secours", "Recevoir plutôt un code par e-mail")
	if res, _ := e.postPage(c2, "/login/totp", url.Values{"totp": {code}}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed TOTP code: %s", res.Status)
	}
	next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if res, _ := e.postPage(c2, "/login/totp", url.Values{"totp": {next}, "next": {"/"}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("TOTP code: %s → %q", res.Status, res.Header.Get("Location"))
	}
	if res, _ := e.follow(c2, "/"); res.StatusCode != http.StatusOK {
		t.Fatalf("inbox after TOTP login: %s", res.Status)
	}

	c3 := e.client()
	e.password(c3, alice, coretest.Password)
	if res, _ := e.postPage(c3, "/login/totp", url.Values{"recovery": {strings.ToUpper(codes[3][1])}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("recovery code: %s", res.Status)
	}
	c4 := e.client()
	e.password(c4, alice, coretest.Password)
	if res, _ := e.postPage(c4, "/login/totp", url.Values{"recovery": {codes[3][1]}}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("used recovery code: %s", res.Status)
	}
	// The e-mailed code is still one click away.
	_, page = e.get(c4, "/login/code")
	mustContain(t, "code page", page, `action="/login/resend"`)
	if res := e.post(c4, "/login/resend", url.Values{"next": {"/"}}); !strings.Contains(res.Header.Get("Location"), "resent=1") {
		t.Fatalf("e-mailed code instead: %q", res.Header.Get("Location"))
	}
	if after, _ := filepath.Glob(filepath.Join(e.outbox, "*.eml")); len(after) != len(before)+1 {
		t.Fatal("asking for an e-mailed code sent none")
	}
	if _, page := e.get(c4, "/login/code?resent=1"); !strings.Contains(page, `id="code"`) {
		t.Fatal("the code page does not take the e-mailed code once asked for")
	}
	_, page = e.get(c3, "/account/security")
	mustContain(t, "activity", page, "mot de passe et application", "mot de passe et code de secours", "échouée")
}

// cardEnv is a web app whose TLS listener asks for cards, with a hierarchy,
// a CRL revoking one card and an OCSP responder revoking another.
type cardEnv struct {
	*env
	h                                       *cardtest.Hierarchy
	good, other, expired, revoked, ocspCard cardtest.Card
	foreign, structure                      cardtest.Card
}

func newCardEnv(t *testing.T) *cardEnv {
	t.Helper()
	ce := &cardEnv{h: cardtest.New(t)}
	h := ce.h
	responder := h.Responder(t)
	ce.good = h.Card(t, cardtest.CardOptions{CN: "810002813839", GivenName: "ALICE", Surname: "MARTIN"})
	ce.other = h.Card(t, cardtest.CardOptions{CN: "810002813999", GivenName: "BOB", Surname: "DURAND", Title: "Infirmier"})
	ce.expired = h.Card(t, cardtest.CardOptions{CN: "810002813840", NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	ce.revoked = h.Card(t, cardtest.CardOptions{CN: "810002813841"})
	ce.ocspCard = h.Card(t, cardtest.CardOptions{CN: "810002813842", OCSPServer: responder.URL})
	ce.structure = h.Card(t, cardtest.CardOptions{CN: "3123456789/EMPLOYE01", Title: "Carte de service santé ou social"})
	ce.foreign = cardtest.New(t).Card(t, cardtest.CardOptions{CN: "810002813839"})
	responder.Revoke(ce.ocspCard)
	crl := filepath.Join(t.TempDir(), "fort-personnes.crl")
	if err := os.WriteFile(crl, h.CRL(t, 1, ce.revoked), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewCardVerifier(context.Background(), auth.CardOptions{CABundle: h.Bundle, CRLs: []string{crl}})
	if err != nil {
		t.Fatal(err)
	}
	ce.env = newEnvCustom(t, false, func(_ string, o *Options, srv *httptest.Server) {
		o.Cards = v
		srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, ClientCAs: v.Authorities()}
	})
	return ce
}

// cardClient is a browser holding card.
func (ce *cardEnv) cardClient(card cardtest.Card) *http.Client {
	c := ce.client()
	tr := c.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{card.TLS}
	c.Transport = tr
	return c
}

func TestCardLogin(t *testing.T) {
	ce := newCardEnv(t)
	e := ce.env
	c := ce.cardClient(ce.good)
	_, page := e.get(c, "/login")
	mustContain(t, "login page", page, `href="/login/card"`, "Carte de la famille CPx")

	// First use: the guide's linking page, then password and code.
	res, page := e.get(c, "/login/card")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("unlinked card: %s", res.Status)
	}
	mustContain(t, "linking page", page, "Lier votre carte CPx", "n’est pas encore liée", "810002813839", "ALICE MARTIN", "AC IGC-SANTE FORT PERSONNES")
	if r, _ := e.get(c, "/"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatal("an unlinked card opened a session")
	}
	e.password(c, alice, coretest.Password)
	res = e.post(c, "/login/code", url.Values{"code": {e.lastCode(alice)}, "next": {"/"}})
	if res.Header.Get("Location") != "/account/security?linked=card" {
		t.Fatalf("after the code: %q", res.Header.Get("Location"))
	}
	_, page = e.get(c, "/account/security?linked=card")
	mustContain(t, "security page", page, "Votre carte CPx est liée", `id="card-list"`, "810002813839")
	cards, err := e.factors.Cards(context.Background(), ce.accountID(alice))
	if err != nil || len(cards) != 1 || cards[0].NationalID != "810002813839" || len(cards[0].Fingerprint) != 64 ||
		cards[0].Serial == "" || !cards[0].NotAfter.Equal(ce.good.Cert.NotAfter) || !strings.Contains(cards[0].Issuer, "FORT PERSONNES") {
		t.Fatalf("linked cards = %+v, %v", cards, err)
	}

	// A linked card logs in at once: no password, no code.
	c2 := ce.cardClient(ce.good)
	res, _ = e.get(c2, "/login/card")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("linked card: %s → %q", res.Status, res.Header.Get("Location"))
	}
	if res, page := e.follow(c2, "/"); res.StatusCode != http.StatusOK || !strings.Contains(page, "Boîte de réception") {
		t.Fatalf("inbox after card login: %s", res.Status)
	}
	_, page = e.get(c2, "/account/security")
	mustContain(t, "activity", page, "carte CPx", "liaison de carte")

	// Another person's card linked to nobody cannot reach alice's account
	// but by her password: it leads to the linking page.
	if _, page := e.get(ce.cardClient(ce.other), "/login/card"); !strings.Contains(page, "Lier votre carte CPx") {
		t.Fatal("another card did not lead to the linking page")
	}

	// Unlinking: the card leads to the linking page again.
	id := regexp.MustCompile(`/account/security/card/([0-9]+)/remove`).FindStringSubmatch(page)
	if id == nil {
		t.Fatal("no unlink button")
	}
	if res := e.post(c2, "/account/security/card/"+id[1]+"/remove", nil); !strings.Contains(res.Header.Get("Location"), "saved=card_removed") {
		t.Fatalf("unlink: %s → %q", res.Status, res.Header.Get("Location"))
	}
	if _, page := e.get(ce.cardClient(ce.good), "/login/card"); !strings.Contains(page, "Lier votre carte CPx") {
		t.Fatal("an unlinked card still logs in")
	}
	if res := e.post(e.login(bob), "/account/security/card/"+id[1]+"/remove", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("bob removes a card that is not his: %s", res.Status)
	}
}

func (ce *cardEnv) accountID(addr string) int64 {
	a, err := ce.svc.User(context.Background(), addr)
	if err != nil {
		ce.t.Fatal(err)
	}
	return a.ID
}

func TestCardRefusals(t *testing.T) {
	ce := newCardEnv(t)
	tests := []struct {
		name   string
		card   *cardtest.Card
		lang   string
		status int
		want   string
	}{
		{"no card", nil, "fr", http.StatusUnauthorized, "Aucune carte n’a été présentée"},
		{"expired", &ce.expired, "fr", http.StatusForbidden, "Votre carte CPx a expiré"},
		{"expired, in English", &ce.expired, "en", http.StatusForbidden, "Your CPx card has expired"},
		{"revoked by CRL", &ce.revoked, "fr", http.StatusForbidden, "Votre carte CPx a été révoquée"},
		{"revoked by OCSP", &ce.ocspCard, "fr", http.StatusForbidden, "Votre carte CPx a été révoquée"},
		{"foreign authority", &ce.foreign, "fr", http.StatusForbidden, "autorité de certification reconnue"},
		{"structure card", &ce.structure, "fr", http.StatusForbidden, "ne porte pas d’identifiant national"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ce.client()
			if tt.card != nil {
				c = ce.cardClient(*tt.card)
			}
			c.Jar.SetCookies(mustURL(ce.srv.URL), []*http.Cookie{{Name: "lang", Value: tt.lang}})
			res, page := ce.get(c, "/login/card")
			if res.StatusCode != tt.status || !strings.Contains(page, tt.want) {
				t.Fatalf("%s, page without %q", res.Status, tt.want)
			}
			if r, _ := ce.get(c, "/"); r.StatusCode != http.StatusSeeOther {
				t.Fatal("a refused card opened a session")
			}
		})
	}
}

// pscEnv is a web app with Pro Santé Connect against a real provider.
type pscEnv struct {
	*env
	prov *psctest.Provider
}

var drMartin = psctest.Person{SubjectNameID: "810002813839", GivenName: "Alice", FamilyName: "Martin"}

func newPSCEnv(t *testing.T) *pscEnv {
	t.Helper()
	pe := &pscEnv{}
	pe.env = newEnvCustom(t, false, func(base string, o *Options, _ *httptest.Server) {
		pe.prov = psctest.Start(t, base+"/login/psc/callback")
		psc, err := auth.NewPSC(context.Background(), auth.PSCOptions{Issuer: pe.prov.Issuer, ClientID: psctest.ClientID,
			ClientSecret: psctest.ClientSecret, RedirectURL: base + "/login/psc/callback", Client: pe.prov.Client()})
		if err != nil {
			t.Fatal(err)
		}
		o.PSC = psc
	})
	return pe
}

// browser is a client that trusts both the app and the provider.
func (pe *pscEnv) browser() *http.Client {
	c := pe.client()
	tr := c.Transport.(*http.Transport).Clone()
	pool := x509.NewCertPool()
	pool.AddCert(pe.srv.Certificate())
	pool.AddCert(pe.prov.Certificate())
	tr.TLSClientConfig.RootCAs = pool
	c.Transport = tr
	return c
}

// toProvider goes from "PRO Santé Connect" through the provider and
// returns the callback URL the provider sends the browser back to, on the
// app's own server.
func (pe *pscEnv) toProvider(c *http.Client) string {
	pe.t.Helper()
	res, _ := pe.get(c, "/login/psc")
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, pe.prov.Issuer) || !strings.Contains(loc, "acr_values=eidas1") {
		pe.t.Fatalf("PSC start: %s → %q", res.Status, loc)
	}
	for range 10 {
		res, err := c.Get(loc)
		if err != nil {
			pe.t.Fatal(err)
		}
		res.Body.Close()
		next, err := res.Request.URL.Parse(res.Header.Get("Location"))
		if err != nil || res.Header.Get("Location") == "" {
			pe.t.Fatalf("provider stopped at %s: %s", loc, res.Status)
		}
		if strings.HasSuffix(next.Path, "/login/psc/callback") {
			// Back on the app: its base URL is localhost, the test server
			// answers on 127.0.0.1.
			return pe.srv.URL + next.RequestURI()
		}
		loc = next.String()
	}
	pe.t.Fatal("the provider never came back")
	return ""
}

func (pe *pscEnv) callback(c *http.Client, u string) (*http.Response, string) {
	pe.t.Helper()
	res, err := c.Get(u)
	if err != nil {
		pe.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestPSCLogin(t *testing.T) {
	pe := newPSCEnv(t)
	pe.prov.LogIn(drMartin, "eidas1")
	c := pe.browser()
	_, page := pe.get(c, "/login")
	mustContain(t, "login page", page, `href="/login/psc"`, "PRO Santé Connect")

	cb := pe.toProvider(c)
	res, page := pe.callback(c, cb)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("first use: %s", res.Status)
	}
	mustContain(t, "linking page", page, "Lier votre identité Pro Santé Connect", "810002813839", "Alice Martin")
	if res, page := pe.callback(c, cb); res.StatusCode != http.StatusBadRequest || !strings.Contains(page, "ne correspond à aucune connexion en cours") {
		t.Fatalf("replayed callback: %s", res.Status)
	}
	pe.password(c, alice, coretest.Password)
	res = pe.post(c, "/login/code", url.Values{"code": {pe.lastCode(alice)}, "next": {"/"}})
	if res.Header.Get("Location") != "/account/security?linked=psc" {
		t.Fatalf("after the code: %q", res.Header.Get("Location"))
	}
	_, page = pe.get(c, "/account/security?linked=psc")
	mustContain(t, "security page", page, "Votre identité Pro Santé Connect est liée", `id="psc-list"`, "810002813839")

	// Linked: PSC alone logs in.
	c2 := pe.browser()
	res, _ = pe.callback(c2, pe.toProvider(c2))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("linked PSC login: %s → %q", res.Status, res.Header.Get("Location"))
	}
	if res, page := pe.follow(c2, "/"); res.StatusCode != http.StatusOK || !strings.Contains(page, "Boîte de réception") {
		t.Fatalf("inbox after PSC login: %s", res.Status)
	}
	_, page = pe.get(c2, "/account/security")
	mustContain(t, "activity", page, "Pro Santé Connect", "réussie")
	id := regexp.MustCompile(`/account/security/psc/([0-9]+)/remove`).FindStringSubmatch(page)
	if id == nil {
		t.Fatal("no unlink button for the PSC identity")
	}
	pe.post(c2, "/account/security/psc/"+id[1]+"/remove", nil)
	c3 := pe.browser()
	if _, page := pe.callback(c3, pe.toProvider(c3)); !strings.Contains(page, "Lier votre identité Pro Santé Connect") {
		t.Fatal("an unlinked PSC identity still logs in")
	}
}

func TestPSCRefusals(t *testing.T) {
	pe := newPSCEnv(t)
	tests := []struct {
		name   string
		acr    string
		forge  func(u *url.URL)
		status int
		want   string
	}{
		{"lower acr", "eidas0", nil, http.StatusForbidden, "niveau eidas1 requis"},
		{"no acr", "", nil, http.StatusForbidden, "niveau eidas1 requis"},
		{"forged state", "eidas1", func(u *url.URL) {
			q := u.Query()
			q.Set("state", "forged")
			u.RawQuery = q.Encode()
		}, http.StatusBadRequest, "ne correspond à aucune connexion en cours"},
		{"forged code", "eidas1", func(u *url.URL) {
			q := u.Query()
			q.Set("code", "forged")
			u.RawQuery = q.Encode()
		}, http.StatusUnauthorized, "n’a pas pu confirmer votre identité"},
		{"provider refused", "eidas1", func(u *url.URL) {
			q := u.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			u.RawQuery = q.Encode()
		}, http.StatusUnauthorized, "annulée ou refusée"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe.prov.LogIn(drMartin, tt.acr)
			c := pe.browser()
			u, _ := url.Parse(pe.toProvider(c))
			if tt.forge != nil {
				tt.forge(u)
			}
			res, page := pe.callback(c, u.String())
			if res.StatusCode != tt.status || !strings.Contains(page, tt.want) {
				t.Fatalf("%s, page without %q", res.Status, tt.want)
			}
			if r, _ := pe.get(c, "/"); r.StatusCode != http.StatusSeeOther {
				t.Fatal("a refused PSC answer opened a session")
			}
		})
	}
	// The state of one browser is worth nothing in another.
	pe.prov.LogIn(drMartin, "eidas1")
	cb := pe.toProvider(pe.browser())
	if res, _ := pe.callback(pe.browser(), cb); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("another browser's callback: %s", res.Status)
	}
}

func TestPasskeyLogin(t *testing.T) {
	e := newEnv(t)
	c := e.login(celia)
	var begin struct {
		Options json.RawMessage `json:"options"`
		Flow    string          `json:"flow"`
	}
	if res := e.postJSON(c, "/account/security/passkey-begin", nil, &begin); res.StatusCode != http.StatusOK {
		t.Fatalf("passkey-begin: %s", res.Status)
	}
	dev := passkeytest.New(strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1))
	resp, err := dev.Create(begin.Options)
	if err != nil {
		t.Fatal(err)
	}
	var done struct{ Next, Error string }
	if res := e.postJSON(c, "/account/security/passkey-finish?name=Portable&flow="+url.QueryEscape(begin.Flow), resp, &done); res.StatusCode != http.StatusOK {
		t.Fatalf("passkey-finish: %s %s", res.Status, done.Error)
	}
	_, page := e.get(c, "/account/security")
	mustContain(t, "security page", page, `id="passkey-list"`, "Portable")

	// This browser now sees the passkey first on the login page.
	e.post(c, "/logout", nil)
	_, page = e.get(c, "/login")
	if i, j := strings.Index(page, `id="passkey-heading"`), strings.Index(page, `id="email"`); i < 0 || i > j {
		t.Fatal("the login page does not offer the passkey first")
	}
	if _, fresh := e.get(e.client(), "/login"); strings.Contains(fresh, `id="passkey-heading"`) {
		t.Fatal("a browser that never used a passkey gets it first")
	}

	// The passkey alone logs in.
	login := func(c *http.Client) (*http.Response, string) {
		var begin struct {
			Options json.RawMessage `json:"options"`
			Flow    string          `json:"flow"`
		}
		e.postJSON(c, "/login/passkey/begin", nil, &begin)
		resp, err := dev.Get(begin.Options)
		if err != nil {
			t.Fatal(err)
		}
		var done struct{ Next, Error string }
		res := e.postJSON(c, "/login/passkey/finish?next=%2F&flow="+url.QueryEscape(begin.Flow), resp, &done)
		return res, done.Next
	}
	if res, next := login(c); res.StatusCode != http.StatusOK || next != "/" {
		t.Fatalf("passkey login: %s → %q", res.Status, next)
	}
	if res, page := e.follow(c, "/"); res.StatusCode != http.StatusOK || !strings.Contains(page, "Boîte de réception") {
		t.Fatalf("inbox after passkey login: %s", res.Status)
	}
	// As the second factor of a password login.
	c2 := e.client()
	e.password(c2, celia, coretest.Password)
	_, page = e.get(c2, "/login/code")
	mustContain(t, "code page", page, `id="passkey-second"`)
	if res, _ := login(c2); res.StatusCode != http.StatusOK {
		t.Fatalf("passkey as second factor: %s", res.Status)
	}
	if res, _ := e.follow(c2, "/"); res.StatusCode != http.StatusOK {
		t.Fatalf("inbox after password and passkey: %s", res.Status)
	}
	// Without user verification, a passkey alone is one factor: refused.
	dev.UserVerified = false
	if res, _ := login(e.client()); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("passkey without user verification: %s", res.Status)
	}
	_, page = e.get(c, "/account/security")
	mustContain(t, "activity", page, "clé d’accès", "mot de passe et clé d’accès")
}

func TestSecurityPage(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if res := e.post(e.client(), "/login", url.Values{"email": {bob}, "password": {"not bob's"}}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %s", res.Status)
	}
	c := e.login(bob)
	other := e.login(bob)
	_, page := e.get(c, "/account/security")
	mustContain(t, "security page", page, "Gestion de votre compte", "Sessions ouvertes", "Connexions récentes",
		"cette session", "mot de passe et code e-mail", "réussie")
	if n := strings.Count(page, "/account/security/session/"); n != 2 {
		t.Fatalf("%d sessions listed, want 2", n)
	}
	if _, acct := e.get(c, "/account"); !strings.Contains(acct, `href="/account/security"`) {
		t.Fatal("the account page has no link to the security page")
	}

	// The notification address changes once the code sent to it is typed.
	const newAddr = "bob.durand@example.org"
	if res := e.post(c, "/account/security/notify", url.Values{"notify": {"not an address"}}); !strings.Contains(res.Header.Get("Location"), "error=notify_invalid") {
		t.Fatalf("bad address: %q", res.Header.Get("Location"))
	}
	e.post(c, "/account/security/notify", url.Values{"notify": {newAddr}})
	code := e.lastCode(newAddr)
	if res := e.post(c, "/account/security/notify-confirm", url.Values{"code": {wrongCode(code)}}); !strings.Contains(res.Header.Get("Location"), "error=notify_code") {
		t.Fatalf("wrong code: %q", res.Header.Get("Location"))
	}
	if acct, _ := e.svc.User(ctx, bob); acct.NotifyEmail == newAddr {
		t.Fatal("the address changed before its code")
	}
	if res := e.post(c, "/account/security/notify-confirm", url.Values{"code": {code}}); !strings.Contains(res.Header.Get("Location"), "saved=notify") {
		t.Fatalf("right code: %q", res.Header.Get("Location"))
	}
	if acct, _ := e.svc.User(ctx, bob); acct.NotifyEmail != newAddr {
		t.Fatalf("notification address = %q", acct.NotifyEmail)
	}

	// The password: current one required, length, common ones refused.
	const fresh = "ruisseau Cerisier 48 pavot"
	for _, tt := range []struct{ current, new, confirm, want string }{
		{"wrong", fresh, fresh, "error=password_current"},
		{coretest.Password, "court", "court", "error=password_short"},
		{coretest.Password, "Motdepasse2024!", "Motdepasse2024!", "error=password_common"},
		{coretest.Password, fresh, fresh + "x", "error=password_mismatch"},
		{coretest.Password, fresh, fresh, "saved=password"},
	} {
		res := e.post(c, "/account/security/password", url.Values{"current": {tt.current}, "new": {tt.new}, "confirm": {tt.confirm}})
		if !strings.Contains(res.Header.Get("Location"), tt.want) {
			t.Fatalf("password %q: %q, want %s", tt.new, res.Header.Get("Location"), tt.want)
		}
	}
	if res, _ := e.get(other, "/"); res.StatusCode != http.StatusSeeOther {
		t.Fatal("the other session survived the password change")
	}
	if res, _ := e.follow(c, "/"); res.StatusCode != http.StatusOK {
		t.Fatal("the password change closed its own session")
	}
	e.password(e.client(), bob, fresh)

	// Ending a session from the list cuts it off.
	third := e.client()
	e.password(third, bob, fresh)
	if res := e.post(third, "/login/code", url.Values{"code": {e.lastCode(newAddr)}, "next": {"/"}}); res.Header.Get("Location") != "/" {
		t.Fatalf("login with the new password: %q", res.Header.Get("Location"))
	}
	_, page = e.get(c, "/account/security")
	ids := regexp.MustCompile(`<tr>\s*<td>[^<]*</td><td>[^<]*</td><td>[^<]*</td><td>[^<]*</td>\s*<td><form method="post" action="/account/security/session/([0-9a-f]+)/remove"`).FindAllStringSubmatch(page, -1)
	if len(ids) != 1 {
		t.Fatalf("%d other sessions listed, want 1", len(ids))
	}
	if res := e.post(c, "/account/security/session/"+ids[0][1]+"/remove", nil); !strings.Contains(res.Header.Get("Location"), "saved=session_removed") {
		t.Fatalf("end session: %q", res.Header.Get("Location"))
	}
	if res, _ := e.get(third, "/"); res.StatusCode != http.StatusSeeOther {
		t.Fatal("the ended session still works")
	}
	if res := e.post(e.login(alice), "/account/security/session/"+ids[0][1]+"/remove", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("alice ends bob's session: %s", res.Status)
	}
	_, page = e.get(c, "/account/security")
	mustContain(t, "activity", page, "échouée")
}

func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func totpNow(t *testing.T, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(strings.TrimSpace(secret), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}
