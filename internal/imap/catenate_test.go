package imap

import (
	"reflect"
	"strings"
	"testing"

	"caduceus/internal/core/coretest"
)

// TestMultiAppend appends several messages in one APPEND, all or none
// (RFC 3502): their UIDs come back as one range; a fault in a later
// message appends nothing and leaves the connection in step.
func TestMultiAppend(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	one, two, three := "Subject: 1\r\n\r\nun\r\n", "Subject: 2\r\n\r\ndeux\r\n", "Subject: 3\r\n\r\ntrois\r\n"
	_, status := r.cmd("APPEND INBOX (\\Seen) " + lit(one) + " (\\Flagged) \"05-Mar-2024 10:11:12 +0100\" " + lit(two) + " " + lit(three))
	if !strings.HasPrefix(status, "OK [APPENDUID ") || !strings.Contains(status, " 1:3]") {
		t.Fatalf("MULTIAPPEND: %q, want OK [APPENDUID v 1:3]", status)
	}
	r.ok("SELECT INBOX")
	lines := r.ok("FETCH 1:3 (FLAGS INTERNALDATE BODY.PEEK[TEXT])")
	want := []string{
		`* 1 FETCH (FLAGS (\Seen \Recent)`, `* 2 FETCH (FLAGS (\Flagged \Recent) INTERNALDATE "05-Mar-2024 09:11:12 +0000" BODY[TEXT] {6}deux`, `* 3 FETCH (FLAGS (\Recent) `,
	}
	for i, w := range want {
		if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
			t.Errorf("FETCH line %d = %q, want it to start with %q", i, lines, w)
		}
	}
	// A bad flag in the second message: nothing is appended, the third
	// message's literal is skipped, the next command works.
	r.fails("APPEND INBOX "+lit(one)+" (\\Bogus) "+lit(two)+" "+lit(three), "BAD", "")
	r.fails("APPEND INBOX "+lit(one)+" "+lit(two)+" garbage", "BAD", "")
	if lines := r.ok("STATUS INBOX (MESSAGES)"); len(lines) != 1 || !strings.Contains(lines[0], "MESSAGES 3") {
		t.Fatalf("after refused MULTIAPPENDs: %q, want still 3 messages", lines)
	}
	r.fails("APPEND Nope "+lit(one)+" "+lit(two), "NO", "TRYCREATE")
	r.ok("NOOP")
}

// TestCatenate builds messages from parts of stored ones and text (RFC
// 4469), as imaptest's catenate group does, and refuses bad URLs with
// BADURL, skipping the rest of the command.
func TestCatenate(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	coretest.User(t, ts.svc, "bob", "Bob")
	r := ts.raw(t, "alice")
	r.ok("CREATE box")
	r.ok("CREATE box2")
	r.ok("APPEND box (\\Seen) CATENATE (TEXT " + lit("From: foo@example.com\r\n\r\nHello world body\r\n") + ")")
	r.ok("APPEND box CATENATE (TEXT " + lit("From: foo2@example.com\r\n\r\nLookslike: header\r\n\r\nAnother body\r\n") + ")")
	lines := r.ok("SELECT box")
	validity := ""
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "* OK [UIDVALIDITY "); ok {
			validity, _, _ = strings.Cut(v, "]")
		}
	}
	for _, add := range []string{
		`URL "/box/;uid=1/;section=header" TEXT ` + lit("body1\r\n"),
		`URL "/box;uidvalidity=` + validity + `/;UID=1/;SECTION=HEADER" TEXT ` + lit("body2\r\n"),
		`URL "/box/;uid=2/;section=text" TEXT ` + lit("body3\r\n"),
		`URL "/box/;uid=2/;section=1" TEXT ` + lit("body4\r\n"),
		`TEXT ` + lit("From: new@example.com\r\nSubject: test header\r\n\r\n") + ` URL "/box/;uid=1/;section=1" TEXT ` + lit("suffix\r\n"),
		`URL "/box/;uid=2/;partial=100000.1" TEXT ` + lit("Hdr: foo\r\n\r\nbody7\r\n"),
		`URL "imap://alice@imap.test/box/;uid=1/;section=header.fields%20(from)" TEXT ` + lit("\r\nbody8\r\n"),
		`URL "/box/;uid=1/;partial=6.17" TEXT ` + lit("\r\n"),
	} {
		r.ok("APPEND box2 CATENATE (" + add + ")")
	}
	for _, bad := range []string{
		`URL "/box;uidvalidity=12345/;uid=1/;section=header" TEXT ` + lit("body\r\n"),
		`TEXT ` + lit("hdr: 1\r\n\r\n") + ` URL "/box/;uid=1/;section=header" TEXT ` + lit("hdr: 2\r\n\r\n") + ` URL "/box/;uid=99" TEXT ` + lit("hdr: 3\r\n\r\n"),
		`URL "/box/;uid=1/;section=header" URL "/box/;uid=1/;section=bogus"`,
		`URL "imap://elsewhere.example/box/;uid=1"`,
		`URL "/box/;uid=1/;urlauth=anonymous:internal:0123"`,
		`URL "/Shared/bob@` + coretest.Domain + `/INBOX/;uid=1"`,
	} {
		r.fails("APPEND box2 CATENATE ("+bad+")", "NO", "BADURL")
	}
	r.fails(`APPEND nonexistent CATENATE (TEXT `+lit("hello\r\n")+` URL "/box/;uid=1/;section=1")`, "NO", "TRYCREATE")
	r.ok("SELECT box2")
	got := r.ok("FETCH 1:* BODY.PEEK[]")
	want := []string{
		"From: foo@example.com\r\n\r\nbody1\r\n",
		"From: foo@example.com\r\n\r\nbody2\r\n",
		"Lookslike: header\r\n\r\nAnother body\r\nbody3\r\n",
		"Lookslike: header\r\n\r\nAnother body\r\nbody4\r\n",
		"From: new@example.com\r\nSubject: test header\r\n\r\nHello world body\r\nsuffix\r\n",
		"Hdr: foo\r\n\r\nbody7\r\n",
		"From: foo@example.com\r\n\r\n\r\nbody8\r\n",
		"foo@example.com\r\n\r\n",
	}
	if len(got) != len(want) {
		t.Fatalf("box2 holds %d messages, want %d: %q", len(got), len(want), got)
	}
	for i, w := range want {
		if _, body, _ := strings.Cut(got[i], "}"); body != w+")" {
			t.Errorf("message %d = %q, want %q", i+1, body, w)
		}
	}
}

// lit is s as a non-synchronizing literal (RFC 7888).
func lit(s string) string { return "{" + itoa(uint32(len(s))) + "+}\r\n" + s }

// TestParseMessageURL parses the IMAP URLs a CATENATE may name (RFC 5092).
func TestParseMessageURL(t *testing.T) {
	tests := []struct {
		url  string
		ok   bool
		want messageURL
	}{
		{"/INBOX/;UID=7", true, messageURL{mailbox: "INBOX", uid: 7, section: &Section{}}},
		{"/Dossiers%20patients;UIDVALIDITY=42/;uid=3/;section=1.2.MIME/;partial=10.20", true,
			messageURL{mailbox: "Dossiers patients", uidValidity: 42, uid: 3, section: &Section{Part: []int{1, 2}, Specifier: "MIME"}, partial: &Partial{Offset: 10, Count: 20}}},
		{"imap://u@mail.test:993/a/;uid=1/;section=HEADER.FIELDS.NOT%20(To%20Cc)", true,
			messageURL{mailbox: "a", uid: 1, section: &Section{Specifier: "HEADER.FIELDS.NOT", Fields: []string{"To", "Cc"}}}},
		{"/a/;uid=1/;partial=5", true, messageURL{mailbox: "a", uid: 1, section: &Section{}, partial: &Partial{Offset: 5, Count: 1<<32 - 1}}},
		{"imap://other.test/a/;uid=1", false, messageURL{}},
		{"a/;uid=1", false, messageURL{}},
		{"/a/;uid=0", false, messageURL{}},
		{"/a", false, messageURL{}},
		{"/a/;uid=1/;section=0", false, messageURL{}},
		{"/a/;uid=1/;section=MIME", false, messageURL{}},
		{"/a/;uid=1/;section=1.", false, messageURL{}},
		{"/a/;uid=1/;expire=2030-01-01T00:00:00Z", false, messageURL{}},
		{"/a;uidvalidity=x/;uid=1", false, messageURL{}},
		{"/a/;uid=1/;partial=1.0", false, messageURL{}},
	}
	for _, tt := range tests {
		got, ok := parseMessageURL(tt.url, "mail.test")
		if ok != tt.ok || ok && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseMessageURL(%q) = %+v, %v; want %+v, %v", tt.url, got, ok, tt.want, tt.ok)
		}
	}
}
