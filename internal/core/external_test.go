package core_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/store/storetest"
)

// An external link that expired is purged: its recipient's address and the
// copy of the message it held go, a link still running stays, and only the
// system may purge.
func TestPurgeExternalLinks(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		clock := coretest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
		svc, st := coretest.NewWithStore(t, coretest.Options{Engine: engine, Now: clock.Now})
		alice := coretest.User(t, svc, "alice", "Alice")
		send := func(to string) string {
			res, err := svc.Submit(ctx, alice, core.Submission{MailFrom: alice.Address, Recipients: []string{to}, External: true,
				Data: []byte("From: " + alice.Address + "\r\nTo: " + to + "\r\nSubject: Compte rendu\r\n\r\nVoici.\r\n")})
			if err != nil || len(res.External) != 1 {
				t.Fatalf("external send to %s: %+v, %v", to, res, err)
			}
			return res.External[0].Token
		}
		refs := func() int64 {
			var n int64
			if err := st.QueryRow(ctx, `SELECT COALESCE(SUM(refs), 0) FROM blobs`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		old := send("patient@example.org")
		clock.Add(20 * 24 * time.Hour)
		recent := send("other@example.org")
		before := refs()
		clock.Add(15 * 24 * time.Hour) // the first link is 35 days old: expired; the second 15
		if _, err := svc.PurgeExternalLinks(ctx, alice, clock.Now()); !errors.Is(err, core.ErrPermission) {
			t.Fatalf("purge by a user: %v", err)
		}
		n, err := svc.PurgeExternalLinks(ctx, core.System("test"), clock.Now())
		if err != nil || n != 1 {
			t.Fatalf("purge: %d, %v; want 1", n, err)
		}
		if _, err := svc.OpenExternal(ctx, core.System("web"), old, ""); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("the purged link opens: %v", err)
		}
		if _, err := svc.OpenExternal(ctx, core.System("web"), recent, ""); err != nil {
			t.Errorf("the running link: %v", err)
		}
		if got := refs(); got != before-1 {
			t.Errorf("blob references %d after the purge, want %d", got, before-1)
		}
		var rows int
		if err := st.QueryRow(ctx, `SELECT COUNT(*) FROM external_links WHERE rcpt = ?`, "patient@example.org").Scan(&rows); err != nil || rows != 0 {
			t.Errorf("%d rows still name the purged link's recipient (%v)", rows, err)
		}
		if n, err := svc.PurgeExternalLinks(ctx, core.System("test"), clock.Now()); err != nil || n != 0 {
			t.Errorf("second purge: %d, %v", n, err)
		}
	})
}
