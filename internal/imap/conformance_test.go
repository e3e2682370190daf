package imap

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"caduceus/internal/core/coretest"
)

// These tests hold behaviours that Dovecot's imaptest checks (its scripted
// groups and the state tracking of its stress mode, scripts/imaptest.sh),
// each against a real server on loopback.

// indexOf returns the index of the first line with prefix, or -1.
func indexOf(lines []string, prefix string) int {
	return slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

// TestKeywordAnnouncedBeforeUse checks that a keyword reaches a FETCH
// response only after an untagged FLAGS (and PERMANENTFLAGS) naming it,
// whether the keyword comes from this connection's STORE or from another
// connection's (RFC 9051 §7.3.5, §2.3.2).
func TestKeywordAnnouncedBeforeUse(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.appendRaw("INBOX", testMsg)
	r.appendRaw("INBOX", testMsg)
	other := ts.raw(t, "alice")
	other.ok("SELECT INBOX")
	r.ok("SELECT INBOX")

	lines := r.ok("STORE 1 +FLAGS ($Label1)")
	flags, fetch := indexOf(lines, "* FLAGS ("), indexOf(lines, "* 1 FETCH")
	if flags < 0 || fetch < flags || !strings.Contains(lines[flags], "$Label1") {
		t.Fatalf("STORE of a new keyword = %q; want * FLAGS naming $Label1 before the FETCH", lines)
	}
	if perm := indexOf(lines, "* OK [PERMANENTFLAGS ("); perm < 0 || perm > fetch || !strings.Contains(lines[perm], "$Label1") {
		t.Errorf("STORE of a new keyword = %q; want PERMANENTFLAGS naming $Label1 before the FETCH", lines)
	}
	if lines := r.ok("STORE 2 +FLAGS ($Label1)"); indexOf(lines, "* FLAGS") >= 0 {
		t.Errorf("second use of a known keyword = %q; want no new FLAGS", lines)
	}

	lines = other.ok("NOOP")
	flags, fetch = indexOf(lines, "* FLAGS ("), indexOf(lines, "* 1 FETCH")
	if flags < 0 || fetch < flags || !strings.Contains(lines[flags], "$Label1") {
		t.Errorf("NOOP after another connection's keyword = %q; want * FLAGS naming $Label1 before the FETCH", lines)
	}
	lines = other.ok("FETCH 1:2 (FLAGS)")
	if indexOf(lines, "* FLAGS") >= 0 || indexOf(lines, `* 2 FETCH (FLAGS ($Label1 \Recent))`) < 0 {
		t.Errorf("FETCH after the announcement = %q; want the flags and no second FLAGS", lines)
	}
}

// TestRecentInOneSession checks \Recent (RFC 3501 §2.3.2): a new message
// is recent in exactly one session, the first read-write one told of it;
// EXAMINE and STATUS show the count without taking it; SEARCH RECENT, NEW
// and OLD follow; an IMAP4rev2 client hears nothing of it.
func TestRecentInOneSession(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.ok("CREATE Box")
	r.appendRaw("Box", testMsg)
	r.appendRaw("Box", testMsg)

	if lines := r.ok("EXAMINE Box"); indexOf(lines, "* 2 RECENT") < 0 || indexOf(lines, "* OK [UNSEEN 1]") < 0 {
		t.Errorf("EXAMINE = %q; want 2 RECENT and UNSEEN 1", lines)
	}
	if lines := r.ok("FETCH 1 (FLAGS)"); strings.Join(lines, "|") != `* 1 FETCH (FLAGS (\Recent))` {
		t.Errorf("FETCH after EXAMINE = %q, want \\Recent", lines)
	}
	r.ok("CLOSE")
	other := ts.raw(t, "alice")
	if lines := other.ok("STATUS Box (RECENT)"); strings.Join(lines, "|") != `* STATUS "Box" (RECENT 2)` {
		t.Errorf("STATUS after EXAMINE = %q, want RECENT 2: EXAMINE takes nothing", lines)
	}
	if lines := r.ok("SELECT Box"); indexOf(lines, "* 2 RECENT") < 0 {
		t.Errorf("SELECT = %q; want 2 RECENT", lines)
	}
	if lines := other.ok("STATUS Box (RECENT)"); strings.Join(lines, "|") != `* STATUS "Box" (RECENT 0)` {
		t.Errorf("STATUS after SELECT = %q, want RECENT 0", lines)
	}
	if lines := other.ok("SELECT Box"); indexOf(lines, "* 0 RECENT") < 0 {
		t.Errorf("second SELECT = %q; want 0 RECENT", lines)
	}

	// A message arriving while both sessions are selected is recent in
	// the first one told of it only.
	r.ok(`STORE 1 +FLAGS (\Seen)`)
	third := ts.raw(t, "alice")
	third.appendRaw("Box", testMsg)
	lines := r.ok("NOOP")
	if indexOf(lines, "* 3 EXISTS") < 0 || indexOf(lines, "* 3 RECENT") < 0 {
		t.Errorf("NOOP in the first session = %q; want 3 EXISTS and 3 RECENT", lines)
	}
	if lines := other.ok("NOOP"); indexOf(lines, "* 3 EXISTS") < 0 || indexOf(lines, "RECENT") >= 0 {
		t.Errorf("NOOP in the second session = %q; want 3 EXISTS and no RECENT", lines)
	}
	if lines := other.ok("FETCH 3 (FLAGS)"); strings.Join(lines, "|") != `* 3 FETCH (FLAGS ())` {
		t.Errorf("FETCH in the second session = %q; want no \\Recent", lines)
	}
	for _, c := range []struct{ search, want string }{
		{"SEARCH RECENT", "* SEARCH 1 2 3"},
		{"SEARCH NEW", "* SEARCH 2 3"},
		{"SEARCH OLD", "* SEARCH"},
	} {
		if lines := r.ok(c.search); strings.Join(lines, "|") != c.want {
			t.Errorf("%s = %q, want %q", c.search, lines, c.want)
		}
	}

	rev2 := ts.raw(t, "alice")
	rev2.ok("ENABLE IMAP4rev2")
	third.appendRaw("Box", testMsg)
	if lines := rev2.ok("SELECT Box"); indexOf(lines, "RECENT") >= 0 || indexOf(lines, "UNSEEN") >= 0 {
		t.Errorf("SELECT with IMAP4rev2 = %q; want no RECENT nor UNSEEN", lines)
	}
	if lines := rev2.ok("FETCH 4 (FLAGS)"); strings.Contains(strings.Join(lines, "|"), `\Recent`) {
		t.Errorf("FETCH with IMAP4rev2 = %q; want no \\Recent", lines)
	}
}

// TestSearchFieldsAsWritten checks SEARCH on header fields as imaptest's
// search-addresses, search-header and search-date groups do (RFC 3501
// §6.4.4): an address matches without its comments, the empty string
// matches only messages that have the field, and SENT* compare the date
// written in the sender's time zone, not the instant in UTC.
func TestSearchFieldsAsWritten(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.appendRaw("INBOX", "From: <user-from (comment)@ (comment) domain.org> (UserFrom)\r\nSubject: hello\r\n"+
		"Date: Sun, 25 Mar 2007 00:30:00 +0200\r\n\r\nbody\r\n")
	r.appendRaw("INBOX", "From: other@example.org\r\nDate: Sat, 24 Mar 2007 23:30:00 -0100\r\n\r\nbody\r\n")
	r.ok("SELECT INBOX")
	for _, c := range []struct{ search, want string }{
		{"SEARCH FROM user-from@domain.org", "* SEARCH 1"},
		{"SEARCH FROM userfrom", "* SEARCH 1"},
		{`SEARCH SUBJECT ""`, "* SEARCH 1"},
		{`SEARCH NOT SUBJECT ""`, "* SEARCH 2"},
		{`SEARCH FROM ""`, "* SEARCH 1 2"},
		{"SEARCH SENTON 25-Mar-2007", "* SEARCH 1"},
		{"SEARCH SENTON 24-Mar-2007", "* SEARCH 2"},
		{"SEARCH SENTBEFORE 25-Mar-2007", "* SEARCH 2"},
		{"SEARCH SENTSINCE 25-Mar-2007", "* SEARCH 1"},
	} {
		if lines := r.ok(c.search); strings.Join(lines, "|") != c.want {
			t.Errorf("%s = %q, want %q", c.search, lines, c.want)
		}
	}
}

// TestMoveWithinMailbox checks that MOVE to the selected mailbox itself
// works (RFC 6851 §3.3): COPYUID with the new UID, the EXPUNGE of the old
// message, then its new EXISTS.
func TestMoveWithinMailbox(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.appendRaw("INBOX", testMsg)
	r.ok("SELECT INBOX")
	lines := r.ok("MOVE 1 INBOX")
	copyuid, expunge, exists := indexOf(lines, "* OK [COPYUID "), indexOf(lines, "* 1 EXPUNGE"), indexOf(lines, "* 1 EXISTS")
	if copyuid < 0 || !strings.Contains(lines[copyuid], " 1 2]") || expunge < copyuid || exists < expunge {
		t.Errorf("MOVE 1 INBOX = %q; want COPYUID 1 to 2, then EXPUNGE, then EXISTS", lines)
	}
	if lines := r.ok("UID SEARCH ALL"); strings.Join(lines, "|") != "* SEARCH 2" {
		t.Errorf("after MOVE within INBOX: %q, want the message under UID 2 only", lines)
	}
}

// TestESearchModSeqOfReturned checks that ESEARCH RETURN (MIN) or (MAX)
// with a MODSEQ key tells the MODSEQ of the returned message, not of every
// match (RFC 7162 §3.1.5, RFC 4731).
func TestESearchModSeqOfReturned(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	for range 3 {
		r.appendRaw("INBOX", testMsg)
	}
	r.ok("SELECT INBOX (CONDSTORE)")
	mods := map[string]string{}
	for _, seq := range []string{"1", "3", "2"} {
		lines := r.ok("STORE " + seq + ` +FLAGS (\Seen)`)
		i := strings.Index(lines[0], "MODSEQ (")
		mods[seq] = strings.TrimSuffix(strings.TrimSuffix(lines[0][i+len("MODSEQ ("):], ")"), ")")
	}
	for _, c := range []struct{ ret, want string }{
		{"(MIN)", "MIN 1 MODSEQ " + mods["1"]},
		{"(MAX)", "MAX 3 MODSEQ " + mods["3"]},
		{"(MIN MAX)", "MIN 1 MAX 3 MODSEQ " + mods["3"]},
		{"()", "ALL 1:3 MODSEQ " + mods["2"]},
	} {
		lines := r.ok("SEARCH RETURN " + c.ret + ` MODSEQ "/flags/\\seen" all 1`)
		if len(lines) != 1 || !strings.HasSuffix(lines[0], ") "+c.want) {
			t.Errorf("SEARCH RETURN %s = %q, want %q", c.ret, lines, c.want)
		}
	}
}

// TestBinaryWholeMessage checks that BINARY[] and BINARY.SIZE[] name the
// whole message (RFC 3516 §4.1), which a multipart message gives as it is,
// as imaptest's fetch-binary-mime group does.
func TestBinaryWholeMessage(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	msg := "From: user@example.org\r\nMime-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"prologue\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"
	r.appendRaw("INBOX", msg)
	r.ok("SELECT INBOX")
	size := strconv.Itoa(len(msg))
	if lines := r.ok("FETCH 1 (BINARY.SIZE[])"); strings.Join(lines, "|") != "* 1 FETCH (BINARY.SIZE[] "+size+")" {
		t.Errorf("BINARY.SIZE[] = %q, want %s", lines, size)
	}
	lines := r.ok("FETCH 1 (BINARY.PEEK[])")
	if len(lines) != 1 || lines[0] != "* 1 FETCH (BINARY[] {"+size+"}"+msg+")" {
		t.Errorf("BINARY.PEEK[] = %q, want the whole message as a %s-byte literal", lines, size)
	}
}

// TestLsubPercentParent checks that LSUB with "%" returns an unsubscribed
// parent of a subscribed mailbox, flagged \Noselect (RFC 3501 §6.3.9), as
// imaptest's subscribe group asks.
func TestLsubPercentParent(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.ok("CREATE Parent/Child")
	r.ok("UNSUBSCRIBE Parent")
	r.ok("SUBSCRIBE Parent/Child")
	lines := r.ok(`LSUB "" Parent%`)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], `* LSUB (\Noselect`) || !strings.HasSuffix(lines[0], ` "/" "Parent"`) {
		t.Errorf(`LSUB "" Parent%% = %q; want Parent, \Noselect`, lines)
	}
	if lines := r.ok(`LSUB "" Parent*`); indexOf(lines, `* LSUB (\Noselect`) >= 0 || len(lines) != 1 {
		t.Errorf(`LSUB "" Parent* = %q; want Parent/Child alone`, lines)
	}
	r.ok("UNSUBSCRIBE Parent/Child")
	if lines := r.ok(`LSUB "" Parent%`); len(lines) != 0 {
		t.Errorf(`LSUB "" Parent%% with nothing subscribed = %q, want nothing`, lines)
	}
}

// TestCreateDoesNotSubscribe follows imaptest's subscribe group: IMAP
// CREATE subscribes nothing, parents made along the way included, so LSUB
// shows only what the client subscribed, and a parent of a subscribed
// mailbox as \Noselect (RFC 9051 §6.3.4, §6.3.7; RFC 3501 §6.3.9).
func TestCreateDoesNotSubscribe(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	for _, name := range []string{"box/", "box/test", "box/test2/", "box/test3/", "box/test2/test", "box/test3/test3", "deep/a/b"} {
		r.ok("CREATE " + name)
	}
	if lines := r.ok(`LSUB "" *`); len(lines) != 6 || indexOf(lines, `* LSUB (\HasNoChildren) "/" "INBOX"`) != 0 {
		t.Fatalf("LSUB after CREATE alone = %q, want INBOX and the 5 special folders alone", lines)
	}
	for _, name := range []string{"box/test", "box/test2/test", "box/test3/test3"} {
		r.ok("SUBSCRIBE " + name)
	}
	want := []string{`* LSUB (\HasNoChildren) "/" "box/test"`,
		`* LSUB (\Noselect \HasChildren) "/" "box/test2"`, `* LSUB (\Noselect \HasChildren) "/" "box/test3"`}
	if lines := r.ok(`LSUB "" box/%`); !slices.Equal(lines, want) {
		t.Errorf("LSUB box/%% = %q, want %q", lines, want)
	}
	if lines := r.ok(`LSUB "" *test`); !slices.Equal(lines, []string{`* LSUB (\HasNoChildren) "/" "box/test"`, `* LSUB (\HasNoChildren) "/" "box/test2/test"`}) {
		t.Errorf("LSUB *test = %q", lines)
	}
	r.ok("UNSUBSCRIBE box/test2/test")
	if lines := r.ok(`LSUB "" box/*`); !slices.Equal(lines, []string{`* LSUB (\HasNoChildren) "/" "box/test"`, `* LSUB (\HasNoChildren) "/" "box/test3/test3"`}) {
		t.Errorf("LSUB box/* = %q", lines)
	}
	if lines := r.ok(`LIST "" deep/%`); !slices.Equal(lines, []string{`* LIST (\HasChildren) "/" "deep/a"`}) {
		t.Errorf("LIST deep/%% = %q", lines)
	}
}

// TestCondstoreEnabledSelected: a CONDSTORE-enabling command in the
// selected state tells the highest mod-sequence first, once (RFC 7162
// §3.1), as imaptest's esearch-condstore group asks.
func TestCondstoreEnabledSelected(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.appendRaw("INBOX", testMsg)
	r.ok("SELECT INBOX")
	lines := r.ok("FETCH 1 MODSEQ")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "* OK [HIGHESTMODSEQ ") || !strings.HasPrefix(lines[1], "* 1 FETCH (MODSEQ (") {
		t.Fatalf("first FETCH MODSEQ = %q, want OK [HIGHESTMODSEQ n] then the FETCH", lines)
	}
	if lines := r.ok("SEARCH MODSEQ 1"); len(lines) != 1 || strings.Contains(lines[0], "HIGHESTMODSEQ") {
		t.Fatalf("SEARCH MODSEQ after CONDSTORE is on = %q, want no second HIGHESTMODSEQ", lines)
	}
}

// TestBinarySectionText: BINARY and BINARY.SIZE take a section text as
// BODY does (TEXT, HEADER, MIME, HEADER.FIELDS), as Dovecot and imaptest's
// fetch-binary-mime group do; a part number still decodes.
func TestBinarySectionText(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	msg := "From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n"
	r.appendRaw("INBOX", msg)
	r.ok("SELECT INBOX")
	text := msg[strings.Index(msg, "\r\n\r\n")+4:]
	tests := []struct{ command, want string }{
		{"FETCH 1 (BINARY.SIZE[TEXT])", "* 1 FETCH (BINARY.SIZE[TEXT] " + strconv.Itoa(len(text)) + ")"},
		{"FETCH 1 (BINARY.PEEK[TEXT])", "* 1 FETCH (BINARY[TEXT] {" + strconv.Itoa(len(text)) + "}" + text + ")"},
		{"FETCH 1 (BINARY.PEEK[1.MIME])", "* 1 FETCH (BINARY[1.MIME] {63}Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n)"},
		{"FETCH 1 (BINARY.SIZE[HEADER.FIELDS (SUBJECT)])", `* 1 FETCH (BINARY.SIZE[HEADER.FIELDS (SUBJECT)] 14)`},
		{"FETCH 1 (BINARY.PEEK[1])", "* 1 FETCH (BINARY[1] {5}hello)"},
	}
	for _, tt := range tests {
		if lines := r.ok(tt.command); len(lines) != 1 || lines[0] != tt.want {
			t.Errorf("%s = %q, want %q", tt.command, lines, tt.want)
		}
	}
}
