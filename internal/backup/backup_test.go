package backup_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"caduceus/internal/backup"
	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/server"
)

const alice = "alice@test.mssante.fr"

// A backup taken while mail keeps arriving restores into a node on which every
// message of the snapshot reads back and the store check passes; a damaged
// backup, a wrong key or a node that already has data are refused.
func TestBackupWhileDeliveringThenRestore(t *testing.T) {
	ctx := context.Background()
	cfg := nodeConfig(t)
	n, err := server.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sys := core.System("test")
	if err := n.Core.AddDomain(ctx, sys, "test.mssante.fr"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Core.AddUser(ctx, sys, core.NewUser{Address: alice, Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	deliver := func(i int) error {
		data := fmt.Sprintf("From: lab@remote.example\r\nSubject: résultat %d\r\nMessage-ID: <%d@lab>\r\n\r\n%s\r\n", i, i, strings.Repeat("x", 3000))
		return n.Core.Deliver(ctx, sys, core.Delivery{Recipients: []string{alice}, Data: []byte(data)})
	}
	for i := range 50 {
		if err := deliver(i); err != nil {
			t.Fatal(err)
		}
	}

	var wg sync.WaitGroup
	var during atomic.Int64
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1000; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := deliver(i); err != nil {
				t.Error(err)
				return
			}
			during.Add(1)
		}
	}()
	dir := filepath.Join(t.TempDir(), "backup")
	var progressed int64
	m, err := backup.Create(ctx, backup.Source{Store: n.Store, Blobs: n.Blobs, Hostname: cfg.Hostname, KeyID: n.KeyID()}, dir, nil,
		func(done, total int64) { progressed = done })
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) < 2 || m.Files[0].Path != "caduceus.db" || progressed == 0 || m.KeyID != n.KeyID() {
		t.Fatalf("manifest %+v, progress %d", m, progressed)
	}
	n.Close()
	t.Logf("%d deliveries during the backup", during.Load())

	key, err := os.ReadFile(filepath.Join(cfg.DataDir, "blob.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, dir, t.TempDir(), "0000000000000000", nil); err == nil || !strings.Contains(err.Error(), "another key") {
		t.Fatalf("restore with another key: %v", err)
	}
	target := nodeConfig(t)
	if err := os.WriteFile(filepath.Join(target.DataDir, "blob.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, dir, target.DataDir, server.KeyID(key), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, dir, target.DataDir, server.KeyID(key), nil); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("restore over a node with data: %v", err)
	}
	r, err := server.Open(ctx, target, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	problems, err := r.Core.Check(ctx, nil)
	if err != nil || len(problems) > 0 {
		t.Fatalf("check of the restored node: %v, %v", problems, err)
	}
	mb, err := r.Core.MailboxByAddress(ctx, sys, alice)
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := r.Core.FolderByName(ctx, sys, mb.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if inbox.Messages < 50 || int64(inbox.Messages) > 50+during.Load() {
		t.Fatalf("restored inbox holds %d messages; want 50 and some of the %d delivered during the backup", inbox.Messages, during.Load())
	}

	// One flipped byte in a segment of the backup: the restore says so.
	seg := filepath.Join(dir, m.Files[1].Path)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := t.TempDir()
	if _, err := backup.Restore(ctx, dir, damaged, server.KeyID(key), nil); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("restore of a damaged backup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(damaged, "caduceus.db")); err == nil {
		t.Fatal("a failed restore left a database behind")
	}
}

// A folder without a manifest is not a backup, and a backup goes into an
// empty folder only.
func TestUnfinishedAndOccupiedFolders(t *testing.T) {
	dir := t.TempDir()
	if _, err := backup.ReadManifest(dir); err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("ReadManifest of an empty folder: %v", err)
	}
	ctx := context.Background()
	n, err := server.Open(ctx, nodeConfig(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := os.WriteFile(filepath.Join(dir, "note.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Create(ctx, backup.Source{Store: n.Store, Blobs: n.Blobs}, dir, nil, nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("backup into a used folder: %v", err)
	}
}

func nodeConfig(t *testing.T) config.Config {
	cfg := config.Defaults()
	cfg.Hostname, cfg.DataDir = "mx.test", t.TempDir()
	return cfg
}
