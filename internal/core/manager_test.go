package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/store/storetest"
)

// Operators and a domain's managers say who manages it; its people read it
// and write to that manager or to the support through the normal submission
// path, traced without the words; a plain user changes nothing.
func TestManagerContact(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine, SupportAddress: "support@editeur.example"})
		alice := coretest.User(t, svc, "alice", "Alice Martin")
		sophie := coretest.User(t, svc, "sophie", "Sophie Marchand")
		sys := core.System("test")

		info, err := svc.ManagerOf(ctx, alice)
		if err != nil || info.Domain != coretest.Domain || info.Address != "" || info.Support != "support@editeur.example" {
			t.Fatalf("before any contact: %+v, %v", info, err)
		}
		if err := svc.WriteToManager(ctx, alice, core.ToManager, "Accès", "Bonjour"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("writing to a manager never set: %v, want not found", err)
		}
		c := core.ManagerContact{Domain: coretest.Domain, Name: "Sophie Marchand", Address: sophie.Address, Phone: "04 72 00 00 00"}
		if err := svc.SetManagerContact(ctx, alice, c); !errors.Is(err, core.ErrPermission) {
			t.Fatalf("a plain user set the manager: %v", err)
		}
		if err := svc.SetRole(ctx, sys, sophie.Address, coretest.Domain, core.RoleManager); err != nil {
			t.Fatal(err)
		}
		if err := svc.SetManagerContact(ctx, sophie, c); err != nil {
			t.Fatalf("the domain's manager: %v", err)
		}
		if info, err = svc.ManagerOf(ctx, alice); err != nil || info.ManagerContact != c {
			t.Fatalf("manager = %+v, %v; want %+v", info, err, c)
		}

		for _, tt := range []struct {
			name, to, subject, text string
			want                    error
		}{
			{"manager", core.ToManager, "Ma carte CPS", "Ma carte ne fonctionne plus.", nil},
			{"support", core.ToSupport, "Question", "Où est l’annuaire ?", nil},
			{"nobody", "everyone", "x", "y", core.ErrInvalid},
			{"no text", core.ToManager, "Objet", " ", core.ErrInvalid},
			{"too long", core.ToManager, strings.Repeat("x", core.MaxManagerSubject+1), "y", core.ErrInvalid},
		} {
			if err := svc.WriteToManager(ctx, alice, tt.to, tt.subject, tt.text); !errors.Is(err, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			}
		}
		inbox := coretest.Folder(t, svc, sophie.Address, "INBOX")
		msgs, err := svc.Messages(ctx, sys, inbox.ID, core.MessageQuery{})
		if err != nil || len(msgs) != 1 || msgs[0].Subject != "Ma carte CPS" {
			t.Fatalf("the manager's inbox: %+v, %v", msgs, err)
		}
		if n, err := svc.QueueLength(ctx); err != nil || n != 1 {
			t.Fatalf("queued for the support: %d, %v; want 1", n, err)
		}
		if err := svc.SetManagerContact(ctx, sys, core.ManagerContact{Domain: coretest.Domain}); err != nil {
			t.Fatal(err)
		}
		if info, _ := svc.ManagerOf(ctx, alice); info.Address != "" {
			t.Fatalf("the cleared contact remains: %+v", info)
		}
	})
}

// The red list is one setting: SetListed changes it and keeps the rest of
// the profile; nobody else changes it.
func TestSetListed(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice Martin")
		bob := coretest.User(t, svc, "bob", "Bob Durand")
		if err := svc.SetListed(ctx, alice, alice.AccountID, false); err != nil {
			t.Fatal(err)
		}
		if p, err := svc.Profile(ctx, alice, alice.AccountID); err != nil || p.Listed {
			t.Fatalf("after the red list: %+v, %v", p, err)
		}
		pr := core.Profile{Listed: false, City: "Lyon", Profession: "10"}
		if err := svc.SaveProfile(ctx, alice, alice.AccountID, pr); err != nil {
			t.Fatal(err)
		}
		if err := svc.SetListed(ctx, alice, alice.AccountID, true); err != nil {
			t.Fatal(err)
		}
		pr.Listed = true
		if p, err := svc.Profile(ctx, alice, alice.AccountID); err != nil || p != pr {
			t.Fatalf("profile = %+v, %v; want %+v", p, err, pr)
		}
		if err := svc.SetListed(ctx, bob, alice.AccountID, false); !errors.Is(err, core.ErrPermission) {
			t.Fatalf("bob changed alice's listing: %v", err)
		}
	})
}

// Deleting a folder from the settings puts its messages in the Trash; a
// folder with sub-folders, INBOX and the Trash stay.
func TestTrashFolder(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice Martin")
		box := coretest.Mailbox(t, svc, alice.Address).ID
		parent, err := svc.CreateFolder(ctx, alice, box, "Patients", "")
		if err != nil {
			t.Fatal(err)
		}
		child, err := svc.CreateFolder(ctx, alice, box, "Patients/2026", "")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := svc.Append(ctx, alice, child.ID, 0, nil, time.Now(), []byte("Subject: x\r\n\r\ny\r\n")); err != nil {
				t.Fatal(err)
			}
		}
		trash := coretest.Folder(t, svc, alice.Address, "Trash")
		for _, tt := range []struct {
			name string
			id   int64
			want error
		}{
			{"with sub-folders", parent.ID, core.ErrHasChildren},
			{"inbox", coretest.Folder(t, svc, alice.Address, "INBOX").ID, core.ErrInvalid},
			{"trash", trash.ID, core.ErrInvalid},
		} {
			if _, err := svc.TrashFolder(ctx, alice, tt.id); !errors.Is(err, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			}
		}
		bob := coretest.User(t, svc, "bob", "Bob Durand")
		if _, err := svc.TrashFolder(ctx, bob, child.ID); err == nil {
			t.Fatal("bob deleted alice's folder")
		}
		if n, err := svc.TrashFolder(ctx, alice, child.ID); err != nil || n != 2 {
			t.Fatalf("trash 2026: %d, %v; want 2", n, err)
		}
		if f, err := svc.Folder(ctx, alice, trash.ID); err != nil || f.Messages != 2 {
			t.Fatalf("trash after: %+v, %v", f, err)
		}
		if _, err := svc.TrashFolder(ctx, alice, parent.ID); err != nil {
			t.Fatalf("the parent, now alone: %v", err)
		}
	})
}
