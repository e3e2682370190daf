package core_test

import (
	"context"
	"crypto/rand"
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
	node := func() *core.Service {
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
	a, b := node(), node()
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
