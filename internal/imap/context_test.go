package imap

import (
	"strconv"
	"testing"

	"caduceus/internal/core/coretest"
)

// nextTag is the tag the next command of r will carry.
func (r *rawClient) nextTag() string { return "t" + strconv.Itoa(r.tag+1) }

// TestESort answers SORT with RETURN options as ESEARCH (RFC 5267 §3):
// MIN and MAX are the first and last message in sort order, ALL and
// PARTIAL keep that order.
func TestESort(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	for _, subject := range []string{"Banane", "Cerise", "Abricot", "Datte"} {
		r.appendRaw("INBOX", "Subject: "+subject+"\r\n\r\nx\r\n")
	}
	r.ok("SELECT INBOX")
	tests := []struct{ command, want string }{
		{"SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL", " MIN 3 MAX 4 COUNT 4"},
		{"SORT RETURN (ALL) (SUBJECT) UTF-8 ALL", " ALL 3,1:2,4"},
		{"SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL", " ALL 4,2,1,3"},
		{"UID SORT RETURN (COUNT) (ARRIVAL) US-ASCII NOT SUBJECT cerise", " UID COUNT 3"},
		{"SORT RETURN (PARTIAL 2:3) (SUBJECT) UTF-8 ALL", " PARTIAL (2:3 1:2)"},
		{"SORT RETURN (PARTIAL 9:3 COUNT) (SUBJECT) UTF-8 ALL", " PARTIAL (3:9 2,4) COUNT 4"},
		{"SORT RETURN (MIN) (SUBJECT) UTF-8 SUBJECT nothing", ""},
	}
	for _, tt := range tests {
		want := `* ESEARCH (TAG "` + r.nextTag() + `")` + tt.want
		if lines := r.ok(tt.command); len(lines) != 1 || lines[0] != want {
			t.Errorf("%s = %q, want %q", tt.command, lines, want)
		}
	}
	for _, bad := range []string{
		"SORT RETURN (SAVE) (SUBJECT) UTF-8 ALL",
		"SORT RETURN (UPDATE) (SUBJECT) UTF-8 ALL",
		"SORT RETURN (PARTIAL 1:2 ALL) (SUBJECT) UTF-8 ALL",
	} {
		r.fails(bad, "BAD", "")
	}
}

// TestSearchPartial returns a window of the result (RFC 5267 §4.4):
// positions in either order, NIL past the end, BAD for what is not a
// range of two positive numbers.
func TestSearchPartial(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	for i := range 6 {
		r.appendRaw("INBOX", "Subject: m"+strconv.Itoa(i+1)+"\r\n\r\nx\r\n")
	}
	r.ok("SELECT INBOX")
	r.ok("STORE 2 +FLAGS (\\Seen)")
	tests := []struct{ command, want string }{
		{"SEARCH RETURN (PARTIAL 1:1) ALL", " PARTIAL (1:1 1)"},
		{"SEARCH RETURN (PARTIAL 4:2) ALL", " PARTIAL (2:4 2:4)"},
		{"SEARCH RETURN (PARTIAL 2:3) UNSEEN", " PARTIAL (2:3 3:4)"},
		{"SEARCH RETURN (COUNT PARTIAL 5:100) UNSEEN", " COUNT 5 PARTIAL (5:100 6)"},
		{"UID SEARCH RETURN (PARTIAL 7:8) ALL", " UID PARTIAL (7:8 NIL)"},
		{"SEARCH RETURN (MIN PARTIAL 1:2) SEEN", " MIN 2 PARTIAL (1:2 2)"},
	}
	for _, tt := range tests {
		want := `* ESEARCH (TAG "` + r.nextTag() + `")` + tt.want
		if lines := r.ok(tt.command); len(lines) != 1 || lines[0] != want {
			t.Errorf("%s = %q, want %q", tt.command, lines, want)
		}
	}
	for _, bad := range []string{
		"SEARCH RETURN (PARTIAL 1) ALL",
		"SEARCH RETURN (PARTIAL 1:*) ALL",
		"SEARCH RETURN (PARTIAL *:1) ALL",
		"SEARCH RETURN (PARTIAL 0:3) ALL",
		"SEARCH RETURN (PARTIAL) ALL",
		"SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL",
		"SEARCH RETURN (ALL PARTIAL 1:2) ALL",
	} {
		r.fails(bad, "BAD", "")
	}
}
