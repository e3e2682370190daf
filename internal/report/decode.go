package report

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
)

func decodeBase64(dst, src []byte) (int, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, src)
	return base64.StdEncoding.Decode(dst, clean)
}

func newQPReader(b []byte) io.Reader { return quotedprintable.NewReader(bytes.NewReader(b)) }
