package message

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse parses arbitrary messages: parsing never fails on content,
// every part lies within the message and within its parent, and the
// stored form gives back the same tree. Its seeds are the corpus.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.eml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if m.Root.HeaderOffset != 0 || m.Root.EndOffset != int64(len(raw)) {
			t.Fatalf("root spans %d..%d of %d bytes", m.Root.HeaderOffset, m.Root.EndOffset, len(raw))
		}
		var check func(p *Part, lo, hi int64)
		check = func(p *Part, lo, hi int64) {
			if p.HeaderOffset < lo || p.HeaderOffset > p.BodyOffset || p.BodyOffset > p.EndOffset || p.EndOffset > hi {
				t.Fatalf("part %d..%d..%d outside %d..%d", p.HeaderOffset, p.BodyOffset, p.EndOffset, lo, hi)
			}
			for _, c := range p.Parts {
				check(c, p.BodyOffset, p.EndOffset)
			}
		}
		check(m.Root, 0, int64(len(raw)))
		if len(m.Text) > MaxText+1 {
			t.Fatalf("index text of %d bytes", len(m.Text))
		}
		back, err := Unmarshal(Marshal(m.Root))
		if err != nil || !reflect.DeepEqual(back, m.Root) {
			t.Fatalf("stored form does not read back: %v", err)
		}
		Leaves(m.Root)
		// Stored bytes that were damaged are refused or read, never a panic.
		Unmarshal(raw)
	})
}

func TestDecodersMatchStandardLibrary(t *testing.T) {
	data := bytes.Repeat([]byte("Résultat d'analyse = normal\t \r\nligne\x00\xff\n"), 500)
	var b64 strings.Builder
	enc := base64.StdEncoding.EncodeToString(data)
	for i := 0; i < len(enc); i += 76 {
		b64.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
	}
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Write(data)
	w.Close()
	for _, tt := range []struct{ enc, body string }{{"base64", b64.String()}, {"quoted-printable", qp.String()}} {
		want, err := io.ReadAll(stdDecoder(tt.enc, strings.NewReader(tt.body)))
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewDecoder(tt.enc, iotestOneByte(strings.NewReader(tt.body)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: decoded %d bytes (%v), standard library %d", tt.enc, len(got), err, len(want))
		}
	}
	if _, err := NewDecoder("x-uuencode", strings.NewReader("")); err == nil {
		t.Error("x-uuencode: no error")
	}
}

func stdDecoder(enc string, r io.Reader) io.Reader {
	if enc == "base64" {
		return base64.NewDecoder(base64.StdEncoding, strings.NewReader(strings.NewReplacer("\r", "", "\n", "").Replace(mustRead(r))))
	}
	return quotedprintable.NewReader(r)
}

func mustRead(r io.Reader) string {
	b, _ := io.ReadAll(r)
	return string(b)
}

// iotestOneByte reads one byte at a time, the worst case for a decoder
// that must keep state between writes.
func iotestOneByte(r io.Reader) io.Reader { return &oneByte{r} }

type oneByte struct{ r io.Reader }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestHTMLText(t *testing.T) {
	got := HTMLText(`<html><head><style>p{color:red}</style><script>var x = "<p>";</script></head><body><p>Un&nbsp;paragraphe</p><div>Deux &lt;trois&gt;<br>Fin</div></body></html>`)
	want := "Un\u00a0paragraphe\nDeux <trois>\nFin"
	if got != want {
		t.Errorf("HTMLText = %q, want %q", got, want)
	}
}
