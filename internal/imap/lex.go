package imap

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The token readers below follow the formal syntax of RFC 9051 §9. Each
// one does nothing once p.err is set, so a command parser reads its whole
// grammar and checks p.err once.

func (p *Parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = &ParseError{Tag: p.tag, Status: "BAD", Msg: fmt.Sprintf(format, args...)}
	}
}

func (p *Parser) failCode(status, code, msg string, fatal bool) {
	if p.err == nil {
		p.err = &ParseError{Tag: p.tag, Status: status, Code: code, Msg: msg, Fatal: fatal}
	}
}

// rest returns what is left of the line, shortened for an error message.
func (p *Parser) rest() string {
	r := p.line[p.pos:]
	if len(r) > 20 {
		return string(r[:20]) + "..."
	}
	return string(r)
}

func (p *Parser) peek() byte {
	if p.err != nil || p.pos >= len(p.line) {
		return 0
	}
	return p.line[p.pos]
}

func (p *Parser) atEnd() bool {
	return p.err != nil || p.pos >= len(p.line)
}

// take consumes c if it comes next.
func (p *Parser) take(c byte) bool {
	if p.peek() == c && c != 0 {
		p.pos++
		return true
	}
	return false
}

func (p *Parser) expect(c byte) {
	if !p.take(c) && p.err == nil {
		if p.atEnd() {
			p.fail("expected %q, got end of line", c)
		} else {
			p.fail("expected %q at %q", c, p.rest())
		}
	}
}

func (p *Parser) sp() { p.expect(' ') }

// takeWord consumes word, case-insensitively, when it comes next and is
// not followed by another atom character.
func (p *Parser) takeWord(word string) bool {
	if p.err != nil || len(p.line)-p.pos < len(word) {
		return false
	}
	if !strings.EqualFold(string(p.line[p.pos:p.pos+len(word)]), word) {
		return false
	}
	if end := p.pos + len(word); end < len(p.line) && isAtomChar(p.line[end]) {
		return false
	}
	p.pos += len(word)
	return true
}

// isAtomChar reports whether c is an ATOM-CHAR: any CHAR except
// atom-specials "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]".
func isAtomChar(c byte) bool {
	if c <= 0x1f || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// isAstringChar reports whether c is an ASTRING-CHAR: ATOM-CHAR or "]".
func isAstringChar(c byte) bool {
	return isAtomChar(c) || c == ']'
}

// isListChar reports whether c may appear in a list-mailbox atom.
func isListChar(c byte) bool {
	return isAstringChar(c) || c == '%' || c == '*'
}

func (p *Parser) chars(ok func(byte) bool, what string) string {
	start := p.pos
	for p.pos < len(p.line) && p.err == nil && ok(p.line[p.pos]) {
		p.pos++
	}
	if p.err == nil && p.pos == start {
		if p.atEnd() {
			p.fail("expected %s, got end of line", what)
		} else {
			p.fail("expected %s at %q", what, p.rest())
		}
	}
	return string(p.line[start:p.pos])
}

func (p *Parser) atom() string { return p.chars(isAtomChar, "atom") }

// tagToken reads a tag: ASTRING-CHARs except "+" (RFC 9051 §9).
func (p *Parser) tagToken() string {
	return p.chars(func(c byte) bool { return isAstringChar(c) && c != '+' }, "tag")
}

// astring reads an atom of ASTRING-CHARs, a quoted string or a literal.
// The atom may hold UTF-8 beyond ASCII: RFC 9051 wants such text quoted or
// in a literal, but clients send it bare (Python's imaplib sends search
// words as they are) and Dovecot takes it; bytes that are not UTF-8 are
// refused.
func (p *Parser) astring() string {
	switch p.peek() {
	case '"':
		return p.quoted()
	case '{', '~':
		return string(p.literal())
	}
	s := p.chars(func(c byte) bool { return isAstringChar(c) || c >= 0x80 }, "string")
	if p.err == nil && !utf8.ValidString(s) {
		p.fail("expected UTF-8 in %q", s)
	}
	return s
}

// str reads a quoted string or a literal.
func (p *Parser) str() string {
	switch p.peek() {
	case '"':
		return p.quoted()
	case '{', '~':
		return string(p.literal())
	}
	p.fail("expected string at %q", p.rest())
	return ""
}

// nstring reads a string or NIL; ok is false for NIL.
func (p *Parser) nstring() (s string, ok bool) {
	if p.takeWord("NIL") {
		return "", false
	}
	return p.str(), p.err == nil
}

// quoted reads a quoted string. Bytes above 0x7f are accepted as UTF-8
// (RFC 9051 §9 QUOTED-CHAR, RFC 6855).
func (p *Parser) quoted() string {
	p.expect('"')
	var b strings.Builder
	for p.err == nil {
		if p.pos >= len(p.line) {
			p.fail("unterminated quoted string")
			break
		}
		c := p.line[p.pos]
		p.pos++
		switch c {
		case '"':
			return b.String()
		case '\\':
			if p.pos < len(p.line) && (p.line[p.pos] == '\\' || p.line[p.pos] == '"') {
				b.WriteByte(p.line[p.pos])
				p.pos++
				continue
			}
			p.fail("bad escape in quoted string")
		case 0:
			p.fail("NUL in quoted string")
		default:
			b.WriteByte(c)
		}
	}
	return ""
}

// literalHeader reads "{n}", "{n+}", "~{n}" or "~{n+}", which must end
// the line (RFC 9051 §4.3, RFC 7888 LITERAL+, RFC 3516 literal8).
func (p *Parser) literalHeader() (n int64, sync, binary bool) {
	binary = p.take('~')
	p.expect('{')
	digits := p.chars(isDigit, "number")
	sync = !p.take('+')
	p.expect('}')
	if p.err != nil {
		return 0, false, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		p.fail("bad literal size")
		return 0, false, false
	}
	if p.pos != len(p.line) {
		p.fail("literal must end the line")
	}
	return n, sync, binary
}

// literal reads a literal held in memory, within MaxLiteral and
// MaxCommand, then the line that follows it.
func (p *Parser) literal() []byte {
	n, sync, _ := p.literalHeader()
	if p.err != nil {
		return nil
	}
	if n > p.limits.MaxLiteral || p.used+int(n) > p.limits.MaxCommand {
		p.failCode("BAD", "TOOBIG", "literal too large", !sync && n > 2*p.limits.MaxMessage)
		return nil
	}
	if sync {
		if err := p.cont(); err != nil {
			p.err = err
			return nil
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(p.r, buf); err != nil {
		p.err = fmt.Errorf("imap: reading literal: %w", err)
		return nil
	}
	p.used += int(n)
	if err := p.readLine(); err != nil {
		p.err = err
		return nil
	}
	return buf
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number reads a number (RFC 9051 §9: 32-bit unsigned).
func (p *Parser) number() uint32 {
	d := p.chars(isDigit, "number")
	if p.err != nil {
		return 0
	}
	n, err := strconv.ParseUint(d, 10, 32)
	if err != nil {
		p.fail("number out of range")
	}
	return uint32(n)
}

// number64 reads a number64 (RFC 9051 §9: 63-bit unsigned).
func (p *Parser) number64() uint64 {
	d := p.chars(isDigit, "number")
	if p.err != nil {
		return 0
	}
	n, err := strconv.ParseUint(d, 10, 63)
	if err != nil {
		p.fail("number out of range")
	}
	return n
}

func (p *Parser) nzNumber() uint32 {
	n := p.number()
	if n == 0 && p.err == nil {
		p.fail("zero is not a valid number here")
	}
	return n
}

// mailbox reads a mailbox name; "INBOX" in any case is INBOX (RFC 9051
// §5.1).
func (p *Parser) mailbox() string {
	s := p.astring()
	if strings.EqualFold(s, "INBOX") {
		return "INBOX"
	}
	return s
}

// listMailbox reads a LIST pattern: list-char atoms or a string.
func (p *Parser) listMailbox() string {
	switch p.peek() {
	case '"':
		return p.quoted()
	case '{', '~':
		return string(p.literal())
	}
	return p.chars(isListChar, "mailbox pattern")
}

// flag reads a flag or keyword: "\" atom, or atom (RFC 9051 §9).
func (p *Parser) flag() string {
	if p.take('\\') {
		if p.take('*') {
			return `\*`
		}
		return `\` + p.atom()
	}
	return p.atom()
}

// flagList reads "(" [flag *(SP flag)] ")".
func (p *Parser) flagList() []string {
	p.expect('(')
	flags := []string{}
	for p.err == nil && !p.take(')') {
		if len(flags) > 0 {
			p.sp()
		}
		flags = append(flags, p.flag())
	}
	return flags
}

// numSet reads a sequence-set, or "$" (RFC 5182).
func (p *Parser) numSet() NumSet {
	if p.take('$') {
		return NumSet{SearchRes: true}
	}
	var s NumSet
	for p.err == nil {
		var r NumRange
		r.Start = p.seqNumber()
		r.Stop = r.Start
		if p.take(':') {
			r.Stop = p.seqNumber()
		}
		s.Ranges = append(s.Ranges, r)
		if !p.take(',') {
			break
		}
	}
	return s
}

// seqNumber reads nz-number or "*" (0).
func (p *Parser) seqNumber() uint32 {
	if p.take('*') {
		return 0
	}
	return p.nzNumber()
}

// date reads a date: "d-Mon-yyyy", quoted or not (RFC 9051 §9).
func (p *Parser) date() time.Time {
	quoted := p.take('"')
	s := p.chars(func(c byte) bool { return isAtomChar(c) }, "date")
	if quoted {
		p.expect('"')
	}
	if p.err != nil {
		return time.Time{}
	}
	t, err := time.Parse("2-Jan-2006", s)
	if err != nil {
		p.fail("bad date %q", s)
	}
	return t
}

// dateTime reads a quoted date-time: "dd-Mon-yyyy hh:mm:ss +zzzz", the
// day possibly padded with a space (RFC 9051 §9).
func (p *Parser) dateTime() time.Time {
	s := p.quoted()
	if p.err != nil {
		return time.Time{}
	}
	t, err := time.Parse("_2-Jan-2006 15:04:05 -0700", s)
	if err != nil {
		p.fail("bad date-time %q", s)
	}
	return t
}

// parenList reads "(" item *(SP item) ")" calling item for each.
func (p *Parser) parenList(item func()) {
	p.expect('(')
	first := true
	for p.err == nil && !p.take(')') {
		if !first {
			p.sp()
		}
		first = false
		item()
	}
}
