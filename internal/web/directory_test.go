package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"caduceus/internal/core/coretest"
	"caduceus/internal/directory"
)

// seedDirectory puts n cardiologists named Dupont in Lyon and one nurse in
// Marseille in the directory, as local entries.
func (e *env) seedDirectory(n int) {
	e.t.Helper()
	ctx := context.Background()
	add := func(key string, en directory.Entry) {
		if err := e.dir.UpsertLocal(ctx, directory.LocalEntry{Key: key, Listed: true, Entry: en}); err != nil {
			e.t.Fatal(err)
		}
	}
	for i := range n {
		add(fmt.Sprintf("dupont%02d", i), directory.Entry{
			NationalID: fmt.Sprintf("8100000%04d", i), LastName: "Dupont", FirstName: fmt.Sprintf("Jean%02d", i),
			Profession: "10", ProfessionLabel: "Médecin", Specialty: "SM04", SpecialtyLabel: "Cardiologie",
			Organisation: "Clinique du Parc", City: "Lyon", Postcode: "69006",
			Mailbox: fmt.Sprintf("jean%02d.dupont@clinique-parc.example", i), MailboxKind: directory.KindPersonal,
		})
	}
	add("lefebvre", directory.Entry{
		NationalID: "8100009999", LastName: "Lefebvre", FirstName: "Inès", Profession: "60", ProfessionLabel: "Infirmier",
		City: "Marseille", Postcode: "13005", Mailbox: "ines.lefebvre@ide-sud.example", MailboxKind: directory.KindPersonal,
	})
}

// send makes a request with a method, a body and an Origin header ("" for
// none), and returns the answer with its body.
func (e *env) send(c *http.Client, method, path, origin, ctype, body string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// getJSON gets path and decodes its JSON answer into v.
func (e *env) getJSON(c *http.Client, path string, v any) int {
	e.t.Helper()
	res, body := e.get(c, path)
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(bytes.NewReader([]byte(body))).Decode(v); err != nil {
			e.t.Fatalf("%s: %v in %q", path, err, body)
		}
	}
	return res.StatusCode
}

func TestDirectoryNeedsSession(t *testing.T) {
	e := newDirEnv(t)
	c := e.client()
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/directory/search?q=dupont", http.StatusUnauthorized},
		{"GET", "/api/directory/entry?id=l:" + alice, http.StatusUnauthorized},
		{"GET", "/api/directory/favourites", http.StatusUnauthorized},
		{"POST", "/api/directory/favourites?id=l:" + alice, http.StatusUnauthorized},
		{"DELETE", "/api/directory/favourites?id=l:" + alice, http.StatusUnauthorized},
		{"GET", "/directory", http.StatusSeeOther},
		{"GET", "/directory/card?id=l:" + alice, http.StatusSeeOther},
	} {
		res, _ := e.send(c, tt.method, tt.path, e.srv.URL, "", "")
		if res.StatusCode != tt.want {
			t.Errorf("%s %s without a session: %s, want %d", tt.method, tt.path, res.Status, tt.want)
		}
		if tt.want == http.StatusSeeOther && !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("%s %s without a session goes to %q", tt.method, tt.path, res.Header.Get("Location"))
		}
	}
}

func TestDirectorySearchAPI(t *testing.T) {
	e := newDirEnv(t)
	e.seedDirectory(25)
	c := e.login(alice)
	for _, tt := range []struct {
		name, query     string
		total, entries  int
		first, lastName string
	}{
		{"first page", "q=dupont&limit=10", 25, 10, "jean00.dupont@clinique-parc.example", "Dupont"},
		{"last page", "q=dupont&limit=10&offset=20", 25, 5, "jean20.dupont@clinique-parc.example", "Dupont"},
		{"criteria", "profession=60&city=marseille", 1, 1, "ines.lefebvre@ide-sud.example", "Lefebvre"},
		{"accent and case ignored", "q=INES", 1, 1, "ines.lefebvre@ide-sud.example", "Lefebvre"},
		{"postcode and organisation", "postcode=690&organisation=parc&limit=3", 25, 3, "jean00.dupont@clinique-parc.example", "Dupont"},
		{"local account", "q=durand", 1, 1, bob, "Durand"},
		{"organisational mailbox", "organisation=cardiologie&kind=ORG", 1, 1, secret, ""},
		{"nobody", "q=zzyzx", 0, 0, "", ""},
		{"with a mailbox only", "q=dupont&with_mailbox=1&limit=1", 25, 1, "jean00.dupont@clinique-parc.example", "Dupont"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var res dirResults
			if code := e.getJSON(c, "/api/directory/search?"+tt.query, &res); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			if res.Total != tt.total || len(res.Entries) != tt.entries {
				t.Fatalf("total %d, %d entries; want %d, %d", res.Total, len(res.Entries), tt.total, tt.entries)
			}
			if tt.entries > 0 && (res.Entries[0].Mailbox != tt.first || res.Entries[0].LastName != tt.lastName) {
				t.Fatalf("first entry %+v", res.Entries[0])
			}
		})
	}

	var raw struct{ Entries []map[string]any }
	e.getJSON(c, "/api/directory/search?q=lefebvre", &raw)
	for _, k := range []string{"id", "national_id", "last_name", "first_name", "profession", "specialty", "organisation", "city", "postcode", "mailbox", "mailbox_kind"} {
		if _, ok := raw.Entries[0][k]; !ok {
			t.Errorf("a result lacks %q: %v", k, raw.Entries[0])
		}
	}

	for _, tt := range []struct{ query, want string }{
		{"", "au moins un critère"},
		{"?with_mailbox=1", "au moins un critère"},
	} {
		res, body := e.get(c, "/api/directory/search"+tt.query)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("refused search %q: %s %s", tt.query, res.Status, body)
		}
	}
	var en dirEntry
	if code := e.getJSON(c, "/api/directory/entry?id="+url.QueryEscape("l:lefebvre"), &en); code != http.StatusOK || en.FirstName != "Inès" || en.Name != "Inès Lefebvre" {
		t.Errorf("entry: %d %+v", code, en)
	}
	if code := e.getJSON(c, "/api/directory/entry?id=l:nobody", &en); code != http.StatusNotFound {
		t.Errorf("unknown entry: %d", code)
	}
}

func TestDirectoryFavouritesAPI(t *testing.T) {
	e := newDirEnv(t)
	e.seedDirectory(3)
	c := e.login(alice)
	favourites := func() []string {
		var out []dirEntry
		if code := e.getJSON(c, "/api/directory/favourites", &out); code != http.StatusOK {
			t.Fatalf("favourites: %d", code)
		}
		var ids []string
		for _, f := range out {
			ids = append(ids, f.ID)
		}
		return ids
	}
	for _, tt := range []struct {
		name, method, path, origin, ctype, body string
		want                                    int
		after                                   string
	}{
		{"add by form", "POST", "/api/directory/favourites", e.srv.URL, "application/x-www-form-urlencoded", "id=l%3Alefebvre", http.StatusNoContent, "[l:lefebvre]"},
		{"add as JSON", "POST", "/api/directory/favourites", e.srv.URL, "application/json", `{"id":"l:dupont01"}`, http.StatusNoContent, "[l:dupont01 l:lefebvre]"},
		{"another site may not add", "POST", "/api/directory/favourites", "https://evil.example", "application/x-www-form-urlencoded", "id=l%3Adupont02", http.StatusForbidden, "[l:dupont01 l:lefebvre]"},
		{"another site may not remove", "DELETE", "/api/directory/favourites?id=l:lefebvre", "https://evil.example", "", "", http.StatusForbidden, "[l:dupont01 l:lefebvre]"},
		{"unknown entry", "POST", "/api/directory/favourites?id=l:nobody", e.srv.URL, "", "", http.StatusNotFound, "[l:dupont01 l:lefebvre]"},
		{"remove", "DELETE", "/api/directory/favourites?id=l:lefebvre", e.srv.URL, "", "", http.StatusNoContent, "[l:dupont01]"},
	} {
		res, body := e.send(c, tt.method, tt.path, tt.origin, tt.ctype, tt.body)
		if res.StatusCode != tt.want {
			t.Errorf("%s: %s %s, want %d", tt.name, res.Status, body, tt.want)
		}
		if got := fmt.Sprint(favourites()); got != tt.after {
			t.Errorf("%s: favourites %s, want %s", tt.name, got, tt.after)
		}
	}

	var people []person
	e.getJSON(c, "/mail/1/suggest?q=dupont", &people)
	if len(people) != 3 || people[0].Address != "jean01.dupont@clinique-parc.example" || people[0].From != "favourite" {
		t.Errorf("suggestions do not start with the favourite: %+v", people)
	}
	e.getJSON(c, "/mail/1/suggest?q=lagarde", &people)
	if len(people) != 1 || people[0].Address != celia {
		t.Errorf("suggestions for a local account: %+v", people)
	}
}

func TestDirectoryPages(t *testing.T) {
	e := newDirEnv(t)
	e.seedDirectory(25)
	c := e.login(alice)
	_, body := e.get(c, "/directory?q=dupont")
	for _, want := range []string{`href="/directory"`, "Résultats : 25", "Jean00 Dupont", "Page suivante", "Aucun favori"} {
		if !strings.Contains(body, want) {
			t.Errorf("directory page lacks %q", want)
		}
	}
	_, body = e.get(c, "/directory/card?id=l:lefebvre")
	if !strings.Contains(body, "Inès Lefebvre") || !strings.Contains(body, "Ajouter aux favoris") {
		t.Fatalf("card: %s", body)
	}
	write := regexpMust(`href="(/mail/[0-9]+/compose\?to=[^"]+)"`).FindStringSubmatch(body)
	if write == nil {
		t.Fatal("the card has no link to write to the person")
	}
	if _, body := e.get(c, strings.ReplaceAll(write[1], "&amp;", "&")); !strings.Contains(body, `value="ines.lefebvre@ide-sud.example"`) {
		t.Error("writing from the card does not fill A:")
	}
	res := e.post(c, "/directory/favourites", url.Values{"id": {"l:lefebvre"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("add from the card: %s", res.Status)
	}
	_, body = e.get(c, "/directory/card?id=l:lefebvre")
	if !strings.Contains(body, "Retirer des favoris") {
		t.Fatal("the card does not show the favourite")
	}
	_, body = e.get(c, "/directory")
	if !strings.Contains(body, "Inès Lefebvre") {
		t.Fatal("the favourites list does not show the favourite")
	}
	e.post(c, "/directory/favourites/delete", url.Values{"id": {"l:lefebvre"}})
	if _, body = e.get(c, "/directory"); !strings.Contains(body, "Aucun favori") {
		t.Fatal("the favourite was not removed")
	}
}

func TestAccountProfile(t *testing.T) {
	e := newDirEnv(t)
	c := e.login(alice)
	found := func(query string) []dirEntry {
		var res dirResults
		if code := e.getJSON(c, "/api/directory/search?"+query, &res); code != http.StatusOK {
			t.Fatalf("search %s: %d", query, code)
		}
		return res.Entries
	}
	if got := found("q=martin"); len(got) != 1 || got[0].Mailbox != alice {
		t.Fatalf("Alice is not listed by default: %+v", got)
	}
	if _, body := e.get(c, "/account/profile"); !strings.Contains(body, "Informations personnelles") || !strings.Contains(body, "Liste rouge") {
		t.Fatal("the account page lacks the directory section")
	}
	for _, tt := range []struct {
		name  string
		form  url.Values
		query string
		want  int
	}{
		{"liste rouge", url.Values{"listed": {"0"}}, "q=martin", 0},
		{"listed with a profession and a place", url.Values{"listed": {"1"}, "profession": {"10"}, "specialty": {"Cardiologie"},
			"organisation": {"Hôpital Nord"}, "city": {"Lyon"}, "postcode": {"69004"}, "dematerialised": {"1"}}, "profession=10&city=lyon", 1},
	} {
		if res := e.post(c, "/account/directory", tt.form); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %s", tt.name, res.Status)
		}
		if got := found(tt.query); len(got) != tt.want {
			t.Errorf("%s: %d found, want %d", tt.name, len(got), tt.want)
		}
	}
	got := found("q=alice")[0]
	if got.ProfessionLabel != "Médecin" || got.Department != "69" || !got.Dematerialised || got.Organisation != "Hôpital Nord" {
		t.Errorf("published entry: %+v", got)
	}

	coretest.User(t, e.svc, "denis", "Denis Petit")
	if got := found("q=petit"); len(got) != 0 {
		t.Fatalf("a new account is listed before its first login: %+v", got)
	}
	e.login("denis@" + coretest.Domain)
	if got := found("q=petit"); len(got) != 1 || got[0].FirstName != "Denis" {
		t.Fatalf("a new account is not listed after its first login: %+v", got)
	}
}

// TestDirectoryInBrowser follows the guide's "Utilisation de l'annuaire":
// from A:, search the directory, add one person to A: and, by criteria,
// another to CC:, then "Valider"; open a card from "Annuaires", add it to
// the favourites, and see it first among the suggestions and in the picker.
func TestDirectoryInBrowser(t *testing.T) {
	e := newDirEnv(t)
	e.seedDirectory(3)
	ctx := newBrowser(t, 1280, 900)
	e.browserLogin(t, ctx, alice)
	const (
		jean00 = "jean00.dupont@clinique-parc.example"
		jean02 = "jean02.dupont@clinique-parc.example"
		ines   = "ines.lefebvre@ide-sud.example"
	)

	t.Log("the picker behind A: searches the directory by name, then by criteria")
	do(t, ctx,
		click(chromedp.Search(`//a[text()="Nouveau message"]`)),
		chromedp.WaitVisible(chromedp.ID("to")), ready,
		click(chromedp.ID("to-label")),
		chromedp.WaitVisible(chromedp.ID("picker-q")),
		chromedp.SendKeys(chromedp.ID("picker-q"), "dupont"),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="A: `+jean00+`"]`)),
		click(chromedp.CSS(`button[aria-label="A: `+jean00+`"]`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@data-picker-to and contains(., "`+jean00+`")]`)),
		chromedp.Evaluate[chromedp.Void](`(q => { q.value = ""; q.dispatchEvent(new Event("input")); })(document.getElementById("picker-q"))`),
		chromedp.SendKeys(chromedp.ID("picker-city"), "marseille"),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="CC: `+ines+`"]`)),
		click(chromedp.CSS(`button[aria-label="CC: `+ines+`"]`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@data-picker-cc and contains(., "`+ines+`")]`)),
		click(chromedp.Search(`//button[text()="Valider"]`)),
		chromedp.WaitNotVisible(chromedp.ID("picker")),
	)
	if to, cc := run(t, ctx, chromedp.Value(chromedp.ID("to"))), run(t, ctx, chromedp.Value(chromedp.ID("cc"))); to != jean00 || cc != ines {
		t.Fatalf("after Valider: A: %q, CC: %q", to, cc)
	}

	t.Log("Annuaires: open a card and add it to the favourites")
	do(t, ctx,
		chromedp.WaitVisible(chromedp.Search(`//a[@class="topbar-link" and text()="Annuaires"]`)),
		// Clicked in the page, in one step: the compose page may redraw
		// around the link while a node found by the test is clicked.
		chromedp.Evaluate[chromedp.Void](`document.querySelector(".topbar-link").click()`),
		chromedp.WaitVisible(chromedp.ID("dir-q")),
		chromedp.SendKeys(chromedp.ID("dir-q"), "dupont"),
		chromedp.Submit(chromedp.ID("dir-q")),
		chromedp.WaitVisible(chromedp.Search(`//a[@class="dir-name" and text()="Jean02 Dupont"]`)),
		click(chromedp.Search(`//a[@class="dir-name" and text()="Jean02 Dupont"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Jean02 Dupont"]`)),
		click(chromedp.Search(`//button[text()="Ajouter aux favoris"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[text()="Retirer des favoris"]`)),
	)

	t.Log("the favourite comes first in the suggestions")
	do(t, ctx,
		chromedp.Navigate(e.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.Search(`//a[text()="Nouveau message"]`)),
		click(chromedp.Search(`//a[text()="Nouveau message"]`)),
		chromedp.WaitVisible(chromedp.ID("to")), ready,
		chromedp.SendKeys(chromedp.ID("to"), "dupont"),
		chromedp.WaitVisible(chromedp.CSS(`#to-suggest li`)),
	)
	if first := run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#to-suggest li").dataset.address`)); first != jean02 {
		t.Fatalf("first suggestion %q, want the favourite %s", first, jean02)
	}

	t.Log("the picker shows the favourites before anything is typed")
	do(t, ctx,
		click(chromedp.ID("cc-label")),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="CC: `+jean02+`"]`)),
	)
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll(".picker-results li").length`)); n != 1 {
		t.Fatalf("the picker shows %d people, want the one favourite", n)
	}
}
