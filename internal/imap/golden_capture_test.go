package imap

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCaptureGolden writes what the IMAP door's structure walker makes of
// the message corpus, as the expectations of the message package's tests.
// It runs only with CAPTURE_GOLDEN set.
func TestCaptureGolden(t *testing.T) {
	if os.Getenv("CAPTURE_GOLDEN") == "" {
		t.Skip("CAPTURE_GOLDEN not set")
	}
	files, _ := filepath.Glob("../message/testdata/corpus/*.eml")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseStructure(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]any{
			"structure":     p,
			"bodystructure": render(false, func(w *Writer) { w.BodyStructure(p, true) }),
			"body":          render(false, func(w *Writer) { w.BodyStructure(p, false) }),
			"envelope":      render(false, func(w *Writer) { w.Envelope(envelopeOf(parseHeaderLenient(raw[:p.BodyOffset]))) }),
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		name := strings.TrimSuffix(filepath.Base(f), ".eml")
		if err := os.WriteFile("../message/testdata/golden/"+name+".imap.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
