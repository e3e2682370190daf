package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSynthFiles(t *testing.T) {
	dir := t.TempDir()
	paths, err := Synth(context.Background(), dir, 2200, 7)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Synth(context.Background(), t.TempDir(), 2200, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		a, _ := os.ReadFile(p)
		b, _ := os.ReadFile(again[i])
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs with the same seed", filepath.Base(p))
		}
	}
	activity, _ := os.ReadFile(paths[0])
	mailboxes, _ := os.ReadFile(paths[2])
	lines := strings.Split(strings.TrimSuffix(string(activity), "\n"), "\n")
	if len(lines) != 2201 {
		t.Errorf("%d activity lines, want 2200 and the header", len(lines)-1)
	}
	if n := strings.Count(string(mailboxes), "\n") - 1; n != 540 {
		t.Errorf("%d MSSanté lines, want 540", n)
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, "|")
		if len(f) != 57 || f[len(f)-1] != "" {
			t.Fatalf("activity line with %d fields or no trailing '|': %q", len(f), l)
		}
		rpps := f[1]
		if f[0] == "8" && (!ValidRPPS(rpps) || f[2] != "8"+rpps) {
			t.Fatalf("RPPS %q, national id %q", rpps, f[2])
		}
	}
}

func TestLuhn(t *testing.T) {
	tests := map[string]byte{"7992739871": '3', "1000000000": '9', "0": '0'}
	for digits, want := range tests {
		if got := Luhn(digits); got != want {
			t.Errorf("Luhn(%s) = %c, want %c", digits, got, want)
		}
	}
	if !ValidRPPS("10000000009") || ValidRPPS("10000000001") || ValidRPPS("1000000000") {
		t.Error("ValidRPPS accepts or refuses the wrong numbers")
	}
}

// TestCommands runs synth --zip, import and search as the CLI does.
func TestCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if err := RunSynth(ctx, []string{"--rows", "3000", "--dir", dir, "--zip"}, &out, &errOut); err != nil {
		t.Fatalf("synth: %v\n%s", err, errOut.String())
	}
	zips := strings.Fields(out.String())
	if len(zips) != 2 || !strings.HasSuffix(zips[0], ".zip") {
		t.Fatalf("synth printed %q", out.String())
	}
	d := openDirectory(t, "sqlite")
	out.Reset()
	if err := RunImport(ctx, d, zips, &out, &errOut); err != nil {
		t.Fatalf("import: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"generation 1 now answers searches", "PS_LibreAcces_Personne_activite", "Entries: ", "rejected"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("import summary lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "directory import: ") {
		t.Errorf("no progress on stderr: %q", errOut.String())
	}
	out.Reset()
	if err := RunSearch(ctx, d, []string{"mar", "--profession", "10", "--limit", "3", "--json"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 3 {
		t.Fatalf("JSON %v: %s", err, out.String())
	}
	for _, key := range []string{"national_id", "last_name", "first_name", "profession", "specialty",
		"organisation", "city", "postcode", "mailbox", "mailbox_kind"} {
		if _, ok := got[0][key]; !ok {
			t.Errorf("JSON object lacks %q", key)
		}
	}
	if got[0]["profession"] != "10" {
		t.Errorf("profession %v", got[0]["profession"])
	}
	out.Reset()
	if err := RunSearch(ctx, d, []string{"zzzzqqq", "--json"}, &out, &errOut); err != nil || strings.TrimSpace(out.String()) != "[]" {
		t.Errorf("no match: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := RunSearch(ctx, d, []string{"--city", "paris", "--limit", "2"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 3 || !strings.Contains(lines[2], "shown") {
		t.Errorf("text output:\n%s", out.String())
	}
	if err := RunImport(ctx, d, nil, &out, &errOut); err == nil {
		t.Error("import without files succeeded")
	}
}

func TestCount(t *testing.T) {
	got := []string{count(0), count(999), count(1000), count(2200000), count(-12345)}
	if want := []string{"0", "999", "1,000", "2,200,000", "-12,345"}; !slices.Equal(got, want) {
		t.Errorf("count: %q", got)
	}
}
