package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `message reindex` runs on a store whose messages all have their model
// and says there was nothing to do.
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
}
