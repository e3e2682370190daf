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

// addressList parses an address list leniently: a list net/mail refuses
// is parsed address by address, and what still fails is kept as a
// mailbox without host rather than lost.
func addressList(v string) []Address {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if name, members, ok := cutGroup(v); ok {
		out := []Address{{Group: true, Mailbox: DecodeWords(name)}}
		out = append(out, addressList(members)...)
		return append(out, Address{Group: true})
	}
	parser := mail.AddressParser{WordDecoder: wordDecoder()}
	if list, err := parser.ParseList(v); err == nil {
		return fromMail(list)
	}
	var out []Address
	for _, one := range strings.Split(v, ",") {
		one = strings.TrimSpace(one)
		if one == "" {
			continue
		}
		if a, err := parser.Parse(one); err == nil {
			out = append(out, fromMail([]*mail.Address{a})...)
			continue
		}
		addr := one
		if i, j := strings.LastIndexByte(one, '<'), strings.LastIndexByte(one, '>'); i >= 0 && j > i {
			addr = one[i+1 : j]
		}
		mbox, host, _ := strings.Cut(addr, "@")
		out = append(out, Address{Mailbox: mbox, Host: host})
	}
	return out
}

// cutGroup splits "name: members;" (RFC 5322 §3.4).
func cutGroup(v string) (name, members string, ok bool) {
	colon := strings.IndexByte(v, ':')
	if colon <= 0 || !strings.HasSuffix(v, ";") || strings.ContainsAny(v[:colon], "<>@,\"") {
		return "", "", false
	}
	return strings.TrimSpace(v[:colon]), strings.TrimSuffix(v[colon+1:], ";"), true
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
