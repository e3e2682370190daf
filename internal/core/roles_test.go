package core_test

import (
	"context"
	"errors"
	"testing"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// A manager creates and disables the accounts of their domain and lists
// them, and nothing of another domain; only operators hand out roles.
func TestManagerRole(t *testing.T) {
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{})
	sys := core.System("test")
	if err := svc.AddDomain(ctx, sys, "autre.mssante.fr"); err != nil {
		t.Fatal(err)
	}
	anne := coretest.User(t, svc, "anne", "Anne Gestion")
	paul := coretest.User(t, svc, "paul", "Paul Durand")
	if err := svc.SetRole(ctx, paul, anne.Address, coretest.Domain, core.RoleManager); !errors.Is(err, core.ErrPermission) {
		t.Fatalf("a user handing out a role: %v", err)
	}
	if _, err := svc.DomainAccounts(ctx, anne, coretest.Domain); !errors.Is(err, core.ErrPermission) {
		t.Fatalf("accounts listed before the role: %v", err)
	}
	if err := svc.SetRole(ctx, sys, anne.Address, coretest.Domain, core.RoleManager); err != nil {
		t.Fatal(err)
	}
	if d, err := svc.ManagedDomains(ctx, anne); err != nil || len(d) != 1 || d[0] != coretest.Domain {
		t.Fatalf("managed domains = %v, %v", d, err)
	}
	if _, err := svc.AddUser(ctx, anne, core.NewUser{Address: "new@" + coretest.Domain, Name: "New"}); err != nil {
		t.Fatalf("manager creating an account of the domain: %v", err)
	}
	if _, err := svc.AddUser(ctx, anne, core.NewUser{Address: "x@autre.mssante.fr", Name: "X"}); !errors.Is(err, core.ErrPermission) {
		t.Fatalf("manager creating an account elsewhere: %v", err)
	}
	if err := svc.SetDisabled(ctx, anne, paul.Address, true); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetDisabled(ctx, anne, anne.Address, true); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("manager disabling themself: %v", err)
	}
	if err := svc.SetDisabled(ctx, paul, anne.Address, true); !errors.Is(err, core.ErrPermission) {
		t.Fatalf("a user disabling a manager: %v", err)
	}
	accts, err := svc.DomainAccounts(ctx, anne, coretest.Domain)
	if err != nil || len(accts) != 3 {
		t.Fatalf("domain accounts = %+v, %v", accts, err)
	}
	for _, a := range accts {
		if a.Address == paul.Address && !a.Disabled || a.Address == anne.Address && !a.Manager {
			t.Errorf("account %+v", a)
		}
	}
	// A manager hands out rights on the domain's shared mailboxes without
	// being able to read them.
	box, err := svc.AddMailbox(ctx, anne, "accueil@"+coretest.Domain, core.KindOrganisational, "Accueil", "")
	if err != nil {
		t.Fatalf("manager creating a shared mailbox: %v", err)
	}
	if err := svc.SetRights(ctx, anne, box.ID, paul.Address, core.RightLookup|core.RightRead); err != nil {
		t.Fatalf("manager granting access: %v", err)
	}
	if acl, err := svc.ACL(ctx, anne, box.ID); err != nil || len(acl) != 1 || acl[0].Address != paul.Address {
		t.Fatalf("ACL seen by the manager = %+v, %v", acl, err)
	}
	if _, err := svc.FolderByName(ctx, anne, box.ID, "INBOX"); err == nil {
		t.Fatal("the manager opens the shared mailbox's INBOX")
	}
	if err := svc.SetRole(ctx, sys, anne.Address, coretest.Domain, core.RoleNone); err != nil {
		t.Fatal(err)
	}
	if d, err := svc.ManagedDomains(ctx, anne); err != nil || len(d) != 0 {
		t.Fatalf("after the role is taken back: %v, %v", d, err)
	}
}
