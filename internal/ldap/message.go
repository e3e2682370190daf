package ldap

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// maxMessage bounds a request: a search or a bind is a few hundred bytes.
const maxMessage = 64 << 10

var errTooLong = errors.New("ldap: message too long")

// readMessage reads one LDAPMessage (RFC 4511 §4.1.1): its tag and length, then
// no more content than maxMessage allows, before decoding it.
func readMessage(r *bufio.Reader) (*ber.Packet, error) {
	tag, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if tag != 0x30 { // SEQUENCE
		return nil, fmt.Errorf("ldap: message starts with tag %#x", tag)
	}
	first, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	head := []byte{tag, first}
	length := int(first)
	if first&0x80 != 0 {
		n := int(first & 0x7f)
		if n == 0 || n > 3 {
			return nil, errTooLong // indefinite, or 16 MiB and more
		}
		length = 0
		for range n {
			b, err := r.ReadByte()
			if err != nil {
				return nil, err
			}
			head = append(head, b)
			length = length<<8 | int(b)
		}
	}
	if length > maxMessage {
		return nil, errTooLong
	}
	buf := make([]byte, len(head)+length)
	copy(buf, head)
	if _, err := io.ReadFull(r, buf[len(head):]); err != nil {
		return nil, err
	}
	p, err := ber.DecodePacketErr(buf)
	if err != nil {
		return nil, fmt.Errorf("ldap: %w", err)
	}
	if len(p.Children) < 2 {
		return nil, errors.New("ldap: message without an operation")
	}
	return p, nil
}

// envelope wraps a protocol operation into an LDAPMessage.
func envelope(id int64, op *ber.Packet) *ber.Packet {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	p.AppendChild(op)
	return p
}

// result builds an LDAPResult-shaped response (RFC 4511 §4.1.9) with the
// application tag of the operation.
func result(tag int, code int, diagnostic string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ber.Tag(tag), nil, "")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(code), ""))
	op.AppendChild(octets("")) // matchedDN
	op.AppendChild(octets(diagnostic))
	return op
}

func octets(s string) *ber.Packet {
	return ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, s, "")
}

// str returns the string in a primitive packet of any class.
func str(p *ber.Packet) string {
	if p == nil {
		return ""
	}
	if s, ok := p.Value.(string); ok {
		return s
	}
	if p.Data != nil {
		return p.Data.String()
	}
	return string(p.ByteValue)
}

// integer returns the integer in a packet, 0 when it holds none.
func integer(p *ber.Packet) int64 {
	if p == nil {
		return 0
	}
	switch v := p.Value.(type) {
	case int64:
		return v
	case bool:
		if v {
			return 1
		}
	}
	return 0
}

// child returns the i-th child of p, or nil.
func child(p *ber.Packet, i int) *ber.Packet {
	if p == nil || i >= len(p.Children) {
		return nil
	}
	return p.Children[i]
}

// responseTag returns the application tag answering a request's, for the
// operations this server refuses (RFC 4511 §4.6 to §4.10).
func responseTag(request int) (int, bool) {
	switch request {
	case goldap.ApplicationModifyRequest, goldap.ApplicationAddRequest, goldap.ApplicationDelRequest,
		goldap.ApplicationModifyDNRequest, goldap.ApplicationCompareRequest:
		return request + 1, true
	}
	return 0, false
}
