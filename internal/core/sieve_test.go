package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"caduceus/internal/audit"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/store/storetest"
)

// A mailbox's holder manages its Sieve scripts (RFC 5804's operations);
// nobody else does; every change is traced.
func TestSieveScripts(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice")
		bob := coretest.User(t, svc, "bob", "Bob")
		mb := coretest.Mailbox(t, svc, alice.Address).ID

		if err := svc.PutSieveScript(ctx, bob, mb, "x", "keep;"); !errors.Is(err, core.ErrNotFound) && !errors.Is(err, core.ErrPermission) {
			t.Fatalf("bob puts a script in alice's mailbox: %v", err)
		}
		err := svc.PutSieveScript(ctx, alice, mb, "bad", "if true {")
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "1:9: block not closed") {
			t.Fatalf("invalid script: %v", err)
		}
		for _, name := range []string{"", "a\nb", strings.Repeat("n", core.MaxSieveName+1)} {
			if err := svc.PutSieveScript(ctx, alice, mb, name, "keep;"); !errors.Is(err, core.ErrInvalid) {
				t.Errorf("name %q: %v", name, err)
			}
		}
		if err := svc.PutSieveScript(ctx, alice, mb, "one", "keep;"); err != nil {
			t.Fatal(err)
		}
		if err := svc.PutSieveScript(ctx, alice, mb, "two", "discard;"); err != nil {
			t.Fatal(err)
		}
		if err := svc.ActivateSieveScript(ctx, alice, mb, "two"); err != nil {
			t.Fatal(err)
		}
		if err := svc.ActivateSieveScript(ctx, alice, mb, "three"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("activate a missing script: %v", err)
		}
		if err := svc.DeleteSieveScript(ctx, alice, mb, "two"); !errors.Is(err, core.ErrSieveActive) {
			t.Errorf("delete the active script: %v", err)
		}
		if err := svc.RenameSieveScript(ctx, alice, mb, "two", "one"); !errors.Is(err, core.ErrExists) {
			t.Errorf("rename onto a taken name: %v", err)
		}
		if err := svc.RenameSieveScript(ctx, alice, mb, "two", "deux"); err != nil {
			t.Fatal(err)
		}
		list, err := svc.SieveScripts(ctx, alice, mb)
		if err != nil || len(list) != 2 || list[0].Name != "deux" || !list[0].Active || list[1].Name != "one" || list[1].Active {
			t.Fatalf("list: %+v, %v", list, err)
		}
		sc, err := svc.SieveScript(ctx, alice, mb, "deux")
		if err != nil || sc.Content != "discard;" {
			t.Fatalf("get: %+v, %v", sc, err)
		}
		if _, err := svc.SieveScripts(ctx, bob, mb); err == nil {
			t.Error("bob lists alice's scripts")
		}
		if err := svc.SieveSpace(ctx, alice, mb, "big", core.MaxSieveSize+1); !errors.Is(err, core.ErrQuota) {
			t.Errorf("HAVESPACE too big: %v", err)
		}
		for i := len(list); i < core.MaxSieveScripts; i++ {
			if err := svc.PutSieveScript(ctx, alice, mb, "s"+strings.Repeat("x", i), "keep;"); err != nil {
				t.Fatal(err)
			}
		}
		if err := svc.PutSieveScript(ctx, alice, mb, "one-too-many", "keep;"); !errors.Is(err, core.ErrQuota) {
			t.Errorf("script past the limit: %v", err)
		}
		if err := svc.ActivateSieveScript(ctx, alice, mb, ""); err != nil {
			t.Fatal(err)
		}
		if err := svc.DeleteSieveScript(ctx, alice, mb, "deux"); err != nil {
			t.Fatal(err)
		}
		trail, err := svc.Audit().List(ctx, audit.Query{Actor: alice.Address})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range trail {
			seen[e.Action] = true
		}
		for _, a := range []string{"sieve-put", "sieve-activate", "sieve-deactivate", "sieve-rename", "sieve-delete"} {
			if !seen[a] {
				t.Errorf("trail lacks %s", a)
			}
		}
	})
}

// The automatic reply's settings: checked, kept, traced, and shown as the
// Sieve script they run as.
func TestVacationSettings(t *testing.T) {
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{})
	alice := coretest.User(t, svc, "alice", "Alice")
	mb := coretest.Mailbox(t, svc, alice.Address).ID
	v, err := svc.Vacation(ctx, alice, mb)
	if err != nil || v.Enabled || v.Days != 7 {
		t.Fatalf("default: %+v, %v", v, err)
	}
	start := time.Date(2026, 12, 20, 8, 0, 0, 0, time.UTC)
	for _, bad := range []core.VacationSettings{
		{Enabled: true},
		{Enabled: true, Text: "x", Days: 400},
		{Enabled: true, Text: "x", Start: start, End: start.Add(-time.Hour)},
	} {
		if err := svc.SetVacation(ctx, alice, mb, bad); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	want := core.VacationSettings{Enabled: true, Subject: `En "congé"`, Text: "Absente.\n.\nRetour le 3.", Days: 3, Start: start, End: start.Add(72 * time.Hour)}
	if err := svc.SetVacation(ctx, alice, mb, want); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Vacation(ctx, alice, mb)
	if err != nil || got.Enabled != want.Enabled || got.Subject != want.Subject || got.Text != want.Text || got.Days != 3 || !got.Start.Equal(start) || !got.End.Equal(want.End) {
		t.Fatalf("got %+v, %v", got, err)
	}
	script := core.VacationScript(got)
	if err := core.CheckSieveScript(script); err != nil {
		t.Fatalf("vacation script %q: %v", script, err)
	}
	if !strings.Contains(script, `:subject "En \"congé\""`) || !strings.Contains(script, "\r\n..\r\n") {
		t.Errorf("script:\n%s", script)
	}
}
