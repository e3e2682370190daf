package imap

import (
	"strconv"
	"strings"
)

// FetchItem is one data item of a FETCH command (RFC 9051 §6.4.5). Name is
// ENVELOPE, FLAGS, INTERNALDATE, RFC822, RFC822.HEADER, RFC822.SIZE,
// RFC822.TEXT, BODY, BODYSTRUCTURE, UID, MODSEQ (RFC 7162), BINARY or
// BINARY.SIZE (RFC 3516). BODY and BINARY carry a Section when the client
// gave one in brackets; BODY without one is the non-extensible structure.
type FetchItem struct {
	Name    string
	Peek    bool
	Section *Section
	Partial *Partial
}

// Section is the part of a message a BODY[...] or BINARY[...] item names.
// Part is the path of nested part numbers, empty for the whole message.
// Specifier is "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME;
// Fields are the header field names of HEADER.FIELDS[.NOT].
type Section struct {
	Part      []int
	Specifier string
	Fields    []string
}

// Partial is the <offset.count> suffix of a section.
type Partial struct {
	Offset uint32
	Count  uint32
}

// SetsSeen reports whether fetching the item sets \Seen on the message
// (RFC 9051 §6.4.5: BODY[...], BINARY[...], RFC822 and RFC822.TEXT).
func (it FetchItem) SetsSeen() bool {
	switch it.Name {
	case "BODY", "BINARY":
		return it.Section != nil && !it.Peek
	case "RFC822", "RFC822.TEXT":
		return true
	}
	return false
}

// ResponseName returns the item's name as it appears in a FETCH response:
// ".PEEK" dropped, the section in canonical form, and only the offset of a
// partial (RFC 9051 §7.5.2).
func (it FetchItem) ResponseName() string {
	if it.Section == nil {
		return it.Name
	}
	var b strings.Builder
	b.WriteString(it.Name)
	b.WriteByte('[')
	b.WriteString(it.Section.String())
	b.WriteByte(']')
	if it.Partial != nil {
		b.WriteByte('<')
		b.WriteString(strconv.FormatUint(uint64(it.Partial.Offset), 10))
		b.WriteByte('>')
	}
	return b.String()
}

// String returns the section in the syntax of RFC 9051 §9 section-spec.
func (s *Section) String() string {
	var b strings.Builder
	for i, n := range s.Part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	if s.Specifier != "" {
		if len(s.Part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Specifier)
	}
	if len(s.Fields) > 0 {
		b.WriteString(" (")
		for i, f := range s.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(quoteIfNeeded(f))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// quoteIfNeeded returns s as an atom when it is one, else quoted.
func quoteIfNeeded(s string) string {
	for i := 0; i < len(s); i++ {
		if !isAstringChar(s[i]) {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

// fetchItem reads one fetch-att (RFC 9051 §9, RFC 3516 §4.2, RFC 7162).
func (p *Parser) fetchItem() FetchItem {
	name := strings.ToUpper(p.chars(func(c byte) bool {
		return isAtomChar(c) && c != '[' && c != '<'
	}, "fetch item"))
	var it FetchItem
	switch name {
	case "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE",
		"RFC822.TEXT", "BODYSTRUCTURE", "UID", "MODSEQ":
		it.Name = name
	case "BODY", "BODY.PEEK":
		it.Name, it.Peek = "BODY", name == "BODY.PEEK"
		if p.peek() == '[' {
			it.Section = p.section()
			it.Partial = p.partial()
		} else if it.Peek && p.err == nil {
			p.fail("BODY.PEEK needs a section")
		}
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		it.Name, it.Peek = "BINARY", name == "BINARY.PEEK"
		if name == "BINARY.SIZE" {
			it.Name = name
		}
		// RFC 3516 §4.2 names parts only; a section text (TEXT, HEADER,
		// MIME…) is taken as Dovecot does, as BODY[] would name it.
		it.Section = p.section()
		if name != "BINARY.SIZE" {
			it.Partial = p.partial()
		}
	default:
		if p.err == nil {
			p.fail("unknown FETCH item %s", name)
		}
	}
	return it
}

// section reads "[" [section-spec] "]".
func (p *Parser) section() *Section {
	s := &Section{}
	p.expect('[')
	for p.err == nil && isDigit(p.peek()) {
		s.Part = append(s.Part, int(p.nzNumber()))
		if !p.take('.') {
			break
		}
		if !isDigit(p.peek()) {
			s.Specifier = p.sectionText(true)
		}
	}
	if len(s.Part) == 0 && p.peek() != ']' {
		s.Specifier = p.sectionText(false)
	}
	if strings.HasPrefix(s.Specifier, "HEADER.FIELDS") {
		p.sp()
		p.parenList(func() { s.Fields = append(s.Fields, p.astring()) })
		if len(s.Fields) == 0 && p.err == nil {
			p.fail("%s needs at least one field", s.Specifier)
		}
	}
	p.expect(']')
	return s
}

// sectionText reads section-msgtext, or MIME when after a part number.
func (p *Parser) sectionText(afterPart bool) string {
	spec := strings.ToUpper(p.chars(func(c byte) bool {
		return c == '.' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
	}, "section"))
	switch spec {
	case "HEADER", "TEXT":
		return spec
	case "MIME":
		if afterPart {
			return spec
		}
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		return spec
	}
	if p.err == nil {
		p.fail("unknown section %s", spec)
	}
	return ""
}

// partial reads an optional "<" number "." nz-number ">".
func (p *Parser) partial() *Partial {
	if !p.take('<') {
		return nil
	}
	pt := &Partial{}
	pt.Offset = p.number()
	p.expect('.')
	pt.Count = p.nzNumber()
	p.expect('>')
	return pt
}
