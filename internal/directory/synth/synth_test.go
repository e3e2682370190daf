package synth

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"caduceus/internal/directory"
)

func TestSynthFiles(t *testing.T) {
	dir := t.TempDir()
	paths, err := Write(context.Background(), dir, 2200, 7)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Write(context.Background(), t.TempDir(), 2200, 7)
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
		if f[0] == "8" && (!directory.ValidRPPS(rpps) || f[2] != "8"+rpps) {
			t.Fatalf("RPPS %q, national id %q", rpps, f[2])
		}
	}
}
