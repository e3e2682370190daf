package smtp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Address is a mailbox as carried in an SMTP path: a local part and a
// domain. RFC 5321 §4.1.2, with the UTF-8 extensions of RFC 6531 §3.3.
type Address struct {
	// Local is the local part, unquoted: `"a b"@x` has Local `a b`. Its case
	// is kept: only the receiving domain may give it meaning (RFC 5321 §2.4).
	Local string
	// Domain is lower case, with internationalised labels in their Unicode
	// form (U-labels), or an address literal such as "[192.0.2.1]".
	Domain string
}

// Limits of RFC 5321 §4.5.3.1, in octets.
const (
	maxLocalPart = 64  // RFC 5321 §4.5.3.1.1
	maxDomain    = 255 // RFC 5321 §4.5.3.1.2
	maxPath      = 256 // RFC 5321 §4.5.3.1.3, angle brackets included
)

// ParseAddress parses s, an address without angle brackets such as the
// argument of MAIL FROM or RCPT TO, and checks its syntax. UTF-8 is accepted
// in both parts (RFC 6531 §3.3); IsASCII tells whether delivering the
// address needs SMTPUTF8.
func ParseAddress(s string) (Address, error) {
	if len(s)+2 > maxPath {
		return Address{}, fmt.Errorf("address: longer than %d octets", maxPath-2)
	}
	if !utf8.ValidString(s) {
		return Address{}, errors.New("address: not valid UTF-8")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return Address{}, errors.New("address: no @")
	}
	rawLocal, rawDomain := s[:at], s[at+1:]
	local, err := parseLocalPart(rawLocal)
	if err != nil {
		return Address{}, err
	}
	domain, err := ParseDomain(rawDomain)
	if err != nil {
		return Address{}, err
	}
	return Address{Local: local, Domain: domain}, nil
}

// String returns the address as it is written in a path, quoting the local
// part when it is not a dot-string.
func (a Address) String() string {
	if isDotString(a.Local) {
		return a.Local + "@" + a.Domain
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range a.Local {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteString(`"@`)
	b.WriteString(a.Domain)
	return b.String()
}

// IsASCII reports whether the address is plain ASCII; if not, sending it
// needs the SMTPUTF8 extension (RFC 6531 §3.4).
func (a Address) IsASCII() bool {
	return isASCII(a.Local) && isASCII(a.Domain)
}

// ASCIIDomain returns the domain with its labels in ASCII form (A-labels),
// as DNS wants it.
func (a Address) ASCIIDomain() (string, error) {
	if strings.HasPrefix(a.Domain, "[") {
		return a.Domain, nil
	}
	d, err := idna.Lookup.ToASCII(a.Domain)
	if err != nil {
		return "", fmt.Errorf("address: domain %q: %w", a.Domain, err)
	}
	return d, nil
}

// ParseDomain checks the syntax of a domain or address literal and returns
// it in the canonical form Address.Domain uses. RFC 5321 §4.1.2 and §4.1.3;
// internationalised labels per RFC 5890 through IDNA 2008 lookup rules.
func ParseDomain(s string) (string, error) {
	if s == "" {
		return "", errors.New("address: empty domain")
	}
	if s[0] == '[' {
		return parseAddressLiteral(s)
	}
	if len(s) > maxDomain {
		return "", fmt.Errorf("address: domain longer than %d octets", maxDomain)
	}
	ascii, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("address: domain: %w", err)
	}
	if len(ascii) > maxDomain {
		return "", fmt.Errorf("address: domain longer than %d octets", maxDomain)
	}
	for label := range strings.SplitSeq(ascii, ".") {
		if err := checkLabel(label); err != nil {
			return "", err
		}
	}
	u, err := idna.Lookup.ToUnicode(ascii)
	if err != nil {
		return "", fmt.Errorf("address: domain: %w", err)
	}
	return u, nil
}

// checkLabel checks one ASCII label: RFC 5321 §4.1.2 sub-domain, at most 63
// octets (RFC 1035 §2.3.4).
func checkLabel(label string) error {
	if label == "" {
		return errors.New("address: empty domain label")
	}
	if len(label) > 63 {
		return errors.New("address: domain label longer than 63 octets")
	}
	if label[0] == '-' || label[len(label)-1] == '-' {
		return errors.New("address: domain label starts or ends with a hyphen")
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !isLetDig(c) && c != '-' {
			return fmt.Errorf("address: character %q not allowed in a domain", c)
		}
	}
	return nil
}

// parseAddressLiteral checks an address literal, "[192.0.2.1]" or
// "[IPv6:2001:db8::1]". RFC 5321 §4.1.3.
func parseAddressLiteral(s string) (string, error) {
	if len(s) < 3 || s[len(s)-1] != ']' {
		return "", errors.New("address: malformed address literal")
	}
	inner := s[1 : len(s)-1]
	if v6, ok := cutPrefixFold(inner, "IPv6:"); ok {
		ip, err := netip.ParseAddr(v6)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", errors.New("address: malformed IPv6 address literal")
		}
		return "[IPv6:" + ip.String() + "]", nil
	}
	ip, err := netip.ParseAddr(inner)
	if err != nil || !ip.Is4() {
		return "", errors.New("address: malformed address literal")
	}
	return "[" + ip.String() + "]", nil
}

// parseLocalPart checks a Dot-string or a Quoted-string and returns the local
// part unquoted. RFC 5321 §4.1.2; RFC 6531 §3.3 adds UTF-8 to atext and qtext.
func parseLocalPart(s string) (string, error) {
	if s == "" {
		return "", errors.New("address: empty local part")
	}
	if len(s) > maxLocalPart {
		return "", fmt.Errorf("address: local part longer than %d octets", maxLocalPart)
	}
	if s[0] != '"' {
		if !isDotString(s) {
			return "", errors.New("address: malformed local part")
		}
		return s, nil
	}
	if len(s) < 2 || s[len(s)-1] != '"' {
		return "", errors.New("address: unterminated quoted local part")
	}
	var b strings.Builder
	inner := s[1 : len(s)-1]
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch {
		case c == '\\':
			// quoted-pairSMTP = %d92 %d32-126
			i++
			if i == len(inner) || inner[i] < 32 || inner[i] > 126 {
				return "", errors.New("address: malformed quoted pair in local part")
			}
			b.WriteByte(inner[i])
		case c == '"':
			return "", errors.New("address: unescaped quote in local part")
		case c >= 32 && c <= 126, c >= utf8.RuneSelf:
			// qtextSMTP = %d32-33 / %d35-91 / %d93-126 / UTF8-non-ascii
			b.WriteByte(c)
		default:
			return "", errors.New("address: control character in local part")
		}
	}
	if b.Len() == 0 {
		return "", errors.New("address: empty local part")
	}
	return b.String(), nil
}

// isDotString reports whether s is Atom *("." Atom). RFC 5321 §4.1.2.
func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r != '.' && !isAtext(r) {
			return false
		}
	}
	return true
}

// isAtext reports whether r may appear in an atom: RFC 5322 §3.2.3 atext,
// with UTF8-non-ascii from RFC 6532 §3.2.
func isAtext(r rune) bool {
	switch {
	case r >= utf8.RuneSelf:
		return r != utf8.RuneError && !isUnicodeControl(r)
	case r < 128 && isLetDig(byte(r)):
		return true
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

func isUnicodeControl(r rune) bool {
	return r >= 0x80 && r <= 0x9f
}

func isLetDig(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}
