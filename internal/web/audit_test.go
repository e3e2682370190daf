package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"caduceus/internal/audit"
)

// TestAuditTrail checks that what a person does in the web app is traced
// to them, without content: login, read, move, delete, send, logout.
func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	e.deliver(labResult, alice)
	e.deliver(strings.Replace(labResult, "lab-1@", "lab-2@", 1), alice)
	c := e.login(alice)
	_, body := e.follow(c, "/")
	links := regexpMust(`href="(/mail/(\d+)/(\d+)/\d+)"`).FindAllStringSubmatch(body, -1)
	if len(links) != 2 {
		t.Fatalf("inbox lists %d messages", len(links))
	}
	box := links[0][2]
	if res, _ := e.get(c, links[0][1]); res.StatusCode != http.StatusOK {
		t.Fatalf("read: %s", res.Status)
	}
	trash := regexpMust(`<option value="(\d+)">Corbeille</option>`).FindStringSubmatch(mustGet(t, e, c, links[0][1]))
	if res := e.post(c, links[0][1]+"/act", url.Values{"op": {"move"}, "folder": {trash[1]}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("move: %s", res.Status)
	}
	if res := e.post(c, links[1][1]+"/act", url.Values{"op": {"delete"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %s", res.Status)
	}
	if res := e.post(c, "/mail/"+box+"/compose", url.Values{"to": {bob}, "subject": {"Avis"}, "body": {"Bonjour"}, "action": {"send"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %s", res.Status)
	}
	e.post(c, "/logout", nil)

	entries, err := e.svc.Audit().List(context.Background(), audit.Query{Actor: alice, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for _, en := range entries {
		seen[en.Action] = true
		for _, secret := range []string{"Résultats", "Petit", "Avis", "Bonjour", bob} {
			if strings.Contains(en.Target+en.Detail, secret) {
				t.Errorf("audit entry %+v carries content %q", en, secret)
			}
		}
	}
	for _, want := range []string{"login", "read", "logout"} {
		if !seen[want] {
			t.Errorf("no %q entry in the trail; actions seen: %v", want, seen)
		}
	}
	if !seen["move"] && !seen["expunge"] && !seen["delete"] {
		t.Errorf("no move or delete entry in the trail; actions seen: %v", seen)
	}
	if !seen["send"] && !seen["submit"] {
		t.Errorf("no send entry in the trail; actions seen: %v", seen)
	}
}

func mustGet(t *testing.T, e *env, c *http.Client, path string) string {
	t.Helper()
	res, body := e.get(c, path)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", path, res.Status)
	}
	return body
}
