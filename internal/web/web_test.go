package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"caduceus/internal/audit"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

const labResult = `
From: Laboratoire Bio <labo@example.org>
To: alice@test.mssante.fr
Subject: Résultats de M. Petit
Date: Mon, 2 Mar 2026 09:15:00 +0100
Message-ID: <lab-1@example.org>
Content-Type: text/plain; charset=utf-8

Bonjour Docteur,
Voici les résultats demandés.
`

func TestLoginFlow(t *testing.T) {
	e := newEnv(t)
	c := e.client()

	res, _ := e.get(c, "/mail/1")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?next=") {
		t.Fatalf("anonymous mail page: %s → %q", res.Status, res.Header.Get("Location"))
	}
	_, body := e.get(c, "/login")
	for _, want := range []string{`name="email"`, `autocomplete="current-password"`, "Connexion", "PRO Santé Connect", "Carte de la famille CPx"} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %q", want)
		}
	}

	wrong := e.post(c, "/login", url.Values{"email": {alice}, "password": {"nope"}})
	unknown := e.post(c, "/login", url.Values{"email": {"nobody@" + coretest.Domain}, "password": {"nope"}})
	if wrong.StatusCode != unknown.StatusCode || wrong.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password %d, unknown account %d: both should be 401", wrong.StatusCode, unknown.StatusCode)
	}

	res = e.post(c, "/login", url.Values{"email": {alice}, "password": {coretest.Password}})
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/login/code") {
		t.Fatalf("after password: %q", loc)
	}
	var cookie *http.Cookie
	for _, ck := range res.Cookies() {
		cookie = ck
	}
	if cookie == nil || cookie.Name != "__Host-caduceus" || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite == http.SameSiteDefaultMode {
		t.Fatalf("session cookie = %+v", cookie)
	}
	_, body = e.get(c, "/login/code")
	if !strings.Contains(body, `autocomplete="one-time-code"`) {
		t.Fatal("code field lacks autocomplete=one-time-code")
	}
	res, _ = e.get(c, "/mail/1")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("mail before the code: %s", res.Status)
	}
	code := e.lastCode(alice)
	if res := e.post(c, "/login/code", url.Values{"code": {"000000"}}); res.StatusCode != http.StatusUnauthorized && code != "000000" {
		t.Fatalf("wrong code: %s", res.Status)
	}
	res = e.post(c, "/login/code", url.Values{"code": {code}, "next": {"/m/1"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/m/1" {
		t.Fatalf("right code: %s → %q", res.Status, res.Header.Get("Location"))
	}
	res, body = e.follow(c, "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Boîte de réception") || !strings.Contains(body, ">AM<") {
		t.Fatalf("inbox after login: %s", res.Status)
	}

	res = e.post(c, "/logout", nil)
	if res.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %q", res.Header.Get("Location"))
	}
	if res, _ := e.get(c, "/mail/1"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %s", res.Status)
	}
}

func TestCodeTriesAndRateLimits(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	e.post(c, "/login", url.Values{"email": {bob}, "password": {coretest.Password}})
	code := e.lastCode(bob)
	if res := e.post(c, "/login/resend", nil); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("resend right after the first code: %s, want 429", res.Status)
	}
	if e.lastCode(bob) != code {
		t.Fatal("a refused resend changed the code")
	}
	bad := "000000"
	if code == bad {
		bad = "111111"
	}
	for i := range 5 {
		if res := e.post(c, "/login/code", url.Values{"code": {bad}}); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %s", i, res.Status)
		}
	}
	res := e.post(c, "/login/code", url.Values{"code": {code}})
	if res.StatusCode == http.StatusSeeOther {
		t.Fatal("the right code worked after five wrong ones")
	}
	// The wrong codes count in the core's guard, shared by every door: the
	// account's next try anywhere must wait, and each one is in the trail.
	if _, err := e.svc.Login(context.Background(), "imap", "127.0.0.9", bob, coretest.Password); !errors.Is(err, core.ErrTooManyAttempts) {
		t.Errorf("IMAP login right after five wrong web codes: %v, want ErrTooManyAttempts", err)
	}
	trail, err := e.svc.Audit().List(context.Background(), audit.Query{Actor: bob, Action: "login"})
	if err != nil {
		t.Fatal(err)
	}
	wrongCodes := 0
	for _, en := range trail {
		if en.Door == "web" && en.Result == "failed" && strings.Contains(en.Detail, "method=code") {
			wrongCodes++
		}
	}
	if wrongCodes != 5 {
		t.Errorf("%d wrong web codes in the trail, want 5: %+v", wrongCodes, trail)
	}

	other := e.client()
	statuses := ""
	for range 7 {
		statuses += fmt.Sprint(e.post(other, "/login", url.Values{"email": {celia}, "password": {"wrong"}}).StatusCode, " ")
	}
	if !strings.HasSuffix(statuses, "429 429 ") {
		t.Fatalf("password tries per account not limited: %s", statuses)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	e := newEnv(t)
	c := e.login(alice)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/logout", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %s, want 403", res.Status)
	}
}

func TestReadMessage(t *testing.T) {
	e := newEnv(t)
	e.deliver(labResult, alice)
	c := e.login(alice)
	res, body := e.follow(c, "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Résultats de M. Petit") || !strings.Contains(body, "Laboratoire Bio") {
		t.Fatalf("inbox: %s\n%s", res.Status, body)
	}
	if !strings.Contains(body, `class="row unread`) {
		t.Fatal("the new message is not shown unread")
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
		if res.Header.Get(h) == "" {
			t.Errorf("missing header %s", h)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") {
		t.Errorf("page CSP allows inline code: %s", csp)
	}
	m := regexpFind(t, body, `href="(/mail/\d+/\d+/(\d+))"`)
	res, body = e.get(c, m[1])
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Voici les résultats demandés.") {
		t.Fatalf("message page: %s", res.Status)
	}
	for _, want := range []string{"Répondre", "Répondre à tous", "Transférer", "Imprimer", "Supprimer"} {
		if !strings.Contains(body, want) {
			t.Errorf("reading pane lacks %q", want)
		}
	}
	res, _ = e.get(c, "/m/"+m[2])
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != m[1] {
		t.Fatalf("deep link: %s → %q", res.Status, res.Header.Get("Location"))
	}
}

func regexpFind(t *testing.T, s, re string) []string {
	t.Helper()
	m := regexpMust(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no match for %s", re)
	}
	return m
}

func TestEnglishByChoice(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	_, body := e.get(c, "/login")
	if !strings.Contains(body, `lang="fr"`) || !strings.Contains(body, "Mot de passe") {
		t.Fatal("the login page is not in French by default")
	}
	res := e.post(c, "/lang", url.Values{"lang": {"en"}, "next": {"/login"}})
	if res.Header.Get("Location") != "/login" {
		t.Fatalf("language switch went to %q", res.Header.Get("Location"))
	}
	_, body = e.get(c, "/login")
	if !strings.Contains(body, `lang="en"`) || !strings.Contains(body, "Password") {
		t.Fatal("the login page did not switch to English")
	}
}

func TestStaticShell(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	res, body := e.get(c, "/manifest.webmanifest")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"display":"standalone"`) || !strings.Contains(body, "/icons/512.png") {
		t.Fatalf("manifest: %s %s", res.Status, body)
	}
	res, body = e.get(c, "/sw.js")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "/static/app.css") || strings.Contains(body, "/mail/") {
		t.Fatalf("service worker: %s\n%s", res.Status, body)
	}
	for _, path := range []string{"/icons/192.png", "/static/app.js", "/static/app.css"} {
		if res, _ := e.get(c, path); res.StatusCode != http.StatusOK || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %s", path, res.Status)
		}
	}
}

// The account page shows each readable mailbox's notification setting, and
// changing it is kept; a period the form does not offer changes nothing.
func TestNotificationSettings(t *testing.T) {
	e := newEnv(t)
	c := e.login(alice)
	_, body := e.get(c, "/account/messaging")
	for _, want := range []string{"Notifications de nouveaux messages", `name="mode" value="each" checked`, alice} {
		if !strings.Contains(body, want) {
			t.Fatalf("account page lacks %q", want)
		}
	}
	box := regexpMust(`name="box" value="(\d+)"`).FindStringSubmatch(body)
	if box == nil {
		t.Fatal("no notification form on the account page")
	}
	res := e.post(c, "/account/notifications", url.Values{"box": {box[1]}, "mode": {"digest"}, "every": {"120"}})
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "done=saved") {
		t.Fatalf("save: %s %q", res.Status, res.Header.Get("Location"))
	}
	_, body = e.get(c, "/account/messaging")
	if !strings.Contains(body, `name="mode" value="digest" checked`) || !strings.Contains(body, `<option value="120" selected>`) {
		t.Fatal("the digest every two hours is not shown as saved")
	}
	res = e.post(c, "/account/notifications", url.Values{"box": {box[1]}, "mode": {"digest"}, "every": {"1"}})
	if !strings.Contains(res.Header.Get("Location"), "error=notify") {
		t.Fatal("a one-minute digest was saved")
	}
	if res := e.post(c, "/account/notifications", url.Values{"box": {"999999"}, "mode": {"none"}}); res.StatusCode != http.StatusNotFound {
		t.Fatalf("another mailbox: %s, want 404", res.Status)
	}
}
