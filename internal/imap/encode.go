package imap

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Writer encodes responses to one client (RFC 9051 §7). Its methods add to
// a buffer and keep the first error, which Flush returns; a literal is
// copied from its reader as it is written, never held whole.
//
// UTF8 is set once the client enabled UTF8=ACCEPT (RFC 6855) or IMAP4rev2:
// strings and mailbox names may then go out as UTF-8 in quoted strings;
// otherwise mailbox names use modified UTF-7 and 8-bit strings literals.
type Writer struct {
	w    *bufio.Writer
	err  error
	UTF8 bool

	// beforeTagged, when set, runs before each tagged response is
	// written: the connection puts there what it holds for the client
	// (NOTIFY's changes), which must come before a command completes.
	beforeTagged func()
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w *bufio.Writer) *Writer {
	return &Writer{w: w}
}

// Err returns the first error met while writing.
func (w *Writer) Err() error { return w.err }

// Flush sends what is buffered and returns the first error met.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// Buffered returns the number of bytes waiting to be flushed.
func (w *Writer) Buffered() int { return w.w.Buffered() }

// Atom writes s as it is; s must be an atom or other raw protocol text.
func (w *Writer) Atom(s string) {
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

func (w *Writer) byte(c byte) {
	if w.err == nil {
		w.err = w.w.WriteByte(c)
	}
}

// SP writes a space.
func (w *Writer) SP() { w.byte(' ') }

// Open writes "(".
func (w *Writer) Open() { w.byte('(') }

// Close writes ")".
func (w *Writer) Close() { w.byte(')') }

// CRLF ends a response line.
func (w *Writer) CRLF() { w.Atom("\r\n") }

// Number writes a number.
func (w *Writer) Number(n uint32) {
	if w.err == nil {
		var b [10]byte
		_, w.err = w.w.Write(strconv.AppendUint(b[:0], uint64(n), 10))
	}
}

// Number64 writes a 64-bit number (a MODSEQ or a size).
func (w *Writer) Number64(n uint64) {
	if w.err == nil {
		var b [20]byte
		_, w.err = w.w.Write(strconv.AppendUint(b[:0], n, 10))
	}
}

// NIL writes NIL.
func (w *Writer) NIL() { w.Atom("NIL") }

// String writes s as a quoted string when it can be one, else as a
// literal (RFC 9051 §4.3).
func (w *Writer) String(s string) {
	if !w.quotable(s) {
		w.Literal(int64(len(s)), strings.NewReader(s))
		return
	}
	w.byte('"')
	for i := 0; i < len(s) && w.err == nil; i++ {
		if s[i] == '"' || s[i] == '\\' {
			w.byte('\\')
		}
		w.byte(s[i])
	}
	w.byte('"')
}

// NString writes s, or NIL when ok is false.
func (w *Writer) NString(s string, ok bool) {
	if !ok {
		w.NIL()
		return
	}
	w.String(s)
}

// quotable reports whether s may be sent as a quoted string: no CR, LF or
// NUL, at most 1000 bytes, and 8-bit only as valid UTF-8 to a UTF-8 client.
func (w *Writer) quotable(s string) bool {
	if len(s) > 1000 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n' || c == 0:
			return false
		case c >= 0x80 && !w.UTF8:
			return false
		}
	}
	return !w.UTF8 || utf8.ValidString(s)
}

// Mailbox writes a mailbox name, in modified UTF-7 unless UTF8 is set
// (RFC 9051 §5.1, RFC 3501 §5.1.3).
func (w *Writer) Mailbox(name string) {
	if !w.UTF8 {
		name = EncodeUTF7(name)
	}
	w.String(name)
}

// Literal writes "{size}" CRLF and then size bytes copied from r.
func (w *Writer) Literal(size int64, r io.Reader) {
	w.literal("{", size, r)
}

// Literal8 writes "~{size}" CRLF and size bytes from r, which may hold
// any octet (RFC 3516 §4.2).
func (w *Writer) Literal8(size int64, r io.Reader) {
	w.literal("~{", size, r)
}

func (w *Writer) literal(open string, size int64, r io.Reader) {
	w.Atom(open)
	w.Number64(uint64(size))
	w.Atom("}\r\n")
	if w.err != nil {
		return
	}
	n, err := io.CopyN(w.w, r, size)
	if err != nil {
		w.err = fmt.Errorf("imap: writing literal (%d of %d bytes): %w", n, size, err)
	}
}

// Flags writes a parenthesised flag list.
func (w *Writer) Flags(flags []string) {
	w.Open()
	for i, f := range flags {
		if i > 0 {
			w.SP()
		}
		w.Atom(f)
	}
	w.Close()
}

// Tagged writes a tagged status response: tag status [code] text
// (RFC 9051 §7.1). An empty tag writes "*".
func (w *Writer) Tagged(tag, status, code, text string) {
	if w.beforeTagged != nil {
		w.beforeTagged()
	}
	if tag == "" {
		tag = "*"
	}
	w.Atom(tag)
	w.SP()
	w.Atom(status)
	w.SP()
	if code != "" {
		w.byte('[')
		w.Atom(code)
		w.Atom("] ")
	}
	w.Atom(safeText(text))
	w.CRLF()
}

// Untagged begins an untagged response: "* ".
func (w *Writer) Untagged() { w.Atom("* ") }

// Continue writes a continuation request: "+ " text (RFC 9051 §7.6).
func (w *Writer) Continue(text string) {
	w.Atom("+ ")
	w.Atom(safeText(text))
	w.CRLF()
}

// safeText makes s fit resp-text: no CR or LF, and not empty.
func safeText(s string) string {
	if s == "" {
		return "done"
	}
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	}
	return s
}
