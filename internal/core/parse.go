package core

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decodes non-UTF-8 encoded words and parameters
	"github.com/emersion/go-message/textproto"
)

// summary is what the store keeps of a message's headers and structure.
type summary struct {
	messageID, inReplyTo, references string
	date                             time.Time
	subject, from, to, cc            string
	attachments                      []string
}

// maxAttachmentNames bounds the names kept per message.
const maxAttachmentNames = 64

// summarize reads a message's headers and walks its MIME tree for attachment
// names. A malformed message is still stored: what cannot be read stays empty.
func summarize(raw []byte) summary {
	var sm summary
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return sm
	}
	dec := new(mime.WordDecoder)
	dec.CharsetReader = message.CharsetReader
	decode := func(v string) string {
		d, err := dec.DecodeHeader(v)
		if err != nil {
			return strings.ToValidUTF8(v, "\uFFFD")
		}
		return strings.ToValidUTF8(d, "\uFFFD")
	}
	sm.messageID = strings.TrimSpace(h.Get("Message-Id"))
	sm.inReplyTo = strings.TrimSpace(h.Get("In-Reply-To"))
	sm.references = strings.Join(strings.Fields(h.Get("References")), " ")
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		sm.date = d
	}
	sm.subject = decode(h.Get("Subject"))
	sm.from = decode(h.Get("From"))
	sm.to = decode(h.Get("To"))
	sm.cc = decode(h.Get("Cc"))
	sm.attachments = attachmentNames(message.Header{Header: h}, br, 0)
	return sm
}

func attachmentNames(h message.Header, body io.Reader, depth int) []string {
	if depth > 20 {
		return nil
	}
	mt, params, _ := h.ContentType()
	var out []string
	if strings.HasPrefix(mt, "multipart/") {
		mr := textproto.NewMultipartReader(body, params["boundary"])
		for len(out) < maxAttachmentNames {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			out = append(out, attachmentNames(message.Header{Header: p.Header}, p, depth+1)...)
		}
		return out
	}
	disp, dparams, _ := h.ContentDisposition()
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	if disp == "attachment" || (name != "" && disp != "inline") || (name != "" && !strings.HasPrefix(mt, "text/")) {
		if name == "" {
			name = "sans-nom"
		}
		out = append(out, strings.ToValidUTF8(name, "\uFFFD"))
	}
	return out
}

// references lists the Message-IDs a message points at, parent last.
func (sm summary) parents() []string {
	ids := strings.Fields(sm.references)
	if sm.inReplyTo != "" {
		ids = append(ids, strings.Fields(sm.inReplyTo)...)
	}
	return ids
}

// prepareSubmission checks a submitted message's header and adds what RFC 6409
// §8 lets a submission server add: Message-ID and Date. onBehalf, when set, is
// written as Sender:. It returns the new message and the From addresses.
func prepareSubmission(raw []byte, hostname string, now time.Time, onBehalf string, newID func() string) ([]byte, []string, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: message header: %v", ErrInvalid, err)
	}
	fromList, err := mail.ParseAddressList(h.Get("From"))
	if err != nil || len(fromList) == 0 {
		var dec mime.WordDecoder
		if d, derr := dec.DecodeHeader(h.Get("From")); derr == nil {
			fromList, err = mail.ParseAddressList(d)
		}
		if err != nil || len(fromList) == 0 {
			return nil, nil, fmt.Errorf("%w: From: header missing or unreadable", ErrInvalid)
		}
	}
	from := make([]string, len(fromList))
	for i, a := range fromList {
		from[i] = strings.ToLower(a.Address)
	}
	if !h.Has("Message-Id") {
		h.Set("Message-Id", "<"+newID()+"@"+hostname+">")
	}
	if !h.Has("Date") {
		h.Set("Date", now.Format(time.RFC1123Z))
	}
	h.Del("Bcc")
	if onBehalf != "" {
		h.Set("Sender", onBehalf)
	} else {
		h.Del("Sender")
	}
	var out bytes.Buffer
	out.Grow(len(raw) + 128)
	if err := textproto.WriteHeader(&out, h); err != nil {
		return nil, nil, err
	}
	if _, err := io.Copy(&out, br); err != nil {
		return nil, nil, err
	}
	return out.Bytes(), from, nil
}
