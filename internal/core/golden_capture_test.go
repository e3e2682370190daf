package core

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCaptureGolden writes what the core's summary and search walkers make
// of the message corpus, as the expectations of the message package's
// tests. It runs only with CAPTURE_GOLDEN set.
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
		sm := summarize(raw)
		out := map[string]any{
			"messageId": sm.messageID, "inReplyTo": sm.inReplyTo, "references": sm.references,
			"date": sm.date.UnixMilli(), "subject": sm.subject, "from": sm.from, "to": sm.to, "cc": sm.cc,
			"attachments": sm.attachments, "text": bodyText(raw),
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		name := strings.TrimSuffix(filepath.Base(f), ".eml")
		if err := os.WriteFile("../message/testdata/golden/"+name+".core.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
