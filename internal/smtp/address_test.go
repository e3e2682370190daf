package smtp

import (
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in     string
		local  string
		domain string
		ascii  bool
	}{
		{"alice@example.org", "alice", "example.org", true},
		{"Alice.Martin@Example.ORG", "Alice.Martin", "example.org", true},
		{"a+tag@sub.example.org", "a+tag", "sub.example.org", true},
		{`"a b"@example.org`, "a b", "example.org", true},
		{`"a\"b"@example.org`, `a"b`, "example.org", true},
		{`"x@y"@example.org`, "x@y", "example.org", true},
		{"postmaster@[192.0.2.1]", "postmaster", "[192.0.2.1]", true},
		{"postmaster@[IPv6:2001:DB8::1]", "postmaster", "[IPv6:2001:db8::1]", true},
		{"médecin@hôpital.fr", "médecin", "hôpital.fr", false},
		{"dr@xn--hpital-ixa.fr", "dr", "hôpital.fr", false},
		{"用户@例子.广告", "用户", "例子.广告", false},
		{strings.Repeat("a", 64) + "@example.org", strings.Repeat("a", 64), "example.org", true},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.in)
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", tt.in, err)
			continue
		}
		if a.Local != tt.local || a.Domain != tt.domain {
			t.Errorf("ParseAddress(%q) = %q @ %q, want %q @ %q", tt.in, a.Local, a.Domain, tt.local, tt.domain)
		}
		if a.IsASCII() != tt.ascii {
			t.Errorf("ParseAddress(%q).IsASCII() = %v, want %v", tt.in, a.IsASCII(), tt.ascii)
		}
	}
}

func TestParseAddressRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"no at", "alice"},
		{"empty local", "@example.org"},
		{"empty domain", "alice@"},
		{"leading dot", ".alice@example.org"},
		{"double dot", "al..ice@example.org"},
		{"trailing dot", "alice.@example.org"},
		{"space", "al ice@example.org"},
		{"comma", "al,ice@example.org"},
		{"angle", "<alice@example.org>"},
		{"control", "al\x01ice@example.org"},
		{"invalid utf-8", "al\xffice@example.org"},
		{"local too long", strings.Repeat("a", 65) + "@example.org"},
		{"label too long", "a@" + strings.Repeat("b", 64) + ".org"},
		{"path too long", "a@" + strings.Repeat("b.", 127) + "org"},
		{"underscore domain", "a@ex_ample.org"},
		{"hyphen label", "a@-example.org"},
		{"empty label", "a@example..org"},
		{"trailing dot domain", "a@example.org."},
		{"unterminated quote", `"abc@example.org`},
		{"bare quote inside", `"a"b"@example.org`},
		{"bad literal", "a@[300.1.1.1]"},
		{"bad v6 literal", "a@[IPv6:1.2.3.4]"},
		{"bad punycode", "a@xn--zz.org"},
	}
	for _, tt := range tests {
		if a, err := ParseAddress(tt.in); err == nil {
			t.Errorf("%s: ParseAddress(%q) = %+v, want an error", tt.name, tt.in, a)
		}
	}
}

func TestAddressString(t *testing.T) {
	tests := []struct {
		a    Address
		want string
	}{
		{Address{"alice", "example.org"}, "alice@example.org"},
		{Address{"a b", "example.org"}, `"a b"@example.org`},
		{Address{`a"b\c`, "example.org"}, `"a\"b\\c"@example.org`},
		{Address{"médecin", "hôpital.fr"}, "médecin@hôpital.fr"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.a, got, tt.want)
		}
		back, err := ParseAddress(tt.want)
		if err != nil || back != tt.a {
			t.Errorf("ParseAddress(%q) = %+v, %v; want %+v", tt.want, back, err, tt.a)
		}
	}
}

func TestASCIIDomain(t *testing.T) {
	a, err := ParseAddress("dr@hôpital.fr")
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.ASCIIDomain()
	if err != nil || got != "xn--hpital-ixa.fr" {
		t.Errorf("ASCIIDomain() = %q, %v; want xn--hpital-ixa.fr", got, err)
	}
}

// FuzzParseAddress checks that any address ParseAddress accepts is within the
// RFC 5321 limits and reads back to itself from its String form.
func FuzzParseAddress(f *testing.F) {
	f.Add("alice@example.org")
	f.Add(`"a b"@example.org`)
	f.Add("médecin@hôpital.fr")
	f.Add("x@[IPv6:2001:db8::1]")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if len(a.Local) > maxLocalPart || a.Local == "" || a.Domain == "" {
			t.Fatalf("ParseAddress(%q) = %+v out of limits", s, a)
		}
		back, err := ParseAddress(a.String())
		if err != nil {
			t.Fatalf("ParseAddress(%q) = %+v, whose String %q does not parse: %v", s, a, a.String(), err)
		}
		if back != a {
			t.Fatalf("ParseAddress(%q) = %+v, read back as %+v", s, a, back)
		}
	})
}
