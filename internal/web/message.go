package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode the charsets mail uses, not only UTF-8
	"github.com/emersion/go-message/mail"
)

// parsed is a message taken apart for display: headers, the first plain
// and HTML bodies, and every other leaf part.
type parsed struct {
	Subject    string
	From       []*mail.Address
	To, CC     []*mail.Address
	Bcc        []*mail.Address // kept in drafts only
	ReplyTo    []*mail.Address
	InReplyTo  string // the raw header, for a resumed draft
	Date       time.Time
	MessageID  string
	References []string
	Text       string
	HTML       string
	Parts      []part
}

// part is one leaf of the MIME tree, numbered in walk order.
type part struct {
	Index      int
	Type       string
	Name       string
	CID        string
	Attachment bool // shown in the list of attachments
	Data       []byte
}

// maxPartSize bounds what one part may take in memory while parsing.
const maxPartSize = 64 << 20

// parseMessage reads a whole RFC 5322 message. A body it cannot decode
// is kept as raw text rather than failing the whole message.
func parseMessage(r io.Reader) (*parsed, error) {
	e, err := message.Read(r)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("web: read message: %w", err)
	}
	h := mail.Header{Header: e.Header}
	p := &parsed{}
	p.Subject, _ = h.Subject()
	p.From, _ = h.AddressList("From")
	p.To, _ = h.AddressList("To")
	p.CC, _ = h.AddressList("Cc")
	p.Bcc, _ = h.AddressList("Bcc")
	p.ReplyTo, _ = h.AddressList("Reply-To")
	p.InReplyTo = h.Get("In-Reply-To")
	p.Date, _ = h.Date()
	p.MessageID, _ = h.MessageID()
	p.References, _ = h.MsgIDList("References")
	if len(p.References) == 0 {
		p.References, _ = h.MsgIDList("In-Reply-To")
		if len(p.References) > 1 {
			p.References = p.References[:1]
		}
	}
	err = e.Walk(func(path []int, pe *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		ctype, params, _ := pe.Header.ContentType()
		if strings.HasPrefix(ctype, "multipart/") {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(pe.Body, maxPartSize))
		if err != nil {
			return err
		}
		disp, dparams, _ := pe.Header.ContentDisposition()
		name := dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		if name != "" {
			if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
				name = dec
			}
		}
		pt := part{
			Index: len(p.Parts),
			Type:  ctype,
			Name:  name,
			CID:   strings.Trim(pe.Header.Get("Content-Id"), "<> "),
			Data:  data,
		}
		inline := disp != "attachment" && name == ""
		switch {
		case ctype == "text/plain" && inline && p.Text == "" && len(path) <= 2:
			p.Text = string(data)
		case ctype == "text/html" && inline && p.HTML == "" && len(path) <= 2:
			p.HTML = string(data)
		case strings.HasPrefix(ctype, "image/") && pt.CID != "" && disp != "attachment":
			// An inline image, shown where the HTML refers to it.
		default:
			pt.Attachment = true
			if pt.Name == "" {
				pt.Name = defaultName(ctype, pt.Index)
			}
		}
		p.Parts = append(p.Parts, pt)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: walk message: %w", err)
	}
	if p.Text == "" && p.HTML == "" && len(p.Parts) == 0 {
		return nil, errors.New("web: message has no body")
	}
	return p, nil
}

func defaultName(ctype string, i int) string {
	if ctype == "message/rfc822" {
		return "message.eml"
	}
	ext := ".bin"
	if exts, _ := mime.ExtensionsByType(ctype); len(exts) > 0 {
		ext = exts[0]
	}
	return fmt.Sprintf("part-%d%s", i+1, ext)
}

// attachments returns the parts listed as attachments.
func (p *parsed) attachments() []part {
	var out []part
	for _, pt := range p.Parts {
		if pt.Attachment {
			out = append(out, pt)
		}
	}
	return out
}

// plainText returns the text to show or quote: the plain body, or the HTML
// body with its tags removed when there is no plain one.
func (p *parsed) plainText() string {
	if p.Text != "" || p.HTML == "" {
		return strings.ReplaceAll(p.Text, "\r\n", "\n")
	}
	return htmlToText(p.HTML)
}

// htmlToText keeps the words of an HTML body, one paragraph a line.
func htmlToText(s string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '<':
			in = true
			rest := strings.ToLower(s[i:min(i+5, len(s))])
			if strings.HasPrefix(rest, "<br") || strings.HasPrefix(rest, "<p") || strings.HasPrefix(rest, "<div") || strings.HasPrefix(rest, "</p") || strings.HasPrefix(rest, "<tr") || strings.HasPrefix(rest, "<li") {
				b.WriteByte('\n')
			}
		case c == '>':
			in = false
		case !in:
			b.WriteByte(c)
		}
	}
	r := strings.NewReplacer("&nbsp;", " ", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'")
	return strings.TrimSpace(r.Replace(b.String()))
}

// formatAddress writes "Name <addr>" or the bare address.
func formatAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return fmt.Sprintf("%s <%s>", a.Name, a.Address)
}

func formatAddresses(list []*mail.Address) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = formatAddress(a)
	}
	return out
}

// systemMail writes a short plain-text message from the server itself.
func systemMail(from, to, subject, body, hostname string) ([]byte, error) {
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Address: from}})
	h.SetAddressList("To", []*mail.Address{{Address: to}})
	h.SetSubject(subject)
	h.SetDate(time.Now())
	if err := h.GenerateMessageIDWithHostname(hostname); err != nil {
		return nil, fmt.Errorf("web: message id: %w", err)
	}
	h.Set("Auto-Submitted", "auto-generated")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("web: write system mail: %w", err)
	}
	io.WriteString(w, body)
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("web: write system mail: %w", err)
	}
	return buf.Bytes(), nil
}
