package imap

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// Part is one MIME entity of a message (RFC 2045, RFC 2046) and where it
// lies in the message's bytes. The root Part is the message itself. A
// multipart holds its children in Parts; a message/rfc822 part holds the
// enclosed message as its single child, which carries the Envelope.
//
// A Part holds no body bytes: sections are served by reading the
// message between the offsets. It encodes as JSON, so a store may keep it
// beside the message and parse each message once.
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

	Envelope *Envelope `json:"envelope,omitempty"` // of a message: the root, or a message/rfc822 child
	Parts    []*Part   `json:"parts,omitempty"`
}

// Envelope is the ENVELOPE of a message (RFC 9051 §7.5.2). Strings are
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
}

// Size returns the number of bytes of the part's body.
func (p *Part) Size() int64 { return p.EndOffset - p.BodyOffset }

// IsMultipart reports whether the part is a multipart.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" }

// IsMessage reports whether the part encloses a message (RFC 2046 §5.2.1;
// RFC 6532 §3.7 message/global).
func (p *Part) IsMessage() bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global") && len(p.Parts) == 1
}

// Param returns the value of a Content-Type parameter.
func (p *Part) Param(name string) string {
	for _, kv := range p.Params {
		if strings.EqualFold(kv[0], name) {
			return kv[1]
		}
	}
	return ""
}

// Limits on the structure of one message, against hostile messages.
const (
	maxStructureDepth = 32
	maxStructureParts = 5000
	maxHeaderBytes    = 1 << 20
)

// ParseStructure reads a whole message from r and returns its structure.
// It holds one line at a time and the header being read, never a body.
// Malformed messages yield a best-effort structure, as RFC 2046 asks
// readers to be lenient; only read errors are returned.
func ParseStructure(r io.Reader) (*Part, error) {
	s := &structureParser{r: bufio.NewReaderSize(r, 16<<10)}
	root, h, _, err := s.entity(nil, 0, "text/plain")
	if err != nil {
		return nil, fmt.Errorf("imap: reading message structure: %w", err)
	}
	root.Envelope = envelopeOf(h)
	return root, nil
}

// structureParser walks a message line by line, keeping the offset and
// the count of line ends read so far.
type structureParser struct {
	r     *bufio.Reader
	off   int64 // offset of the next byte
	nl    int64 // line ends read so far
	parts int

	line      []byte // current line, with its line end; nil at EOF
	lineStart int64
	lineNL    int64 // nl before the current line
	atStart   bool  // the current line starts a line (not the rest of a long one)

	prevStart int64 // the line before the current one
	prevLen   int64 // its length without its line end
	prevNL    int64
	prevEOL   bool // it ended with a line end
	havePrev  bool
}

// stop says where and how an entity ended: at a delimiter line of an
// enclosing multipart (boundary is an index into the boundary stack), or
// at EOF (boundary -1). end is one past the entity's last byte, endNL the
// line ends before end, and partial tells whether the byte before end is
// not a line end, so the last line has no line end of its own.
type stop struct {
	boundary int
	closing  bool
	end      int64
	endNL    int64
	partial  bool
}

// linesFrom returns the number of lines between start, where startNL line
// ends had been read, and the stop.
func (st stop) linesFrom(start, startNL int64) int64 {
	if st.end <= start {
		return 0
	}
	n := st.endNL - startNL
	if st.partial {
		n++
	}
	return n
}

// next reads the next line; io.EOF means nothing is left.
func (s *structureParser) next() error {
	if s.line != nil {
		s.prevStart, s.prevNL, s.havePrev = s.lineStart, s.lineNL, true
		s.prevEOL = s.line[len(s.line)-1] == '\n'
		s.prevLen = int64(len(s.line))
		if s.prevEOL {
			s.prevLen = int64(len(bytes.TrimSuffix(bytes.TrimSuffix(s.line, []byte("\n")), []byte("\r"))))
		}
	}
	s.atStart = s.line == nil || s.prevEOL
	line, err := s.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull || err == io.EOF && len(line) > 0 {
		err = nil
	}
	if err != nil {
		s.line = nil
		return err
	}
	s.line = line
	s.lineStart, s.lineNL = s.off, s.nl
	s.off += int64(len(line))
	if line[len(line)-1] == '\n' {
		s.nl++
	}
	return nil
}

// delimiter reports whether the current line is a delimiter of one of
// the boundaries, innermost first (RFC 2046 §5.1.1: white space may
// follow it).
func (s *structureParser) delimiter(bounds []string) (st stop, ok bool) {
	if !s.atStart || len(bounds) == 0 || len(s.line) < 3 || s.line[0] != '-' || s.line[1] != '-' {
		return stop{}, false
	}
	l := bytes.TrimRight(s.line[2:], " \t\r\n")
	for i := len(bounds) - 1; i >= 0; i-- {
		rest, found := bytes.CutPrefix(l, []byte(bounds[i]))
		if !found {
			continue
		}
		if len(rest) == 0 {
			return stop{boundary: i}, true
		}
		if string(rest) == "--" {
			return stop{boundary: i, closing: true}, true
		}
	}
	return stop{}, false
}

// stopHere completes st for a delimiter on the current line, or for EOF.
// RFC 2046 §5.1.1: the line end before a delimiter belongs to it.
func (s *structureParser) stopHere(st stop, eof bool) stop {
	switch {
	case eof:
		st.boundary, st.end, st.endNL = -1, s.off, s.nl
		st.partial = s.havePrev && !s.prevEOL
	case s.havePrev:
		st.end, st.endNL, st.partial = s.prevStart+s.prevLen, s.prevNL, s.prevLen > 0
	default:
		st.end, st.endNL = s.lineStart, s.lineNL
	}
	return st
}

// skipTo reads lines until a delimiter of bounds or EOF.
func (s *structureParser) skipTo(bounds []string) (stop, error) {
	for {
		err := s.next()
		if err == io.EOF {
			return s.stopHere(stop{}, true), nil
		}
		if err != nil {
			return stop{}, err
		}
		if st, ok := s.delimiter(bounds); ok {
			return s.stopHere(st, false), nil
		}
	}
}

// entity reads one entity, header and body, within the enclosing
// boundaries; defType is its default Content-Type (RFC 2046 §5.1.5,
// message/rfc822 in a multipart/digest). It returns the entity's header
// too, from which a caller takes an Envelope.
func (s *structureParser) entity(bounds []string, depth int, defType string) (*Part, textproto.Header, stop, error) {
	p := &Part{HeaderOffset: s.off}
	s.parts++
	raw, st, ended, err := s.header(bounds)
	if err != nil {
		return nil, textproto.Header{}, stop{}, err
	}
	h := parseHeaderLenient(raw)
	describe(p, h, defType)
	if ended {
		// The header ran into a delimiter or EOF: the body is empty.
		st.end = max(st.end, p.HeaderOffset)
		p.BodyOffset, p.EndOffset = st.end, st.end
		return p, h, st, nil
	}
	p.BodyOffset = s.off
	startNL := s.nl
	deep := depth >= maxStructureDepth || s.parts >= maxStructureParts
	switch {
	case p.IsMultipart() && p.Param("boundary") != "" && !deep:
		st, err = s.multipart(p, bounds, depth)
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global") && !deep &&
		p.Encoding != "base64" && p.Encoding != "quoted-printable":
		var child *Part
		var ch textproto.Header
		child, ch, st, err = s.entity(bounds, depth+1, "text/plain")
		if err == nil {
			child.Envelope = envelopeOf(ch)
			p.Parts = []*Part{child}
		}
	default:
		st, err = s.skipTo(bounds)
	}
	if err != nil {
		return nil, textproto.Header{}, stop{}, err
	}
	p.EndOffset = max(st.end, p.BodyOffset)
	p.Lines = st.linesFrom(p.BodyOffset, startNL)
	return p, h, st, nil
}

// header reads a header up to and including the empty line that ends it.
// ended is set when a delimiter or EOF came first; st then tells where.
func (s *structureParser) header(bounds []string) (raw []byte, st stop, ended bool, err error) {
	for {
		err := s.next()
		if err == io.EOF {
			return raw, s.stopHere(stop{}, true), true, nil
		}
		if err != nil {
			return nil, stop{}, false, err
		}
		if st, ok := s.delimiter(bounds); ok {
			return raw, s.stopHere(st, false), true, nil
		}
		if s.atStart && (len(s.line) == 1 || len(s.line) == 2 && s.line[0] == '\r') && s.line[len(s.line)-1] == '\n' {
			return raw, stop{}, false, nil
		}
		if len(raw)+len(s.line) <= maxHeaderBytes {
			raw = append(raw, s.line...)
		}
	}
}

// multipart reads the body of a multipart: preamble, parts, epilogue
// (RFC 2046 §5.1.1).
func (s *structureParser) multipart(p *Part, bounds []string, depth int) (stop, error) {
	inner := append(bounds[:len(bounds):len(bounds)], p.Param("boundary"))
	own := len(inner) - 1
	defType := "text/plain"
	if p.Subtype == "digest" {
		defType = "message/rfc822"
	}
	st, err := s.skipTo(inner) // the preamble
	for err == nil && st.boundary == own && !st.closing {
		var child *Part
		child, _, st, err = s.entity(inner, depth+1, defType)
		if err == nil {
			p.Parts = append(p.Parts, child)
		}
	}
	if err != nil {
		return stop{}, err
	}
	if st.boundary == own && st.closing {
		st, err = s.skipTo(bounds) // the epilogue
	}
	return st, err
}
