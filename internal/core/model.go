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

	"github.com/emersion/go-message/textproto"

	"caduceus/internal/message"
)

// maxAttachmentNames bounds the names kept per message.
const maxAttachmentNames = 64

// model is what the core takes of a message as it is stored: its model
// (internal/message), the stored form of its part tree, and the
// attachment names the messages table lists.
type model struct {
	*message.Message
	stored      []byte
	attachments []string
}

// parseModel computes a message's model from its bytes.
func parseModel(r io.Reader) (*model, error) {
	m, err := message.Parse(r)
	if err != nil {
		return nil, err
	}
	md := &model{Message: m, stored: message.Marshal(m.Root)}
	for _, l := range message.Attachments(m.Root) {
		if len(md.attachments) == maxAttachmentNames {
			break
		}
		md.attachments = append(md.attachments, strings.ToValidUTF8(l.Name, "\uFFFD"))
	}
	return md, nil
}

// modelOf computes the model of a message held in memory.
func modelOf(raw []byte) *model {
	md, err := parseModel(bytes.NewReader(raw))
	if err != nil {
		panic(err) // a bytes.Reader does not fail
	}
	return md
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
