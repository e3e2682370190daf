package message

import (
	"encoding/binary"
	"errors"
	"slices"
)

// The stored form of a part tree: a version byte, then the root part.
// A part is its strings and numbers in the order of the Part fields, each
// string a uvarint length and its bytes, each number a uvarint (offsets
// as differences: the body after the header, the end after the body),
// then its envelope (a 0 or 1 byte first) and its children. An address
// list is a uvarint count plus one, 0 meaning "the same as From" (RFC 9051
// §7.5.2 defaults Sender and Reply-To to From), then each address as a
// flags byte (addrGroup, addrRoute), three strings, and its route when it
// has one.
const formatV1 = 1

// The bits of an address's flags byte.
const (
	addrGroup = 1 << iota
	addrRoute
)

// ErrFormat is returned by Unmarshal for bytes that are not a stored
// model, or a model of a version this code does not know.
var ErrFormat = errors.New("message: not a stored model")

// Marshal returns the compact stored form of a part tree.
func Marshal(root *Part) []byte {
	e := encoder{b: make([]byte, 0, 256)}
	e.b = append(e.b, formatV1)
	e.part(root)
	return e.b
}

// Unmarshal reads a part tree stored by Marshal.
func Unmarshal(b []byte) (*Part, error) {
	if len(b) == 0 || b[0] != formatV1 {
		return nil, ErrFormat
	}
	d := decoder{b: b[1:]}
	p := d.part(0)
	if d.err != nil || len(d.b) != 0 {
		return nil, ErrFormat
	}
	return p, nil
}

type encoder struct{ b []byte }

func (e *encoder) num(n int64) { e.b = binary.AppendUvarint(e.b, uint64(n)) }
func (e *encoder) str(s string) {
	e.num(int64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) params(ps [][2]string) {
	e.num(int64(len(ps)))
	for _, kv := range ps {
		e.str(kv[0])
		e.str(kv[1])
	}
}

func (e *encoder) part(p *Part) {
	for _, s := range []string{p.Type, p.Subtype} {
		e.str(s)
	}
	e.params(p.Params)
	for _, s := range []string{p.ID, p.Description, p.Encoding, p.MD5, p.Disposition} {
		e.str(s)
	}
	e.params(p.DispositionParams)
	e.num(int64(len(p.Language)))
	for _, l := range p.Language {
		e.str(l)
	}
	e.str(p.Location)
	e.num(p.HeaderOffset)
	e.num(p.BodyOffset - p.HeaderOffset)
	e.num(p.EndOffset - p.BodyOffset)
	e.num(p.Lines)
	e.num(p.DecodedSize)
	if p.Envelope == nil {
		e.b = append(e.b, 0)
	} else {
		e.b = append(e.b, 1)
		e.envelope(p.Envelope)
	}
	e.num(int64(len(p.Parts)))
	for _, c := range p.Parts {
		e.part(c)
	}
}

func (e *encoder) envelope(env *Envelope) {
	e.str(env.Date)
	e.str(env.Subject)
	e.addresses(env.From, nil)
	e.addresses(env.Sender, env.From)
	e.addresses(env.ReplyTo, env.From)
	e.addresses(env.To, nil)
	e.addresses(env.Cc, nil)
	e.addresses(env.Bcc, nil)
	e.str(env.InReplyTo)
	e.str(env.MessageID)
}

func (e *encoder) addresses(list, from []Address) {
	if from != nil && slices.Equal(list, from) {
		e.num(0)
		return
	}
	e.num(int64(len(list)) + 1)
	for _, a := range list {
		flags := byte(0)
		if a.Group {
			flags |= addrGroup
		}
		if a.Route != "" {
			flags |= addrRoute
		}
		e.b = append(e.b, flags)
		e.str(a.Name)
		e.str(a.Mailbox)
		e.str(a.Host)
		if a.Route != "" {
			e.str(a.Route)
		}
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrFormat
	}
	d.b = nil
}

func (d *decoder) num() int64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > 1<<62 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return int64(v)
}

// count reads a number of items, each taking at least one byte.
func (d *decoder) count() int {
	n := d.num()
	if n > int64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) str() string {
	n := d.count()
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) params() [][2]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([][2]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, [2]string{d.str(), d.str()})
	}
	return out
}

func (d *decoder) part(depth int) *Part {
	if depth > 2*MaxDepth+2 {
		d.fail()
		return nil
	}
	p := &Part{Type: d.str(), Subtype: d.str()}
	p.Params = d.params()
	p.ID, p.Description, p.Encoding, p.MD5, p.Disposition = d.str(), d.str(), d.str(), d.str(), d.str()
	p.DispositionParams = d.params()
	if n := d.count(); n > 0 {
		p.Language = make([]string, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			p.Language = append(p.Language, d.str())
		}
	}
	p.Location = d.str()
	p.HeaderOffset = d.num()
	p.BodyOffset = p.HeaderOffset + d.num()
	p.EndOffset = p.BodyOffset + d.num()
	p.Lines = d.num()
	p.DecodedSize = d.num()
	if d.byte() == 1 {
		p.Envelope = d.envelope()
	}
	if n := d.count(); n > 0 {
		p.Parts = make([]*Part, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			p.Parts = append(p.Parts, d.part(depth+1))
		}
	}
	if d.err != nil {
		return nil
	}
	return p
}

func (d *decoder) envelope() *Envelope {
	e := &Envelope{Date: d.str(), Subject: d.str()}
	e.From = d.addresses(nil)
	e.Sender = d.addresses(e.From)
	e.ReplyTo = d.addresses(e.From)
	e.To = d.addresses(nil)
	e.Cc = d.addresses(nil)
	e.Bcc = d.addresses(nil)
	e.InReplyTo, e.MessageID = d.str(), d.str()
	return e
}

func (d *decoder) addresses(from []Address) []Address {
	n := d.count()
	if n == 0 {
		return from
	}
	n--
	if n == 0 {
		return nil
	}
	out := make([]Address, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		flags := d.byte()
		a := Address{Group: flags&addrGroup != 0}
		a.Name, a.Mailbox, a.Host = d.str(), d.str(), d.str()
		if flags&addrRoute != 0 {
			a.Route = d.str()
		}
		out = append(out, a)
	}
	return out
}
