package ldap

import (
	"bufio"
	"bytes"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// FuzzReadMessage feeds arbitrary bytes to the message reader and the filter
// parser: they must never panic, whatever a client sends.
func FuzzReadMessage(f *testing.F) {
	for _, filter := range []string{"(|(cn=lef*)(mail=lef*)(sn=lef*))", "(&(objectClass=*)(!(l=paris)))", "(cn=*a*b*c)"} {
		p, err := goldap.CompileFilter(filter)
		if err != nil {
			f.Fatal(err)
		}
		op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchRequest, nil, "")
		op.AppendChild(octets(baseDN))
		for _, n := range []int64{2, 0, 10, 0} {
			op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, n, ""))
		}
		op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, ""))
		op.AppendChild(p)
		op.AppendChild(ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, ""))
		f.Add(envelope(1, op).Bytes())
	}
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := readMessage(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		op := msg.Children[1]
		if int(op.Tag) != goldap.ApplicationSearchRequest {
			return
		}
		flt, err := parseFilter(child(op, 6), 0)
		if err != nil {
			return
		}
		plan(flt)
		flt.match(index([]attribute{{"cn", []string{"Marie MARTIN"}}, {"mail", []string{"m@x.fr"}}}))
		selection(child(op, 7))
	})
}
