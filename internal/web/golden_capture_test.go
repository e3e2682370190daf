package web

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCaptureGolden writes what the web app's walker makes of the message
// corpus, as the expectations of the message package's tests. It runs
// only with CAPTURE_GOLDEN set.
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
		type partOut struct {
			Index      int    `json:"index"`
			Type       string `json:"type"`
			Name       string `json:"name"`
			CID        string `json:"cid"`
			Attachment bool   `json:"attachment"`
			Size       int    `json:"size"`
		}
		out := map[string]any{}
		p, err := parseMessage(bytes.NewReader(raw))
		if err != nil {
			out["error"] = err.Error()
		} else {
			var parts []partOut
			for _, pt := range p.Parts {
				parts = append(parts, partOut{pt.Index, pt.Type, pt.Name, pt.CID, pt.Attachment, len(pt.Data)})
			}
			out["text"], out["html"], out["plainText"], out["parts"] = p.Text, p.HTML, p.plainText(), parts
			out["subject"] = p.Subject
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		name := strings.TrimSuffix(filepath.Base(f), ".eml")
		if err := os.WriteFile("../message/testdata/golden/"+name+".web.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
