package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"caduceus/internal/audit"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/store/storetest"
)

// A person keeps their own signatures and profile; nobody else reads or
// changes them, the system reads them to publish the directory, every change
// is traced, and removing the account removes them.
func TestSignaturesAndProfile(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc, st := coretest.NewWithStore(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice Martin")
		bob := coretest.User(t, svc, "bob", "Bob Durand")

		sig, err := svc.AddSignature(ctx, alice, alice.AccountID, "Cabinet", "Dr Alice Martin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AddSignature(ctx, alice, alice.AccountID, "Hôpital", "Service de cardiologie"); err != nil {
			t.Fatal(err)
		}
		sigs, err := svc.Signatures(ctx, alice, alice.AccountID)
		if err != nil || len(sigs) != 2 || sigs[0] != sig || sigs[1].Name != "Hôpital" {
			t.Fatalf("signatures = %+v, %v; want Cabinet then Hôpital", sigs, err)
		}
		pr := core.Profile{Listed: false, Dematerialised: true, Profession: "10", City: "Lyon", Postcode: "69003"}
		if err := svc.SaveProfile(ctx, alice, alice.AccountID, pr); err != nil {
			t.Fatal(err)
		}
		if got, err := svc.Profile(ctx, core.System("web"), alice.AccountID); err != nil || got != pr {
			t.Fatalf("profile as the system = %+v, %v; want %+v", got, err, pr)
		}
		if got, err := svc.Profile(ctx, bob, bob.AccountID); err != nil || got != core.DefaultProfile {
			t.Fatalf("a profile never saved = %+v, %v; want the default", got, err)
		}

		for name, call := range map[string]func() error{
			"list":   func() error { _, err := svc.Signatures(ctx, bob, alice.AccountID); return err },
			"add":    func() error { _, err := svc.AddSignature(ctx, bob, alice.AccountID, "x", "y"); return err },
			"delete": func() error { return svc.DeleteSignature(ctx, bob, alice.AccountID, sig.ID) },
			"read":   func() error { _, err := svc.Profile(ctx, bob, alice.AccountID); return err },
			"save":   func() error { return svc.SaveProfile(ctx, bob, alice.AccountID, core.DefaultProfile) },
		} {
			if err := call(); !errors.Is(err, core.ErrPermission) {
				t.Errorf("bob could %s alice's preferences: %v", name, err)
			}
		}
		if err := svc.DeleteSignature(ctx, bob, bob.AccountID, sig.ID); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("bob deleted alice's signature through his own account: %v", err)
		}
		for _, c := range []struct{ name, text string }{
			{"", "text"}, {"name", ""}, {strings.Repeat("n", core.MaxSignatureName+1), "text"},
			{"name", strings.Repeat("é", core.MaxSignatureText+1)},
		} {
			if _, err := svc.AddSignature(ctx, alice, alice.AccountID, c.name, c.text); !errors.Is(err, core.ErrInvalid) {
				t.Errorf("signature %.10q/%.10q: %v, want ErrInvalid", c.name, c.text, err)
			}
		}
		if err := svc.SaveProfile(ctx, alice, alice.AccountID, core.Profile{City: strings.Repeat("a", core.MaxProfileField+1)}); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("a long city: %v, want ErrInvalid", err)
		}
		if err := svc.DeleteSignature(ctx, alice, alice.AccountID, sig.ID); err != nil {
			t.Fatal(err)
		}

		trail, err := svc.Audit().List(ctx, audit.Query{Actor: alice.Address})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range trail {
			actions = append(actions, e.Action+" "+e.Target)
		}
		want := "signature.delete alice@test.mssante.fr, profile.save alice@test.mssante.fr, " +
			"signature.add alice@test.mssante.fr, signature.add alice@test.mssante.fr"
		if got := strings.Join(actions, ", "); got != want {
			t.Errorf("alice's trail: %s, want %s", got, want)
		}

		if err := svc.RemoveUser(ctx, core.System("test"), alice.Address); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"web_signatures", "web_directory_profiles"} {
			var n int
			if err := st.QueryRow(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s keeps %d rows of a removed account (%v)", table, n, err)
			}
		}
	})
}

// Signatures for a mailbox: those for it, then those for every mailbox;
// one default per mailbox, the mailbox's own before the one for every
// mailbox; only mailboxes one sends from.
func TestSignatureDefaults(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice Martin")
		bob := coretest.User(t, svc, "bob", "Bob Durand")
		own := coretest.Mailbox(t, svc, "alice@"+coretest.Domain).ID
		sys := core.System("test")
		org, err := svc.AddMailbox(ctx, sys, "secretariat@"+coretest.Domain, core.KindOrganisational, "Secrétariat", "")
		if err != nil {
			t.Fatal(err)
		}
		readOnly, err := svc.AddMailbox(ctx, sys, "archives@"+coretest.Domain, core.KindOrganisational, "Archives", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.SetRights(ctx, sys, org.ID, "alice@"+coretest.Domain, core.RightLookup|core.RightRead|core.RightSendOnBehalf); err != nil {
			t.Fatal(err)
		}
		if err := svc.SetRights(ctx, sys, readOnly.ID, "alice@"+coretest.Domain, core.RightLookup|core.RightRead); err != nil {
			t.Fatal(err)
		}
		save := func(s core.Signature) core.Signature {
			t.Helper()
			s, err := svc.SaveSignature(ctx, alice, alice.AccountID, s)
			if err != nil {
				t.Fatalf("save %s: %v", s.Name, err)
			}
			return s
		}
		a := save(core.Signature{Name: "A", Text: "a", Default: true})
		b := save(core.Signature{Name: "B", Text: "b", HTML: "<b>b</b>"})
		c := save(core.Signature{Name: "C", Text: "c", MailboxID: org.ID, Default: true})
		check := func(when string, box int64, names, def string) {
			t.Helper()
			list, got, err := svc.SignaturesFor(ctx, alice, alice.AccountID, box)
			var ns []string
			for _, s := range list {
				ns = append(ns, s.Name)
			}
			if err != nil || strings.Join(ns, " ") != names || got != def {
				t.Errorf("%s, mailbox %d: %v default %q, %v; want %s default %q", when, box, ns, got, err, names, def)
			}
		}
		check("saved", own, "A B", a.ID)
		check("saved", org.ID, "C A B", c.ID)
		b.Default = true
		save(b)
		check("B made default", own, "A B", b.ID)
		check("B made default", org.ID, "C A B", c.ID)
		if err := svc.SetDefaultSignature(ctx, alice, alice.AccountID, c.ID, false); err != nil {
			t.Fatal(err)
		}
		check("C no longer default", org.ID, "C A B", b.ID)
		if err := svc.SetDefaultSignature(ctx, alice, alice.AccountID, a.ID, true); err != nil {
			t.Fatal(err)
		}
		check("A default again", own, "A B", a.ID)

		for _, tt := range []struct {
			name string
			err  error
			call func() error
		}{
			{"a mailbox alice only reads", core.ErrPermission, func() error {
				_, err := svc.SaveSignature(ctx, alice, alice.AccountID, core.Signature{Name: "R", Text: "r", MailboxID: readOnly.ID})
				return err
			}},
			{"HTML too long", core.ErrInvalid, func() error {
				_, err := svc.SaveSignature(ctx, alice, alice.AccountID, core.Signature{Name: "L", Text: "l", HTML: strings.Repeat("x", core.MaxSignatureHTML+1)})
				return err
			}},
			{"an unknown signature", core.ErrNotFound, func() error {
				_, err := svc.SaveSignature(ctx, alice, alice.AccountID, core.Signature{ID: "nope", Name: "N", Text: "n"})
				return err
			}},
			{"bob changes alice's through his account", core.ErrNotFound, func() error {
				_, err := svc.SaveSignature(ctx, bob, bob.AccountID, core.Signature{ID: a.ID, Name: "N", Text: "n"})
				return err
			}},
			{"bob makes alice's default", core.ErrPermission, func() error {
				return svc.SetDefaultSignature(ctx, bob, alice.AccountID, a.ID, true)
			}},
			{"bob lists alice's for a mailbox", core.ErrPermission, func() error {
				_, _, err := svc.SignaturesFor(ctx, bob, alice.AccountID, own)
				return err
			}},
		} {
			if err := tt.call(); !errors.Is(err, tt.err) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
			}
		}
		if sigs, _ := svc.Signatures(ctx, alice, alice.AccountID); sigs[0].Name != "A" {
			t.Errorf("a refused change touched a signature: %+v", sigs[0])
		}
	})
}
