package sieve

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testMessage = "From: Alice Martin <alice@example.org>\r\n" +
	"To: bob@hopital.example, \"Carol\" <carol@clinic.example>\r\n" +
	"Cc: Dave <DAVE@Example.COM>\r\n" +
	"Subject: =?utf-8?q?R=C3=A9sultats?= du labo\r\n" +
	"X-Spam-Flag: YES\r\n" +
	"X-Priority: 1\r\n" +
	"X-Priority: 3\r\n" +
	"Message-ID: <m1@example.org>\r\n" +
	"Date: Fri, 04 Dec 2026 23:30:00 +0100\r\n" +
	"\r\n" +
	"Hello\r\n"

func testMsg() Message {
	return NewMessage([]byte(testMessage), "alice@example.org", "bob@hopital.example", 1500)
}

func runScript(t *testing.T, src string) Actions {
	t.Helper()
	s, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	a, err := Run(context.Background(), s, testMsg())
	if err != nil {
		t.Fatalf("run %q: %v", src, err)
	}
	return a
}

// TestTests checks every test against the test message: each script files
// into "yes" when its test holds.
func TestTests(t *testing.T) {
	for _, tc := range []struct {
		rfc, test string
		want      bool
	}{
		{"5228 §5.10", `true`, true},
		{"5228 §5.6", `false`, false},
		{"5228 §5.8", `not false`, true},
		{"5228 §5.2", `allof (true, false)`, false},
		{"5228 §5.3", `anyof (false, true)`, true},
		{"5228 §5.5", `exists ["From", "X-Spam-Flag"]`, true},
		{"5228 §5.5", `exists ["From", "X-Nope"]`, false},
		{"5228 §5.7", `header :is "X-Spam-Flag" "yes"`, true},
		{"5228 §2.7.3", `header :is :comparator "i;octet" "X-Spam-Flag" "yes"`, false},
		{"5228 §2.7.3", `header :comparator "i;octet" :is "X-Spam-Flag" "YES"`, true},
		{"5228 §5.7", `header :contains "Subject" "sultats"`, true},
		{"5228 §2.7.2", `header :is "Subject" "Résultats du labo"`, true},
		{"5228 §5.7", `header :is "X-Priority" "3"`, true},
		{"5228 §2.7.1", `header :matches "Subject" "R*labo"`, true},
		{"5228 §2.7.1", `header :matches "Subject" "R?sultats*"`, true},
		{"5228 §2.7.1", `header :matches "Subject" "*zzz*"`, false},
		{"5228 §2.7.1", `header :matches "X-Spam-Flag" "\\*"`, false},
		{"5228 §5.7", `header :contains ["To", "Cc"] "dave@"`, true},
		{"5228 §5.1", `address :is "From" "alice@example.org"`, true},
		{"5228 §5.1", `address :domain :is "Cc" "example.com"`, true},
		{"5228 §5.1", `address :localpart :is "To" "carol"`, true},
		{"5228 §5.1", `address :all :contains "To" "clinic"`, true},
		{"5228 §5.1", `address :is "Subject" "Résultats du labo"`, false},
		{"5228 §5.4", `envelope :is "from" "alice@example.org"`, true},
		{"5228 §5.4", `envelope :domain :is "to" "hopital.example"`, true},
		{"5228 §5.9", `size :over 1K`, true},
		{"5228 §5.9", `size :under 1K`, false},
		{"5228 §5.9", `size :over 1500`, false},
		{"5232 §4", `hasflag "\\Seen"`, false},
	} {
		src := `require ["fileinto", "envelope", "imap4flags"]; if ` + tc.test + ` { fileinto "yes"; }`
		a := runScript(t, src)
		got := len(a.FileInto) == 1
		if got != tc.want {
			t.Errorf("RFC %s: %s = %v, want %v", tc.rfc, tc.test, got, tc.want)
		}
	}
}

// TestRelationalAndDate checks the relational match types, the numeric
// comparator and the date tests against the test message at a fixed time.
func TestRelationalAndDate(t *testing.T) {
	now := time.Date(2026, 12, 5, 8, 15, 0, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		rfc, test string
		want      bool
	}{
		{"5231 §4.2", `header :count "ge" :comparator "i;ascii-numeric" "X-Priority" "2"`, true},
		{"5231 §4.2", `header :count "gt" :comparator "i;ascii-numeric" "X-Priority" "2"`, false},
		{"5231 §4.2", `address :count "eq" :comparator "i;ascii-numeric" ["To", "Cc"] "3"`, true},
		{"5231 §4.1", `header :value "lt" :comparator "i;ascii-numeric" "X-Priority" "2"`, true},
		{"5231 §4.1", `header :value "gt" :comparator "i;ascii-numeric" "X-Priority" "10"`, false},
		{"5231 §4.1 casemap order", `header :value "gt" "X-Priority" "10"`, true},
		{"4790 §9.1", `header :is :comparator "i;ascii-numeric" "X-Priority" "003"`, true},
		{"4790 §9.1 infinity", `header :value "gt" :comparator "i;ascii-numeric" "Subject" "999999"`, true},
		{"5260 §4", `date :is "Date" "date" "2026-12-04"`, true},
		{"5260 §4.1 :zone", `date :zone "+0000" :is "Date" "time" "22:30:00"`, true},
		{"5260 §4.1 :originalzone", `date :originalzone :is "Date" "zone" "+0100"`, true},
		{"5260 §4.2", `date :is "Date" "weekday" "5"`, true},
		{"5260 §4.2", `date :is "Date" "julian" "61378"`, true},
		{"5260 §4", `date :is "X-Nope" "year" "2026"`, false},
		{"5260 §5", `currentdate :is "date" "2026-12-05"`, true},
		{"5260 §5", `currentdate :zone "-0800" :is "date" "2026-12-04"`, true},
		{"5260 §5 range", `allof (currentdate :value "ge" "date" "2026-12-01", currentdate :value "le" "date" "2026-12-10")`, true},
		{"5260 §5 range", `currentdate :value "ge" "iso8601" "2026-12-05T09:00:00+01:00"`, false},
		{"5260 §4.2", `currentdate :is "std11" "Sat, 05 Dec 2026 08:15:00 +0100"`, true},
	} {
		src := `require ["fileinto", "relational", "date", "comparator-i;ascii-numeric"]; if ` + tc.test + ` { fileinto "yes"; }`
		s, err := Parse([]byte(src))
		if err != nil {
			t.Fatalf("RFC %s: %v", tc.rfc, err)
		}
		a, err := RunAt(context.Background(), s, testMsg(), now)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(a.FileInto) == 1; got != tc.want {
			t.Errorf("RFC %s: %s = %v, want %v", tc.rfc, tc.test, got, tc.want)
		}
	}
}

// TestActions checks what scripts decide.
func TestActions(t *testing.T) {
	for _, tc := range []struct {
		rfc, src string
		want     Actions
	}{
		{"5228 §2.10.2 implicit keep", ``, Actions{Keep: true}},
		{"5228 §4.3", `keep;`, Actions{Keep: true}},
		{"5228 §4.4", `discard;`, Actions{Discard: true}},
		{"5228 §3.3 stop", `stop; discard;`, Actions{Keep: true}},
		{"5228 §4.1", `require "fileinto"; fileinto "Labs";`, Actions{FileInto: []FileInto{{Folder: "Labs"}}}},
		{"5228 §2.10.3 duplicates", `require "fileinto"; fileinto "A"; fileinto "A";`, Actions{FileInto: []FileInto{{Folder: "A"}}}},
		{"3894 :copy", `require ["fileinto", "copy"]; fileinto :copy "Labs";`, Actions{Keep: true, FileInto: []FileInto{{Folder: "Labs"}}}},
		{"5228 §4.2", `redirect "Eve <eve@hopital.example>";`, Actions{Redirect: []string{"eve@hopital.example"}}},
		{"3894 redirect :copy", `require "copy"; redirect :copy "eve@hopital.example";`, Actions{Keep: true, Redirect: []string{"eve@hopital.example"}}},
		{"5429 §2.1", `require "reject"; reject "Not here";`, Actions{Rejected: true, Reject: "Not here"}},
		{"5232 §3", `require "imap4flags"; setflag "\\Flagged"; addflag ["$Lab", "\\Seen"]; removeflag "\\Seen";`, Actions{Keep: true, KeepFlags: []string{`\Flagged`, "$Lab"}}},
		{"5232 §5 :flags", `require ["imap4flags", "fileinto"]; addflag "\\Seen"; fileinto :flags "\\Flagged $x" "A"; keep;`,
			Actions{Keep: true, KeepFlags: []string{`\Seen`}, FileInto: []FileInto{{Folder: "A", Flags: []string{`\Flagged`, "$x"}}}}},
		{"5228 §3.1 elsif", `require "fileinto"; if false { discard; } elsif header :contains "subject" "labo" { fileinto "B"; } else { keep; }`,
			Actions{FileInto: []FileInto{{Folder: "B"}}}},
		{"5228 §3.1 else", `if false { discard; } else { keep; }`, Actions{Keep: true}},
		{"5230 §4", "require \"vacation\"; vacation :days 3 :subject \"Away\" :from \"bob@hopital.example\" :addresses [\"b@h.example\"] :handle \"h1\" text:\r\nBack on Monday.\r\n..dot\r\n.\r\n;",
			Actions{Keep: true, Vacation: &Vacation{Reason: "Back on Monday.\r\n.dot\r\n", Subject: "Away", From: "bob@hopital.example", Addresses: []string{"b@h.example"}, Days: 3, Handle: "h1"}}},
		{"5230 §4.1 default days", `require "vacation"; vacation "x";`, Actions{Keep: true, Vacation: &Vacation{Reason: "x", Days: 7}}},
		{"5230 §4.1 days bounds", `require "vacation"; vacation :days 0 :mime "x";`, Actions{Keep: true, Vacation: &Vacation{Reason: "x", Days: 1, MIME: true}}},
	} {
		got := runScript(t, tc.src)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("RFC %s: %q\n got %+v\nwant %+v", tc.rfc, tc.src, got, tc.want)
		}
	}
}

// TestParseErrors checks that bad scripts are refused, saying where.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{`fileinto "x";`, `1:1: fileinto needs require "fileinto"`},
		{"keep;\nrequire \"fileinto\";", `2:1: require must come before`},
		{`require "regex";`, `1:9: extension "regex" is not supported`},
		{`if true keep;`, `1:1: if needs a block in braces`},
		{`if true { keep; `, `1:9: block not closed`},
		{`keep`, `1:5: expected ";" or a block after "keep", found end of script`},
		{`keep; }`, `1:7: unexpected }`},
		{`header :is "a" "b";`, `1:1: unknown command "header"`},
		{`if foo { }`, `1:4: unknown test "foo"`},
		{`if header :is :contains "a" "b" { }`, `1:15: tag :contains conflicts with :is`},
		{`if header :comparator "i;unicode" "a" "b" { }`, `1:23: comparator "i;unicode" is not supported`},
		{`if header :is "a" { }`, `1:4: header takes 2 argument(s)`},
		{`if size 10 { }`, `1:4: size needs :over or :under`},
		{`if size :over "10" { }`, `1:15: argument 1 of size must be a number`},
		{`redirect "not an address";`, `1:10: redirect: "not an address" is not a valid address`},
		{`require "vacation"; vacation :from "nope" "x";`, `1:36: vacation :from "nope" is not a valid address`},
		{`require "envelope"; if envelope "cc" "x" { }`, `1:33: envelope part "cc"`},
		{`keep :copy;`, `1:6: keep has no tag :copy`},
		{`require "fileinto"; fileinto :copy "x";`, `1:30: :copy needs require "copy"`},
		{`if true { } else { } else { }`, `1:22: else without a preceding if`},
		{strings.Repeat("if true {", 17) + strings.Repeat("}", 17), `1:153: blocks nested deeper than 16`},
		{`if header :value "gt" "a" "b" { }`, `1:11: :value needs require "relational"`},
		{`require "relational"; if header :value "big" "a" "b" { }`, `1:40: relation "big" is not one of`},
		{`if header :comparator "i;ascii-numeric" "a" "b" { }`, `needs require "comparator-i;ascii-numeric"`},
		{`require "comparator-i;ascii-numeric"; if header :contains :comparator "i;ascii-numeric" "a" "b" { }`, `compares whole numbers`},
		{`if currentdate :is "date" "x" { }`, `1:4: currentdate needs require "date"`},
		{`require "date"; if currentdate :is "decade" "x" { }`, `1:36: date part "decade" is not one of`},
		{`require "date"; if currentdate :zone "CET" :is "date" "x" { }`, `1:38: zone "CET" is not +hhmm`},
		{`require "date"; if currentdate :originalzone :is "date" "x" { }`, `currentdate has no :originalzone`},
		{`require "date"; if date :is "date" "x" { }`, `date takes 3 argument(s)`},
		{"/* open", `1:1: comment not closed`},
		{`"open`, `1:1: string not closed`},
		{"require \"vacation\"; vacation text:\r\nno end\r\n", `1:30: text: not closed`},
		{`if size :over 99999999999999999999 { }`, `1:15: number too large`},
		{`if size :over 10X { }`, `1:17: unexpected 'X' after a number`},
		{`if exists "Bad:Name" { }`, `1:11: exists: "Bad:Name" is not a header field name`},
		{`keep; ~`, `1:7: unexpected character '~'`},
		{strings.Repeat("if true {", 20) + strings.Repeat("}", 20), `nested deeper than 16`},
		{"if " + strings.Repeat("not ", 20) + "true {}", `tests nested deeper than 16`},
		{strings.Repeat("#", 70000), `1:1: script is 70000 bytes, more than the limit of 65536`},
	} {
		_, err := Parse([]byte(tc.src))
		var se *Error
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60q: error %v, want %q", tc.src, err, tc.want)
		}
	}
}

// TestLexer checks strings, numbers and comments (RFC 5228 §2).
func TestLexer(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{`"a\"b\\c\d"`, `a"b\cd`},
		{"text: # comment\n line one\n..two\n.\n", " line one\r\n.two\r\n"},
		{"/* a\n comment */ \"x\" # more\n", "x"},
	} {
		l := newLexer(tc.src)
		tok, err := l.next()
		if err != nil || tok.kind != tokString || tok.text != tc.want {
			t.Errorf("%q: %v %q, want %q", tc.src, err, tok.text, tc.want)
		}
	}
	for _, tc := range []struct {
		src  string
		want int64
	}{{"0", 0}, {"12", 12}, {"2K", 2048}, {"3m", 3 << 20}, {"1G", 1 << 30}} {
		tok, err := newLexer(tc.src).next()
		if err != nil || tok.num != tc.want {
			t.Errorf("%q: %v %d, want %d", tc.src, err, tok.num, tc.want)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		v, p string
		want bool
	}{
		{"", "", true}, {"", "*", true}, {"a", "", false}, {"abc", "a*c", true},
		{"abc", "a?c", true}, {"aéc", "a?c", true}, {"abc", "a?", false},
		{"a*c", `a\*c`, true}, {"abc", `a\*c`, false}, {"a?", `a\?`, true},
		{"xaaab", "*a*b", true}, {"ab", "*a*b*", true}, {"ba", "*a*b", false},
		{strings.Repeat("a", 5000), strings.Repeat("*a", 30) + "b", false},
	} {
		if got := glob(tc.v, tc.p); got != tc.want {
			t.Errorf("glob(%.20q, %.20q) = %v, want %v", tc.v, tc.p, got, tc.want)
		}
	}
}

// TestRunErrors checks that runs that cannot act return an error, for the
// caller to keep the message.
func TestRunErrors(t *testing.T) {
	for _, tc := range []struct {
		rfc, src, want string
	}{
		{"5429 §2.1", `require ["reject", "vacation"]; vacation "x"; reject "no";`, "1:47: reject cannot run with vacation"},
		{"5429 §2.1", `require "reject"; reject "a"; reject "b";`, "reject may run only once"},
		{"5230 §4.7", `require "vacation"; vacation "a"; vacation "b";`, "vacation may run only once"},
		{"5228 §4.2", strings.Repeat(`redirect "a@b.example"; redirect "c@b.example"; `, 1) + `redirect "d@b.example"; redirect "e@b.example"; redirect "f@b.example";`, "more than 4 redirects"},
		{"limit", `require ["fileinto"]; ` + func() string {
			var b strings.Builder
			for i := range 40 {
				fmt.Fprintf(&b, "fileinto \"f%d\"; ", i)
			}
			return b.String()
		}(), "more than 32 actions"},
	} {
		s, err := Parse([]byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Run(context.Background(), s, testMsg())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RFC %s: error %v, want %q", tc.rfc, err, tc.want)
		}
	}
	s, _ := Parse([]byte("keep;"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, s, testMsg()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
}

// BenchmarkRun runs a ten-rule script over a message.
func BenchmarkRun(b *testing.B) {
	src := `require ["fileinto", "envelope", "imap4flags", "copy"];
if header :contains "X-Spam-Flag" "yes" { fileinto "Junk"; stop; }
if address :domain :is "From" "lab.example" { fileinto "Labs"; }
if header :matches "Subject" "*[urgent]*" { addflag "\\Flagged"; }
if envelope :localpart :is "to" "secretariat" { fileinto :copy "Secretariat"; }
if size :over 5M { fileinto "Large"; }
if anyof (header :contains "List-Id" "staff", exists "List-Post") { fileinto "Lists"; }
if allof (address :is "To" "bob@hopital.example", not exists "Cc") { addflag "$Direct"; }
if header :is :comparator "i;octet" "X-Origin" "MSS" { fileinto "MSS"; }
if address :all :contains ["To", "Cc"] "clinic" { fileinto "Clinic"; }
if header :matches "Subject" "R?sultats*labo" { fileinto "Results"; }
`
	s, err := Parse([]byte(src))
	if err != nil {
		b.Fatal(err)
	}
	msg := testMsg()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(ctx, s, msg); err != nil {
			b.Fatal(err)
		}
	}
}
