package message

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// The corpus of real-world shapes, and what the four walkers this package
// replaced made of each (testdata/golden, captured from them before they
// were deleted): the IMAP door's structure walker (.imap.json), the core's
// summary and search walkers (.core.json), the web app's (.web.json).
//
// Where the old walkers disagreed with each other about attachments, the
// model follows the web app's definition (what a reader sees listed); the
// table says, file by file, what the core's list was missing or how the
// web app failed.
func TestAgreesWithOldWalkers(t *testing.T) {
	tests := []struct {
		file string
		// coreAttachments, when set, is the model's attachment list where
		// it differs from the core's old one.
		coreAttachments []string
		// webFailed: the web app could not display the message at all.
		webFailed bool
		// textDiffers, webDiffers: the old index text, or the web app's
		// view, differ from the model's, for the reason given.
		textDiffers, webDiffers string
	}{
		{file: "alternative-attachment"},
		{file: "broken-boundary", webFailed: true},
		{file: "digest", coreAttachments: []string{"message.eml", "message.eml"},
			textDiffers: "RFC 2046 §5.1.5: the parts of a digest are messages; the old index read the first as text",
			webDiffers:  "RFC 2046 §5.1.5: the web app showed the first message of the digest as the body text"},
		{file: "eightbit-headers"},
		{file: "header-only"},
		{file: "html-only"},
		{file: "ihe-xdm"},
		{file: "latin1-header"},
		{file: "lf-only-long-line"},
		{file: "nested-rfc822", coreAttachments: []string{"message.eml", "résultat.pdf"}},
		{file: "no-boundary-param", webFailed: true, coreAttachments: []string{"part-1.bin"}},
		{file: "plain"},
		{file: "related-inline", coreAttachments: []string{}},
		{file: "rfc2231-names", coreAttachments: []string{"résultat sanguin.bin", "écho.png", "part-5.pdf"}},
		{file: "smime-enveloped"},
		{file: "smime-signed", webFailed: true},
		{file: "tnef"},
	}
	files, _ := filepath.Glob("testdata/corpus/*.eml")
	if len(files) != len(tests) {
		t.Fatalf("%d files in the corpus, %d in the table", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/corpus/" + tt.file + ".eml")
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			checkIMAP(t, tt.file, m)
			checkCore(t, tt.file, m, tt.coreAttachments, tt.textDiffers != "")
			if tt.webDiffers == "" {
				checkWeb(t, tt.file, raw, m, tt.webFailed)
			}
			// The stored form gives back the same tree.
			back, err := Unmarshal(Marshal(m.Root))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, m.Root) {
				t.Errorf("Unmarshal(Marshal) differs:\n got %s\nwant %s", dump(back), dump(m.Root))
			}
		})
	}
}

func golden(t *testing.T, name string, v any) bool {
	t.Helper()
	b, err := os.ReadFile("testdata/golden/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
	return true
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// checkIMAP: the part tree, offsets and envelopes are the IMAP walker's,
// to the byte.
func checkIMAP(t *testing.T, file string, m *Message) {
	var g struct {
		Structure *Part `json:"structure"`
	}
	golden(t, file+".imap.json", &g)
	got := *m.Root
	clearDecoded(&got)
	// Through JSON, as the golden file went, so that invalid UTF-8 reads
	// the same on both sides.
	var back *Part
	if err := json.Unmarshal([]byte(dump(&got)), &back); err != nil {
		t.Fatal(err)
	}
	if dump(back) != dump(g.Structure) {
		t.Errorf("structure\n got %s\nwant %s", dump(back), dump(g.Structure))
	}
}

// clearDecoded zeroes what the old walker did not compute, in a copy.
func clearDecoded(p *Part) {
	p.DecodedSize = 0
	parts := make([]*Part, len(p.Parts))
	for i, c := range p.Parts {
		cc := *c
		clearDecoded(&cc)
		parts[i] = &cc
	}
	if len(parts) > 0 {
		p.Parts = parts
	}
}

func checkCore(t *testing.T, file string, m *Message, attachments []string, textDiffers bool) {
	var g struct {
		MessageID, InReplyTo, References, Subject, From, To, Cc, Text string
		Date                                                          int64
		Attachments                                                   []string
	}
	golden(t, file+".core.json", &g)
	h := m.Header
	got := []string{h.MessageID, h.InReplyTo, h.References, h.Subject, h.From, h.To, h.Cc}
	want := []string{g.MessageID, g.InReplyTo, g.References, g.Subject, g.From, g.To, g.Cc}
	if !slices.Equal(got, want) {
		t.Errorf("header\n got %q\nwant %q", got, want)
	}
	if d := h.Date.UnixMilli(); h.Date.IsZero() && g.Date != (h.Date.UnixMilli()) || !h.Date.IsZero() && d != g.Date {
		t.Errorf("date %d, want %d", d, g.Date)
	}
	names := []string{}
	for _, l := range Attachments(m.Root) {
		names = append(names, l.Name)
	}
	wantNames := g.Attachments
	if attachments != nil {
		wantNames = attachments
	}
	if wantNames == nil {
		wantNames = []string{}
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("attachments %q, want %q", names, wantNames)
	}
	if !textDiffers && !sameWords(m.Text, g.Text) {
		t.Errorf("index text\n got %q\nwant %q", m.Text, g.Text)
	}
}

// sameWords compares index texts as the index sees them: their words.
// The old index kept the character references of HTML as words
// ("&nbsp;" gave "nbsp") and the words of scripts and styles; the model
// decodes the first and drops the second.
func sameWords(got, want string) bool {
	words := func(s string) []string {
		return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	}
	w := slices.DeleteFunc(words(want), func(s string) bool { return s == "nbsp" || s == "amp" || s == "lt" || s == "gt" })
	return slices.Equal(words(got), w)
}

func checkWeb(t *testing.T, file string, raw []byte, m *Message, failed bool) {
	var g struct {
		Error     string `json:"error"`
		Text      string `json:"text"`
		HTML      string `json:"html"`
		PlainText string `json:"plainText"`
		Parts     []struct {
			Index      int    `json:"index"`
			Type       string `json:"type"`
			Name       string `json:"name"`
			CID        string `json:"cid"`
			Attachment bool   `json:"attachment"`
			Size       int64  `json:"size"`
		} `json:"parts"`
	}
	golden(t, file+".web.json", &g)
	if failed != (g.Error != "") {
		t.Fatalf("web error %q, table says failed=%v", g.Error, failed)
	}
	if failed {
		return
	}
	leaves := Leaves(m.Root)
	if len(leaves) != len(g.Parts) {
		t.Fatalf("%d leaves, web had %d parts", len(leaves), len(g.Parts))
	}
	var text, html string
	for i, l := range leaves {
		w := g.Parts[i]
		cid := strings.Trim(l.Part.ID, "<> ")
		dec, err := NewDecoder(l.Part.Encoding, bytes.NewReader(raw[l.Part.BodyOffset:l.Part.EndOffset]))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(dec)
		if int64(len(b)) != l.Part.DecodedSize {
			t.Errorf("leaf %d: decoded %d bytes, DecodedSize %d", i, len(b), l.Part.DecodedSize)
		}
		// The web app held text parts in UTF-8.
		size := l.Part.DecodedSize
		s := string(b)
		if l.Part.Type == "text" {
			s = DecodeCharset(l.Part.Param("charset"), b)
			size = int64(len(s))
		}
		if l.Index != w.Index || l.Part.MediaType() != w.Type || l.Name != w.Name && w.Attachment || cid != w.CID || (l.Role == Attachment) != w.Attachment || size != w.Size {
			t.Errorf("leaf %d: %d %s %q %q attachment=%v size %d; web had %+v", i, l.Index, l.Part.MediaType(), l.Name, cid, l.Role == Attachment, size, w)
		}
		if l.Role == Body {
			if l.Part.Subtype == "plain" {
				text = s
			} else {
				html = s
			}
		}
	}
	if text != g.Text || html != g.HTML {
		t.Errorf("body\n got %q %q\nwant %q %q", text, html, g.Text, g.HTML)
	}
	plain := strings.ReplaceAll(text, "\r\n", "\n")
	if text == "" && html != "" {
		plain = HTMLText(html)
	}
	if strings.Join(strings.Fields(plain), " ") != strings.Join(strings.Fields(g.PlainText), " ") {
		t.Errorf("plain text\n got %q\nwant %q", plain, g.PlainText)
	}
}
