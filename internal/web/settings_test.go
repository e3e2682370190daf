package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// The account page is the index of the guide's sections, each its own page
// that answers for the person logged in.
func TestSettingsIndex(t *testing.T) {
	e := newDirEnv(t)
	c := e.login(alice)
	_, body := e.get(c, "/account")
	pages := []struct{ href, title string }{
		{"/account/security", "Gestion de votre compte"},
		{"/account/profile", "Vos informations personnelles"},
		{"/account/messaging", "Vos paramètres de messagerie"},
		{"/account/correspondance", "Votre correspondance MSSanté"},
		{"/account/vacation", "Votre réponse automatique"},
		{"/account/manager", "Vos informations Gestionnaire"},
		{"/account/devices", "Vos appareils mobiles"},
	}
	for _, p := range pages {
		if !strings.Contains(body, `href="`+p.href+`"`) || !strings.Contains(body, p.title) {
			t.Errorf("the index lacks %s (%s)", p.title, p.href)
		}
		if res, page := e.get(c, p.href); res.StatusCode != http.StatusOK || !strings.Contains(page, `href="/account"`) {
			t.Errorf("%s: %s, or no way back to the index", p.href, res.Status)
		}
	}
	if res, _ := e.get(e.client(), "/account/vacation"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a settings page without a session: %s", res.Status)
	}
	// English, every page.
	c.Jar.SetCookies(mustURL(e.srv.URL), []*http.Cookie{{Name: "lang", Value: "en"}})
	if _, body := e.get(c, "/account/messaging"); !strings.Contains(body, "Your messaging settings") || !strings.Contains(body, "Sub-folders") {
		t.Error("the messaging page is not in English")
	}
}

// Outcomes come back as texts the catalog has; a made-up key shows nothing.
func TestSettingsFlash(t *testing.T) {
	e := newEnv(t)
	c := e.login(alice)
	for _, tt := range []struct{ query, want, lacks string }{
		{"?done=folder_created", "Dossier créé.", ""},
		{"?error=exists", "Un dossier porte déjà ce nom", ""},
		{"?done=<script>", "", "&lt;script&gt;"},
		{"?error=nope", "", "set_error_nope"},
	} {
		_, body := e.get(c, "/account/messaging"+tt.query)
		if tt.want != "" && !strings.Contains(body, tt.want) {
			t.Errorf("%s: lacks %q", tt.query, tt.want)
		}
		if tt.lacks != "" && strings.Contains(body, tt.lacks) {
			t.Errorf("%s: shows %q", tt.query, tt.lacks)
		}
	}
}

// "Vos paramètres de messagerie": read receipts and sub-folders (create,
// nest, rename, move, delete with confirmation), as IMAP sees them.
func TestSettingsMessaging(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.login(alice)
	box := coretest.Mailbox(t, e.svc, alice).ID
	sys := core.System("test")

	// Read receipts: the own mailbox and the one alice administers.
	_, body := e.get(c, "/account/messaging")
	if !strings.Contains(body, `name="policy" value="ask" checked`) {
		t.Fatal("the read-receipt policy is not shown")
	}
	for _, tt := range []struct {
		policy, location string
	}{
		{"always", "done=saved"},
		{"sometimes", "error=receipts"},
	} {
		res := e.post(c, "/account/receipts", url.Values{"box": {fmt.Sprint(box)}, "policy": {tt.policy}})
		if !strings.Contains(res.Header.Get("Location"), tt.location) {
			t.Errorf("policy %s: %s %q", tt.policy, res.Status, res.Header.Get("Location"))
		}
	}
	if p, _ := e.svc.ReadReceiptPolicy(ctx, sys, box); p != core.MDNAlways {
		t.Fatalf("policy kept: %q", p)
	}
	bobBox := coretest.Mailbox(t, e.svc, bob).ID
	if res := e.post(c, "/account/receipts", url.Values{"box": {fmt.Sprint(bobBox)}, "policy": {"never"}}); res.StatusCode/100 != 4 {
		t.Fatalf("alice set bob's policy: %s", res.Status)
	}

	folder := func(name string) core.Folder {
		t.Helper()
		f, err := e.svc.FolderByName(ctx, sys, box, name)
		if err != nil {
			t.Fatalf("folder %q: %v", name, err)
		}
		return f
	}
	steps := []settingsStep{
		{"create", "/account/folders", url.Values{"name": {"Patients"}, "parent": {"0"}}, "done=folder_created"},
		{"create again", "/account/folders", url.Values{"name": {"Patients"}, "parent": {"0"}}, "error=exists"},
		{"a slash", "/account/folders", url.Values{"name": {"a/b"}, "parent": {"0"}}, "error=folder_name"},
		{"empty", "/account/folders", url.Values{"name": {" "}, "parent": {"0"}}, "error=folder_name"},
		{"archives", "/account/folders", url.Values{"name": {"Archives"}}, "done=folder_created"},
	}
	e.settingsSteps(c, steps)
	patients, archives := folder("Patients"), folder("Archives")
	id := func(f core.Folder) string { return fmt.Sprint(f.ID) }
	e.settingsSteps(c, []settingsStep{{"nest", "/account/folders", url.Values{"name": {"2026"}, "parent": {id(patients)}}, "done=folder_created"}})
	e.settingsSteps(c, []settingsStep{
		{"into itself", "/account/folders/" + id(patients) + "/rename", url.Values{"name": {"Patients"}, "parent": {id(folder("Patients/2026"))}}, "error=folder_into_itself"},
		{"rename", "/account/folders/" + id(patients) + "/rename", url.Values{"name": {"Suivis"}, "parent": {"0"}}, "done=folder_renamed"},
		{"move", "/account/folders/" + id(archives) + "/rename", url.Values{"name": {"Archives"}, "parent": {id(patients)}}, "done=folder_renamed"},
	})
	for _, name := range []string{"Suivis", "Suivis/2026", "Suivis/Archives"} {
		folder(name)
	}
	_, body = e.get(c, "/account/messaging")
	if !strings.Contains(body, `class="depth-1"`) || !strings.Contains(body, ">Suivis</strong>") {
		t.Fatal("the page does not show the tree")
	}

	// Delete: a page asks first; the messages go to the Trash.
	nested := folder("Suivis/2026")
	if _, err := e.svc.Append(ctx, sys, nested.ID, 0, nil, time.Now(), []byte("Subject: compte rendu\r\n\r\ntexte\r\n")); err != nil {
		t.Fatal(err)
	}
	res, body := e.get(c, "/account/folders/"+id(nested)+"/delete")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Suivis › 2026") || !strings.Contains(body, `name="confirm" value="1"`) {
		t.Fatalf("confirmation page: %s", res.Status)
	}
	if res := e.post(c, "/account/folders/"+id(nested)+"/delete", nil); !strings.HasSuffix(res.Header.Get("Location"), "/delete") {
		t.Fatalf("a delete without confirmation: %q", res.Header.Get("Location"))
	}
	folder("Suivis/2026")
	e.settingsSteps(c, []settingsStep{
		{"with sub-folders", "/account/folders/" + id(patients) + "/delete", url.Values{"confirm": {"1"}}, "error=has_children"},
		{"delete", "/account/folders/" + id(nested) + "/delete", url.Values{"confirm": {"1"}}, "done=folder_deleted"},
	})
	if trash := folder("Trash"); trash.Messages != 1 {
		t.Fatalf("the Trash holds %d messages, want 1", trash.Messages)
	}
	bobFolder, err := e.svc.CreateFolder(ctx, sys, bobBox, "Privé", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/account/folders/" + id(bobFolder) + "/delete", "/account/folders/" + id(bobFolder) + "/rename"} {
		if res := e.post(c, path, url.Values{"confirm": {"1"}, "name": {"x"}}); res.StatusCode/100 != 4 {
			t.Errorf("alice on bob's folder, %s: %s", path, res.Status)
		}
	}
	if res := e.post(c, "/account/folders", url.Values{"name": {"x"}, "parent": {id(bobFolder)}}); res.StatusCode/100 != 4 {
		t.Errorf("alice made a folder under bob's: %s", res.Status)
	}
}

// "Votre correspondance MSSanté": the address, the red list switch, the
// same setting as the profile's, and the directory follows at once.
func TestSettingsCorrespondance(t *testing.T) {
	e := newDirEnv(t)
	c := e.login(alice)
	found := func() int {
		var res dirResults
		if code := e.getJSON(c, "/api/directory/search?q=martin", &res); code != http.StatusOK {
			t.Fatalf("search: %d", code)
		}
		return len(res.Entries)
	}
	_, body := e.get(c, "/account/correspondance")
	if !strings.Contains(body, alice) || !strings.Contains(body, "publiée dans l’annuaire national") || found() != 1 {
		t.Fatal("the page does not say the address is published")
	}
	res := e.post(c, "/account/correspondance", url.Values{"listed": {"0"}})
	if !strings.Contains(res.Header.Get("Location"), "done=unlisted") {
		t.Fatalf("red list: %q", res.Header.Get("Location"))
	}
	if found() != 0 {
		t.Fatal("still found in the directory")
	}
	if _, body := e.get(c, "/account/profile"); !strings.Contains(body, `name="listed" value="0" checked`) {
		t.Fatal("the profile does not show the red list")
	}
	if _, body := e.get(c, "/account/correspondance?done=unlisted"); !strings.Contains(body, "en liste rouge") || !strings.Contains(body, "Publier mon adresse") {
		t.Fatal("the page does not show the red list")
	}
	if res := e.post(c, "/account/correspondance", url.Values{"listed": {"maybe"}}); !strings.Contains(res.Header.Get("Location"), "error=listed") {
		t.Fatalf("a bad value: %q", res.Header.Get("Location"))
	}
	e.post(c, "/account/correspondance", url.Values{"listed": {"1"}})
	if found() != 1 {
		t.Fatal("not published again")
	}
}

// "Votre réponse automatique" edits the core's vacation settings: on, with
// dates, subject, text and days; what the core refuses is said.
func TestSettingsVacation(t *testing.T) {
	e := newEnv(t)
	c := e.login(alice)
	box := coretest.Mailbox(t, e.svc, alice).ID
	_, body := e.get(c, "/account/vacation")
	if !strings.Contains(body, `name="days" type="number" min="1" max="365" value="7"`) || !strings.Contains(body, `id="vac-off" checked`) {
		t.Fatal("the page does not start off, with 7 days")
	}
	for _, tt := range []struct {
		name     string
		form     url.Values
		location string
	}{
		{"no text", url.Values{"enabled": {"1"}, "text": {""}}, "error=vacation"},
		{"end before start", url.Values{"enabled": {"1"}, "text": {"x"}, "start": {"2026-12-24T18:00"}, "end": {"2026-12-20T08:00"}}, "error=vacation"},
		{"bad date", url.Values{"enabled": {"1"}, "text": {"x"}, "start": {"24/12/2026"}}, "error=vacation_date"},
		{"days", url.Values{"enabled": {"1"}, "text": {"x"}, "days": {"400"}}, "error=vacation"},
		{"on", url.Values{"enabled": {"1"}, "subject": {"Absence"}, "text": {"Je suis absente.\r\nContactez le secrétariat."},
			"start": {"2026-12-24T18:00"}, "end": {"2027-01-04T08:00"}, "days": {"3"}}, "done=vacation_on"},
	} {
		res := e.post(c, "/account/vacation", tt.form)
		if !strings.Contains(res.Header.Get("Location"), tt.location) {
			t.Errorf("%s: %q, want %s", tt.name, res.Header.Get("Location"), tt.location)
		}
	}
	v, err := e.svc.Vacation(context.Background(), core.System("test"), box)
	start := time.Date(2026, 12, 24, 18, 0, 0, 0, time.Local)
	if err != nil || !v.Enabled || v.Subject != "Absence" || v.Text != "Je suis absente.\nContactez le secrétariat." || v.Days != 3 || !v.Start.Equal(start) {
		t.Fatalf("vacation kept: %+v, %v", v, err)
	}
	_, body = e.get(c, "/account/vacation?done=vacation_on")
	for _, want := range []string{"Réponse automatique activée.", `value="2026-12-24T18:00"`, `value="2027-01-04T08:00"`, `id="vac-on" checked`, "Contactez le secrétariat."} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if res := e.post(c, "/account/vacation", url.Values{"enabled": {"0"}, "days": {"7"}}); !strings.Contains(res.Header.Get("Location"), "done=vacation_off") {
		t.Fatalf("off: %q", res.Header.Get("Location"))
	}
}

// "Vos informations Gestionnaire": who manages the account, and a message
// to them or to the support through the normal path, traced.
func TestSettingsManager(t *testing.T) {
	e := newEnvCustom(t, false, nil)
	ctx := context.Background()
	c := e.login(bob)
	_, body := e.get(c, "/account/manager")
	if !strings.Contains(body, "Aucun gestionnaire n’est indiqué pour "+coretest.Domain) || strings.Contains(body, `action="/account/manager"`) {
		t.Fatal("the page without a manager")
	}
	if err := e.svc.SetManagerContact(ctx, core.System("test"), core.ManagerContact{Domain: coretest.Domain, Name: "Alice Martin", Address: alice, Phone: "04 72 00 00 00"}); err != nil {
		t.Fatal(err)
	}
	_, body = e.get(c, "/account/manager")
	for _, want := range []string{"Alice Martin", `href="mailto:` + alice, ">04 72 00 00 00</a>", `name="to" value="manager" checked`} {
		if !strings.Contains(body, want) {
			t.Fatalf("the page lacks %q", want)
		}
	}
	if res := e.post(c, "/account/manager", url.Values{"to": {"manager"}, "subject": {"Carte CPS"}, "text": {""}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("no text: %s", res.Status)
	}
	res := e.post(c, "/account/manager", url.Values{"to": {"support"}, "subject": {"Carte CPS"}, "text": {"Ma carte"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("no support address on this node: %s", res.Status)
	}
	res = e.post(c, "/account/manager", url.Values{"to": {"manager"}, "subject": {"Carte CPS"}, "text": {"Ma carte ne marche plus."}})
	if !strings.Contains(res.Header.Get("Location"), "done=manager_sent") {
		t.Fatalf("send: %s %q", res.Status, res.Header.Get("Location"))
	}
	inbox := coretest.Folder(t, e.svc, alice, "INBOX")
	msgs, err := e.svc.Messages(ctx, core.System("test"), inbox.ID, core.MessageQuery{})
	if err != nil || len(msgs) != 1 || msgs[0].Subject != "Carte CPS" || !strings.Contains(msgs[0].From, "bob@") {
		t.Fatalf("the manager's inbox: %+v, %v", msgs, err)
	}
}

// settingsStep is one form posted on a settings page, and the outcome its
// redirect must name.
type settingsStep struct {
	name     string
	path     string
	form     url.Values
	location string
}

// settingsSteps posts each step in turn and stops at the first whose
// redirect does not name its outcome.
func (e *env) settingsSteps(c *http.Client, steps []settingsStep) {
	e.t.Helper()
	for _, s := range steps {
		res := e.post(c, s.path, s.form)
		if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), s.location) {
			e.t.Fatalf("%s: %s %q, want %s", s.name, res.Status, res.Header.Get("Location"), s.location)
		}
	}
}

// Delegations: alice gives bob access to her mailbox, which he opens at
// once, and takes it back, which closes it at once; what the form refuses
// is said on the page.
func TestSettingsDelegations(t *testing.T) {
	e := newEnv(t)
	c := e.login(alice)
	cb := e.login(bob)
	box := fmt.Sprint(coretest.Mailbox(t, e.svc, alice).ID)
	_, body := e.get(c, "/account/messaging")
	if !strings.Contains(body, "Personne n’a accès à votre boîte.") || !strings.Contains(body, `<option value="`+bob+`">Bob Durand</option>`) {
		t.Fatal("the delegation section does not offer the local accounts")
	}
	if res, _ := e.get(cb, "/mail/"+box); res.StatusCode == http.StatusOK {
		t.Fatal("bob opens alice's mailbox before any delegation")
	}
	e.settingsSteps(c, []settingsStep{
		{"unknown person", "/account/delegates/grant", url.Values{"person": {"nobody@" + coretest.Domain}, "access": {"admin_access_read"}}, "error=delegate"},
		{"herself", "/account/delegates/grant", url.Values{"person": {alice}, "access": {"admin_access_read"}}, "error=delegate"},
		{"send as", "/account/delegates/grant", url.Values{"person": {bob}, "access": {"admin_access_as"}}, "error=delegate"},
		{"read", "/account/delegates/grant", url.Values{"person": {bob}, "access": {"admin_access_read"}}, "done=delegate_granted"},
	})
	if res, _ := e.get(cb, "/mail/"+box); res.StatusCode != http.StatusOK && res.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob opens alice's mailbox: %s", res.Status)
	}
	bobAcct, err := e.svc.User(context.Background(), bob)
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := e.svc.Mailboxes(context.Background(), core.Actor{AccountID: bobAcct.ID, Address: bob, Door: "test"})
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, b := range boxes {
		seen = seen || b.Address == alice
	}
	if !seen {
		t.Fatal("alice's mailbox is not among bob's")
	}
	_, body = e.get(c, "/account/messaging")
	if !strings.Contains(body, "Bob Durand</strong> · "+bob) || !strings.Contains(body, ">Lecture</span>") {
		t.Fatal("the delegate is not listed with his access")
	}
	e.settingsSteps(c, []settingsStep{
		{"behalf", "/account/delegates/grant", url.Values{"person": {bob}, "access": {"admin_access_behalf"}}, "done=delegate_granted"},
		{"revoke", "/account/delegates/revoke", url.Values{"person": {bob}}, "done=delegate_revoked"},
	})
	if res, _ := e.get(cb, "/mail/"+box); res.StatusCode == http.StatusOK {
		t.Fatal("bob still opens alice's mailbox after the revocation")
	}
}
