package core_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"caduceus/internal/blob"
	"caduceus/internal/core"
	"caduceus/internal/store"
)

// Check finds a damaged blob and a tampered audit entry, and names them.
func TestCheckFindsDamage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key := make([]byte, blob.KeySize)
	blobs, err := blob.Open(filepath.Join(dir, "blobs"), key)
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	svc, err := core.New(ctx, core.Options{Store: st, Blobs: blobs, Hostname: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sys := core.System("test")
	if err := svc.AddDomain(ctx, sys, "test.mssante.fr"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddUser(ctx, sys, core.NewUser{Address: "alice@test.mssante.fr", Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Deliver(ctx, sys, core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: []byte("Subject: x\r\n\r\nbody\r\n")}); err != nil {
		t.Fatal(err)
	}
	if problems, err := svc.Check(ctx, nil); err != nil || len(problems) != 0 {
		t.Fatalf("healthy store: %v %v", problems, err)
	}

	segs, _ := blobs.Segments()
	seg := filepath.Join(dir, "blobs", segName(segs[len(segs)-1]))
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-5] ^= 0xff
	if err := os.WriteFile(seg, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`UPDATE audit SET actor = 'mallory' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	problems, err := svc.Check(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := ""
	for _, p := range problems {
		text += p.String() + "\n"
	}
	for _, want := range []string{"blob 1", "corrupt", "audit trail: entry 2"} {
		if !strings.Contains(text, want) {
			t.Errorf("check report lacks %q:\n%s", want, text)
		}
	}
}

func segName(n int64) string { return fmt.Sprintf("seg-%08d", n) }
