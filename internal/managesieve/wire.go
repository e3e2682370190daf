package managesieve

import (
	"fmt"
	"io"
	"strconv"
)

// arg is one word of a command: an atom (the command's name, a number) or
// a string, quoted or literal.
type arg struct {
	text   string
	string bool
}

// protocolError is a command that could not be read; fatal when the
// connection cannot go on (the stream is lost).
type protocolError struct {
	msg   string
	fatal bool
}

func (e *protocolError) Error() string { return e.msg }

// readCommand reads one command up to its line end, literals included
// (RFC 5804 §4: literal-c2s is {n+}; {n} is taken the same, without
// waiting, as clients that send it do not wait either).
func (c *conn) readCommand() ([]arg, error) {
	var args []arg
	line := 0
	next := func() (byte, error) {
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, err
		}
		if line++; line > maxLine {
			return 0, &protocolError{msg: "command line too long", fatal: true}
		}
		return b, nil
	}
	for {
		b, err := next()
		if err != nil {
			return nil, err
		}
		switch {
		case b == ' ' || b == '\t':
		case b == '\r':
			if b, err = next(); err != nil {
				return nil, err
			}
			if b != '\n' {
				return nil, &protocolError{msg: "CR without LF", fatal: true}
			}
			return args, nil
		case b == '\n':
			return args, nil
		case b == '"':
			var s []byte
			for {
				b, err := next()
				if err != nil {
					return nil, err
				}
				if b == '"' {
					break
				}
				if b == '\r' || b == '\n' {
					return nil, &protocolError{msg: "quoted string not closed before the line end", fatal: true}
				}
				if b == '\\' {
					if b, err = next(); err != nil {
						return nil, err
					}
				}
				s = append(s, b)
			}
			args = append(args, arg{text: string(s), string: true})
		case b == '{':
			var digits []byte
			for {
				b, err := next()
				if err != nil {
					return nil, err
				}
				if b == '}' {
					break
				}
				if b == '+' {
					continue
				}
				if b < '0' || b > '9' || len(digits) > 9 {
					return nil, &protocolError{msg: "bad literal length", fatal: true}
				}
				digits = append(digits, b)
			}
			for _, want := range []byte("\r\n") {
				b, err := next()
				if err != nil {
					return nil, err
				}
				if b != want && !(want == '\r' && b == '\n') {
					return nil, &protocolError{msg: "literal length must end the line", fatal: true}
				}
				if b == '\n' {
					break
				}
			}
			n, err := strconv.Atoi(string(digits))
			if err != nil {
				return nil, &protocolError{msg: "bad literal length", fatal: true}
			}
			if n > maxLiteral {
				return nil, &protocolError{msg: fmt.Sprintf("literal of %d bytes: a script may hold %d", n, maxLiteral), fatal: true}
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(c.r, buf); err != nil {
				return nil, err
			}
			args = append(args, arg{text: string(buf), string: true})
		default:
			atom := []byte{b}
			for {
				b, err := c.r.ReadByte()
				if err != nil {
					return nil, err
				}
				if b == ' ' || b == '\r' || b == '\n' || b == '"' || b == '{' {
					c.r.UnreadByte()
					break
				}
				if line++; line > maxLine {
					return nil, &protocolError{msg: "command line too long", fatal: true}
				}
				atom = append(atom, b)
			}
			args = append(args, arg{text: string(atom)})
		}
	}
}
