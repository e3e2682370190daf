package sieve

import (
	"bytes"
	"io"
	"strings"

	"caduceus/internal/message"
)

// BodyMessage is a Message whose body the body test reads (RFC 5173). A
// Message that is not one makes every body test false.
type BodyMessage interface {
	Message
	// Body returns the body under a transform: "raw", the body as it was
	// sent; "text", its text, decoded; "content", the decoded leaves
	// whose media type matches one of types ("text" matches every text
	// subtype, "" every leaf).
	Body(transform string, types []string) []string
}

// maxBody bounds what the body test reads of one message's leaves.
const maxBody = 1 << 20

// mailMessage is a Message over a whole message and its model.
type mailMessage struct {
	*headerMessage
	data  []byte
	model *message.Message
}

// NewMailMessage returns the Message a script sees of a whole message
// with its model (internal/message): its header, envelope, size, and its
// body for the body test.
func NewMailMessage(data []byte, model *message.Message, from, to string) Message {
	return &mailMessage{headerMessage: NewMessage(data, from, to, int64(len(data))).(*headerMessage), data: data, model: model}
}

func (m *mailMessage) Body(transform string, types []string) []string {
	switch transform {
	case "raw":
		root := m.model.Root
		if root.BodyOffset > int64(len(m.data)) {
			return nil
		}
		return []string{string(m.data[root.BodyOffset:min(root.EndOffset, int64(len(m.data)))])}
	case "text":
		return []string{m.model.Text}
	}
	var out []string
	budget := maxBody
	for _, l := range message.Leaves(m.model.Root) {
		p := l.Part
		if !matchesType(p, types) || p.EndOffset > int64(len(m.data)) || p.BodyOffset > p.EndOffset {
			continue
		}
		d, err := message.NewDecoder(p.Encoding, bytes.NewReader(m.data[p.BodyOffset:p.EndOffset]))
		if err != nil {
			continue // an unknown encoding: nothing to compare
		}
		b, _ := io.ReadAll(io.LimitReader(d, int64(budget)))
		budget -= len(b)
		if p.Type == "text" {
			out = append(out, message.DecodeCharset(p.Param("charset"), b))
		} else {
			out = append(out, string(b))
		}
		if budget <= 0 {
			break
		}
	}
	return out
}

// matchesType tells whether a leaf's media type is one of types
// (RFC 5173 §5.2).
func matchesType(p *message.Part, types []string) bool {
	for _, t := range types {
		typ, sub, hasSub := strings.Cut(strings.ToLower(strings.TrimSpace(t)), "/")
		if typ == "" || typ == p.Type && (!hasSub || sub == p.Subtype) {
			return true
		}
	}
	return false
}
