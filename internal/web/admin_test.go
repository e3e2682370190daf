package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"caduceus/internal/audit"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// A manager of the domain sees its accounts, creates one, disables one, finds
// it in the trail and exports the trail as CSV; a plain user is refused.
func TestManagersConsole(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.SetRole(ctx, core.System("test"), alice, coretest.Domain, core.RoleManager); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.get(e.login(bob), "/admin"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a plain user's /admin: %s, want 403", res.Status)
	}

	c := e.login(alice)
	_, body := e.get(c, "/account")
	if !strings.Contains(body, `href="/admin"`) {
		t.Fatal("the account page of a manager lacks the console's link")
	}
	_, body = e.get(c, "/admin")
	for _, want := range []string{"Console des gestionnaires", bob, "celia@" + coretest.Domain, "gestionnaire"} {
		if !strings.Contains(body, want) {
			t.Fatalf("console lacks %q", want)
		}
	}
	if res := e.post(c, "/admin/accounts", url.Values{"domain": {coretest.Domain}, "do": {"create"}, "local": {"david.roux"}, "name": {"Dr David Roux"},
		"notify": {"david@perso.example"}, "password": {"un mot de passe long"}}); !strings.Contains(res.Header.Get("Location"), "saved=1") {
		t.Fatalf("create: %s %q", res.Status, res.Header.Get("Location"))
	}
	if res := e.post(c, "/admin/accounts", url.Values{"domain": {coretest.Domain}, "do": {"create"}, "local": {"david.roux"}, "name": {"Dr David Roux"},
		"notify": {"david@perso.example"}, "password": {"un mot de passe long"}}); !strings.Contains(res.Header.Get("Location"), "error=exists") {
		t.Fatalf("create twice: %s %q", res.Status, res.Header.Get("Location"))
	}
	if res := e.post(c, "/admin/accounts", url.Values{"domain": {"elsewhere.mssante.fr"}, "do": {"create"}, "local": {"x"}, "name": {"X"},
		"notify": {"x@perso.example"}, "password": {"un mot de passe long"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("create in a domain not managed: %s, want 403", res.Status)
	}
	if res := e.post(c, "/admin/accounts", url.Values{"domain": {coretest.Domain}, "do": {"disable"}, "address": {bob}}); !strings.Contains(res.Header.Get("Location"), "saved=1") {
		t.Fatalf("disable: %s %q", res.Status, res.Header.Get("Location"))
	}
	if acct, err := e.svc.User(ctx, bob); err != nil || !acct.Disabled {
		t.Fatalf("bob after disabling: %+v, %v", acct, err)
	}
	if _, err := e.svc.User(ctx, "david.roux@"+coretest.Domain); err != nil {
		t.Fatalf("the created account: %v", err)
	}

	_, body = e.get(c, "/admin?action=user.disable")
	if !strings.Contains(body, "user.disable") || strings.Contains(body, "user.add") {
		t.Fatal("the trail filtered on user.disable does not show just that")
	}
	res, csvBody := e.get(c, "/admin/audit.csv?domain="+coretest.Domain+"&action=user.add")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %s %q", res.Status, res.Header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(csvBody)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs[1:] {
		if r[5] != "user.add" {
			t.Fatalf("exported a %s row under action=user.add", r[5])
		}
		found = found || (r[6] == "david.roux@"+coretest.Domain && r[2] == alice)
	}
	if !found {
		t.Fatalf("export lacks alice creating david: %q", recs)
	}
	entries, err := e.svc.Audit().List(ctx, audit.Query{Action: "audit.export"})
	if err != nil || len(entries) != 1 || entries[0].Actor != alice {
		t.Fatalf("the export is not traced: %+v, %v", entries, err)
	}
}

// A manager creates an organisational mailbox, gives a person access to a
// shared one and takes it back; the person's mailboxes follow at once.
func TestManagersConsoleMailboxes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.SetRole(ctx, core.System("test"), alice, coretest.Domain, core.RoleManager); err != nil {
		t.Fatal(err)
	}
	c := e.login(alice)
	_, body := e.get(c, "/admin")
	if !strings.Contains(body, secret) || !strings.Contains(body, "Envoi en tant que la boîte") {
		t.Fatalf("console lacks %s and alice's access to it", secret)
	}
	box := regexpMust(`name="box" value="(\d+)"`).FindStringSubmatch(body)
	if box == nil {
		t.Fatal("no member form")
	}
	bobCanOpen := func() bool {
		t.Helper()
		a, err := e.svc.User(ctx, bob)
		if err != nil {
			t.Fatal(err)
		}
		boxes, err := e.svc.Mailboxes(ctx, core.Actor{AccountID: a.ID, Address: a.Address, Door: "test"})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range boxes {
			if b.Address == secret {
				return true
			}
		}
		return false
	}
	if bobCanOpen() {
		t.Fatal("bob opens the secretariat before being given access")
	}
	if res := e.post(c, "/admin/mailboxes", url.Values{"domain": {coretest.Domain}, "do": {"grant"}, "box": {box[1]}, "member": {bob}, "access": {"admin_access_read"}}); !strings.Contains(res.Header.Get("Location"), "saved=1") {
		t.Fatalf("grant: %s %q", res.Status, res.Header.Get("Location"))
	}
	if !bobCanOpen() {
		t.Fatal("bob does not open the secretariat once given read access")
	}
	if _, body = e.get(c, "/admin"); !strings.Contains(body, "Bob Durand</strong> <span class=\"muted\">"+bob+"</span> — Lecture") {
		t.Fatal("the console does not show bob reading the secretariat")
	}
	if res := e.post(c, "/admin/mailboxes", url.Values{"domain": {coretest.Domain}, "do": {"revoke"}, "box": {box[1]}, "member": {bob}}); !strings.Contains(res.Header.Get("Location"), "saved=1") {
		t.Fatalf("revoke: %s %q", res.Status, res.Header.Get("Location"))
	}
	if bobCanOpen() {
		t.Fatal("bob still opens the secretariat after his access was taken back")
	}
	if res := e.post(c, "/admin/mailboxes", url.Values{"domain": {coretest.Domain}, "do": {"create"}, "local": {"accueil"}, "name": {"Accueil des urgences"}, "kind": {"ORG"}}); !strings.Contains(res.Header.Get("Location"), "saved=1") {
		t.Fatalf("create: %s %q", res.Status, res.Header.Get("Location"))
	}
	if _, body = e.get(c, "/admin"); !strings.Contains(body, "Accueil des urgences") {
		t.Fatal("the new mailbox is not listed")
	}
	if res := e.post(c, "/admin/mailboxes", url.Values{"domain": {coretest.Domain}, "do": {"grant"}, "box": {box[1]}, "member": {bob}, "access": {"root"}}); !strings.Contains(res.Header.Get("Location"), "error=invalid") {
		t.Fatalf("an unknown level of access: %q", res.Header.Get("Location"))
	}
}
