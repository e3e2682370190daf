package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"caduceus/internal/core"
)

// `message reindex` has nothing to do where every message has its model;
// with --all it computes them all again.
func TestMessageReindex(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "caduceus.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.test\"\ndata_dir = \"data\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, cfg, "", "message", "reindex")
	if err != nil || !strings.HasPrefix(out, "0 message model(s) computed, 0 unreadable") {
		t.Fatalf("message reindex: %q, %v", out, err)
	}
	if _, _, err := runCLI(t, cfg, "", "domain", "add", "chu.mssante.fr"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, cfg, "", "user", "add", "claire@chu.mssante.fr", "--name", "Claire"); err != nil {
		t.Fatal(err)
	}
	n := blobsNode(t, cfg)
	for range 3 {
		if err := n.Core.Deliver(context.Background(), cli, core.Delivery{Recipients: []string{"claire@chu.mssante.fr"}, Data: []byte("Subject: x\r\n\r\nbody\r\n")}); err != nil {
			t.Fatal(err)
		}
	}
	n.Close()
	out, _, err = runCLI(t, cfg, "", "message", "reindex", "--all")
	if err != nil || !strings.HasPrefix(out, "3 message model(s) computed, 0 unreadable") {
		t.Fatalf("message reindex --all: %q, %v", out, err)
	}
}
