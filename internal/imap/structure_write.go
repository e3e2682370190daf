package imap

import (
	"bytes"
	"mime"
	"strings"
	"unicode/utf8"

	"caduceus/internal/message"
)

// Envelope writes an ENVELOPE (RFC 9051 §7.5.2).
func (w *Writer) Envelope(e *message.Envelope) {
	if e == nil {
		e = &message.Envelope{}
	}
	w.Open()
	w.nText(e.Date)
	w.SP()
	w.nText(e.Subject)
	for _, list := range [][]message.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		w.SP()
		w.addresses(list)
	}
	w.SP()
	w.nText(e.InReplyTo)
	w.SP()
	w.nText(e.MessageID)
	w.Close()
}

func (w *Writer) addresses(list []message.Address) {
	if len(list) == 0 {
		w.NIL()
		return
	}
	w.Open()
	for _, a := range list {
		w.Open()
		if a.Group {
			// RFC 9051 §7.5.2: (NIL NIL "group" NIL) opens a group,
			// (NIL NIL NIL NIL) closes it.
			w.Atom("NIL NIL ")
			w.nText(a.Mailbox)
			w.Atom(" NIL")
		} else {
			w.nText(a.Name)
			w.SP()
			w.nText(a.Route)
			w.SP()
			w.nText(a.Mailbox)
			w.SP()
			w.nText(a.Host)
		}
		w.Close()
	}
	w.Close()
}

// nText writes s, NIL when empty. Text that is not ASCII goes to a client
// without UTF-8 as an RFC 2047 encoded word.
func (w *Writer) nText(s string) {
	if s == "" {
		w.NIL()
		return
	}
	w.String(w.mimeText(s))
}

func (w *Writer) mimeText(s string) string {
	if w.UTF8 || !utf8.ValidString(s) {
		return s
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return mime.BEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// BodyStructure writes the BODYSTRUCTURE of p, or with extended false
// the BODY form without extension data (RFC 9051 §7.5.2).
func (w *Writer) BodyStructure(p *message.Part, extended bool) {
	w.Open()
	if p.IsMultipart() && len(p.Parts) > 0 {
		for _, c := range p.Parts {
			w.BodyStructure(c, extended)
		}
		w.SP()
		w.String(strings.ToUpper(p.Subtype))
		if extended {
			// body-ext-mpart = body-fld-param SP body-fld-dsp SP body-fld-lang SP body-fld-loc
			w.SP()
			w.params(p.Params)
			w.dspLangLoc(p)
		}
		w.Close()
		return
	}
	typ, sub := strings.ToUpper(p.Type), strings.ToUpper(p.Subtype)
	params := p.Params
	if p.IsMultipart() {
		// A multipart without parts cannot be described as one (RFC 9051
		// §9 body-type-mpart needs a body): describe it as empty text.
		typ, sub, params = "TEXT", "PLAIN", [][2]string{{"charset", "us-ascii"}}
	}
	w.String(typ)
	w.SP()
	w.String(sub)
	w.SP()
	w.params(params)
	w.SP()
	w.nText(p.ID)
	w.SP()
	w.nText(p.Description)
	w.SP()
	w.String(strings.ToUpper(p.Encoding))
	w.SP()
	w.Number64(uint64(p.Size()))
	switch {
	case p.IsMessage():
		w.SP()
		w.Envelope(p.Parts[0].Envelope)
		w.SP()
		w.BodyStructure(p.Parts[0], extended)
		w.SP()
		w.Number64(uint64(p.Lines))
	case typ == "TEXT":
		w.SP()
		w.Number64(uint64(p.Lines))
	}
	if extended {
		// body-ext-1part = body-fld-md5 SP body-fld-dsp SP body-fld-lang SP body-fld-loc
		w.SP()
		w.nText(p.MD5)
		w.dspLangLoc(p)
	}
	w.Close()
}

func (w *Writer) params(params [][2]string) {
	if len(params) == 0 {
		w.NIL()
		return
	}
	w.Open()
	for i, kv := range params {
		if i > 0 {
			w.SP()
		}
		w.String(strings.ToUpper(kv[0]))
		w.SP()
		w.String(w.mimeText(kv[1]))
	}
	w.Close()
}

// dspLangLoc writes the extension data that both body forms end with:
// SP body-fld-dsp SP body-fld-lang SP body-fld-loc (RFC 9051 §9).
func (w *Writer) dspLangLoc(p *message.Part) {
	w.SP()
	w.disposition(p)
	w.SP()
	w.language(p.Language)
	w.SP()
	w.nText(p.Location)
}

func (w *Writer) disposition(p *message.Part) {
	if p.Disposition == "" {
		w.NIL()
		return
	}
	w.Open()
	w.String(strings.ToUpper(p.Disposition))
	w.SP()
	w.params(p.DispositionParams)
	w.Close()
}

func (w *Writer) language(langs []string) {
	if len(langs) == 0 {
		w.NIL()
		return
	}
	w.Open()
	for i, l := range langs {
		if i > 0 {
			w.SP()
		}
		w.String(l)
	}
	w.Close()
}

// sectionRange returns the bytes of the message p that a section names
// (RFC 9051 §6.4.5), as offsets: the whole message, a header (before any
// HEADER.FIELDS filtering, see FilterHeader), a text, or a part's body or
// MIME header. ok is false when the section names nothing in this
// message.
func sectionRange(p *message.Part, s *Section) (start, end int64, ok bool) {
	target := p
	if len(s.Part) > 0 {
		if target, ok = p.Locate(s.Part); !ok {
			return 0, 0, false
		}
	}
	switch s.Specifier {
	case "":
		if len(s.Part) == 0 {
			return p.HeaderOffset, p.EndOffset, true
		}
		return target.BodyOffset, target.EndOffset, true
	case "MIME":
		return target.HeaderOffset, target.BodyOffset, true
	}
	msg := target
	if len(s.Part) > 0 {
		if !target.IsMessage() {
			return 0, 0, false
		}
		msg = target.Parts[0]
	}
	if s.Specifier == "TEXT" {
		return msg.BodyOffset, msg.EndOffset, true
	}
	return msg.HeaderOffset, msg.BodyOffset, true
}

// FilterHeader returns the fields of a raw header that are (not false)
// or are not (not true) among fields, with the empty line that ends a
// header (RFC 9051 §6.4.5 HEADER.FIELDS, HEADER.FIELDS.NOT).
func FilterHeader(raw []byte, fields []string, not bool) []byte {
	var out bytes.Buffer
	keep := false
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(line) == 0 || bytes.Equal(bytes.TrimRight(line, "\r\n"), nil) {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, found := bytes.Cut(line, []byte(":"))
			name = bytes.TrimRight(name, " \t")
			listed := false
			for _, f := range fields {
				if found && strings.EqualFold(string(name), f) {
					listed = true
					break
				}
			}
			keep = found && listed != not
		}
		if keep {
			out.Write(line)
			if line[len(line)-1] != '\n' {
				out.WriteString("\r\n")
			}
		}
	}
	out.WriteString("\r\n")
	return out.Bytes()
}
