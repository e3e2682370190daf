package web

import (
	"bytes"
	"net/url"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
)

// Sanitizer turns the HTML of a message into markup that can neither run
// code nor reach the network on its own. It is the first of two walls: the
// result is also served in a sandboxed iframe under a CSP that forbids
// scripts, and remote images unless the reader asks for them.
//
// A Sanitizer is safe for concurrent use.
type Sanitizer struct {
	policy    *bluemonday.Policy
	signature *bluemonday.Policy
}

// SanitizeOptions say how to treat what the policy lets through.
type SanitizeOptions struct {
	// RemoteImages keeps http and https image sources; otherwise they are
	// removed and counted.
	RemoteImages bool
	// PartURL maps a Content-ID (without angle brackets) to the URL of that
	// part, so that cid: images show; nil drops them.
	PartURL func(cid string) string
}

// Sanitized is the result of Sanitize.
type Sanitized struct {
	HTML          string
	BlockedImages int // remote images removed
}

// NewSanitizer builds the policy: text formatting, lists, tables, links and
// images; inline styles limited to harmless properties with no url(); no
// scripts, event handlers, forms, frames, SVG, style sheets or meta tags.
func NewSanitizer() *Sanitizer {
	p := bluemonday.NewPolicy()
	p.AllowElements("a", "abbr", "address", "b", "bdi", "bdo", "big", "blockquote", "br", "caption",
		"center", "cite", "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "figcaption",
		"figure", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
		"ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "table",
		"tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr")
	p.AllowAttrs("title", "dir", "lang").Globally()
	p.AllowAttrs("align").Matching(regexp.MustCompile(`(?i)^(left|right|center|justify)$`)).Globally()
	p.AllowAttrs("valign").Matching(regexp.MustCompile(`(?i)^(top|middle|bottom|baseline)$`)).Globally()
	p.AllowAttrs("width", "height").Matching(regexp.MustCompile(`^[0-9]{1,4}(%|px)?$`)).Globally()
	p.AllowAttrs("bgcolor", "color").Matching(regexp.MustCompile(`(?i)^(#[0-9a-f]{3,8}|[a-z]{3,20})$`)).Globally()
	p.AllowAttrs("border", "cellpadding", "cellspacing", "colspan", "rowspan", "span", "size").
		Matching(regexp.MustCompile(`^[0-9]{1,3}$`)).Globally()
	p.AllowAttrs("face").Matching(regexp.MustCompile(`^[\w ,'-]{1,100}$`)).OnElements("font")
	p.AllowAttrs("start").Matching(bluemonday.Integer).OnElements("ol")
	p.AllowAttrs("type").Matching(regexp.MustCompile(`^[1aAiI]$`)).OnElements("ol")
	p.AllowAttrs("alt").OnElements("img")
	p.AllowAttrs("datetime").OnElements("time", "del", "ins")
	p.AllowAttrs("cite").OnElements("blockquote", "q", "del", "ins")
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("src").OnElements("img")
	p.AllowURLSchemes("http", "https", "mailto", "cid")
	p.AllowDataURIImages()
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)

	p.AllowStyles("color", "background-color", "border-color").MatchingHandler(cssColor).Globally()
	p.AllowStyles("font-family").MatchingHandler(cssFontFamily).Globally()
	p.AllowStyles("font-size", "line-height", "letter-spacing", "text-indent", "width", "max-width", "min-width",
		"height", "margin", "margin-top", "margin-right", "margin-bottom", "margin-left", "padding", "padding-top",
		"padding-right", "padding-bottom", "padding-left", "border-width", "border-radius").
		MatchingHandler(cssLengths).Globally()
	p.AllowStyles("border", "border-top", "border-right", "border-bottom", "border-left").
		MatchingHandler(cssBorder).Globally()
	p.AllowStyles("font-weight").MatchingEnum("normal", "bold", "bolder", "lighter", "400", "500", "600", "700").Globally()
	p.AllowStyles("font-style").MatchingEnum("normal", "italic", "oblique").Globally()
	p.AllowStyles("text-align").MatchingEnum("left", "right", "center", "justify", "start", "end").Globally()
	p.AllowStyles("text-decoration").MatchingEnum("none", "underline", "line-through", "overline").Globally()
	p.AllowStyles("vertical-align").MatchingEnum("top", "middle", "bottom", "baseline", "sub", "super").Globally()
	p.AllowStyles("white-space").MatchingEnum("normal", "nowrap", "pre", "pre-wrap", "pre-line").Globally()
	p.AllowStyles("border-style").MatchingEnum("none", "solid", "dashed", "dotted", "double").Globally()
	p.AllowStyles("border-collapse").MatchingEnum("collapse", "separate").Globally()
	p.AllowStyles("display").MatchingEnum("block", "inline", "inline-block", "table", "table-row", "table-cell", "none").Globally()
	p.AllowStyles("list-style-type").MatchingEnum("disc", "circle", "square", "decimal", "none", "lower-alpha", "upper-alpha", "lower-roman", "upper-roman").Globally()
	return &Sanitizer{policy: p, signature: signaturePolicy()}
}

// signaturePolicy is the narrower policy of a signature: bold, italic,
// links, line breaks and paragraphs, and small images by https URL; no
// styles, classes or any other attribute.
func signaturePolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("b", "strong", "i", "em", "u", "br", "p", "div", "span", "small")
	p.AllowAttrs("href").Matching(regexp.MustCompile(`(?i)^(https?://|mailto:)`)).OnElements("a")
	p.AllowAttrs("src").Matching(regexp.MustCompile(`(?i)^https://`)).OnElements("img")
	p.AllowAttrs("alt").OnElements("img")
	p.AllowAttrs("width", "height").Matching(regexp.MustCompile(`^([1-9][0-9]?|[12][0-9]{2}|300)$`)).OnElements("img")
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}

// SanitizeSignature cleans the HTML of a signature with the signature
// policy; blank markup gives "".
func (s *Sanitizer) SanitizeSignature(src string) string {
	clean := strings.TrimSpace(s.signature.Sanitize(src))
	if strings.TrimSpace(signatureText(clean)) == "" && !strings.Contains(clean, "<img") {
		return ""
	}
	if !strings.Contains(clean, "<img") {
		return clean
	}
	// An image with no size gets a logo's height, the browser keeping its
	// proportions.
	var out strings.Builder
	z := html.NewTokenizer(strings.NewReader(clean))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out.String()
		case html.StartTagToken, html.SelfClosingTagToken:
			t := z.Token()
			if t.Data == "img" && attr(t, "width") == "" && attr(t, "height") == "" {
				t.Attr = append(t.Attr, html.Attribute{Key: "height", Val: logoHeight})
			}
			out.WriteString(t.String())
		default:
			out.Write(z.Raw())
		}
	}
}

// logoHeight is the height, in pixels, of a signature's image that says
// none.
const logoHeight = "64"

// signatureText is the text/plain form of a signature's clean HTML: line
// breaks for br, p and div, a link's address in angle brackets after its
// words (unless they are the address), an image's alternative text.
func signatureText(src string) string {
	var out strings.Builder
	var href string
	var linkText strings.Builder
	z := html.NewTokenizer(strings.NewReader(src))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return tidyLines(out.String())
		case html.TextToken:
			text := spaces.ReplaceAllString(html.UnescapeString(string(z.Text())), " ")
			out.WriteString(text)
			if href != "" {
				linkText.WriteString(text)
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			t := z.Token()
			switch t.Data {
			case "br":
				out.WriteString("\n")
			case "p", "div":
				if !strings.HasSuffix(out.String(), "\n") {
					out.WriteString("\n")
				}
			case "img":
				out.WriteString(" " + attr(t, "alt") + " ")
			case "a":
				if tt == html.StartTagToken {
					href = attr(t, "href")
					linkText.Reset()
				} else if href != "" {
					shown := strings.TrimSpace(linkText.String())
					if addr := strings.TrimPrefix(href, "mailto:"); shown != addr && shown != href {
						out.WriteString(" <" + addr + ">")
					}
					out.WriteString(" ")
					href = ""
				}
			}
		}
	}
}

var spaces = regexp.MustCompile(`\s+`)

func attr(t html.Token, key string) string {
	for _, a := range t.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// tidyLines trims each line and drops blank lines at the ends and
// repeated ones within.
func tidyLines(s string) string {
	var lines []string
	blank := false
	for _, l := range strings.Split(s, "\n") {
		l = strings.Join(strings.Fields(l), " ")
		if l == "" {
			blank = len(lines) > 0
			continue
		}
		if blank {
			lines = append(lines, "")
			blank = false
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// Sanitize cleans a message's HTML, then rewrites image sources: cid: to
// the part's URL, remote ones dropped unless asked for.
func (s *Sanitizer) Sanitize(src string, opts SanitizeOptions) Sanitized {
	clean := s.policy.Sanitize(src)
	if !strings.Contains(clean, "<img") {
		return Sanitized{HTML: clean}
	}
	var out bytes.Buffer
	blocked := 0
	z := html.NewTokenizer(strings.NewReader(clean))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return Sanitized{HTML: out.String(), BlockedImages: blocked}
		case html.StartTagToken, html.SelfClosingTagToken:
			t := z.Token()
			if t.Data == "img" {
				t.Attr = rewriteImage(t.Attr, opts, &blocked)
			}
			out.WriteString(t.String())
		default:
			out.Write(z.Raw())
		}
	}
}

func rewriteImage(attrs []html.Attribute, opts SanitizeOptions, blocked *int) []html.Attribute {
	kept := attrs[:0]
	for _, a := range attrs {
		if a.Key != "src" {
			kept = append(kept, a)
			continue
		}
		u, err := url.Parse(a.Val)
		if err != nil {
			continue
		}
		switch strings.ToLower(u.Scheme) {
		case "cid":
			if opts.PartURL != nil {
				a.Val = opts.PartURL(u.Opaque)
				kept = append(kept, a)
			}
		case "http", "https":
			if opts.RemoteImages {
				kept = append(kept, a)
			} else {
				*blocked++
			}
		case "data":
			kept = append(kept, a)
		}
	}
	return kept
}

// CSS value checks. Each refuses anything that could fetch (url(), image-set,
// @import), run (expression(), behavior) or escape the check (backslashes,
// comments, quotes beyond font names).
var (
	cssColorRe  = regexp.MustCompile(`(?i)^(#[0-9a-f]{3,8}|[a-z]{3,20}|rgba?\(\s*[0-9.%\s,/]+\)|hsla?\(\s*[0-9.%deg\s,/]+\))$`)
	cssLengthRe = regexp.MustCompile(`(?i)^(-?[0-9]{1,5}(\.[0-9]{1,3})?(px|pt|em|rem|%|ex|ch|vw|vh|cm|mm|in)?|auto|normal|0)$`)
	cssFontRe   = regexp.MustCompile(`^[\w '",-]{1,200}$`)
	cssBorderRe = regexp.MustCompile(`(?i)^(none|solid|dashed|dotted|double|thin|medium|thick)$`)
)

func cssColor(v string) bool { return cssColorRe.MatchString(strings.TrimSpace(v)) }

func cssFontFamily(v string) bool { return cssFontRe.MatchString(v) }

func cssLengths(v string) bool {
	fields := strings.Fields(v)
	if len(fields) == 0 || len(fields) > 4 {
		return false
	}
	for _, f := range fields {
		if !cssLengthRe.MatchString(f) {
			return false
		}
	}
	return true
}

func cssBorder(v string) bool {
	fields := strings.Fields(v)
	if len(fields) == 0 || len(fields) > 3 {
		return false
	}
	for _, f := range fields {
		if !cssLengthRe.MatchString(f) && !cssBorderRe.MatchString(f) && !cssColorRe.MatchString(f) {
			return false
		}
	}
	return true
}
