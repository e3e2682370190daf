package imap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits bound what a client may send in one command.
type Limits struct {
	MaxLine    int   // bytes in one line, literals excluded
	MaxLiteral int64 // bytes in one literal other than an APPEND message
	MaxCommand int   // bytes in one command, the APPEND message excluded
	MaxMessage int64 // bytes in an APPEND message (APPENDLIMIT, RFC 7889)
}

// DefaultLimits returns the limits used when Options leave them zero.
// RFC 7162 §4 asks servers to accept lines of at least 8192 octets.
func DefaultLimits() Limits {
	return Limits{
		MaxLine:    64 << 10,
		MaxLiteral: 64 << 10,
		MaxCommand: 1 << 20,
		MaxMessage: 64 << 20,
	}
}

// ParseError is a command the parser could not accept. The door answers
// it with a tagged (or, without Tag, untagged) response of Status, BAD
// unless set, and the connection goes on unless Fatal is set.
type ParseError struct {
	Tag    string
	Status string // "BAD" or "NO"
	Code   string // response code such as "TOOBIG", or ""
	Msg    string
	Fatal  bool
}

func (e *ParseError) Error() string {
	return "imap: " + e.Msg
}

// Parser reads commands from a client connection (RFC 9051 §9). It holds
// at most one line and the small literals of one command in memory; the
// message of an APPEND is streamed to the door as a Literal.
type Parser struct {
	r      *bufio.Reader
	limits Limits
	cont   func() error

	line []byte // current line without CRLF
	pos  int
	used int // bytes of the current command so far
	tag  string
	err  error
	lit  *literalReader // APPEND message, possibly unread
	// appending is set while an APPEND's messages are being read: its line
	// goes on after a literal (MULTIAPPEND, CATENATE).
	appending bool
	catParts  int // parts of the current CATENATE read so far
}

// NewParser returns a parser reading from r. cont is called before the
// parser reads a synchronizing literal; it must send a continuation
// request ("+ ...") to the client and flush it.
func NewParser(r *bufio.Reader, limits Limits, cont func() error) *Parser {
	return &Parser{r: r, limits: limits, cont: cont}
}

// ReadCommand reads the next command. A *ParseError is a command that
// must be answered BAD (or NO) before reading on; any other error comes
// from the connection and ends it. An unread APPEND message left by the
// previous command is discarded first.
func (p *Parser) ReadCommand() (*Command, error) {
	if err := p.Discard(); err != nil {
		return nil, err
	}
	p.tag, p.err, p.used, p.appending = "", nil, 0, false
	if cap(p.line) > 16<<10 {
		p.line = nil // do not keep a large buffer on an idle connection
	}
	if err := p.readLine(); err != nil {
		return nil, err
	}
	cmd := p.command()
	if p.err == nil && !p.appending && p.pos != len(p.line) {
		p.fail("unexpected %q after command", p.rest())
	}
	if p.err != nil {
		return nil, p.recover()
	}
	return cmd, nil
}

// ReadLine reads one line, without its CRLF, outside any command: a SASL
// response during AUTHENTICATE or DONE ending IDLE.
func (p *Parser) ReadLine() (string, error) {
	p.tag, p.err, p.used = "", nil, 0
	if err := p.readLine(); err != nil {
		return "", err
	}
	return string(p.line), nil
}

// Discard reads and drops what is left of the current APPEND, a message
// or a CATENATE part under way and the rest of its command line, so the
// next command can be read. A synchronizing literal the client was never
// asked for is not read at all.
func (p *Parser) Discard() error {
	lr, appending := p.lit, p.appending
	p.lit, p.appending = nil, false
	if lr == nil || lr.done {
		if appending {
			return p.skipLiterals()
		}
		return nil
	}
	lr.done = true
	if lr.sync && !lr.started {
		return nil
	}
	if _, err := io.CopyN(io.Discard, p.r, lr.remaining); err != nil {
		return fmt.Errorf("imap: discarding literal: %w", err)
	}
	if err := p.readLine(); err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			return nil
		}
		return err
	}
	return p.skipLiterals()
}

// command parses a whole command line; errors are left in p.err.
func (p *Parser) command() *Command {
	cmd := &Command{}
	cmd.Tag = p.tagToken()
	if p.err != nil {
		return cmd
	}
	p.tag = cmd.Tag
	p.sp()
	cmd.Name = strings.ToUpper(p.atom())
	if p.err != nil {
		return cmd
	}
	if cmd.Name == "UID" {
		cmd.UID = true
		p.sp()
		cmd.Name = strings.ToUpper(p.atom())
		switch cmd.Name {
		case "FETCH", "STORE", "COPY", "MOVE", "SEARCH", "SORT", "THREAD", "EXPUNGE":
		default:
			if p.err == nil {
				p.fail("unknown command UID %s", cmd.Name)
			}
			return cmd
		}
	}
	p.args(cmd)
	return cmd
}

// recover turns p.err into the error ReadCommand returns, skipping what
// the client still sends of the failed command: non-synchronizing
// literals announced at the end of the line. A synchronizing literal was
// never asked for, so the client sends nothing more.
func (p *Parser) recover() error {
	var pe *ParseError
	if !errors.As(p.err, &pe) {
		return p.err
	}
	if pe.Tag == "" {
		pe.Tag = p.tag
	}
	if pe.Status == "" {
		pe.Status = "BAD"
	}
	if pe.Fatal || p.lit != nil {
		return pe
	}
	if err := p.skipLiterals(); err != nil {
		return err
	}
	return pe
}

// skipLiterals drops non-synchronizing literals announced at the end of
// the current line, and the lines after them.
func (p *Parser) skipLiterals() error {
	for {
		n, sync, ok := literalAtEnd(p.line)
		if !ok || sync {
			return nil
		}
		if n > 2*p.limits.MaxMessage {
			return &ParseError{Tag: p.tag, Status: "BAD", Msg: "literal too large", Fatal: true}
		}
		if _, err := io.CopyN(io.Discard, p.r, n); err != nil {
			return fmt.Errorf("imap: skipping literal: %w", err)
		}
		p.used = 0
		if err := p.readLine(); err != nil {
			var pe *ParseError
			if errors.As(err, &pe) {
				continue
			}
			return err
		}
	}
}

// literalAtEnd reports the literal announced at the end of line, if any:
// "{n}", "{n+}" or their literal8 forms "~{n}" (RFC 9051 §4.3, RFC 7888).
func literalAtEnd(line []byte) (n int64, sync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, false
	}
	digits := line[open+1 : len(line)-1]
	sync = true
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		digits, sync = digits[:len(digits)-1], false
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || n < 0 || len(digits) == 0 || digits[0] == '+' || digits[0] == '-' {
		return 0, false, false
	}
	return n, sync, true
}

// readLine reads the next line into p.line, without its CRLF. A line
// longer than MaxLine is dropped and reported as a *ParseError; a literal
// announced at its end is still recognised, so recovery can skip it.
func (p *Parser) readLine() error {
	p.line, p.pos = p.line[:0], 0
	tooLong := false
	var tail []byte
	for {
		frag, err := p.r.ReadSlice('\n')
		switch {
		case tooLong:
			tail = append(tail, frag...)
			if len(tail) > 32 {
				tail = append(tail[:0], tail[len(tail)-32:]...)
			}
		case len(p.line)+len(frag) > p.limits.MaxLine:
			tooLong = true
			tail = append(tail, frag[max(0, len(frag)-32):]...)
		default:
			p.line = append(p.line, frag...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && (len(p.line) > 0 || tooLong) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		break
	}
	if tooLong {
		// Keep the tag, if it fits, so the BAD can carry it.
		tag := ""
		if i := bytes.IndexByte(p.line, ' '); i > 0 {
			tag = string(p.line[:i])
		}
		p.line = append(p.line[:0], trimCRLF(tail)...)
		p.pos = len(p.line)
		return &ParseError{Tag: tag, Status: "BAD", Msg: "line too long"}
	}
	p.line = trimCRLF(p.line)
	p.used += len(p.line) + 2
	if p.used > p.limits.MaxCommand {
		return &ParseError{Tag: p.tag, Status: "BAD", Msg: "command too long"}
	}
	return nil
}

func trimCRLF(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// literalReader streams the message literal of an APPEND.
type literalReader struct {
	p         *Parser
	remaining int64
	sync      bool
	started   bool
	done      bool
	utf8      bool // RFC 6855 "UTF8 (~{n})": a ")" follows the literal
	err       error
}

func (lr *literalReader) Read(b []byte) (int, error) {
	if lr.err != nil {
		return 0, lr.err
	}
	if lr.done {
		return 0, io.EOF
	}
	if !lr.started {
		lr.started = true
		if lr.sync {
			if err := lr.p.cont(); err != nil {
				lr.err = err
				return 0, err
			}
		}
	}
	if lr.remaining == 0 {
		lr.err = lr.finish()
		return 0, lr.err
	}
	if int64(len(b)) > lr.remaining {
		b = b[:lr.remaining]
	}
	n, err := lr.p.r.Read(b)
	lr.remaining -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		lr.err = err
	}
	return n, err
}

// finish reads the line that goes on after the literal, for
// Parser.NextAppend or NextCatPart to read: a door commits the messages
// only once NextAppend has found the end of a whole and valid command.
func (lr *literalReader) finish() error {
	p := lr.p
	lr.done = true
	if err := p.readLine(); err != nil {
		return err
	}
	if lr.utf8 {
		p.expect(')')
	}
	if p.err != nil {
		err := p.err
		p.lit = nil
		if rerr := p.recover(); rerr != nil {
			err = rerr
		}
		return err
	}
	return io.EOF
}
