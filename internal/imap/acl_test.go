package imap

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

func systemActor() core.Actor { return core.System("test") }

// TestACLOrgMailboxAndDelegate checks that an organisational mailbox
// appears under the shared namespace with the rights the core grants, and
// that SETACL by its admin gives a delegate access at once.
func TestACLOrgMailboxAndDelegate(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	coretest.User(t, ts.svc, "alice", "Alice")
	coretest.User(t, ts.svc, "bob", "Bob")
	org := "cardio@" + coretest.Domain
	mb, err := ts.svc.AddMailbox(ctx, systemActor(), org, core.KindOrganisational, "Cardiologie", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.svc.SetRights(ctx, systemActor(), mb.ID, "alice@"+coretest.Domain, core.AllRights); err != nil {
		t.Fatal(err)
	}
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
