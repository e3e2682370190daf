package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode the charsets mail uses, not only UTF-8
	"github.com/emersion/go-message/mail"

	"caduceus/internal/message"
)

// parsed is a message taken apart for display, from its model
// (internal/message): headers, the plain and HTML bodies, and every leaf
// part, whose content is read from the message when asked for.
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

	rd io.ReaderAt // the message
}

// part is one leaf of the MIME tree, numbered in the order of the
// message (message.Leaves).
type part struct {
	Index      int
	Type       string
	Name       string
	CID        string
	Attachment bool  // shown in the list of attachments (message.Attachment)
	Size       int64 // decoded

	leaf *message.Part
}

// maxBodyText bounds the plain or HTML body read for display.
const maxBodyText = 16 << 20

// sizedReaderAt is a message's content: a blob reader, or bytes.
type sizedReaderAt interface {
	io.ReaderAt
	Size() int64
}

// parseMessage computes the model of a message held in r and takes it
// apart; readParsed does the same from a stored model.
func parseMessage(r sizedReaderAt) (*parsed, error) {
	m, err := message.Parse(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		return nil, fmt.Errorf("web: read message: %w", err)
	}
	return readParsed(r, m.Root)
}

// readParsed takes apart the message rd whose part tree is root. A body
// it cannot decode is kept as raw text rather than failing the whole
// message.
func readParsed(rd io.ReaderAt, root *message.Part) (*parsed, error) {
	raw := make([]byte, min(root.BodyOffset-root.HeaderOffset, message.MaxHeaderBytes))
	if _, err := rd.ReadAt(raw, root.HeaderOffset); err != nil && err != io.EOF {
		return nil, fmt.Errorf("web: read message header: %w", err)
	}
	h := mail.Header{Header: gomessage.Header{Header: message.ParseHeader(raw)}}
	p := &parsed{rd: rd}
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
	for _, l := range message.Leaves(root) {
		pt := part{
			Index: l.Index, Type: l.Part.MediaType(), Name: l.Name,
			CID:        strings.Trim(l.Part.ID, "<> "),
			Attachment: l.Role == message.Attachment,
			Size:       l.Part.DecodedSize,
			leaf:       l.Part,
		}
		if l.Role == message.Body {
			body, err := p.read(pt, maxBodyText)
			if err != nil {
				return nil, err
			}
			text := message.DecodeCharset(l.Part.Param("charset"), body)
			if l.Part.Subtype == "html" {
				p.HTML = text
			} else {
				p.Text = text
			}
		}
		p.Parts = append(p.Parts, pt)
	}
	if p.Text == "" && p.HTML == "" && len(p.Parts) == 0 {
		return nil, errors.New("web: message has no body")
	}
	return p, nil
}

// open returns a reader of a part's content, its transfer encoding undone
// as it is read; a part in an encoding nobody knows is given as it is.
func (p *parsed) open(pt part) io.Reader {
	body := io.NewSectionReader(p.rd, pt.leaf.BodyOffset, pt.leaf.Size())
	r, err := message.NewDecoder(pt.leaf.Encoding, body)
	if err != nil {
		return body
	}
	return r
}

// read returns up to limit bytes of a part's content.
func (p *parsed) read(pt part, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(p.open(pt), limit))
	if err != nil {
		return nil, fmt.Errorf("web: read part: %w", err)
	}
	return b, nil
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
// body turned to text (message.HTMLText) when there is no plain one.
func (p *parsed) plainText() string {
	if p.Text != "" || p.HTML == "" {
		return strings.ReplaceAll(p.Text, "\r\n", "\n")
	}
	return message.HTMLText(p.HTML)
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
