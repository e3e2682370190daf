package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/server"
)

// blobsNode opens the node of the config at path, for a test to deliver or
// read through its core.
func blobsNode(t *testing.T, path string) *server.Node {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := server.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// `blobs compact` reclaims the segment of 90 % expunged messages, `blobs
// stats` shows it before and after, and the store checks out.
func TestBlobsCompact(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "caduceus.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.test\"\ndata_dir = \"data\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"domain", "add", "chu.mssante.fr"}, {"user", "add", "claire@chu.mssante.fr", "--name", "Claire"}} {
		if _, _, err := runCLI(t, cfg, "", args...); err != nil {
			t.Fatal(err)
		}
	}
	n := blobsNode(t, cfg)
	want := map[string][]byte{}
	for i := range 50 {
		data := []byte(fmt.Sprintf("Subject: m%d\r\n\r\n%s\r\n", i, strings.Repeat("résultats ", 100+i*50)))
		if err := n.Core.Deliver(ctx, cli, core.Delivery{Recipients: []string{"claire@chu.mssante.fr"}, Data: data}); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprintf("m%d", i)] = data
	}
	n.Close()

	n = blobsNode(t, cfg)
	mb, err := n.Core.MailboxByAddress(ctx, cli, "claire@chu.mssante.fr")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := n.Core.FolderByName(ctx, cli, mb.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := n.Core.Messages(ctx, cli, inbox.ID, core.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, m := range msgs {
		if !strings.HasSuffix(m.Subject, "0") {
			uids = append(uids, m.UID)
			delete(want, m.Subject)
		}
	}
	if _, _, err := n.Core.StoreFlags(ctx, cli, inbox.ID, uids, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Core.Expunge(ctx, cli, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	n.Close()

	out, _, err := runCLI(t, cfg, "", "blobs", "stats")
	if err != nil || !strings.Contains(out, "closed") || !strings.Contains(out, "1 segment(s)") {
		t.Fatalf("blobs stats: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, cfg, "", "blobs", "compact")
	if err != nil || !strings.Contains(out, "1 segment(s) compacted: 5 live blob(s) moved") || !strings.Contains(out, "0 segment(s) removed") {
		t.Fatalf("blobs compact: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, cfg, "", "blobs", "compact", "--grace", "0")
	if err != nil || !strings.Contains(out, "1 segment(s) removed") {
		t.Fatalf("blobs compact --grace 0: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, cfg, "", "blobs", "stats", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var stats []core.SegmentStats
	if err := json.Unmarshal([]byte(out), &stats); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, out)
	}
	var live int64
	for _, s := range stats {
		if s.State == core.SegmentRetired || s.State == core.SegmentClosed && s.LiveBlobs == 0 {
			t.Errorf("segment %+v left after compaction", s)
		}
		live += s.LiveBlobs
	}
	if live != 5 {
		t.Errorf("%d live blobs, want 5: %s", live, out)
	}
	if out, _, err := runCLI(t, cfg, "", "check"); err != nil || !strings.Contains(out, "store ok") {
		t.Fatalf("check after compaction: %v\n%s", err, out)
	}
	n = blobsNode(t, cfg)
	defer n.Close()
	msgs, err = n.Core.Messages(ctx, cli, inbox.ID, core.MessageQuery{})
	if err != nil || len(msgs) != 5 {
		t.Fatalf("%d messages left, %v", len(msgs), err)
	}
	for _, m := range msgs {
		got, err := n.Core.ReadMessage(ctx, cli, m.ID)
		if err != nil || !bytes.Equal(got, want[m.Subject]) {
			t.Errorf("%s reads back %d bytes, %v", m.Subject, len(got), err)
		}
	}
	if _, _, err := runCLI(t, cfg, "", "blobs", "compact", "--threshold", "2"); err == nil {
		t.Error("a threshold of 2 was accepted")
	}
}

func TestBlobsHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"blobs", "compact", "--help"}, nil, &out, &errOut); !errors.Is(err, errHelp) {
		t.Fatalf("blobs compact --help: %v", err)
	}
	for _, want := range []string{"disk space of expunged messages", "--grace", "--threshold", "compact_interval"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("blobs compact --help lacks %q:\n%s", want, errOut.String())
		}
	}
}
