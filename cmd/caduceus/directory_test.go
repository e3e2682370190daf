package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// synth --zip, import and search through the command line, --config
// anywhere: what each prints, in text and JSON, and what it refuses.
func TestDirectoryCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "caduceus.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.test\"\ndata_dir = \"data\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	syn := filepath.Join(dir, "syn")
	out, _, err := runCLI(t, cfg, "", "directory", "synth", "--rows", "3000", "--dir", syn, "--zip")
	zips := strings.Fields(out)
	if err != nil || len(zips) != 2 || !strings.HasSuffix(zips[0], ".zip") || !strings.Contains(zips[0], "PS_LibreAcces_") {
		t.Fatalf("synth: %v %q", err, out)
	}
	out, errOut, err := runCLI(t, cfg, "", append([]string{"directory", "import"}, zips...)...)
	if err != nil {
		t.Fatalf("import: %v %s", err, errOut)
	}
	for _, want := range []string{"generation 1 now answers searches", "PS_LibreAcces_Personne_activite", "Entries: ", "rejected"} {
		if !strings.Contains(out, want) {
			t.Errorf("import summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "directory import: ") {
		t.Errorf("no progress on stderr: %q", errOut)
	}
	out, _, err = runCLI(t, cfg, "", "directory", "search", "mar", "--json", "--limit", "3", "--profession", "10")
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 3 {
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
	if out, _, err = runCLI(t, cfg, "", "directory", "search", "zzzzqqq", "--json"); err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("no match: %q, %v", out, err)
	}
	out, _, err = runCLI(t, cfg, "", "directory", "search", "--city", "paris", "--limit", "2")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 3 || !strings.Contains(lines[2], "shown") {
		t.Errorf("text output: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, cfg, "", "directory", "import", filepath.Join(dir, "missing.txt")); err == nil {
		t.Error("import of a missing file succeeded")
	}
	if _, _, err := runCLI(t, cfg, "", "directory", "import"); err == nil {
		t.Error("import without files succeeded")
	}
}

func TestCount(t *testing.T) {
	got := []string{count(0), count(999), count(1000), count(2200000), count(-12345)}
	if want := []string{"0", "999", "1,000", "2,200,000", "-12,345"}; !slices.Equal(got, want) {
		t.Errorf("count: %q", got)
	}
}
