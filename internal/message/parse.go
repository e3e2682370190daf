package message

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/emersion/go-message/textproto"
)

// Message is the model of one message: its part tree and what the store
// and the search index take of it.
type Message struct {
	// Root is the message's part tree; Root.Envelope is its envelope.
	// It is what Marshal keeps.
	Root *Part
	// Header holds the fields a mailbox lists the message by.
	Header Header
	// Text is the text of the message's body parts for the search index:
	// decoded, HTML turned to text, at most MaxText bytes. Attachments and
	// enclosed messages are not read.
	Text string
	// HeaderText is every field of the message's own header, one
	// "Name: value" a line, encoded words decoded, at most MaxText bytes:
	// what IMAP SEARCH TEXT looks into besides Text (RFC 9051 §6.4.4).
	HeaderText string
}

// Parse reads a whole message from r, in one pass, and returns its model.
// It holds one line at a time, the header being read and the text kept
// for the index, never a body. Malformed messages yield a best-effort
// model, as RFC 2046 asks readers to be lenient; only read errors are
// returned.
func Parse(r io.Reader) (*Message, error) {
	s := &parser{r: bufio.NewReaderSize(r, 16<<10)}
	root, h, _, err := s.entity(nil, 0, "text/plain", false)
	if err != nil {
		return nil, fmt.Errorf("message: reading: %w", err)
	}
	root.Envelope = envelopeOf(h)
	return &Message{Root: root, Header: headerOf(h), Text: s.text.String(), HeaderText: headerText(h)}, nil
}

// parser walks a message line by line, keeping the offset and the count
// of line ends read so far.
type parser struct {
	r     *bufio.Reader
	off   int64 // offset of the next byte
	nl    int64 // line ends read so far
	parts int
	text  bytes.Buffer // for the index

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
func (s *parser) next() error {
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
func (s *parser) delimiter(bounds []string) (st stop, ok bool) {
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
func (s *parser) stopHere(st stop, eof bool) stop {
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

// skipTo reads lines until a delimiter of bounds or EOF. When body is set
// it is given the bytes read, without the line end that belongs to the
// delimiter.
func (s *parser) skipTo(bounds []string, body io.Writer) (stop, error) {
	var eol []byte // the line end of the previous line, not yet given
	for {
		err := s.next()
		if err == io.EOF {
			if body != nil && len(eol) > 0 {
				body.Write(eol)
			}
			return s.stopHere(stop{}, true), nil
		}
		if err != nil {
			return stop{}, err
		}
		if st, ok := s.delimiter(bounds); ok {
			return s.stopHere(st, false), nil
		}
		if body != nil {
			if len(eol) > 0 {
				body.Write(eol)
			}
			content, end := splitEOL(s.line)
			body.Write(content)
			eol = end
		}
	}
}

var crlf = []byte("\r\n")

// splitEOL cuts a line into its content and its line end.
func splitEOL(line []byte) (content, eol []byte) {
	switch {
	case bytes.HasSuffix(line, crlf):
		return line[:len(line)-2], crlf
	case len(line) > 0 && line[len(line)-1] == '\n':
		return line[:len(line)-1], crlf[1:]
	}
	return line, nil
}

// entity reads one entity, header and body, within the enclosing
// boundaries; defType is its default Content-Type (RFC 2046 §5.1.5,
// message/rfc822 in a multipart/digest), enclosed tells whether it lies
// inside an enclosed message. It returns the entity's header too, from
// which a caller takes an Envelope.
func (s *parser) entity(bounds []string, depth int, defType string, enclosed bool) (*Part, textproto.Header, stop, error) {
	p := &Part{HeaderOffset: s.off}
	s.parts++
	raw, st, ended, err := s.header(bounds)
	if err != nil {
		return nil, textproto.Header{}, stop{}, err
	}
	h := ParseHeader(raw)
	describe(p, h, defType)
	if ended {
		// The header ran into a delimiter or EOF: the body is empty.
		st.end = max(st.end, p.HeaderOffset)
		p.BodyOffset, p.EndOffset = st.end, st.end
		return p, h, st, nil
	}
	p.BodyOffset = s.off
	startNL := s.nl
	deep := depth >= MaxDepth || s.parts >= MaxParts
	leaf := false
	switch {
	case p.IsMultipart() && p.Param("boundary") != "" && !deep:
		st, err = s.multipart(p, bounds, depth, enclosed)
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global") && !deep &&
		p.Encoding != "base64" && p.Encoding != "quoted-printable":
		var child *Part
		var ch textproto.Header
		child, ch, st, err = s.entity(bounds, depth+1, "text/plain", true)
		if err == nil {
			child.Envelope = envelopeOf(ch)
			p.Parts = []*Part{child}
		}
	default:
		leaf = true
		st, err = s.leaf(p, bounds, enclosed)
	}
	if err != nil {
		return nil, textproto.Header{}, stop{}, err
	}
	p.EndOffset = max(st.end, p.BodyOffset)
	p.Lines = st.linesFrom(p.BodyOffset, startNL)
	if !leaf {
		p.DecodedSize = p.Size()
	}
	return p, h, st, nil
}

// leaf reads the body of a part that is neither a multipart nor an
// enclosed message, counting its decoded size and keeping its text for
// the index when it is a body text.
func (s *parser) leaf(p *Part, bounds []string, enclosed bool) (stop, error) {
	c := &leafSink{}
	if indexed(p, enclosed) && s.text.Len() < MaxText {
		c.text, c.limit = new(bytes.Buffer), MaxText-s.text.Len()
	}
	dec, err := newPushDecoder(p.Encoding, c)
	if err != nil {
		dec = nil // an unknown encoding: counted as it is
	}
	var body io.Writer = c
	if dec != nil {
		body = dec
	}
	st, err := s.skipTo(bounds, body)
	if err != nil {
		return stop{}, err
	}
	if dec != nil {
		dec.Close()
	}
	p.DecodedSize = c.n
	if c.text != nil && c.text.Len() > 0 {
		s.addText(p, c.text.Bytes())
	}
	return st, nil
}

// leafSink counts a leaf's decoded bytes and keeps the first limit of
// them when text is set.
type leafSink struct {
	n     int64
	text  *bytes.Buffer
	limit int
}

func (c *leafSink) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	if c.text != nil && c.text.Len() < c.limit {
		c.text.Write(b[:min(len(b), c.limit-c.text.Len())])
	}
	return len(b), nil
}

// header reads a header up to and including the empty line that ends it.
// ended is set when a delimiter or EOF came first; st then tells where.
func (s *parser) header(bounds []string) (raw []byte, st stop, ended bool, err error) {
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
		if len(raw)+len(s.line) <= MaxHeaderBytes {
			raw = append(raw, s.line...)
		}
	}
}

// multipart reads the body of a multipart: preamble, parts, epilogue
// (RFC 2046 §5.1.1).
func (s *parser) multipart(p *Part, bounds []string, depth int, enclosed bool) (stop, error) {
	inner := append(bounds[:len(bounds):len(bounds)], p.Param("boundary"))
	own := len(inner) - 1
	defType := "text/plain"
	if p.Subtype == "digest" {
		defType = "message/rfc822"
	}
	st, err := s.skipTo(inner, nil) // the preamble
	for err == nil && st.boundary == own && !st.closing {
		var child *Part
		child, _, st, err = s.entity(inner, depth+1, defType, enclosed)
		if err == nil {
			p.Parts = append(p.Parts, child)
		}
	}
	if err != nil {
		return stop{}, err
	}
	if st.boundary == own && st.closing {
		st, err = s.skipTo(bounds, nil) // the epilogue
	}
	return st, err
}
