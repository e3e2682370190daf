package message

import (
	"bufio"
	"bytes"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// ParseHeader parses a raw header (RFC 5322 §2.2) leniently with
// go-message's textproto, first dropping lines that are neither a field
// nor a continuation, so one broken line does not lose the fields after
// it.
func ParseHeader(raw []byte) textproto.Header {
	var clean bytes.Buffer
	clean.Grow(len(raw) + 2)
	for i, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		continuation := line[0] == ' ' || line[0] == '\t'
		colon := bytes.IndexByte(line, ':')
		if continuation && i > 0 && clean.Len() > 0 || !continuation && colon > 0 && validFieldName(line[:colon]) {
			clean.Write(line)
			if line[len(line)-1] != '\n' {
				clean.WriteString("\r\n")
			}
		}
	}
	clean.WriteString("\r\n")
	h, _ := textproto.ReadHeader(bufio.NewReader(&clean))
	return h
}

// validFieldName reports whether b is a field name: printable ASCII
// except ":" (RFC 5322 §3.6.8), trailing white space tolerated.
func validFieldName(b []byte) bool {
	b = bytes.TrimRight(b, " \t")
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= 32 || c >= 127 {
			return false
		}
	}
	return true
}

// wordDecoder decodes RFC 2047 encoded words in any charset go-message
// knows.
func wordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: charset.Reader}
}

// DecodeWords returns s with its RFC 2047 encoded words decoded, or s
// itself when they cannot be (an unknown charset, a broken word).
func DecodeWords(s string) string {
	d, err := wordDecoder().DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// describe fills the Content-* fields of p from its header (RFC 2045,
// RFC 2183, RFC 3282, RFC 2557, RFC 1864).
func describe(p *Part, h textproto.Header, defType string) {
	ct := strings.TrimSpace(h.Get("Content-Type"))
	mt, params := defType, map[string]string(nil)
	if ct != "" {
		t, ps, err := mime.ParseMediaType(ct)
		switch {
		case err == nil || err == mime.ErrInvalidMediaParameter:
			mt, params = t, ps
		default:
			// RFC 2045 §5.2: a Content-Type that cannot be read is text/plain.
			mt = "text/plain"
		}
	}
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" {
		typ, sub, params = "text", "plain", nil
	}
	p.Type, p.Subtype = typ, sub
	p.Params = sortedParams(params)
	if p.Type == "text" && p.Param("charset") == "" {
		p.Params = append(p.Params, [2]string{"charset", "us-ascii"})
	}
	p.Encoding = strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if p.Encoding == "" {
		p.Encoding = "7bit"
	}
	p.ID = strings.TrimSpace(h.Get("Content-Id"))
	p.Description = DecodeWords(strings.TrimSpace(h.Get("Content-Description")))
	p.MD5 = strings.TrimSpace(h.Get("Content-Md5"))
	p.Location = strings.TrimSpace(h.Get("Content-Location"))
	if cd := strings.TrimSpace(h.Get("Content-Disposition")); cd != "" {
		d, ps, err := mime.ParseMediaType(cd)
		if err == nil || err == mime.ErrInvalidMediaParameter {
			p.Disposition, p.DispositionParams = d, sortedParams(ps)
		}
	}
	if cl := h.Get("Content-Language"); cl != "" {
		for _, tag := range strings.Split(cl, ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				p.Language = append(p.Language, tag)
			}
		}
	}
}

// sortedParams returns params in a stable order, their values with any
// encoded words decoded (a common if non-standard way to send names).
func sortedParams(params map[string]string) [][2]string {
	if len(params) == 0 {
		return nil
	}
	out := make([][2]string, 0, len(params))
	for k, v := range params {
		out = append(out, [2]string{k, DecodeWords(v)})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// envelopeOf builds the envelope of a message from its header
// (RFC 9051 §7.5.2).
func envelopeOf(h textproto.Header) *Envelope {
	e := &Envelope{
		Date:      strings.TrimSpace(h.Get("Date")),
		Subject:   DecodeWords(strings.TrimSpace(h.Get("Subject"))),
		From:      addressList(h.Get("From")),
		Sender:    addressList(h.Get("Sender")),
		ReplyTo:   addressList(h.Get("Reply-To")),
		To:        addressList(h.Get("To")),
		Cc:        addressList(h.Get("Cc")),
		Bcc:       addressList(h.Get("Bcc")),
		InReplyTo: strings.TrimSpace(h.Get("In-Reply-To")),
		MessageID: strings.TrimSpace(h.Get("Message-Id")),
	}
	// RFC 9051 §7.5.2: a missing or empty Sender or Reply-To is From.
	if len(e.Sender) == 0 {
		e.Sender = e.From
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = e.From
	}
	return e
}

// addressList parses an address list leniently: groups, however many and
// wherever they are (RFC 5322 §3.4), then each address by net/mail, and
// what it refuses is kept as a mailbox without host rather than lost.
func addressList(v string) []Address {
	var out []Address
	for _, it := range splitAddresses(v) {
		switch {
		case it.groupStart:
			out = append(out, Address{Group: true, Mailbox: DecodeWords(it.text)})
		case it.groupEnd:
			out = append(out, Address{Group: true})
		default:
			out = append(out, oneAddress(it.text))
		}
	}
	return out
}

// addressItem is one address of a list, or the start or end of a group.
type addressItem struct {
	text                 string
	groupStart, groupEnd bool
}

// splitAddresses cuts an address list at its top-level commas, group
// colons and semicolons, outside quoted strings, comments and angle
// brackets.
func splitAddresses(v string) []addressItem {
	var out []addressItem
	var cur strings.Builder
	quoted, escaped, angle, comment, inGroup := false, false, false, 0, false
	flush := func() {
		if t := strings.TrimSpace(cur.String()); t != "" {
			out = append(out, addressItem{text: t})
		}
		cur.Reset()
	}
	for i := 0; i < len(v); i++ {
		r := v[i] // the delimiters are ASCII: bytes keep other text as it is
		switch {
		case escaped:
			escaped = false
		case r == '\\' && (quoted || comment > 0):
			escaped = true
		case quoted:
			quoted = r != '"'
		case comment > 0:
			if r == '(' {
				comment++
			} else if r == ')' {
				comment--
			}
		case r == '"':
			quoted = true
		case r == '(':
			comment++
		case angle:
			angle = r != '>'
		case r == '<':
			angle = true
		case r == ',':
			flush()
			continue
		case r == ':' && !inGroup && !strings.Contains(cur.String(), "@"):
			out = append(out, addressItem{text: strings.TrimSpace(cur.String()), groupStart: true})
			cur.Reset()
			inGroup = true
			continue
		case r == ';' && inGroup:
			flush()
			out = append(out, addressItem{groupEnd: true})
			inGroup = false
			continue
		}
		cur.WriteByte(r)
	}
	flush()
	if inGroup {
		out = append(out, addressItem{groupEnd: true})
	}
	return out
}

// oneAddress parses one address, with its obsolete route if it has one.
func oneAddress(s string) Address {
	route := ""
	if i := strings.Index(s, "<@"); i >= 0 {
		if j := strings.IndexByte(s[i:], ':'); j > 0 && !strings.ContainsAny(s[i+1:i+j], "<>\"") {
			route = s[i+1 : i+j]
			s = s[:i+1] + s[i+j+1:]
		}
	}
	parser := mail.AddressParser{WordDecoder: wordDecoder()}
	if a, err := parser.Parse(s); err == nil {
		out := fromMail([]*mail.Address{a})[0]
		out.Route = route
		return out
	}
	addr := s
	if i, j := strings.LastIndexByte(s, '<'), strings.LastIndexByte(s, '>'); i >= 0 && j > i {
		addr = s[i+1 : j]
	}
	mbox, host, _ := strings.Cut(addr, "@")
	return Address{Mailbox: mbox, Host: host, Route: route}
}

func fromMail(list []*mail.Address) []Address {
	out := make([]Address, 0, len(list))
	for _, a := range list {
		i := strings.LastIndexByte(a.Address, '@')
		if i < 0 {
			out = append(out, Address{Name: a.Name, Mailbox: a.Address})
			continue
		}
		out = append(out, Address{Name: a.Name, Mailbox: a.Address[:i], Host: a.Address[i+1:]})
	}
	return out
}

// Header is what the store keeps of a message's own header: the fields a
// mailbox lists, sorts and threads by, decoded to valid UTF-8.
type Header struct {
	MessageID  string
	InReplyTo  string
	References string // the Message-IDs, one space between them
	Date       time.Time
	Subject    string
	From       string // as written, encoded words decoded: "Name <addr>"
	To         string
	Cc         string
}

// headerOf reads the listed fields of a message's header (RFC 5322 §3.6).
func headerOf(h textproto.Header) Header {
	valid := func(v string) string { return strings.ToValidUTF8(DecodeWords(v), "\uFFFD") }
	out := Header{
		MessageID:  strings.ToValidUTF8(strings.TrimSpace(h.Get("Message-Id")), "\uFFFD"),
		InReplyTo:  strings.ToValidUTF8(strings.TrimSpace(h.Get("In-Reply-To")), "\uFFFD"),
		References: strings.ToValidUTF8(strings.Join(strings.Fields(h.Get("References")), " "), "\uFFFD"),
		Subject:    valid(h.Get("Subject")),
		From:       valid(h.Get("From")),
		To:         valid(h.Get("To")),
		Cc:         valid(h.Get("Cc")),
	}
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		out.Date = d
	}
	return out
}

// headerText returns every field of h, decoded, one a line, for the
// search index.
func headerText(h textproto.Header) string {
	var b strings.Builder
	for f := h.Fields(); f.Next() && b.Len() < MaxText; {
		b.WriteString(f.Key())
		b.WriteString(": ")
		b.WriteString(strings.ToValidUTF8(DecodeWords(f.Value()), "\uFFFD"))
		b.WriteByte('\n')
	}
	if b.Len() > MaxText {
		return strings.ToValidUTF8(b.String()[:MaxText], "")
	}
	return b.String()
}

// Parents lists the Message-IDs a message points at, parent last.
func (h Header) Parents() []string {
	ids := strings.Fields(h.References)
	if h.InReplyTo != "" {
		ids = append(ids, strings.Fields(h.InReplyTo)...)
	}
	return ids
}
