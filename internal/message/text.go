package message

import (
	"bytes"
	"io"
	"strings"

	"github.com/emersion/go-message/charset"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// indexed reports whether the search index takes the text of a leaf: a
// text part not marked as an attachment (RFC 2183 §2.2), of the message
// itself rather than of a message it encloses.
func indexed(p *Part, enclosed bool) bool {
	return p.Type == "text" && p.Disposition != "attachment" && !enclosed
}

// addText adds the decoded body of a text leaf to the index text.
func (s *parser) addText(p *Part, body []byte) {
	t := DecodeCharset(p.Param("charset"), body)
	if p.Subtype == "html" {
		t = HTMLText(t)
	}
	room := MaxText - s.text.Len()
	if room <= 0 {
		return
	}
	if len(t) > room {
		t = strings.ToValidUTF8(t[:room], "")
	}
	s.text.WriteString(t)
	s.text.WriteByte('\n')
}

// DecodeCharset returns text in charset (RFC 2046 §4.1.2) as UTF-8; bytes
// that are not valid in it become U+FFFD. An unknown charset is read as
// UTF-8.
func DecodeCharset(cs string, b []byte) string {
	switch strings.ToLower(cs) {
	case "", "us-ascii", "utf-8", "utf8":
	default:
		if r, err := charset.Reader(cs, bytes.NewReader(b)); err == nil {
			if d, err := io.ReadAll(r); err == nil {
				b = d
			}
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// HTMLText returns the words of an HTML document, one paragraph a line:
// the text of scripts and styles is dropped, character references are
// decoded. It is the one HTML-to-text of Caduceus: the search index and
// the web app's quoting of HTML-only messages both use it.
func HTMLText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0 // inside <script> or <style>
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.TrimSpace(b.String())
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch a {
			case atom.Script, atom.Style:
				if z.Token().Type == html.StartTagToken {
					skip++
				} else if z.Token().Type == html.EndTagToken && skip > 0 {
					skip--
				}
			case atom.Br, atom.P, atom.Div, atom.Tr, atom.Li, atom.H1, atom.H2, atom.H3, atom.H4, atom.Blockquote, atom.Table:
				if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
					b.WriteByte('\n')
				}
			}
		}
	}
}
