package message

import (
	"reflect"
	"testing"
)

// TestAddressList parses the address lists an envelope gives (RFC 5322
// §3.4, §4.4; RFC 9051 §7.5.2): groups anywhere and several of them,
// commas inside quotes and comments, obsolete routes, and what net/mail
// refuses kept rather than lost.
func TestAddressList(t *testing.T) {
	g := func(name string) Address { return Address{Group: true, Mailbox: name} }
	tests := []struct {
		in   string
		want []Address
	}{
		{"", nil},
		{"Dr Martin <martin@chu.example>", []Address{{Name: "Dr Martin", Mailbox: "martin", Host: "chu.example"}}},
		{"group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;", []Address{
			g("group"), {Mailbox: "g1", Host: "d1.org"}, {Mailbox: "g2", Host: "d2.org"}, {Group: true},
			g("group2"), {Mailbox: "g3", Host: "d3.org"}, {Group: true}}},
		{"a@x.org, Undisclosed recipients:;", []Address{{Mailbox: "a", Host: "x.org"}, g("Undisclosed recipients"), {Group: true}}},
		{`"Martin, Claire" <claire@chu.example>, b@x.org`, []Address{{Name: "Martin, Claire", Mailbox: "claire", Host: "chu.example"}, {Mailbox: "b", Host: "x.org"}}},
		{"c@x.org (Claire, cardio), d@x.org", []Address{{Name: "Claire, cardio", Mailbox: "c", Host: "x.org"}, {Mailbox: "d", Host: "x.org"}}},
		{"<@route:user@domain>", []Address{{Route: "@route", Mailbox: "user", Host: "domain"}}},
		{"Name <@a.org,@b.org:user@domain>", []Address{{Name: "Name", Route: "@a.org,@b.org", Mailbox: "user", Host: "domain"}}},
		{"broken@", []Address{{Mailbox: "broken"}}},
		{"team: a@x.org", []Address{g("team"), {Mailbox: "a", Host: "x.org"}, {Group: true}}},
	}
	for _, tt := range tests {
		if got := addressList(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("addressList(%q) =\n %+v, want\n %+v", tt.in, got, tt.want)
		}
	}
}

// TestAddressRoundTrip keeps routes and groups through the stored form.
func TestAddressRoundTrip(t *testing.T) {
	root := &Part{Type: "text", Subtype: "plain", Envelope: &Envelope{
		From: []Address{{Name: "N", Route: "@r", Mailbox: "u", Host: "d"}},
		To:   []Address{{Group: true, Mailbox: "g"}, {Mailbox: "a", Host: "b"}, {Group: true}},
	}}
	got, err := Unmarshal(Marshal(root))
	if err != nil || !reflect.DeepEqual(got.Envelope.From, root.Envelope.From) || !reflect.DeepEqual(got.Envelope.To, root.Envelope.To) {
		t.Fatalf("round trip: %+v, %v", got.Envelope, err)
	}
}
