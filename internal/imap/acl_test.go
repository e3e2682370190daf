package imap

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"caduceus/internal/audit"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

func systemActor() core.Actor { return core.System("test") }

// cardioForAlice creates the organisational mailbox cardio@ with every
// right for alice, and returns its address.
func cardioForAlice(t *testing.T, ts *testServer) string {
	t.Helper()
	org := "cardio@" + coretest.Domain
	mb, err := ts.svc.AddMailbox(context.Background(), systemActor(), org, core.KindOrganisational, "Cardiologie", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.svc.SetRights(context.Background(), systemActor(), mb.ID, "alice@"+coretest.Domain, core.AllRights); err != nil {
		t.Fatal(err)
	}
	return org
}

// TestACLOrgMailboxAndDelegate checks that an organisational mailbox
// appears under the shared namespace with the rights the core grants, and
// that SETACL by its admin gives a delegate access at once.
func TestACLOrgMailboxAndDelegate(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	coretest.User(t, ts.svc, "bob", "Bob")
	org := cardioForAlice(t, ts)
	alice := ts.dial(t, "alice", nil)
	bob := ts.dial(t, "bob", nil)
	shared := "Shared/" + org + "/INBOX"

	list, err := alice.List("", "Shared/*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !listed(list, shared) {
		t.Fatalf("alice's LIST lacks %s: %v", shared, list)
	}
	rights, err := alice.MyRights(shared).Wait()
	if err != nil || !strings.Contains(string(rights.Rights), "a") {
		t.Fatalf("MYRIGHTS = %+v, %v", rights, err)
	}
	if _, err := bob.Select(shared, nil).Wait(); err == nil {
		t.Fatal("bob selected the org mailbox without rights")
	}
	if list, _ := bob.List("", "Shared/*", nil).Collect(); listed(list, shared) {
		t.Fatal("bob sees the org mailbox without rights")
	}

	if err := alice.SetACL(shared, "bob@"+coretest.Domain, imap.RightModificationReplace, imap.RightSet("lr")).Wait(); err != nil {
		t.Fatalf("SETACL: %v", err)
	}
	acl, err := alice.GetACL(shared).Wait()
	if err != nil || string(acl.Rights["bob@"+coretest.Domain]) != "lr" {
		t.Fatalf("GETACL = %+v, %v", acl, err)
	}
	sel, err := bob.Select(shared, nil).Wait()
	if err != nil {
		t.Fatalf("bob SELECT after SETACL: %v", err)
	}
	if len(sel.PermanentFlags) != 0 {
		t.Errorf("bob with lr got a writable mailbox: %v", sel.PermanentFlags)
	}
	msg := "Subject: x\r\n\r\ny\r\n"
	cmd := bob.Append(shared, int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	cmd.Close()
	if _, err := cmd.Wait(); err == nil {
		t.Error("bob appended without the insert right")
	}
	if err := alice.SetACL(shared, "bob@"+coretest.Domain, imap.RightModificationAdd, imap.RightSet("i")).Wait(); err != nil {
		t.Fatalf("SETACL +i: %v", err)
	}
	cmd = bob.Append(shared, int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Errorf("bob APPEND after +i: %v", err)
	}
	if err := bob.SetACL(shared, "bob@"+coretest.Domain, imap.RightModificationReplace, imap.RightSet("lrswipkxtea")).Wait(); err == nil {
		t.Error("bob changed the ACL without the admin right")
	}
	if err := alice.SetACL(shared, "bob@"+coretest.Domain, imap.RightModificationReplace, imap.RightSet("")).Wait(); err != nil {
		t.Fatalf("SETACL to nothing: %v", err)
	}
	if _, err := bob.Status(shared, &imap.StatusOptions{NumMessages: true}).Wait(); err == nil {
		t.Error("bob still reads the org mailbox after his rights were removed")
	}
	root, err := alice.GetQuotaRoot("INBOX").Wait()
	if err != nil || len(root) != 1 {
		t.Errorf("GETQUOTAROOT = %v, %v", root, err)
	}
}

func listed(list []*imap.ListData, name string) bool {
	for _, l := range list {
		if l.Mailbox == name {
			return true
		}
	}
	return false
}

// TestDeleteACLAndListRights removes a delegate's rights with DELETEACL,
// lists the rights that may be granted with LISTRIGHTS (RFC 4314 §3.2,
// §3.4), and maps the obsolete c and d rights (RFC 4314 §2.1.1,
// RIGHTS=kxte).
func TestDeleteACLAndListRights(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	coretest.User(t, ts.svc, "bob", "Bob")
	bob := "bob@" + coretest.Domain
	r := ts.raw(t, "alice")
	r.ok("SETACL INBOX " + bob + " lr")
	r.ok("SETACL INBOX " + bob + " +c")
	if lines := r.ok("GETACL INBOX"); len(lines) != 1 || !strings.Contains(lines[0], `"`+bob+`" "lrkx"`) {
		t.Errorf("GETACL after +c = %q, want lrkx", lines)
	}
	r.ok("SETACL INBOX " + bob + " -d")
	if lines := r.ok("GETACL INBOX"); len(lines) != 1 || !strings.Contains(lines[0], `"`+bob+`" "lrk"`) {
		t.Errorf("GETACL after -d = %q, want lrk", lines)
	}
	want := `* LISTRIGHTS "INBOX" "` + bob + `" "" l r s w i p k x t e a 1 2`
	if lines := r.ok("LISTRIGHTS INBOX " + bob); len(lines) != 1 || lines[0] != want {
		t.Errorf("LISTRIGHTS = %q, want %q", lines, want)
	}
	b := ts.raw(t, "bob")
	shared := `"Shared/alice@` + coretest.Domain + `/INBOX"`
	b.ok("EXAMINE " + shared)
	r.ok("DELETEACL INBOX " + bob)
	if lines := r.ok("GETACL INBOX"); strings.Contains(lines[0], bob) {
		t.Errorf("GETACL after DELETEACL = %q", lines)
	}
	b.fails("EXAMINE "+shared, "NO", "NONEXISTENT")
	b.fails("DELETEACL "+shared+" "+bob, "NO", "NONEXISTENT")
	if lines := r.ok("MYRIGHTS INBOX"); lines[0] != `* MYRIGHTS "INBOX" "lrswipkxtea12"` {
		t.Errorf("MYRIGHTS = %q", lines)
	}
}

// TestQuota reports a mailbox's storage quota in KiB (RFC 9208 §4.2,
// §4.3, QUOTA=RES-STORAGE), refuses SETQUOTA and an APPEND over quota.
func TestQuota(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	alice := "alice@" + coretest.Domain
	mb := coretest.Mailbox(t, ts.svc, alice)
	if err := ts.svc.SetQuota(context.Background(), systemActor(), mb.ID, 4096); err != nil {
		t.Fatal(err)
	}
	r := ts.raw(t, "alice")
	r.appendRaw("INBOX", testMsg)
	want := []string{`* QUOTAROOT "INBOX" "` + alice + `"`, `* QUOTA "` + alice + `" (STORAGE 1 4)`}
	if lines := r.ok("GETQUOTAROOT INBOX"); !slices.Equal(lines, want) {
		t.Errorf("GETQUOTAROOT = %q, want %q", lines, want)
	}
	if lines := r.ok(`GETQUOTA "` + alice + `"`); !slices.Equal(lines, want[1:]) {
		t.Errorf("GETQUOTA = %q", lines)
	}
	r.fails(`SETQUOTA "`+alice+`" (STORAGE 100)`, "NO", "NOPERM")
	r.fails(`GETQUOTA "nobody@`+coretest.Domain+`"`, "NO", "NONEXISTENT")
	big := testMsg + strings.Repeat("x", 4096) + "\r\n"
	r.write(fmt.Sprintf("a APPEND INBOX {%d+}\r\n%s\r\n", len(big), big))
	if _, status := r.until("a"); !strings.HasPrefix(status, "NO [OVERQUOTA]") {
		t.Errorf("APPEND over quota = %q", status)
	}
}

// TestOpeningASharedMailboxIsTraced checks that the trail tells who opened
// an organisational mailbox over IMAP, once per connection and SELECT or
// EXAMINE alike, and that opening one's own INBOX adds nothing.
func TestOpeningASharedMailboxIsTraced(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	coretest.User(t, ts.svc, "alice", "Alice")
	org := cardioForAlice(t, ts)
	opens := func() []audit.Entry {
		t.Helper()
		es, err := ts.svc.Audit().List(ctx, audit.Query{Action: "open"})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	shared := "Shared/" + org + "/INBOX"
	for i := range 2 {
		c := ts.dial(t, "alice", nil)
		for _, examine := range []bool{false, true, false} {
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Select(shared, &imap.SelectOptions{ReadOnly: examine}).Wait(); err != nil {
				t.Fatal(err)
			}
		}
		es := opens()
		if len(es) != i+1 {
			t.Fatalf("after connection %d: %d open entries, want %d: %+v", i+1, len(es), i+1, es)
		}
		e := es[0]
		if e.Actor != "alice@"+coretest.Domain || e.Door != "imap" || e.Target != "mailbox "+org || e.Detail != "imap select" || e.Result != "ok" {
			t.Errorf("open entry %+v", e)
		}
	}
}

// TestRevokedDelegateTold: a delegate IDLE in a mailbox they were given is
// told at once when the owner takes the rights back, and then sees
// nothing of it; an org member likewise (issue 12).
func TestRevokedDelegateTold(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	coretest.User(t, ts.svc, "bob", "Bob")
	ctx := context.Background()
	for _, box := range []string{"alice@" + coretest.Domain, cardioForAlice(t, ts)} {
		mb, err := ts.svc.MailboxByAddress(ctx, systemActor(), box)
		if err != nil {
			t.Fatal(err)
		}
		if err := ts.svc.SetRights(ctx, systemActor(), mb.ID, "bob@"+coretest.Domain, core.RightLookup|core.RightRead); err != nil {
			t.Fatal(err)
		}
		r := ts.raw(t, "bob")
		shared := `"Shared/` + box + `/INBOX"`
		r.ok("SELECT " + shared)
		r.write("i IDLE\r\n")
		if l := r.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("IDLE: %q", l)
		}
		start := time.Now()
		if err := ts.svc.SetRights(ctx, systemActor(), mb.ID, "bob@"+coretest.Domain, 0); err != nil {
			t.Fatal(err)
		}
		l := r.line()
		if d := time.Since(start); d > time.Second || !strings.Contains(l, "BYE") && !strings.Contains(l, "NOPERM") && !strings.Contains(l, "CLOSED") {
			t.Fatalf("%s: bob's IDLE got %q after %v, want to be told within a second", box, l, d)
		}
		t.Logf("%s: told %q after %v", box, l, time.Since(start).Round(time.Millisecond))
		b := ts.raw(t, "bob")
		if lines, status := b.cmd("STATUS " + shared + " (MESSAGES)"); strings.HasPrefix(status, "OK") {
			t.Errorf("%s: bob's STATUS after the revocation = %q %s", box, lines, status)
		}
		if lines := b.ok(`LIST "" "Shared/*"`); slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, box) }) {
			t.Errorf("%s: bob still lists it: %q", box, lines)
		}
	}
}
