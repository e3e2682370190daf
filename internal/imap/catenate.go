package imap

import (
	"bytes"
	"io"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"

	"caduceus/internal/core"
)

// catenate reads the parts of a CATENATE (RFC 4469 §5) and returns the
// message they make and its size. Text parts, the client's own words (a
// header, a covering note), are read into memory as they come; URL parts
// are ranges of messages already stored, read from the blob store only as
// the core stores the new message, so that forwarding a large attachment
// never holds it in memory.
func (c *conn) catenate() (io.Reader, int64, error) {
	var parts []io.Reader
	var size int64
	for {
		part, err := c.p.NextCatPart()
		if err != nil {
			return nil, 0, err
		}
		if part == nil {
			break
		}
		var r io.Reader
		var n int64
		if part.Text != nil {
			lit := &literalErr{r: part.Text}
			data, err := io.ReadAll(lit)
			if lit.err != nil {
				return nil, 0, lit.err
			}
			if err != nil {
				return nil, 0, err
			}
			r, n = bytes.NewReader(data), int64(len(data))
		} else if r, n, err = c.catURL(part.URL); err != nil {
			return nil, 0, err
		}
		if size += n; size > c.srv.opts.Limits.MaxMessage {
			return nil, 0, &appendRefusal{code: "TOOBIG", text: "message too large"}
		}
		parts = append(parts, r)
	}
	return io.MultiReader(parts...), size, nil
}

// catURL opens what an IMAP URL of a CATENATE names (RFC 5092): a message
// of a mailbox the user may read on this server, or a section of it, or a
// partial range of that. Anything else is refused with BADURL (RFC 4469
// §6), URLAUTH-authorised URLs included.
func (c *conn) catURL(raw string) (io.Reader, int64, error) {
	bad := &appendRefusal{code: "BADURL " + urlRespText(raw), text: "cannot use this URL"}
	u, ok := parseMessageURL(raw, c.srv.opts.Hostname)
	if !ok {
		return nil, 0, bad
	}
	name := u.mailbox
	if !c.w.UTF8 {
		name = EncodeUTF7(name)
	}
	_, f, err := c.folder(name)
	if err != nil || u.uidValidity != 0 && u.uidValidity != f.UIDValidity {
		return nil, 0, bad
	}
	msgs, err := c.srv.svc.Messages(c.ctx, c.actor, f.ID, core.MessageQuery{UIDs: []core.UIDRange{{Lo: u.uid, Hi: u.uid}}})
	if err != nil || len(msgs) != 1 {
		return nil, 0, bad
	}
	ct := &content{c: c, m: msgs[0]}
	data, _, start, length, nilVal, _, err := c.section(ct, FetchItem{Name: "BODY", Section: u.section, Partial: u.partial})
	if err != nil || nilVal {
		return nil, 0, bad
	}
	if data != nil {
		return bytes.NewReader(data), int64(len(data)), nil
	}
	return io.NewSectionReader(ct.rd, start, length), length, nil
}

// messageURL is what an IMAP URL names, once parsed.
type messageURL struct {
	mailbox     string // UTF-8
	uidValidity uint32 // 0 when not given
	uid         uint32
	section     *Section
	partial     *Partial
}

// parseMessageURL parses an IMAP URL naming a message: absolute on this
// host (imap://[user@]host[:port]/…) or an absolute path (/…), in the form
// "/" mailbox [";UIDVALIDITY=" n] "/;UID=" n ["/;SECTION=" section]
// ["/;PARTIAL=" offset ["." length]] (RFC 5092 §3, §6).
func parseMessageURL(raw, host string) (messageURL, bool) {
	var u messageURL
	path := raw
	if len(raw) > 7 && strings.EqualFold(raw[:7], "imap://") {
		authority, rest, ok := strings.Cut(raw[7:], "/")
		if !ok {
			return u, false
		}
		if i := strings.LastIndexByte(authority, '@'); i >= 0 {
			authority = authority[i+1:]
		}
		h := authority
		if sh, _, err := net.SplitHostPort(authority); err == nil {
			h = sh
		}
		if !strings.EqualFold(h, host) {
			return u, false
		}
		path = "/" + rest
	}
	if !strings.HasPrefix(path, "/") {
		return u, false
	}
	segs := strings.Split(path[1:], "/")
	if len(segs) < 2 {
		return u, false
	}
	mailbox, validity, hasValidity := strings.Cut(segs[0], ";")
	name, err := url.PathUnescape(mailbox)
	if err != nil || name == "" {
		return u, false
	}
	u.mailbox = name
	if hasValidity {
		v, ok := urlParam(validity, "UIDVALIDITY")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 {
			return u, false
		}
		u.uidValidity = uint32(n)
	}
	v, ok := urlParam(segs[1], "UID")
	n, err := strconv.ParseUint(v, 10, 32)
	if !ok || err != nil || n == 0 {
		return u, false
	}
	u.uid = uint32(n)
	u.section = &Section{}
	for _, seg := range segs[2:] {
		if v, ok := urlParam(seg, "SECTION"); ok && u.partial == nil {
			s, err := url.PathUnescape(v)
			if err != nil {
				return u, false
			}
			if u.section, ok = urlSection(s); !ok {
				return u, false
			}
			continue
		}
		v, ok := urlParam(seg, "PARTIAL")
		if !ok || u.partial != nil {
			return u, false
		}
		if u.partial, ok = urlPartial(v); !ok {
			return u, false
		}
	}
	return u, true
}

// urlParam returns the value of ";NAME=value" (the ";" may be cut off
// already), NAME in any case.
func urlParam(seg, name string) (string, bool) {
	seg = strings.TrimPrefix(seg, ";")
	if len(seg) <= len(name) || !strings.EqualFold(seg[:len(name)], name) || seg[len(name)] != '=' {
		return "", false
	}
	return seg[len(name)+1:], true
}

// urlSection parses the section of an IMAP URL: the section-spec of a
// FETCH BODY[…] without its brackets (RFC 5092 §6, RFC 9051 §9).
func urlSection(s string) (*Section, bool) {
	sec := &Section{}
	rest := s
	for rest != "" && '0' <= rest[0] && rest[0] <= '9' {
		i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if i < 0 {
			i = len(rest)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n == 0 {
			return nil, false
		}
		sec.Part = append(sec.Part, n)
		if rest = rest[i:]; rest == "" {
			return sec, true
		}
		if rest[0] != '.' || len(rest) == 1 {
			return nil, false
		}
		rest = rest[1:]
	}
	spec, fields, hasFields := strings.Cut(rest, " ")
	spec = strings.ToUpper(spec)
	switch spec {
	case "":
		return sec, len(sec.Part) == 0
	case "HEADER", "TEXT":
	case "MIME":
		if len(sec.Part) == 0 {
			return nil, false
		}
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		list, open := strings.CutPrefix(fields, "(")
		list, closed := strings.CutSuffix(list, ")")
		if !open || !closed || !hasFields {
			return nil, false
		}
		sec.Fields = strings.Fields(list)
		if len(sec.Fields) == 0 {
			return nil, false
		}
	default:
		return nil, false
	}
	if hasFields && sec.Fields == nil {
		return nil, false
	}
	sec.Specifier = spec
	return sec, true
}

// urlPartial parses ";PARTIAL=offset[.length]" (RFC 5092 §6): no length
// means to the end.
func urlPartial(v string) (*Partial, bool) {
	off, length, hasLength := strings.Cut(v, ".")
	o, err := strconv.ParseUint(off, 10, 32)
	if err != nil {
		return nil, false
	}
	p := &Partial{Offset: uint32(o), Count: math.MaxUint32}
	if hasLength {
		n, err := strconv.ParseUint(length, 10, 32)
		if err != nil || n == 0 {
			return nil, false
		}
		p.Count = uint32(n)
	}
	return p, true
}

// urlRespText makes a URL fit a BADURL response code: no "]", no control
// character (RFC 4469 §6, url-resp-text).
func urlRespText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == ']' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
