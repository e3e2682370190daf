package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"caduceus/internal/config"
	"caduceus/internal/core"
)

// One background run moves the live messages out of a mostly expunged segment
// and removes it, and the metrics count the bytes given back.
func TestCompactorOnce(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Hostname, cfg.DataDir = "mx.test", t.TempDir()
	cfg.Blobs.CompactGrace.Duration = 0
	sys := core.System("test")
	n, err := Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Core.AddDomain(ctx, sys, "test.mssante.fr"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Core.AddUser(ctx, sys, core.NewUser{Address: "alice@test.mssante.fr", Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		data := fmt.Sprintf("Subject: m%d\r\n\r\n%s\r\n", i, strings.Repeat("x", 4000))
		if err := n.Core.Deliver(ctx, sys, core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	n.Close()
	n, err = Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	mb, err := n.Core.MailboxByAddress(ctx, sys, "alice@test.mssante.fr")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := n.Core.FolderByName(ctx, sys, mb.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Core.StoreFlags(ctx, sys, inbox.ID, []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Core.Expunge(ctx, sys, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}

	c := &compactor{core: n.Core, log: slog.New(slog.DiscardHandler), cfg: cfg.Blobs}
	reg := prometheus.NewRegistry()
	c.register(reg)
	c.once(ctx)
	if c.removed.Load() != 1 || c.reclaimed.Load() == 0 || c.moved.Load() == 0 || c.failures.Load() != 0 {
		t.Fatalf("after one run: removed %d, reclaimed %d, moved %d, failures %d", c.removed.Load(), c.reclaimed.Load(), c.moved.Load(), c.failures.Load())
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var reclaimed float64 = -1
	for _, f := range families {
		if f.GetName() == "caduceus_blob_bytes_reclaimed_total" {
			reclaimed = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if reclaimed != float64(c.reclaimed.Load()) {
		t.Fatalf("caduceus_blob_bytes_reclaimed_total = %v, want %d", reclaimed, c.reclaimed.Load())
	}
	msgs, err := n.Core.Messages(ctx, sys, inbox.ID, core.MessageQuery{})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%d messages left, %v", len(msgs), err)
	}
	for _, m := range msgs {
		if _, err := n.Core.ReadMessage(ctx, sys, m.ID); err != nil {
			t.Fatalf("%s: %v", m.Subject, err)
		}
	}
	if problems, err := n.Core.Check(ctx, nil); err != nil || len(problems) > 0 {
		t.Fatalf("check: %v %v", problems, err)
	}
}
