package directory

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// maxLine is the longest line an extraction file may have. Real lines hold a few
// hundred bytes; a longer one is skipped without being kept in memory.
const maxLine = 64 << 10

// Errors about one line; the line is rejected and reading goes on.
var (
	errLineTooLong = errors.New("line longer than 64 KiB")
	errNUL         = errors.New("line holds NUL bytes (binary data or UTF-16)")
)

// lineReader reads the lines of an extraction file through a fixed buffer and
// decodes each one: as UTF-8 when it is valid UTF-8, as Windows-1252 (a superset
// of Latin-1) otherwise. Deciding per line also copes with files that mix both.
type lineReader struct {
	r      *bufio.Reader
	line   int // number of the line last returned, from 1
	latin1 int // lines decoded as Windows-1252
	utf8   int // lines of valid UTF-8 beyond ASCII
	eof    bool
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, maxLine)}
}

// next returns the next line, without its line ending. At the end it returns
// io.EOF; for a line it could not take it returns errLineTooLong or errNUL, and the
// caller may go on reading.
func (lr *lineReader) next() (string, error) {
	if lr.eof {
		return "", io.EOF
	}
	b, err := lr.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		lr.line++
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = lr.r.ReadSlice('\n')
		}
		if err == io.EOF {
			lr.eof = true
		} else if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	switch {
	case err == io.EOF:
		lr.eof = true
		if len(b) == 0 {
			return "", io.EOF
		}
	case err != nil:
		return "", err
	}
	lr.line++
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if lr.line == 1 {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "", errNUL
	}
	if utf8.Valid(b) {
		if !ascii(b) {
			lr.utf8++
		}
		return string(b), nil
	}
	lr.latin1++
	s, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return "", err
	}
	return string(s), nil
}

// isUTF16 reports whether a file starts like UTF-16 text: a byte order mark, or
// NUL bytes between ASCII letters.
func isUTF16(head []byte) bool {
	if bytes.HasPrefix(head, []byte{0xff, 0xfe}) || bytes.HasPrefix(head, []byte{0xfe, 0xff}) {
		return true
	}
	return len(head) >= 4 && (head[1] == 0 && head[3] == 0 || head[0] == 0 && head[2] == 0)
}

// splitFields splits a line at each '|' into dst, reusing its storage. The
// trailing '|' the extractions put at the end of every line does not make an
// extra field.
func splitFields(dst []string, line string) []string {
	dst = dst[:0]
	if len(line) > 0 && line[len(line)-1] == '|' {
		line = line[:len(line)-1]
	}
	for {
		i := strings.IndexByte(line, '|')
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+1:]
	}
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
