package web

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"caduceus/internal/audit"
	"caduceus/internal/auth"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// consoleEnv is a test app where alice manages the test domain and zoé
// manages another domain only.
func consoleEnv(t *testing.T) (*env, *http.Client, *http.Client) {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	sys := core.System("test")
	if err := e.svc.SetRole(ctx, sys, alice, coretest.Domain, core.RoleManager); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AddDomain(ctx, sys, "autre.mssante.fr"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddUser(ctx, sys, core.NewUser{Address: "zoe@autre.mssante.fr", Name: "Zoé Martin", Password: coretest.Password}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetRole(ctx, sys, "zoe@autre.mssante.fr", "autre.mssante.fr", core.RoleManager); err != nil {
		t.Fatal(err)
	}
	return e, e.login(alice), e.login("zoe@autre.mssante.fr")
}

// Each action of an account's console page is done by a manager of its
// domain, refused to a manager of another domain, and traced under the
// manager's name.
func TestConsoleAccountActions(t *testing.T) {
	e, c, other := consoleEnv(t)
	ctx := context.Background()
	acct, err := e.svc.User(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.factors.LinkCard(ctx, acct.ID, auth.Card{Issuer: "CN=AC TEST", Serial: "0a1b", Fingerprint: strings.Repeat("ab", 32),
		NationalID: "810001234567", NotAfter: time.Now().AddDate(1, 0, 0), Holder: "Bob Durand"}); err != nil {
		t.Fatal(err)
	}
	if err := e.factors.LinkPSC(ctx, acct.ID, "810001234567", "Bob Durand"); err != nil {
		t.Fatal(err)
	}
	dev, _, err := e.svc.AddDevice(ctx, core.System("test"), bob, "Téléphone de Bob")
	if err != nil {
		t.Fatal(err)
	}
	page := "/admin/account?domain=" + coretest.Domain + "&address=" + url.QueryEscape(bob)
	res, body := e.get(c, page)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("account page: %s", res.Status)
	}
	for _, want := range []string{"Réinitialiser le mot de passe", "0a1b", "810001234567", "Téléphone de Bob"} {
		if !strings.Contains(body, want) {
			t.Fatalf("account page lacks %q", want)
		}
	}
	if res, _ := e.get(other, "/admin/account?domain=autre.mssante.fr&address="+url.QueryEscape(bob)); res.StatusCode != http.StatusForbidden {
		t.Fatalf("another domain's manager opens bob's page: %s, want 403", res.Status)
	}
	cards, _ := e.factors.Cards(ctx, acct.ID)
	links, _ := e.factors.PSCLinks(ctx, acct.ID)
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	actions := []struct {
		name   string
		form   url.Values
		action string // its audit action
		done   func() bool
	}{
		{"chosen password", url.Values{"do": {"reset"}, "password": {"un nouveau mot de passe sûr"}}, "user.passwd.reset", func() bool {
			_, err := e.svc.Login(ctx, "test", "", bob, "un nouveau mot de passe sûr")
			return err == nil
		}},
		{"code delivery", url.Values{"do": {"notify"}, "notify": {"bob.durand@perso.example"}}, "user.notify.set", func() bool {
			a, _ := e.svc.User(ctx, bob)
			return a.NotifyEmail == "bob.durand@perso.example"
		}},
		{"card", url.Values{"do": {"card"}, "id": {id(cards[0].ID)}}, "card.unlink", func() bool {
			cs, _ := e.factors.Cards(ctx, acct.ID)
			return len(cs) == 0
		}},
		{"psc", url.Values{"do": {"psc"}, "id": {id(links[0].ID)}}, "psc.unlink", func() bool {
			ls, _ := e.factors.PSCLinks(ctx, acct.ID)
			return len(ls) == 0
		}},
		{"device", url.Values{"do": {"device"}, "id": {id(dev.ID)}}, "device.revoke", func() bool {
			ds, _ := e.svc.Devices(ctx, core.System("test"), bob)
			return len(ds) == 0
		}},
	}
	for _, a := range actions {
		form := url.Values{"domain": {"autre.mssante.fr"}, "address": {bob}}
		for k, v := range a.form {
			form[k] = v
		}
		if res := e.post(other, "/admin/account", form); res.StatusCode != http.StatusForbidden {
			t.Fatalf("%s by another domain's manager: %s, want 403", a.name, res.Status)
		}
		if a.done() {
			t.Fatalf("%s: done by another domain's manager", a.name)
		}
		form.Set("domain", coretest.Domain)
		if res := e.post(c, "/admin/account", form); !strings.Contains(res.Header.Get("Location"), "saved=1") {
			t.Fatalf("%s: %s %q", a.name, res.Status, res.Header.Get("Location"))
		}
		if !a.done() {
			t.Fatalf("%s: not done", a.name)
		}
		entries, err := e.svc.Audit().List(ctx, audit.Query{Action: a.action, Actor: alice})
		if err != nil || len(entries) != 1 || entries[0].Target != bob {
			t.Fatalf("%s is not traced as %s by alice on bob: %+v, %v", a.name, a.action, entries, err)
		}
	}

	// A generated password is shown once, works, and the page is not kept.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/admin/account", strings.NewReader(url.Values{"domain": {coretest.Domain}, "address": {bob}, "do": {"generate"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	m := regexpMust(`<code class="temp-password">([^<]+)</code>`).FindStringSubmatch(string(got))
	if res.StatusCode != http.StatusOK || m == nil || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("generate: %s, Cache-Control %q, password shown: %v", res.Status, res.Header.Get("Cache-Control"), m != nil)
	}
	if _, err := e.svc.Login(ctx, "test", "", bob, html.UnescapeString(m[1])); err != nil {
		t.Fatalf("the generated password does not log in: %v", err)
	}
	if _, body := e.get(c, page); strings.Contains(body, m[1]) {
		t.Fatal("the generated password is shown again")
	}
	if res := e.post(c, "/admin/account", url.Values{"domain": {coretest.Domain}, "address": {bob}, "do": {"reset"}, "password": {"court"}}); !strings.Contains(res.Header.Get("Location"), "error=invalid") {
		t.Fatalf("a short password: %s %q", res.Status, res.Header.Get("Location"))
	}
}

// A manager sets the domain's manager contact from the console; a manager
// of another domain may not.
func TestConsoleManagerContact(t *testing.T) {
	e, c, other := consoleEnv(t)
	ctx := context.Background()
	form := url.Values{"domain": {coretest.Domain}, "name": {"Service informatique"}, "address": {"dsi@" + coretest.Domain}, "phone": {"01 02 03 04 05"}}
	if res := e.post(other, "/admin/contact", form); res.StatusCode != http.StatusForbidden {
		t.Fatalf("another domain's manager: %s, want 403", res.Status)
	}
	if res := e.post(c, "/admin/contact", form); !strings.Contains(res.Header.Get("Location"), "saved=1") {
		t.Fatalf("set contact: %s %q", res.Status, res.Header.Get("Location"))
	}
	got, err := e.svc.DomainManager(ctx, core.System("test"), coretest.Domain)
	if err != nil || got.Name != "Service informatique" || got.Phone != "01 02 03 04 05" {
		t.Fatalf("contact: %+v, %v", got, err)
	}
	if _, body := e.get(c, "/admin"); !strings.Contains(body, `value="dsi@`+coretest.Domain+`"`) {
		t.Fatal("the console does not show the contact")
	}
}

// The console draws the domain's figures as SVG bars with their numbers in
// a table: today's logins (alice's own) and mailboxes are counted.
func TestConsoleFigures(t *testing.T) {
	e, c, _ := consoleEnv(t)
	_, body := e.get(c, "/admin")
	for _, want := range []string{`<svg class="chart-svg"`, "Connexions par méthode", "Boîtes aux lettres", `<rect class="s0"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("console lacks %q", want)
		}
	}
	if strings.Contains(body, "style=") {
		t.Fatal("the charts use inline styles, which the CSP forbids")
	}
	days, err := e.svc.DomainFigures(context.Background(), core.System("test"), coretest.Domain, chartDays)
	if err != nil {
		t.Fatal(err)
	}
	today := days[len(days)-1]
	logins := 0
	for _, n := range today.Logins {
		logins += n
	}
	if len(days) != chartDays || today.Mailboxes == 0 || logins == 0 {
		t.Fatalf("today's figures: %+v", today)
	}
	row := "<tr><th scope=\"row\">" + today.Day.Format(time.DateOnly) + "</th><td>" + strconv.Itoa(today.Mailboxes) + "</td></tr>"
	if !strings.Contains(body, row) {
		t.Fatalf("the mailboxes' table lacks today's row %q", row)
	}
	if _, err := e.svc.DomainFigures(context.Background(), core.Actor{AccountID: 99999, Door: "test"}, coretest.Domain, chartDays); err == nil {
		t.Fatal("figures given to a non-manager")
	}
}

// After a manager resets a password, its owner's next web login leads to
// the security page, and only there, until they choose a new password.
func TestConsolePasswordChangeDue(t *testing.T) {
	e, c, _ := consoleEnv(t)
	ctx := context.Background()
	const temp = "un mot de passe temporaire"
	if res := e.post(c, "/admin/account", url.Values{"domain": {coretest.Domain}, "address": {bob}, "do": {"reset"}, "password": {temp}}); !strings.Contains(res.Header.Get("Location"), "saved=1") {
		t.Fatalf("reset: %s %q", res.Status, res.Header.Get("Location"))
	}
	b := e.client()
	if res := e.post(b, "/login", url.Values{"email": {bob}, "password": {temp}}); !strings.HasPrefix(res.Header.Get("Location"), "/login/code") {
		t.Fatalf("login with the temporary password: %s %q", res.Status, res.Header.Get("Location"))
	}
	if res := e.post(b, "/login/code", url.Values{"code": {e.lastCode(bob)}, "next": {"/"}}); res.Header.Get("Location") != "/" {
		t.Fatalf("code: %s %q", res.Status, res.Header.Get("Location"))
	}
	for _, path := range []string{"/", "/account", "/admin"} {
		if res, _ := e.get(b, path); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account/security#pw-h" {
			t.Fatalf("%s before the change: %s %q", path, res.Status, res.Header.Get("Location"))
		}
	}
	if res := e.post(b, "/account/receipts", url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a POST before the change: %s, want 403", res.Status)
	}
	if res, body := e.get(b, "/account/security"); res.StatusCode != http.StatusOK || !strings.Contains(body, "Votre gestionnaire a réinitialisé votre mot de passe") {
		t.Fatalf("the security page does not ask for a new password: %s", res.Status)
	}
	const chosen = "mon nouveau mot de passe choisi"
	e.post(b, "/account/security/password", url.Values{"current": {temp}, "new": {chosen}, "confirm": {chosen}})
	if due, err := e.svc.PasswordChangeDue(ctx, mustUser(t, e, bob).ID); err != nil || due {
		t.Fatalf("still due after the change: %v, %v", due, err)
	}
	b = e.client()
	e.post(b, "/login", url.Values{"email": {bob}, "password": {chosen}})
	e.post(b, "/login/code", url.Values{"code": {e.lastCode(bob)}, "next": {"/"}})
	if res, _ := e.get(b, "/account"); res.StatusCode != http.StatusOK {
		t.Fatalf("/account after the change: %s", res.Status)
	}
}

// mustUser returns the account at addr.
func mustUser(t *testing.T, e *env, addr string) core.Account {
	t.Helper()
	a, err := e.svc.User(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
