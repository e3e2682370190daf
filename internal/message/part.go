package message

import "strings"

// Part is one MIME entity of a message (RFC 2045, RFC 2046) and where it
// lies in the message's bytes. The root Part is the message itself. A
// multipart holds its children in Parts; a message/rfc822 part holds the
// enclosed message as its single child, which carries the Envelope.
//
// A Part holds no body bytes: a body is read from the message between
// BodyOffset and EndOffset.
type Part struct {
	Type        string      `json:"type"`    // lower case, e.g. "text"
	Subtype     string      `json:"subtype"` // lower case, e.g. "plain"
	Params      [][2]string `json:"params,omitempty"`
	ID          string      `json:"id,omitempty"`
	Description string      `json:"description,omitempty"`
	Encoding    string      `json:"encoding,omitempty"` // Content-Transfer-Encoding, lower case
	MD5         string      `json:"md5,omitempty"`

	Disposition       string      `json:"disposition,omitempty"`
	DispositionParams [][2]string `json:"dispositionParams,omitempty"`
	Language          []string    `json:"language,omitempty"`
	Location          string      `json:"location,omitempty"`

	HeaderOffset int64 `json:"headerOffset"` // first byte of the header
	BodyOffset   int64 `json:"bodyOffset"`   // first byte of the body
	EndOffset    int64 `json:"endOffset"`    // one past the last byte of the body
	Lines        int64 `json:"lines"`        // lines of the body
	// DecodedSize is the size of a leaf's body once its transfer encoding
	// is undone (RFC 3516 BINARY.SIZE); for a multipart or an enclosed
	// message it is Size.
	DecodedSize int64 `json:"decodedSize,omitempty"`

	Envelope *Envelope `json:"envelope,omitempty"` // of a message: the root, or a message/rfc822 child
	Parts    []*Part   `json:"parts,omitempty"`
}

// Envelope is the envelope of a message (RFC 9051 §7.5.2). Strings are
// decoded to UTF-8 where the header used RFC 2047 encoded words; Date,
// InReplyTo and MessageID are as in the header.
type Envelope struct {
	Date      string    `json:"date,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	From      []Address `json:"from,omitempty"`
	Sender    []Address `json:"sender,omitempty"`
	ReplyTo   []Address `json:"replyTo,omitempty"`
	To        []Address `json:"to,omitempty"`
	Cc        []Address `json:"cc,omitempty"`
	Bcc       []Address `json:"bcc,omitempty"`
	InReplyTo string    `json:"inReplyTo,omitempty"`
	MessageID string    `json:"messageId,omitempty"`
}

// Address is one address of an envelope. A group (RFC 5322 §3.4) is
// marked by an Address with Group set and the group's name in Mailbox
// before its members, and one with Group set and no Mailbox after them
// (RFC 9051 §7.5.2).
type Address struct {
	Name    string `json:"name,omitempty"`
	Mailbox string `json:"mailbox,omitempty"`
	Host    string `json:"host,omitempty"`
	Group   bool   `json:"group,omitempty"`
	// Route is the obsolete source route of "<@a,@b:user@host>" (RFC 5322
	// §4.4), "@a,@b": the envelope's adl (RFC 9051 §7.5.2).
	Route string `json:"route,omitempty"`
}

// Size returns the number of bytes of the part's body.
func (p *Part) Size() int64 { return p.EndOffset - p.BodyOffset }

// MediaType returns "type/subtype", lower case.
func (p *Part) MediaType() string { return p.Type + "/" + p.Subtype }

// IsMultipart reports whether the part is a multipart.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" }

// IsMessage reports whether the part encloses a message it was parsed
// into (RFC 2046 §5.2.1; RFC 6532 §3.7 message/global).
func (p *Part) IsMessage() bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global") && len(p.Parts) == 1
}

// Param returns the value of a Content-Type parameter.
func (p *Part) Param(name string) string { return param(p.Params, name) }

// DispositionParam returns the value of a Content-Disposition parameter.
func (p *Part) DispositionParam(name string) string { return param(p.DispositionParams, name) }

func param(params [][2]string, name string) string {
	for _, kv := range params {
		if strings.EqualFold(kv[0], name) {
			return kv[1]
		}
	}
	return ""
}

// FileName returns the part's file name: the Content-Disposition filename
// (RFC 2183 §2.3), else the Content-Type name a good many mailers still
// send, with RFC 2231 continuations and encoded words already decoded.
func (p *Part) FileName() string {
	if n := p.DispositionParam("filename"); n != "" {
		return n
	}
	return p.Param("name")
}

// Locate returns the part that section part numbers name in the message
// p (RFC 9051 §6.4.5): the children of a multipart are numbered from 1, a
// part that is not a multipart is part 1 of its message, and the numbers
// after a message/rfc822 part name parts of the enclosed message.
func (p *Part) Locate(path []int) (*Part, bool) {
	cur := p
	for i, n := range path {
		message := i == 0
		if i > 0 && cur.IsMessage() {
			cur, message = cur.Parts[0], true
		}
		switch {
		case cur.IsMultipart() && len(cur.Parts) > 0:
			if n < 1 || n > len(cur.Parts) {
				return nil, false
			}
			cur = cur.Parts[n-1]
		case !message || n != 1:
			return nil, false
		}
	}
	return cur, true
}
