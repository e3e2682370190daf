package sieve

import (
	"fmt"
	"strings"
)

// tokenKind is the kind of a lexical token (RFC 5228 §8.1).
type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokTag
	tokNumber
	tokString
	tokPunct // one of [ ] ( ) , ; { }
)

func (k tokenKind) String() string {
	switch k {
	case tokEOF:
		return "end of script"
	case tokIdent:
		return "identifier"
	case tokTag:
		return "tag"
	case tokNumber:
		return "number"
	case tokString:
		return "string"
	default:
		return "punctuation"
	}
}

// Pos is a place in a script: line and column, both from 1, the column
// counted in bytes.
type Pos struct{ Line, Col int }

// String writes a place as line:column.
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Error is an error in a script, or in running one, at a place in it.
type Error struct {
	Pos Pos
	Msg string
}

// Error writes the error after its place: "3:14: unknown test \"foo\"".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorAt(p Pos, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

type token struct {
	kind tokenKind
	pos  Pos
	text string // identifier and tag lower-cased, without the colon; string decoded; punctuation
	num  int64
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of script"
	case tokIdent:
		return fmt.Sprintf("%q", t.text)
	case tokTag:
		return fmt.Sprintf("tag :%s", t.text)
	case tokNumber:
		return fmt.Sprintf("number %d", t.num)
	case tokString:
		return "a string"
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

// lexer splits a script into tokens, keeping track of lines and columns.
type lexer struct {
	src       string
	off       int
	line, col int
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

// advance moves past n bytes, counting lines.
func (l *lexer) advance(n int) {
	for _, c := range []byte(l.src[l.off : l.off+n]) {
		if c == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
	}
	l.off += n
}

// skipSpace skips white space and comments (RFC 5228 §2.3).
func (l *lexer) skipSpace() error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '#':
			n := strings.IndexByte(l.src[l.off:], '\n')
			if n < 0 {
				n = len(l.src) - l.off
			}
			l.advance(n)
		case strings.HasPrefix(l.src[l.off:], "/*"):
			start := l.pos()
			n := strings.Index(l.src[l.off+2:], "*/")
			if n < 0 {
				return errorAt(start, "comment not closed: missing */")
			}
			l.advance(n + 4)
		default:
			return nil
		}
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// next returns the next token.
func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	start := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := l.src[l.off]
	switch {
	case strings.IndexByte("[](),;{}", c) >= 0:
		l.advance(1)
		return token{kind: tokPunct, pos: start, text: string(c)}, nil
	case c == '"':
		s, err := l.quoted()
		return token{kind: tokString, pos: start, text: s}, err
	case c == ':':
		l.advance(1)
		if l.off >= len(l.src) || !isLetter(l.src[l.off]) {
			return token{}, errorAt(start, "a tag needs a name after the colon")
		}
		return token{kind: tokTag, pos: start, text: l.word()}, nil
	case isDigit(c):
		n, err := l.number(start)
		return token{kind: tokNumber, pos: start, num: n}, err
	case isLetter(c):
		w := l.word()
		if w == "text" && l.off < len(l.src) && l.src[l.off] == ':' {
			l.advance(1)
			s, err := l.multiline(start)
			return token{kind: tokString, pos: start, text: s}, err
		}
		return token{kind: tokIdent, pos: start, text: w}, nil
	default:
		return token{}, errorAt(start, "unexpected character %q", c)
	}
}

// word reads an identifier, lower-cased: identifiers are case-insensitive
// (RFC 5228 §8.1).
func (l *lexer) word() string {
	n := l.off
	for n < len(l.src) && (isLetter(l.src[n]) || isDigit(l.src[n])) {
		n++
	}
	w := strings.ToLower(l.src[l.off:n])
	l.advance(n - l.off)
	return w
}

// maxNumber is the largest number a script may hold: RFC 5228 §2.4.1 asks
// for at least 2^31-1; we take 2^63-1 and refuse what overflows it.
const maxNumber = 1<<63 - 1

// number reads a number with an optional quantifier K, M or G
// (RFC 5228 §2.4.1).
func (l *lexer) number(start Pos) (int64, error) {
	var n int64
	for l.off < len(l.src) && isDigit(l.src[l.off]) {
		d := int64(l.src[l.off] - '0')
		if n > (maxNumber-d)/10 {
			return 0, errorAt(start, "number too large")
		}
		n = n*10 + d
		l.advance(1)
	}
	if l.off < len(l.src) {
		shift := 0
		switch l.src[l.off] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		}
		if shift > 0 {
			if n > maxNumber>>shift {
				return 0, errorAt(start, "number too large")
			}
			n <<= shift
			l.advance(1)
		}
	}
	if l.off < len(l.src) && (isLetter(l.src[l.off]) || isDigit(l.src[l.off])) {
		return 0, errorAt(l.pos(), "unexpected %q after a number", l.src[l.off])
	}
	return n, nil
}

// quoted reads a quoted string: \" and \\ stand for themselves, and any
// other backslash is dropped (RFC 5228 §2.4.2).
func (l *lexer) quoted() (string, error) {
	start := l.pos()
	l.advance(1)
	var b strings.Builder
	for i := l.off; i < len(l.src); i++ {
		switch c := l.src[i]; c {
		case '"':
			l.advance(i + 1 - l.off)
			return b.String(), nil
		case '\\':
			if i+1 < len(l.src) {
				i++
				b.WriteByte(l.src[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", errorAt(start, "string not closed: missing \"")
}

// multiline reads a text: string after its "text:" (RFC 5228 §2.4.2): the
// rest of the line holds only white space or a comment; then lines up to
// one holding a single dot, with a leading doubled dot undone.
func (l *lexer) multiline(start Pos) (string, error) {
	for l.off < len(l.src) && (l.src[l.off] == ' ' || l.src[l.off] == '\t') {
		l.advance(1)
	}
	if l.off < len(l.src) && l.src[l.off] == '#' {
		n := strings.IndexByte(l.src[l.off:], '\n')
		if n < 0 {
			return "", errorAt(start, "text: not closed: missing a line with a single dot")
		}
		l.advance(n)
	}
	if strings.HasPrefix(l.src[l.off:], "\r\n") {
		l.advance(2)
	} else if strings.HasPrefix(l.src[l.off:], "\n") {
		l.advance(1)
	} else {
		return "", errorAt(l.pos(), "text: must be followed by the end of the line")
	}
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return "", errorAt(start, "text: not closed: missing a line with a single dot")
		}
		n := strings.IndexByte(l.src[l.off:], '\n')
		var line string
		if n < 0 {
			line = l.src[l.off:]
			n = len(line)
		} else {
			line = l.src[l.off : l.off+n+1]
			n++
		}
		content := strings.TrimRight(line, "\r\n")
		if content == "." {
			l.advance(n)
			return b.String(), nil
		}
		if strings.HasPrefix(content, "..") {
			line = line[1:]
		}
		if !strings.HasSuffix(line, "\n") {
			return "", errorAt(start, "text: not closed: missing a line with a single dot")
		}
		b.WriteString(strings.TrimRight(line, "\r\n"))
		b.WriteString("\r\n")
		l.advance(n)
	}
}
