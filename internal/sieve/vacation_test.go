package sieve

import (
	"strings"
	"testing"
	"time"
)

// TestReplyTo checks when a vacation may answer (RFC 3834 §2, RFC 5230 §4.5, §4.6).
func TestReplyTo(t *testing.T) {
	own := []string{"bob@hopital.example"}
	base := "From: alice@example.org\r\nTo: bob@hopital.example\r\nSubject: hi\r\n"
	for _, tc := range []struct {
		rfc, header, from, why string
	}{
		{"3834 §2", base, "alice@example.org", ""},
		{"3834 §2 null sender", base, "", "null sender"},
		{"5230 §4.6 MAILER-DAEMON", base, "MAILER-DAEMON@example.org", "mail system"},
		{"5230 §4.6 owner-", base, "owner-staff@example.org", "list"},
		{"5230 §4.6 -request", base, "staff-request@example.org", "list"},
		{"3834 §2 Auto-Submitted", base + "Auto-Submitted: auto-replied\r\n", "alice@example.org", "auto-submitted"},
		{"3834 §2 Auto-Submitted: no", base + "Auto-Submitted: no\r\n", "alice@example.org", ""},
		{"3834 §2 List-Id", base + "List-Id: <staff.example.org>\r\n", "alice@example.org", "list"},
		{"3834 §2 Precedence bulk", base + "Precedence: bulk\r\n", "alice@example.org", "precedence bulk"},
		{"3834 §2 Precedence list", base + "Precedence: List\r\n", "alice@example.org", "precedence list"},
		{"3834 §2 Precedence junk", base + "Precedence: junk\r\n", "alice@example.org", "precedence junk"},
		{"5230 §4.5 own address", base, "Bob@hopital.example", "from the recipient"},
		{"5230 §4.5 not named", "From: alice@example.org\r\nTo: staff@hopital.example\r\n", "alice@example.org", "not named"},
		{"5230 §4.5 :addresses", "From: alice@example.org\r\nTo: robert@hopital.example\r\n", "alice@example.org", ""},
		{"5230 §4.5 Cc", "From: alice@example.org\r\nTo: x@y.example\r\nCc: Bob <bob@hopital.example>\r\n", "alice@example.org", ""},
	} {
		v := &Vacation{Addresses: []string{"robert@hopital.example"}}
		to, why := v.ReplyTo(NewMessage([]byte(tc.header+"\r\nbody"), tc.from, "bob@hopital.example", 10), own)
		if tc.why == "" && (to != tc.from || why != "") || tc.why != "" && (to != "" || !strings.Contains(why, tc.why)) {
			t.Errorf("RFC %s: ReplyTo = %q, %q; want why %q", tc.rfc, to, why, tc.why)
		}
	}
}

func TestCompose(t *testing.T) {
	msg := NewMessage([]byte("From: alice@example.org\r\nSubject: Lab results\r\nMessage-ID: <m1@x>\r\nReferences: <m0@x>\r\n\r\n"), "alice@example.org", "bob@hopital.example", 10)
	v := &Vacation{Reason: "Away until Monday.\n"}
	got := string(v.Compose(msg, Reply{From: "bob@hopital.example", To: "alice@example.org", MessageID: "<r1@h>", Date: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}))
	for _, want := range []string{
		"From: bob@hopital.example\r\n", "To: <alice@example.org>\r\n", "Subject: Auto: Lab results\r\n",
		"In-Reply-To: <m1@x>\r\n", "References: <m0@x> <m1@x>\r\n", "Auto-Submitted: auto-replied\r\n",
		"Message-ID: <r1@h>\r\n", "\r\n\r\nAway until Monday.\r\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("reply lacks %q:\n%s", want, got)
		}
	}
	v = &Vacation{Reason: "Content-Type: text/plain\r\n\r\nAway", MIME: true, Subject: "Absent", From: "sec@hopital.example"}
	got = string(v.Compose(msg, Reply{From: "bob@hopital.example", To: "alice@example.org", MessageID: "<r2@h>", Date: time.Now()}))
	if !strings.Contains(got, "From: sec@hopital.example\r\n") || !strings.Contains(got, "Subject: Absent\r\n") || !strings.Contains(got, "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nAway") {
		t.Errorf("mime reply:\n%s", got)
	}
}

// TestKey checks the once-per-period identity (RFC 5230 §4.2).
func TestKey(t *testing.T) {
	a, b := &Vacation{Reason: "x"}, &Vacation{Reason: "y"}
	if a.Key() == b.Key() {
		t.Error("different reasons share a key")
	}
	if (&Vacation{Reason: "x", Handle: "h"}).Key() != (&Vacation{Reason: "y", Handle: "h"}).Key() {
		t.Error("same handle, different keys")
	}
}
