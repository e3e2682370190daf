package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// synth, import and search through the command line, --config anywhere.
func TestDirectoryCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "caduceus.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.test\"\ndata_dir = \"data\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	syn := filepath.Join(dir, "syn")
	out, _, err := runCLI(t, cfg, "", "directory", "synth", "--rows", "500", "--dir", syn)
	if err != nil || !strings.Contains(out, "PS_LibreAcces_Personne_activite") {
		t.Fatalf("synth: %v %s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(syn, "*"))
	out, _, err = runCLI(t, cfg, "", append([]string{"directory", "import"}, files...)...)
	if err != nil || !strings.Contains(out, "generation 1") {
		t.Fatalf("import: %v %s", err, out)
	}
	out, _, err = runCLI(t, cfg, "", "directory", "search", "--json", "--limit", "2", "--profession", "10")
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) == 0 {
		t.Fatalf("search --json: %v %s", err, out)
	}
	for _, key := range []string{"national_id", "last_name", "first_name", "profession", "specialty", "organisation", "city", "postcode", "mailbox", "mailbox_kind"} {
		if _, ok := got[0][key]; !ok {
			t.Errorf("search --json lacks %q", key)
		}
	}
	if got[0]["profession"] != "10" {
		t.Errorf("--profession 10 returned %v", got[0]["profession"])
	}
	if _, _, err := runCLI(t, cfg, "", "directory", "import", filepath.Join(dir, "missing.txt")); err == nil {
		t.Error("import of a missing file succeeded")
	}
}
