package imap

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
	// SAVE keeps what MAX returns: the last message in sort order
	// (RFC 5182 §2.4).
	r.ok("SORT RETURN (SAVE MAX) (REVERSE SUBJECT) UTF-8 ALL")
	if lines := r.ok("SEARCH $"); len(lines) != 1 || lines[0] != "* SEARCH 3" {
		t.Errorf("SEARCH $ after SORT RETURN (SAVE MAX) = %q, want 3", lines)
	}
	for _, bad := range []string{
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

// TestSearchUpdate keeps searches live (RFC 5267 §4.2–4.3): the
// session's own STORE, EXPUNGE and APPEND and another session's changes
// are told as ESEARCH ADDTO and REMOVEFROM, REMOVEFROM before the EXPUNGE
// and ADDTO after the EXISTS, until CANCELUPDATE or the mailbox is closed.
func TestSearchUpdate(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	for i := range 5 {
		r.appendRaw("INBOX", "Subject: m"+strconv.Itoa(i+1)+"\r\n\r\nbanane\r\n")
	}
	other := ts.raw(t, "alice")
	other.ok("SELECT INBOX")
	r.ok("SELECT INBOX")
	seen := r.nextTag() // sequence numbers
	if lines := r.ok("SEARCH RETURN (UPDATE MIN) SEEN"); !slices.Equal(lines, []string{`* ESEARCH (TAG "` + seen + `")`}) {
		t.Fatalf("initial result %q", lines)
	}
	body := r.nextTag() // UIDs, with a full-text key
	if lines := r.ok("UID SEARCH RETURN (UPDATE ALL) BODY banane NOT FLAGGED"); !slices.Equal(lines, []string{`* ESEARCH (TAG "` + body + `") UID ALL 1:5`}) {
		t.Fatalf("initial result %q", lines)
	}
	esearch := func(tag, rest string) string { return `* ESEARCH (TAG "` + tag + `")` + rest }
	tests := []struct {
		name    string
		command string
		before  func()   // what another session does first
		want    []string // the ESEARCH lines and the EXPUNGE and EXISTS among the untagged ones, in order
	}{
		{"own store", "STORE 2,4 +FLAGS (\\Seen)", nil, []string{esearch(seen, " ADDTO (0 2,4)")}},
		{"own store, both searches", "STORE 2 +FLAGS.SILENT (\\Flagged)\r\n", nil, []string{esearch(body, " UID REMOVEFROM (0 2)")}},
		{"other session's store", "NOOP", func() { other.ok("STORE 1 +FLAGS (\\Seen)") }, []string{esearch(seen, " ADDTO (0 1)")}},
		{"own expunge", "EXPUNGE", func() { r.ok("STORE 1 +FLAGS.SILENT (\\Deleted)") }, []string{esearch(seen, " REMOVEFROM (0 1)"), esearch(body, " UID REMOVEFROM (0 1)"), "* 1 EXPUNGE"}},
		// The other session still numbers UID 2 as 2, this one as 1.
		{"other session's expunge", "NOOP", func() { other.ok("STORE 2 +FLAGS.SILENT (\\Deleted)"); other.ok("EXPUNGE") }, []string{esearch(seen, " REMOVEFROM (0 1)"), "* 1 EXPUNGE"}},
		{"other session's append", "NOOP", func() { other.appendRaw("INBOX", "Subject: m6\r\n\r\nbanane\r\n") }, []string{"* 4 EXISTS", esearch(body, " UID ADDTO (0 6)")}},
		{"own append", "APPEND INBOX {21+}\r\nSubject: m7\r\n\r\nbanane", nil, []string{"* 5 EXISTS", esearch(body, " UID ADDTO (0 7)")}},
		{"a change no result sees", "STORE 3 +FLAGS (\\Answered)", nil, nil},
	}
	for _, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		var got []string
		for _, l := range r.ok(tt.command) {
			if strings.HasPrefix(l, "* ESEARCH") || strings.HasSuffix(l, " EXPUNGE") || strings.HasSuffix(l, " EXISTS") {
				got = append(got, l)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}

	r.ok(`CANCELUPDATE "` + seen + `"`)
	r.fails(`CANCELUPDATE "`+seen+`"`, "BAD", "")
	if lines := withPrefix(r.ok("STORE 1:* +FLAGS (\\Seen)"), "* ESEARCH"); len(lines) != 0 {
		t.Errorf("after CANCELUPDATE: %q", lines)
	}
	r.write(body + " SEARCH RETURN (UPDATE) ALL\r\n")
	if _, status := r.until(body); !strings.HasPrefix(status, "BAD") {
		t.Errorf("a second live search with tag %s: %s", body, status)
	}
	r.ok("UNSELECT")
	r.fails(`CANCELUPDATE "`+body+`"`, "BAD", "")
	r.ok("SELECT INBOX")
	if lines := withPrefix(r.ok("STORE 1:* +FLAGS (\\Flagged)"), "* ESEARCH"); len(lines) != 0 {
		t.Errorf("after UNSELECT: %q", lines)
	}
}

// TestSearchUpdateLimits refuses updates past maxSearchUpdates live
// searches, of a PARTIAL result and of keys on sequence numbers or "$",
// with NOUPDATE (RFC 5267 §4.2); the search itself is answered.
func TestSearchUpdateLimits(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.appendRaw("INBOX", "Subject: x\r\n\r\nx\r\n")
	r.ok("SELECT INBOX")
	refused := func(command string) {
		t.Helper()
		tag := r.nextTag()
		want := []string{`* NO [NOUPDATE "` + tag + `"]`, `* ESEARCH (TAG "` + tag + `")`}
		lines := r.ok(command)
		if len(lines) != 2 || !strings.HasPrefix(lines[0], want[0]) || !strings.HasPrefix(lines[1], want[1]) {
			t.Errorf("%s = %q, want %q…", command, lines, want)
		}
	}
	refused("SEARCH RETURN (UPDATE PARTIAL 1:2) ALL")
	refused("SEARCH RETURN (UPDATE) 1:3")
	refused("SEARCH RETURN (UPDATE) OR SEEN UID $")
	for range maxSearchUpdates {
		if lines := withPrefix(r.ok("UID SEARCH RETURN (UPDATE) UID 1:*"), "* NO"); len(lines) != 0 {
			t.Fatalf("refused early: %q", lines)
		}
	}
	refused("SEARCH RETURN (UPDATE COUNT) ALL")
}

// TestSearchUpdateDuringIdle tells a live search's changes made by
// another session while the client idles.
func TestSearchUpdateDuringIdle(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.appendRaw("INBOX", "Subject: x\r\n\r\nx\r\n")
	other := ts.raw(t, "alice")
	other.ok("SELECT INBOX")
	r.ok("SELECT INBOX")
	tag := r.nextTag()
	r.ok("UID SEARCH RETURN (UPDATE) FLAGGED")
	r.write("idle IDLE\r\n")
	r.waitFor(`^\+`, 5*time.Second)
	other.ok("STORE 1 +FLAGS (\\Flagged)")
	want := `* ESEARCH (TAG "` + tag + `") UID ADDTO (0 1)`
	if got := r.waitFor(`ESEARCH`, 5*time.Second); got != want {
		t.Errorf("during IDLE: %q, want %q", got, want)
	}
	r.write("DONE\r\n")
	r.until("idle")
}

// TestOrderedSet writes results in their order, runs of consecutive
// ascending numbers as ranges.
func TestOrderedSet(t *testing.T) {
	tests := []struct {
		nums []uint32
		want string
	}{
		{nil, ""},
		{[]uint32{7}, "7"},
		{[]uint32{1, 2, 3, 5}, "1:3,5"},
		{[]uint32{3, 4, 5, 1, 2}, "3:5,1:2"},
		{[]uint32{4, 3, 2}, "4,3,2"},
	}
	for _, tt := range tests {
		if got := orderedSet(tt.nums); got != tt.want {
			t.Errorf("orderedSet(%v) = %q, want %q", tt.nums, got, tt.want)
		}
	}
}

// TestSearchUpdateEnter checks what a live search has left to tell after
// messages enter and leave its result: a change undone before it is told
// is not told at all.
func TestSearchUpdateEnter(t *testing.T) {
	type step struct {
		uid   uint32
		match bool
	}
	tests := []struct {
		name        string
		result      []uint32
		steps       []step
		add, remove []uint32
	}{
		{"enters", nil, []step{{1, true}}, []uint32{1}, nil},
		{"leaves", []uint32{1}, []step{{1, false}}, nil, []uint32{1}},
		{"still in", []uint32{1}, []step{{1, true}}, nil, nil},
		{"still out", nil, []step{{1, false}}, nil, nil},
		{"enters and leaves", nil, []step{{1, true}, {1, false}}, nil, nil},
		{"leaves and comes back", []uint32{1}, []step{{1, false}, {1, true}}, nil, nil},
		{"several", []uint32{1, 2}, []step{{2, false}, {3, true}, {4, true}, {1, true}}, []uint32{3, 4}, []uint32{2}},
	}
	for _, tt := range tests {
		u := &searchUpdate{result: map[uint32]bool{}, add: map[uint32]bool{}, remove: map[uint32]bool{}}
		for _, uid := range tt.result {
			u.result[uid] = true
		}
		for _, s := range tt.steps {
			u.enter(s.uid, s.match)
		}
		if add := slices.Sorted(maps.Keys(u.add)); !slices.Equal(add, tt.add) {
			t.Errorf("%s: to add %v, want %v", tt.name, add, tt.add)
		}
		if remove := slices.Sorted(maps.Keys(u.remove)); !slices.Equal(remove, tt.remove) {
			t.Errorf("%s: to remove %v, want %v", tt.name, remove, tt.remove)
		}
	}
}
