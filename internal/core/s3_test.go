package core_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"caduceus/internal/blob"
	"caduceus/internal/blob/blobtest"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/store"
	"caduceus/internal/store/storetest"
)

// Deliveries on a core whose blobs are in S3: read back, checked, compacted,
// small objects packed; and when the bucket goes away, a delivery fails
// instead of being acknowledged.
func TestDeliverS3(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		srv := blobtest.Own(t)
		svc := coretest.New(t, coretest.Options{Engine: engine, S3: srv})
		alice := coretest.User(t, svc, "alice", "Alice Martin")
		big := strings.Repeat("Compte rendu opératoire, ligne de texte.\r\n", 10000)
		var sent [][]byte
		for i := range 5 {
			data := msg("x@remote.example", "alice@test.mssante.fr", fmt.Sprint("s3-", i), "")
			if i == 4 {
				data = append(data, big...)
			}
			if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{MailFrom: "x@remote.example", Recipients: []string{"alice@test.mssante.fr"}, Data: data}); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, data)
		}
		inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
		msgs, err := svc.Messages(ctx, alice, inbox.ID, core.MessageQuery{})
		if err != nil || len(msgs) != len(sent) {
			t.Fatalf("messages = %d, %v", len(msgs), err)
		}
		for i, m := range msgs {
			raw, err := svc.ReadMessage(ctx, alice, m.ID)
			if err != nil || string(raw) != string(sent[i]) {
				t.Fatalf("message %d: read back %d bytes, %v", i, len(raw), err)
			}
		}
		if problems, err := svc.Check(ctx, nil); err != nil || len(problems) > 0 {
			t.Fatalf("check: %v %v", problems, err)
		}
		// Expunge two, compact: the live ones move to a new object.
		if _, _, err := svc.StoreFlags(ctx, alice, inbox.ID, []uint32{msgs[0].UID, msgs[1].UID}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagDeleted}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Expunge(ctx, alice, inbox.ID, nil); err != nil {
			t.Fatal(err)
		}
		stats, err := svc.BlobStats(ctx)
		if err != nil || len(stats) == 0 {
			t.Fatalf("blob stats: %v, %v", stats, err)
		}
		res, err := svc.CompactBlobs(ctx, core.System("test"), core.CompactOptions{Threshold: 0.01})
		if err != nil {
			t.Fatalf("compact: %v", err)
		}
		if res.Compacted < 2 {
			t.Errorf("compacted %d objects, want the 2 of the expunged messages", res.Compacted)
		}
		for i, m := range msgs[2:] {
			raw, err := svc.ReadMessage(ctx, alice, m.ID)
			if err != nil || string(raw) != string(sent[i+2]) {
				t.Fatalf("after compaction, message %d: %d bytes, %v", i+2, len(raw), err)
			}
		}
		if problems, err := svc.Check(ctx, nil); err != nil || len(problems) > 0 {
			t.Fatalf("check after compaction: %v %v", problems, err)
		}

		// Small objects, one per delivery, are packed together even though
		// nothing in them is dead.
		for i := range 20 {
			data := msg("x@remote.example", "alice@test.mssante.fr", fmt.Sprint("small-", i), "")
			if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{MailFrom: "x@remote.example", Recipients: []string{"alice@test.mssante.fr"}, Data: data}); err != nil {
				t.Fatal(err)
			}
		}
		before, err := svc.BlobStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err = svc.CompactBlobs(ctx, core.System("test"), core.CompactOptions{Grace: time.Hour})
		if err != nil || res.Compacted < 20 || res.Removed != 0 {
			t.Fatalf("packing run = %+v, %v; want the 20 small objects and more retired", res, err)
		}
		// Grace 0: the retired objects go at once; the packed one stays.
		res, err = svc.CompactBlobs(ctx, core.System("test"), core.CompactOptions{Grace: 0})
		if err != nil || res.Removed < 20 || res.Compacted != 0 {
			t.Fatalf("removal run = %+v, %v", res, err)
		}
		after, err := svc.BlobStats(ctx)
		if err != nil || len(after) >= len(before)-15 {
			t.Fatalf("objects: %d before packing, %d after (%v)", len(before), len(after), err)
		}
		msgs, err = svc.Messages(ctx, alice, inbox.ID, core.MessageQuery{})
		if err != nil || len(msgs) != 23 {
			t.Fatalf("messages after packing = %d, %v", len(msgs), err)
		}
		for _, m := range msgs {
			if _, err := svc.ReadMessage(ctx, alice, m.ID); err != nil {
				t.Fatalf("message %q after packing: %v", m.Subject, err)
			}
		}
		if problems, err := svc.Check(ctx, nil); err != nil || len(problems) > 0 {
			t.Fatalf("check after packing: %v %v", problems, err)
		}

		srv.Stop(t)
		err = svc.Deliver(ctx, core.System("smtp"), core.Delivery{MailFrom: "x@remote.example", Recipients: []string{"alice@test.mssante.fr"}, Data: msg("x@remote.example", "alice@test.mssante.fr", "lost", "")})
		if err == nil || !strings.Contains(err.Error(), "upload blob object") {
			t.Fatalf("delivery with the bucket down: %v, want the upload's error", err)
		}
		if err := svc.Ready(ctx); err == nil {
			t.Error("ping with the bucket down: no error")
		}
		if n := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX").Messages; n != 23 {
			t.Errorf("inbox holds %d messages, want the 23 left: the failed delivery left a row", n)
		}
	})
}

// Two nodes on one PostgreSQL store and one bucket, with the same key: a
// message delivered on one reads back on the other, through its own cold
// cache; one compaction at a time runs across them.
func TestClusterS3(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	srv := blobtest.S3(t)
	key := make([]byte, blob.KeySize)
	rand.Read(key)
	node := func() (*core.Service, *store.Store, *blob.Store) {
		st, err := store.Open(ctx, dsn, "")
		if err != nil {
			t.Fatal(err)
		}
		blobs, err := blob.OpenS3(ctx, blob.S3Options{URL: srv.URL, CredentialsFile: srv.CredentialsFile, Dir: t.TempDir(), CacheSize: 16 << 20}, key)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := core.New(ctx, core.Options{Store: st, Blobs: blobs, Hostname: "node"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close(); blobs.Close(); st.Close() })
		return svc, st, blobs
	}
	a, _, _ := node()
	b, bst, bblobs := node()
	sys := core.System("test")
	if err := a.AddDomain(ctx, sys, "test.mssante.fr"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddUser(ctx, sys, core.NewUser{Address: "alice@test.mssante.fr", Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	data := msg("x@remote.example", "alice@test.mssante.fr", "shared", strings.Repeat("Résultats d'analyse.\r\n", 5000))
	if err := a.Deliver(ctx, sys, core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: data}); err != nil {
		t.Fatal(err)
	}
	mb, err := b.MailboxByAddress(ctx, sys, "alice@test.mssante.fr")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := b.FolderByName(ctx, sys, mb.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := b.Messages(ctx, sys, inbox.ID, core.MessageQuery{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("node b lists %d messages, %v", len(msgs), err)
	}
	raw, err := b.ReadMessage(ctx, sys, msgs[0].ID)
	if err != nil || string(raw) != string(data) {
		t.Fatalf("node b reads %d bytes, %v", len(raw), err)
	}
	if st, _ := bblobs.S3Stats(); st.FetchedBytes == 0 || st.Uploads != 0 {
		t.Errorf("node b's blob counters = %+v: want a read from the bucket and no upload", st)
	}
	// While node b holds the cluster's compaction lock, node a's run is
	// skipped.
	conn, err := bst.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7243107)`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CompactBlobs(ctx, sys, core.CompactOptions{}); !errors.Is(err, blob.ErrBusy) {
		t.Errorf("compaction on a while b holds the lock: %v, want ErrBusy", err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock(7243107)`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CompactBlobs(ctx, sys, core.CompactOptions{Grace: time.Hour}); err != nil {
		t.Errorf("compaction on a after: %v", err)
	}
}
