package imap

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The modified UTF-7 of mailbox names (RFC 3501 §5.1.3): printable ASCII
// stands for itself, "&" is "&-", and every other run of characters is
// UTF-16BE in base64 with "," for "/", between "&" and "-".

var utf7Encoding = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// EncodeUTF7 returns name in modified UTF-7.
func EncodeUTF7(name string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		raw := make([]byte, 2*len(u))
		for i, c := range u {
			raw[2*i], raw[2*i+1] = byte(c>>8), byte(c)
		}
		b.WriteByte('&')
		b.WriteString(utf7Encoding.EncodeToString(raw))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range name {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case 0x20 <= r && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

var errBadUTF7 = errors.New("imap: invalid modified UTF-7 in mailbox name")

// DecodeUTF7 returns the UTF-8 form of a modified UTF-7 name. It refuses
// what RFC 3501 §5.1.3 forbids: an unterminated or empty shift, encoded
// printable ASCII, two shifts in a row, and non-zero padding bits.
func DecodeUTF7(name string) (string, error) {
	var b strings.Builder
	prevShift := false
	for i := 0; i < len(name); {
		c := name[i]
		if c < 0x20 || c > 0x7e {
			return "", errBadUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			prevShift = false
			continue
		}
		end := strings.IndexByte(name[i+1:], '-')
		if end < 0 {
			return "", errBadUTF7
		}
		enc := name[i+1 : i+1+end]
		i += end + 2
		if enc == "" {
			b.WriteByte('&')
			prevShift = false
			continue
		}
		if prevShift {
			return "", errBadUTF7
		}
		prevShift = true
		raw, err := utf7Encoding.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 || utf7Encoding.EncodeToString(raw) != enc {
			return "", errBadUTF7
		}
		u := make([]uint16, len(raw)/2)
		for j := range u {
			u[j] = uint16(raw[2*j])<<8 | uint16(raw[2*j+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError || 0x20 <= r && r <= 0x7e {
				return "", errBadUTF7
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// DecodeMailbox returns the UTF-8 form of a mailbox name sent by a client.
// A client that enabled UTF-8 sends UTF-8 (RFC 6855 §3); another sends
// modified UTF-7, though 8-bit names that are valid UTF-8 are accepted
// from it too, as many clients send them.
func DecodeMailbox(name string, utf8Enabled bool) (string, error) {
	if !utf8.ValidString(name) {
		return "", errors.New("imap: mailbox name is not valid UTF-8")
	}
	if utf8Enabled || !strings.Contains(name, "&") {
		return name, nil
	}
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return name, nil
		}
	}
	return DecodeUTF7(name)
}
