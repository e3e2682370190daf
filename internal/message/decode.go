package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrUnknownEncoding is returned for a Content-Transfer-Encoding this
// package cannot undo (RFC 3516 §4.3: IMAP answers UNKNOWN-CTE).
var ErrUnknownEncoding = errors.New("unknown content transfer encoding")

// pushDecoder undoes a transfer encoding on bytes written to it, writing
// the result to its output; Close flushes what a last, incomplete unit
// holds.
type pushDecoder interface {
	io.Writer
	Close() error
}

// newPushDecoder returns the decoder of encoding writing to out, or nil
// when the body is not encoded (7bit, 8bit, binary: RFC 2045 §6.2).
func newPushDecoder(encoding string, out io.Writer) (pushDecoder, error) {
	switch strings.ToLower(encoding) {
	case "", "7bit", "8bit", "binary":
		return nil, nil
	case "base64":
		return &base64Decoder{out: out}, nil
	case "quoted-printable":
		return &qpDecoder{out: out}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEncoding, encoding)
}

// KnownEncoding reports whether NewDecoder can undo encoding.
func KnownEncoding(encoding string) bool {
	_, err := newPushDecoder(encoding, io.Discard)
	return err == nil
}

// NewDecoder returns a reader of r with its transfer encoding undone:
// base64 (RFC 2045 §6.8) or quoted-printable (RFC 2045 §6.7), read
// leniently (characters outside the alphabet are skipped, a broken "="
// sequence is kept as it is), as DecodedSize counts. It holds at most a
// few tens of KiB whatever the body's size.
func NewDecoder(encoding string, r io.Reader) (io.Reader, error) {
	d := &pullDecoder{src: r}
	pd, err := newPushDecoder(encoding, &d.buf)
	if err != nil {
		return nil, err
	}
	if pd == nil {
		return r, nil
	}
	d.dec = pd
	return d, nil
}

type pullDecoder struct {
	src  io.Reader
	dec  pushDecoder
	buf  bytes.Buffer
	in   []byte
	done bool
}

func (d *pullDecoder) Read(p []byte) (int, error) {
	for d.buf.Len() == 0 && !d.done {
		if d.in == nil {
			d.in = make([]byte, 32<<10)
		}
		n, err := d.src.Read(d.in)
		d.dec.Write(d.in[:n])
		if err == io.EOF {
			d.dec.Close()
			d.done = true
		} else if err != nil {
			return 0, err
		}
	}
	if d.buf.Len() == 0 {
		return 0, io.EOF
	}
	return d.buf.Read(p)
}

// base64Decoder decodes base64 as it is written: characters outside the
// alphabet (line ends, spaces) are ignored, "=" ends the data (RFC 2045
// §6.8).
type base64Decoder struct {
	out  io.Writer
	q    [4]byte
	n    int
	done bool
	buf  [3 * 1024]byte
	bn   int
}

var base64Values = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

func (d *base64Decoder) Write(p []byte) (int, error) {
	for _, c := range p {
		if d.done {
			break
		}
		if c == '=' {
			d.done = true
			break
		}
		v := base64Values[c]
		if v == 0xff {
			continue
		}
		d.q[d.n] = v
		d.n++
		if d.n == 4 {
			d.emit(3)
		}
	}
	return len(p), d.flush()
}

func (d *base64Decoder) emit(n int) {
	if d.bn+3 > len(d.buf) {
		d.flush()
	}
	b := d.buf[d.bn:]
	b[0] = d.q[0]<<2 | d.q[1]>>4
	b[1] = d.q[1]<<4 | d.q[2]>>2
	b[2] = d.q[2]<<6 | d.q[3]
	d.bn += n
	d.n = 0
}

func (d *base64Decoder) flush() error {
	if d.bn == 0 {
		return nil
	}
	_, err := d.out.Write(d.buf[:d.bn])
	d.bn = 0
	return err
}

func (d *base64Decoder) Close() error {
	// An incomplete last quantum still carries whole bytes: two characters
	// make one, three make two.
	switch d.n {
	case 2, 3:
		for i := d.n; i < 4; i++ {
			d.q[i] = 0
		}
		d.emit(d.n - 1)
	}
	d.n = 0
	return d.flush()
}

// qpDecoder decodes quoted-printable line by line (RFC 2045 §6.7): white
// space at the end of a line is dropped (rule 3), a final "=" joins the
// line to the next (rule 5), "=XX" is the byte XX; a line end is kept as
// it was written.
type qpDecoder struct {
	out  io.Writer
	line []byte
	dec  []byte
}

// maxQPLine bounds the line a qpDecoder holds; a longer one is decoded in
// pieces.
const maxQPLine = 64 << 10

func (d *qpDecoder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.line = append(d.line, p...)
			if len(d.line) > maxQPLine {
				// Keep a possible "=X" for the next piece.
				keep := d.line[len(d.line)-2:]
				if err := d.decode(d.line[:len(d.line)-2], false); err != nil {
					return 0, err
				}
				d.line = append(d.line[:0], keep...)
			}
			break
		}
		d.line = append(d.line, p[:i+1]...)
		p = p[i+1:]
		if err := d.decode(d.line, true); err != nil {
			return 0, err
		}
		d.line = d.line[:0]
	}
	return n, nil
}

func (d *qpDecoder) Close() error {
	err := d.decode(d.line, true)
	d.line = d.line[:0]
	return err
}

// decode writes one line; whole says it is a whole line, whose end rules
// 3 and 5 apply to.
func (d *qpDecoder) decode(line []byte, whole bool) error {
	eol := []byte(nil)
	if whole {
		switch {
		case bytes.HasSuffix(line, []byte("\r\n")):
			line, eol = line[:len(line)-2], []byte("\r\n")
		case bytes.HasSuffix(line, []byte("\n")):
			line, eol = line[:len(line)-1], []byte("\n")
		}
		line = bytes.TrimRight(line, " \t")
		if bytes.HasSuffix(line, []byte("=")) {
			line, eol = line[:len(line)-1], nil
		}
	}
	out := d.dec[:0]
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '=' && i+2 < len(line) {
			if hi, lo := unhex(line[i+1]), unhex(line[i+2]); hi < 16 && lo < 16 {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, c)
	}
	out = append(out, eol...)
	d.dec = out
	if len(out) == 0 {
		return nil
	}
	_, err := d.out.Write(out)
	return err
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0xff
}
