package core_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"caduceus/internal/blob"
	"caduceus/internal/core"
	"caduceus/internal/store"
	"caduceus/internal/store/storetest"
)

// Two nodes on one PostgreSQL store: a delivery on one wakes a watcher on the
// other within a second.
func TestClusterEvents(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	a, b := clusterNode(t, dsn), clusterNode(t, dsn)
	sys := core.System("test")
	if err := a.AddDomain(ctx, sys, "test.mssante.fr"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddUser(ctx, sys, core.NewUser{Address: "alice@test.mssante.fr", Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	mb, err := b.MailboxByAddress(ctx, sys, "alice@test.mssante.fr")
	if err != nil {
		t.Fatal(err)
	}
	w := b.Watch(mb.ID)
	defer w.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !b.ListeningForTest() {
		if time.Now().After(deadline) {
			t.Fatal("node b never started listening")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := a.Deliver(ctx, sys, core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: []byte("Subject: x\r\n\r\nx\r\n")}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-w.C:
		if e.Kind != core.EventNew || e.MailboxID != mb.ID {
			t.Fatalf("event = %+v", e)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("event took %v", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("node b heard nothing of a delivery on node a")
	}
}

// clusterNode starts a core on the PostgreSQL store of dsn, as one node of
// a cluster, with blobs of its own.
func clusterNode(t *testing.T, dsn string) *core.Service {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, blob.KeySize)
	rand.Read(key)
	blobs, err := blob.Open(t.TempDir(), key)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := core.New(ctx, core.Options{Store: st, Blobs: blobs, Hostname: "node"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(); blobs.Close(); st.Close() })
	return svc
}

// Two nodes on one PostgreSQL store count the same failed logins: wrong
// passwords tried on node A delay the account on node B too, and a
// password changed on A stops the old one on B at once, though B had just
// checked it.
func TestClusterLoginGuard(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	a, b := clusterNode(t, dsn), clusterNode(t, dsn)
	sys := core.System("test")
	if err := a.AddDomain(ctx, sys, "test.mssante.fr"); err != nil {
		t.Fatal(err)
	}
	const addr, pw = "alice@test.mssante.fr", "un mot de passe assez long"
	if _, err := a.AddUser(ctx, sys, core.NewUser{Address: addr, Name: "Alice", Password: pw}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Login(ctx, "imap", "127.0.0.2:1", addr, pw); err != nil {
		t.Fatalf("login on B: %v", err)
	}
	for i := range core.DefaultLoginPolicy().AccountFree {
		if _, err := a.Login(ctx, "imap", "127.0.0.3:1", addr, "wrong"); !errors.Is(err, core.ErrAuth) {
			t.Fatalf("wrong password %d on A: %v", i, err)
		}
	}
	if _, err := b.Login(ctx, "imap", "127.0.0.4:1", addr, pw); !errors.Is(err, core.ErrTooManyAttempts) {
		t.Fatalf("right password on B right after five wrong ones on A: %v, want ErrTooManyAttempts", err)
	}
	for !b.ListeningForTest() {
		time.Sleep(10 * time.Millisecond)
	}
	// Past the delay, which the refused try on B doubled.
	time.Sleep(2*core.DefaultLoginPolicy().DelayBase + 500*time.Millisecond)
	if _, err := b.Login(ctx, "imap", "127.0.0.4:1", addr, pw); err != nil {
		t.Fatalf("right password on B after the delay: %v", err)
	}
	if err := a.SetPassword(ctx, sys, addr, "un autre mot de passe long"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		_, err := b.Login(ctx, "imap", "127.0.0.4:1", addr, pw)
		if errors.Is(err, core.ErrAuth) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old password still opens B a second after it changed on A: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
