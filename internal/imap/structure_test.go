package imap

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"caduceus/internal/message"
)

// parseStructure returns the part tree of a message.
func parseStructure(t *testing.T, r io.Reader) *message.Part {
	t.Helper()
	m, err := message.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	return m.Root
}

// TestWireAgreesWithOldWalker: BODYSTRUCTURE, BODY and ENVELOPE of the
// message package's corpus are, to the byte, what the door's own walker
// answered before the message model replaced it (captured in
// internal/message/testdata/golden).
func TestWireAgreesWithOldWalker(t *testing.T) {
	files, _ := filepath.Glob("../message/testdata/corpus/*.eml")
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var g struct{ BodyStructure, Body, Envelope string }
			b, err := os.ReadFile("../message/testdata/golden/" + name + ".imap.json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			root := parseStructure(t, bytes.NewReader(raw))
			stored, err := message.Unmarshal(message.Marshal(root))
			if err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct{ what, got, want string }{
				{"BODYSTRUCTURE", render(false, func(w *Writer) { w.BodyStructure(stored, true) }), g.BodyStructure},
				{"BODY", render(false, func(w *Writer) { w.BodyStructure(stored, false) }), g.Body},
				{"ENVELOPE", render(false, func(w *Writer) { w.Envelope(stored.Envelope) }), g.Envelope},
			} {
				// Through JSON, as the golden file went: invalid UTF-8
				// reads the same on both sides.
				var got string
				b, _ := json.Marshal(tt.got)
				json.Unmarshal(b, &got)
				if got != tt.want {
					t.Errorf("%s\n got %s\nwant %s", tt.what, tt.got, tt.want)
				}
			}
		})
	}
}

// render writes with fn through a Writer and returns the text.
func render(utf8 bool, fn func(w *Writer)) string {
	var buf bytes.Buffer
	w := NewWriter(bufio.NewWriter(&buf))
	w.UTF8 = utf8
	fn(w)
	w.Flush()
	return buf.String()
}

func TestBodyStructureSimple(t *testing.T) {
	msg := "From: a@example.org\r\nSubject: hi\r\n\r\nline 1\r\nline 2\r\n"
	p := parseStructure(t, strings.NewReader(msg))
	want := `("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 16 2 NIL NIL NIL NIL)`
	if got := render(false, func(w *Writer) { w.BodyStructure(p, true) }); got != want {
		t.Errorf("BODYSTRUCTURE\n got %s\nwant %s", got, want)
	}
	want = `("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 16 2)`
	if got := render(false, func(w *Writer) { w.BodyStructure(p, false) }); got != want {
		t.Errorf("BODY\n got %s\nwant %s", got, want)
	}
}

func TestStructureNested(t *testing.T) {
	raw, err := os.ReadFile("testdata/nested.eml")
	if err != nil {
		t.Fatal(err)
	}
	root := parseStructure(t, bytes.NewReader(raw))
	if root.EndOffset != int64(len(raw)) {
		t.Errorf("root ends at %d, message has %d bytes", root.EndOffset, len(raw))
	}
	sections := []struct {
		section Section
		want    string
		typ     string
	}{
		{Section{Part: []int{1, 1}}, "R=E9sultat\r\nligne 2", "text/plain"},
		{Section{Part: []int{1, 2}}, "<p>R\xc3\xa9sultat</p>", "text/html"},
		{Section{Part: []int{1, 2}, Specifier: "MIME"}, "Content-Type: text/html; charset=utf-8\r\n\r\n", ""},
		{Section{Part: []int{2}}, "From: b@example.org\r\nSubject: inner\r\n\r\nbody of inner", "message/rfc822"},
		{Section{Part: []int{2}, Specifier: "HEADER"}, "From: b@example.org\r\nSubject: inner\r\n\r\n", ""},
		{Section{Part: []int{2}, Specifier: "TEXT"}, "body of inner", ""},
		{Section{Part: []int{2, 1}}, "body of inner", "text/plain"},
		{Section{Part: []int{3}}, "JVBERi0=", "application/pdf"},
		{Section{Specifier: "TEXT"}, string(raw[bytes.Index(raw, []byte("preamble")):]), ""},
	}
	for _, s := range sections {
		start, end, ok := sectionRange(root, &s.section)
		if !ok {
			t.Errorf("section %s not found", s.section.String())
			continue
		}
		if got := string(raw[start:end]); got != s.want {
			t.Errorf("section %s = %q, want %q", s.section.String(), got, s.want)
		}
		if s.typ != "" {
			p, _ := root.Locate(s.section.Part)
			if got := p.Type + "/" + p.Subtype; got != s.typ {
				t.Errorf("part %v is %s, want %s", s.section.Part, got, s.typ)
			}
		}
	}
	for _, bad := range [][]int{{4}, {1, 3}, {1, 1, 1}, {3, 1}} {
		if _, ok := root.Locate(bad); ok {
			t.Errorf("Locate(%v) found a part", bad)
		}
	}
	if p, _ := root.Locate([]int{1, 1}); p.Lines != 2 {
		t.Errorf("lines of 1.1 = %d, want 2", p.Lines)
	}

	e := root.Envelope
	if e.Subject != "Résultats" || len(e.From) != 1 || e.From[0].Name != "André" || e.From[0].Host != "example.org" {
		t.Errorf("envelope = %+v", e)
	}
	if len(e.To) != 2 || !e.To[0].Group || e.To[0].Mailbox != "undisclosed-recipients" || !e.To[1].Group {
		t.Errorf("To = %+v, want an empty group", e.To)
	}
	if len(e.Cc) != 3 || e.Cc[0].Name != "Dr. X" || e.Cc[2].Mailbox != "y" {
		t.Errorf("Cc = %+v", e.Cc)
	}
	if inner, _ := root.Locate([]int{2}); inner.Parts[0].Envelope.Subject != "inner" {
		t.Errorf("inner envelope = %+v", inner.Parts[0].Envelope)
	}

	bs := render(false, func(w *Writer) { w.BodyStructure(root, true) })
	for _, want := range []string{
		`"ALTERNATIVE" ("BOUNDARY" "inner")`,
		`("TEXT" "PLAIN" ("CHARSET" "iso-8859-1") NIL NIL "QUOTED-PRINTABLE" 19 2 `,
		`("MESSAGE" "RFC822" NIL NIL "forwarded" "7BIT" 52 (NIL "inner" ((NIL NIL "b" "example.org")) `,
		`("ATTACHMENT" ("FILENAME" "=?utf-8?b?csOpc3VsdGF0LnBkZg==?="))`,
		`"MIXED" ("BOUNDARY" "outer") NIL NIL NIL)`,
	} {
		if !strings.Contains(bs, want) {
			t.Errorf("BODYSTRUCTURE lacks %s\n%s", want, bs)
		}
	}
	bs = render(true, func(w *Writer) { w.BodyStructure(root, true) })
	if !strings.Contains(bs, `("FILENAME" "résultat.pdf")`) {
		t.Errorf("BODYSTRUCTURE for a UTF-8 client lacks the UTF-8 file name\n%s", bs)
	}
	env := render(false, func(w *Writer) { w.Envelope(e) })
	if !strings.HasPrefix(env, `("Mon, 4 Mar 2024 10:00:00 +0100" "=?utf-8?b?UsOpc3VsdGF0cw==?=" (("=?utf-8?b?QW5kcsOp?=" NIL "andre" "example.org"))`) {
		t.Errorf("ENVELOPE = %s", env)
	}
	if !strings.Contains(env, `((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))`) {
		t.Errorf("ENVELOPE lacks the group: %s", env)
	}
}

// TestStructureMalformed checks that broken messages still get a
// structure that covers them.
func TestStructureMalformed(t *testing.T) {
	tests := []struct {
		name  string
		msg   string
		parts int
	}{
		{"no header end", "Subject: x\r\n", 0},
		{"empty", "", 0},
		{"no closing delimiter", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n", 2},
		{"bad content type", "Content-Type: ;;;\r\n\r\nx", 0},
		{"broken header line", "Subject: a\r\nnot a field\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b--\r\n", 1},
		{"header cut by delimiter", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n--b--\r\n", 1},
		{"bare LF", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseStructure(t, strings.NewReader(tt.msg))
			if len(p.Parts) != tt.parts {
				t.Errorf("parts = %d, want %d", len(p.Parts), tt.parts)
			}
			if p.EndOffset != int64(len(tt.msg)) {
				t.Errorf("ends at %d, want %d", p.EndOffset, len(tt.msg))
			}
			checkOffsets(t, p)
			render(false, func(w *Writer) { w.BodyStructure(p, true) })
		})
	}
}

// checkOffsets checks that each part's offsets are ordered and within its
// parent's.
func checkOffsets(t *testing.T, p *message.Part) {
	t.Helper()
	if !(p.HeaderOffset <= p.BodyOffset && p.BodyOffset <= p.EndOffset) {
		t.Errorf("part offsets out of order: %d %d %d", p.HeaderOffset, p.BodyOffset, p.EndOffset)
	}
	for _, c := range p.Parts {
		if c.HeaderOffset < p.BodyOffset || c.EndOffset > p.EndOffset {
			t.Errorf("child [%d %d] outside parent body [%d %d]", c.HeaderOffset, c.EndOffset, p.BodyOffset, p.EndOffset)
		}
		checkOffsets(t, c)
	}
}

func TestFilterHeader(t *testing.T) {
	raw := []byte("From: a@example.org\r\nSubject: one\r\n two\r\nTo: b@example.org\r\n\r\n")
	if got := string(FilterHeader(raw, []string{"subject", "TO"}, false)); got != "Subject: one\r\n two\r\nTo: b@example.org\r\n\r\n" {
		t.Errorf("HEADER.FIELDS = %q", got)
	}
	if got := string(FilterHeader(raw, []string{"subject"}, true)); got != "From: a@example.org\r\nTo: b@example.org\r\n\r\n" {
		t.Errorf("HEADER.FIELDS.NOT = %q", got)
	}
}

func TestUTF7(t *testing.T) {
	for _, tt := range []struct{ utf8, utf7 string }{
		{"INBOX", "INBOX"},
		{"Résultats & bilans", "R&AOk-sultats &- bilans"},
		{"日本語", "&ZeVnLIqe-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	} {
		if got := EncodeUTF7(tt.utf8); got != tt.utf7 {
			t.Errorf("EncodeUTF7(%q) = %q, want %q", tt.utf8, got, tt.utf7)
		}
		if got, err := DecodeUTF7(tt.utf7); err != nil || got != tt.utf8 {
			t.Errorf("DecodeUTF7(%q) = %q, %v; want %q", tt.utf7, got, err, tt.utf8)
		}
	}
	for _, bad := range []string{"&AGE", "&AGE-&AGE-", "&AGEA-", "&YQ-", "\x80"} {
		if _, err := DecodeUTF7(bad); err == nil {
			t.Errorf("DecodeUTF7(%q) accepted", bad)
		}
	}
}

func TestWriterStrings(t *testing.T) {
	tests := []struct {
		utf8 bool
		in   string
		want string
	}{
		{false, "plain", `"plain"`},
		{false, `say "hi" \o/`, `"say \"hi\" \\o/"`},
		{false, "two\r\nlines", "{10}\r\ntwo\r\nlines"},
		{false, "Résultat", "{9}\r\nRésultat"},
		{true, "Résultat", `"Résultat"`},
		{true, "bad \xff", "{5}\r\nbad \xff"},
	}
	for _, tt := range tests {
		if got := render(tt.utf8, func(w *Writer) { w.String(tt.in) }); got != tt.want {
			t.Errorf("String(%q, utf8 %v) = %q, want %q", tt.in, tt.utf8, got, tt.want)
		}
	}
	got := render(false, func(w *Writer) {
		w.Tagged("a1", "NO", "TRYCREATE", "no such\r\nmailbox")
		w.Mailbox("Résultats")
	})
	if want := "a1 NO [TRYCREATE] no such  mailbox\r\n\"R&AOk-sultats\""; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
