package directory

import (
	"bytes"
	"io"
	"strings"
	"sync/atomic"
	"testing"
)

// collect is a rowSink that keeps what it is given.
type collect struct {
	rows   []stageRow
	skills []skillRow
}

func (c *collect) entry(r stageRow) error { c.rows = append(c.rows, r); return nil }
func (c *collect) skill(s skillRow) error { c.skills = append(c.skills, s); return nil }

// FuzzReadSource feeds arbitrary bytes to the reader of extraction files: it
// must never panic, and whatever it accepts must be well formed. The seed
// corpus in testdata/fuzz runs with the ordinary tests.
func FuzzReadSource(f *testing.F) {
	f.Add([]byte(extractionText(mailboxColumns, mailboxRows()...)))
	f.Add([]byte(extractionText(activityColumns, activityRows()[:2]...)))
	f.Add([]byte(extractionText(skillColumnNames, skillRows()...)))
	f.Fuzz(func(t *testing.T, data []byte) {
		src := source{name: "fuzz.txt", size: int64(len(data)),
			open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
		var sink collect
		var fs FileSummary
		var rej rejections
		var read atomic.Int64
		err := readSource(src, 1, &sink, &fs, &rej, &read)
		if read.Load() > int64(len(data)) {
			t.Fatalf("read %d bytes of %d", read.Load(), len(data))
		}
		if err != nil {
			return
		}
		if fs.Rejected > fs.Rows || rej.count != fs.Rejected || len(sink.rows)+len(sink.skills) != fs.Rows-fs.Rejected {
			t.Fatalf("rows %d, rejected %d (%d), accepted %d", fs.Rows, fs.Rejected, rej.count, len(sink.rows)+len(sink.skills))
		}
		for _, r := range rej.list {
			if r.Line < 2 || r.Reason == "" {
				t.Fatalf("rejection %+v", r)
			}
		}
		for _, r := range sink.rows {
			if !strings.HasPrefix(r.e.ID, "m:") && !strings.HasPrefix(r.e.ID, "p:") || r.src>>32 != 1 {
				t.Fatalf("row %+v", r)
			}
			names, _ := parseTokenList(r.toks)
			for _, n := range names {
				if n == "" || strings.ContainsAny(n, `" ,`) {
					t.Fatalf("token %q in %s", n, r.toks)
				}
			}
		}
	})
}
