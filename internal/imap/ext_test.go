package imap

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"caduceus/internal/core/coretest"
)

// The tests of this file speak the extensions the server advertises, one
// test (or more) each; caps_test.go checks that none is left untested.

// sampleMessage builds a small message with the given header fields.
func sampleMessage(subject, id, refs, date string) string {
	var b strings.Builder
	b.WriteString("From: Dr House <house@example.org>\r\nTo: alice@" + coretest.Domain + "\r\n")
	b.WriteString("Subject: " + subject + "\r\n")
	if id != "" {
		b.WriteString("Message-ID: " + id + "\r\n")
	}
	if refs != "" {
		b.WriteString("References: " + refs + "\r\n")
	}
	if date != "" {
		b.WriteString("Date: " + date + "\r\n")
	}
	b.WriteString("\r\nCorps du message.\r\n")
	return b.String()
}

// TestLiteralPlus sends LOGIN and APPEND with non-synchronizing literals
// (RFC 7888): the server asks for nothing and takes them; a synchronizing
// literal still gets its continuation request.
func TestLiteralPlus(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "")
	user := "alice@" + coretest.Domain
	r.write(fmt.Sprintf("a LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n", len(user), user, len(coretest.Password), coretest.Password))
	lines, status := r.until("a")
	if !strings.HasPrefix(status, "OK") || len(withPrefix(lines, "+")) > 0 {
		t.Fatalf("LOGIN with LITERAL+ = %q, %q", lines, status)
	}
	if status := r.appendRaw("INBOX", testMsg); !strings.Contains(status, "[APPENDUID ") {
		t.Errorf("APPEND with LITERAL+ = %q, want APPENDUID", status)
	}
	r.write(fmt.Sprintf("b APPEND INBOX {%d}\r\n", len(testMsg)))
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("synchronizing literal answered %q, want a continuation request", l)
	}
	r.write(testMsg + "\r\n")
	if _, status := r.until("b"); !strings.HasPrefix(status, "OK") {
		t.Fatalf("APPEND = %q", status)
	}
	if lines := r.ok(`STATUS INBOX (MESSAGES)`); lines[0] != `* STATUS "INBOX" (MESSAGES 2)` {
		t.Errorf("STATUS = %q", lines)
	}
}

// TestAuthenticatePlain logs in with AUTHENTICATE PLAIN, with an initial
// response (SASL-IR, RFC 4959) and after a continuation (RFC 4616).
func TestAuthenticatePlain(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	c, err := imapclient.DialStartTLS(ts.addr, &imapclient.Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if caps := c.Caps(); !caps.Has(imap.AuthCap(sasl.Plain)) || !caps.Has(imap.CapSASLIR) {
		t.Fatalf("capabilities after STARTTLS = %v", caps)
	}
	if err := c.Authenticate(sasl.NewPlainClient("", "alice@"+coretest.Domain, "wrong")); err == nil {
		t.Error("AUTHENTICATE with a wrong password succeeded")
	}
	if err := c.Authenticate(sasl.NewPlainClient("", "alice@"+coretest.Domain, coretest.Password)); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN with SASL-IR: %v", err)
	}
	r := ts.raw(t, "")
	resp := base64.StdEncoding.EncodeToString([]byte("\x00alice@" + coretest.Domain + "\x00" + coretest.Password))
	r.write("a AUTHENTICATE PLAIN\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("AUTHENTICATE answered %q, want a continuation request", l)
	}
	r.write(resp + "\r\n")
	if _, status := r.until("a"); !strings.HasPrefix(status, "OK") {
		t.Errorf("AUTHENTICATE PLAIN after a continuation = %q", status)
	}
}

// TestID answers ID with the server's name (RFC 2971).
func TestID(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	c := ts.dial(t, "alice", nil)
	id, err := c.ID(&imap.IDData{Name: "test", Version: "1"}).Wait()
	if err != nil || id.Name != "Caduceus" {
		t.Errorf("ID = %+v, %v", id, err)
	}
}

// TestEnableIMAP4rev2 enables IMAP4rev2 (RFC 5161, RFC 9051): no RECENT,
// SEARCH answered by ESEARCH only, OK [CLOSED] when another mailbox is
// selected, mailbox names in UTF-8.
func TestEnableIMAP4rev2(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	if lines := r.ok("ENABLE IMAP4rev2"); len(lines) != 1 || lines[0] != "* ENABLED IMAP4rev2" {
		t.Fatalf("ENABLE = %q", lines)
	}
	if lines := r.ok("ENABLE IMAP4rev2"); len(lines) != 1 || lines[0] != "* ENABLED" {
		t.Errorf("second ENABLE = %q, want nothing newly enabled", lines)
	}
	r.ok(`CREATE "Réunions"`)
	r.appendRaw("INBOX", testMsg)
	r.appendRaw("INBOX", testMsg)
	if lines := r.ok(`LIST "" "R*"`); len(lines) != 1 || !strings.HasSuffix(lines[0], `"/" "Réunions"`) {
		t.Errorf("LIST = %q, want the name in UTF-8", lines)
	}
	lines := r.ok("SELECT INBOX")
	if len(withPrefix(lines, "* 2 EXISTS")) != 1 || slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, "RECENT") }) {
		t.Errorf("SELECT = %q, want EXISTS and no RECENT", lines)
	}
	r.tag++
	tag := fmt.Sprintf("t%d", r.tag)
	r.write(tag + " SEARCH ALL\r\n")
	lines, status := r.until(tag)
	if !strings.HasPrefix(status, "OK") || len(lines) != 1 || lines[0] != `* ESEARCH (TAG "`+tag+`") ALL 1:2` {
		t.Errorf("SEARCH = %q, %q; want one ESEARCH", lines, status)
	}
	if lines := r.ok("UID SEARCH UNSEEN"); len(lines) != 1 || !strings.Contains(lines[0], ") UID ALL 1:2") {
		t.Errorf("UID SEARCH = %q", lines)
	}
	if lines := r.ok("SELECT Drafts"); lines[0] != "* OK [CLOSED] previous mailbox closed" {
		t.Errorf("second SELECT = %q, want OK [CLOSED] first", lines)
	}
}

// TestUTF8Accept enables UTF8=ACCEPT (RFC 6855): mailbox names go both
// ways in UTF-8 instead of modified UTF-7, APPEND takes a UTF8 literal8,
// and header text comes back in UTF-8.
func TestUTF8Accept(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.ok(`CREATE "&AMk-t&AOk-"`) // "Été" in modified UTF-7
	if lines := r.ok(`LIST "" "&AMk-*"`); len(lines) != 1 || !strings.HasSuffix(lines[0], `"&AMk-t&AOk-"`) {
		t.Fatalf("LIST before ENABLE = %q, want modified UTF-7", lines)
	}
	if lines := r.ok("ENABLE UTF8=ACCEPT"); lines[0] != "* ENABLED UTF8=ACCEPT" {
		t.Fatalf("ENABLE = %q", lines)
	}
	if lines := r.ok(`LIST "" "É*"`); len(lines) != 1 || !strings.HasSuffix(lines[0], `"Été"`) {
		t.Errorf("LIST after ENABLE = %q, want UTF-8", lines)
	}
	msg := "From: Hélène <helene@example.org>\r\nSubject: Résumé de séjour\r\n\r\nTexte.\r\n"
	r.write(fmt.Sprintf("a APPEND \"Été\" UTF8 (~{%d+}\r\n%s)\r\n", len(msg), msg))
	if _, status := r.until("a"); !strings.HasPrefix(status, "OK") {
		t.Fatalf("APPEND UTF8 = %q", status)
	}
	r.ok(`SELECT "Été"`)
	lines := r.ok("FETCH 1 (ENVELOPE)")
	if len(lines) != 1 || !strings.Contains(lines[0], `"Résumé de séjour"`) || !strings.Contains(lines[0], `(("Hélène" NIL "helene" "example.org"))`) {
		t.Errorf("FETCH ENVELOPE = %q, want UTF-8 quoted strings", lines)
	}
}

// TestBinary fetches decoded parts and their sizes, and appends a
// literal8 (RFC 3516).
func TestBinary(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	c := ts.dial(t, "alice", nil)
	pdf := "%PDF-1.4 \x00\x01\x02 résultats"
	msg := "From: labo@example.org\r\nSubject: Résultats\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"R=C3=A9sultats normaux.\r\n--b\r\n" +
		"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte(pdf)) + "\r\n--b--\r\n"
	ts.appendMsg(t, c, "INBOX", msg)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	part1 := &imap.FetchItemBinarySection{Part: []int{1}, Peek: true}
	part2 := &imap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		Flags:             true,
		BinarySection:     []*imap.FetchItemBinarySection{part1, part2},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH BINARY = %v, %v", msgs, err)
	}
	m := msgs[0]
	if got := string(m.FindBinarySection(part1)); got != "Résultats normaux." { // RFC 2046 §5.1.1: the CRLF before a boundary belongs to it
		t.Errorf("BINARY[1] = %q", got)
	}
	if got := string(m.FindBinarySection(part2)); got != pdf {
		t.Errorf("BINARY[2] = %q, want %q", got, pdf)
	}
	if len(m.BinarySectionSize) != 1 || m.BinarySectionSize[0].Size != uint32(len(pdf)) {
		t.Errorf("BINARY.SIZE[2] = %+v, want %d", m.BinarySectionSize, len(pdf))
	}
	if slices.Contains(m.Flags, imap.FlagSeen) {
		t.Errorf("BINARY.PEEK set flags %v", m.Flags)
	}
	r := ts.raw(t, "alice")
	raw := "Subject: binaire\r\nContent-Transfer-Encoding: binary\r\n\r\nun\x00deux\r\n"
	r.write(fmt.Sprintf("a APPEND INBOX ~{%d+}\r\n%s\r\n", len(raw), raw))
	if _, status := r.until("a"); !strings.HasPrefix(status, "OK") {
		t.Fatalf("APPEND literal8 = %q", status)
	}
	r.ok("SELECT INBOX")
	if lines := r.ok("FETCH 2 (BINARY.PEEK[1])"); len(lines) != 1 || !strings.Contains(lines[0], "BINARY[1] ~{9}un\x00deux\r\n") {
		t.Errorf("FETCH BINARY of a part with NUL = %q, want a literal8", lines)
	}
}

// TestCondStore selects with CONDSTORE and uses MODSEQ in FETCH, STORE
// UNCHANGEDSINCE and SEARCH (RFC 7162 §3.1).
func TestCondStore(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.appendRaw("INBOX", testMsg)
	r.appendRaw("INBOX", testMsg)
	lines := r.ok("SELECT INBOX (CONDSTORE)")
	var highest uint64
	for _, l := range lines {
		fmt.Sscanf(l, "* OK [HIGHESTMODSEQ %d]", &highest)
	}
	if highest == 0 {
		t.Fatalf("SELECT (CONDSTORE) = %q, want HIGHESTMODSEQ", lines)
	}
	lines = r.ok(`STORE 1 +FLAGS (\Flagged)`)
	if len(lines) != 1 || !regexp.MustCompile(`^\* 1 FETCH \(FLAGS \(\\Flagged \\Recent\) MODSEQ \(\d+\)\)$`).MatchString(lines[0]) {
		t.Errorf("STORE = %q, want FLAGS and MODSEQ", lines)
	}
	if _, status := r.cmd(fmt.Sprintf(`STORE 1,2 (UNCHANGEDSINCE %d) +FLAGS (\Seen)`, highest)); !strings.HasPrefix(status, "OK [MODIFIED 1]") {
		t.Errorf("STORE UNCHANGEDSINCE = %q, want OK [MODIFIED 1]", status)
	}
	if lines := r.ok(fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", highest)); len(lines) != 2 {
		t.Errorf("FETCH CHANGEDSINCE = %q, want both messages", lines)
	}
	if lines := r.ok(fmt.Sprintf("SEARCH MODSEQ %d", highest+2)); len(lines) != 1 || !regexp.MustCompile(`^\* SEARCH 2 \(MODSEQ \d+\)$`).MatchString(lines[0]) {
		t.Errorf("SEARCH MODSEQ = %q", lines)
	}
}

// TestQResync resynchronises a mailbox after changes made elsewhere: SELECT
// (QRESYNC), UID FETCH (CHANGEDSINCE VANISHED), VANISHED on expunge
// (RFC 7162 §3.2).
func TestQResync(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.ok("ENABLE QRESYNC")
	for range 4 {
		r.appendRaw("INBOX", testMsg)
	}
	var validity uint32
	var highest uint64
	for _, l := range r.ok("SELECT INBOX") {
		fmt.Sscanf(l, "* OK [UIDVALIDITY %d]", &validity)
		fmt.Sscanf(l, "* OK [HIGHESTMODSEQ %d]", &highest)
	}
	r.ok("UNSELECT")

	other := ts.dial(t, "alice", nil)
	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := other.Store(imap.UIDSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := other.UIDExpunge(imap.UIDSetNum(1)).Close(); err != nil {
		t.Fatal(err)
	}
	if err := other.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}

	lines := r.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:4))", validity, highest))
	if v := withPrefix(lines, "* VANISHED"); len(v) != 1 || v[0] != "* VANISHED (EARLIER) 1" {
		t.Errorf("SELECT (QRESYNC) = %q, want VANISHED (EARLIER) 1", lines)
	}
	fetched := withPrefix(lines, "* 1 FETCH")
	fetched = append(fetched, withPrefix(lines, "* 2 FETCH")...)
	if len(fetched) != 2 || !strings.Contains(strings.Join(fetched, " "), `UID 2 FLAGS (\Flagged) MODSEQ`) {
		t.Errorf("SELECT (QRESYNC) = %q, want the flag changes of UIDs 2 and 3", lines)
	}
	lines = r.ok(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", highest))
	if v := withPrefix(lines, "* VANISHED"); len(v) != 1 || v[0] != "* VANISHED (EARLIER) 1" {
		t.Errorf("UID FETCH (VANISHED) = %q", lines)
	}
	if lines := r.ok("UID EXPUNGE 3"); len(lines) != 1 || lines[0] != "* VANISHED 3" {
		t.Errorf("UID EXPUNGE with QRESYNC = %q, want VANISHED 3", lines)
	}
	if err := other.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := other.UIDExpunge(imap.UIDSetNum(2)).Close(); err != nil {
		t.Fatal(err)
	}
	if lines := r.ok("NOOP"); len(withPrefix(lines, "* VANISHED 2")) != 1 {
		t.Errorf("NOOP after an expunge elsewhere = %q, want VANISHED 2", lines)
	}
}

// TestESearchAndSearchRes returns ESEARCH results (RFC 4731) and saves
// them for "$" (RFC 5182).
func TestESearchAndSearchRes(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	for range 4 {
		r.appendRaw("INBOX", testMsg)
	}
	r.ok("SELECT INBOX")
	r.ok(`STORE 2,4 +FLAGS.SILENT (\Flagged)`)
	tests := []struct{ command, want string }{
		{"SEARCH RETURN (MIN MAX COUNT) ALL", "MIN 1 MAX 4 COUNT 4"},
		{"SEARCH RETURN () FLAGGED", "ALL 2,4"},
		{"UID SEARCH RETURN (COUNT) UNFLAGGED", "UID COUNT 2"},
		{"SEARCH RETURN (MIN) SUBJECT nothing-like-this", ""},
	}
	for _, tt := range tests {
		lines := r.ok(tt.command)
		if len(lines) != 1 || !regexp.MustCompile(`^\* ESEARCH \(TAG "t\d+"\) ?`+regexp.QuoteMeta(tt.want)+`$`).MatchString(lines[0]) {
			t.Errorf("%s = %q, want %q", tt.command, lines, tt.want)
		}
	}
	if lines := r.ok("SEARCH RETURN (SAVE) FLAGGED"); len(lines) != 0 {
		t.Errorf("SEARCH RETURN (SAVE) = %q, want no untagged response", lines)
	}
	if lines := r.ok("FETCH $ (UID)"); strings.Join(lines, "|") != "* 2 FETCH (UID 2)|* 4 FETCH (UID 4)" {
		t.Errorf("FETCH $ = %q", lines)
	}
	r.ok(`UID STORE $ -FLAGS.SILENT (\Flagged)`)
	if lines := r.ok("SEARCH FLAGGED"); lines[0] != "* SEARCH" {
		t.Errorf("after STORE $: %q, want nothing flagged", lines)
	}
	r.ok("SEARCH RETURN (SAVE MAX) ALL")
	if lines := r.ok("SEARCH $"); lines[0] != "* SEARCH 4" {
		t.Errorf("SEARCH $ after SAVE MAX = %q, want the highest only", lines)
	}
	r.ok("SEARCH RETURN (SAVE) 2:3")
	if lines := r.ok("SEARCH UID $ 3:4"); lines[0] != "* SEARCH 3" {
		t.Errorf("SEARCH UID $ 3:4 = %q", lines)
	}
}

// TestSort sorts by base subject, sent date, first sender's mailbox and
// size, in either direction (RFC 5256 §3).
func TestSort(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	msgs := []string{
		"From: Zoé <zoe@example.org>\r\nSubject: Re: banane\r\nDate: Tue, 3 Mar 2026 10:00:00 +0100\r\n\r\nx\r\n",
		"From: Anne <anne@example.org>\r\nSubject: Cerise\r\nDate: Mon, 2 Mar 2026 10:00:00 +0100\r\n\r\nxxxxxxxx\r\n",
		"From: bob@example.org\r\nSubject: [liste] Abricot\r\nDate: Wed, 4 Mar 2026 10:00:00 +0100\r\n\r\nxxxx\r\n",
		// RFC 5256 compares in upper case: "_" and "[" come after the letters.
		"From: _robot@example.org\r\nSubject: _note\r\nDate: Thu, 5 Mar 2026 10:00:00 +0100\r\n\r\nxxxxxxxxxxxx\r\n",
	}
	for _, m := range msgs {
		r.appendRaw("INBOX", m)
	}
	r.ok("SELECT INBOX")
	tests := []struct{ command, want string }{
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 3 1 2 4"},
		{"SORT (DATE) UTF-8 ALL", "* SORT 2 1 3 4"},
		{"SORT (REVERSE DATE) UTF-8 ALL", "* SORT 4 3 1 2"},
		{"SORT (FROM) UTF-8 ALL", "* SORT 2 3 1 4"},
		{"SORT (SIZE) US-ASCII ALL", "* SORT " + bySize(msgs)},
		{"UID SORT (ARRIVAL) UTF-8 NOT FROM anne", "* SORT 1 3 4"},
	}
	for _, tt := range tests {
		if lines := r.ok(tt.command); len(lines) != 1 || lines[0] != tt.want {
			t.Errorf("%s = %q, want %q", tt.command, lines, tt.want)
		}
	}
}

// bySize returns the numbers of msgs, smallest first.
func bySize(msgs []string) string {
	order := []string{"1", "2", "3", "4"}
	slices.SortStableFunc(order, func(a, b string) int { return len(msgs[a[0]-'1']) - len(msgs[b[0]-'1']) })
	return strings.Join(order, " ")
}

// TestThread threads a conversation with THREAD=REFERENCES (RFC 5256 §3):
// replies under what they answer, a reply whose parent is missing joined
// by subject, an unrelated message alone.
func TestThread(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	msgs := []string{
		sampleMessage("Bilan sanguin", "<a@x>", "", "Mon, 2 Mar 2026 09:00:00 +0100"),
		sampleMessage("Re: Bilan sanguin", "<b@x>", "<a@x>", "Mon, 2 Mar 2026 10:00:00 +0100"),
		sampleMessage("Re: Bilan sanguin", "<c@x>", "<a@x>", "Mon, 2 Mar 2026 11:00:00 +0100"),
		sampleMessage("Garde du week-end", "<d@x>", "", "Sun, 1 Mar 2026 08:00:00 +0100"),
		sampleMessage("Re: Re: Bilan sanguin", "<e@x>", "<a@x> <c@x>", "Mon, 2 Mar 2026 12:00:00 +0100"),
		sampleMessage("Re: Garde du week-end", "<f@x>", "<lost@x>", "Sun, 1 Mar 2026 09:00:00 +0100"),
	}
	for _, m := range msgs {
		r.appendRaw("INBOX", m)
	}
	r.ok("SELECT INBOX")
	if lines := r.ok("THREAD REFERENCES UTF-8 ALL"); len(lines) != 1 || lines[0] != "* THREAD (4 6)(1 (2)(3 5))" {
		t.Errorf("THREAD = %q", lines)
	}
	r.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
	r.ok("EXPUNGE")
	if lines := r.ok("UID THREAD REFERENCES UTF-8 SUBJECT bilan"); len(lines) != 1 || lines[0] != "* THREAD ((2)(3 5))" {
		t.Errorf("UID THREAD after the first message went = %q", lines)
	}
	r.fails("THREAD ORDEREDSUBJECT UTF-8 ALL", "BAD", "")
}

// TestNamespace answers NAMESPACE (RFC 2342): a personal namespace and a
// shared one under "Shared/".
func TestNamespace(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	c := ts.dial(t, "alice", nil)
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || len(ns.Shared) != 1 || ns.Shared[0].Prefix != "Shared/" || ns.Other != nil {
		t.Errorf("NAMESPACE = %+v, %v", ns, err)
	}
}

// TestListExtended lists with selection and return options (RFC 5258,
// RFC 5819, RFC 6154, RFC 3348): SUBSCRIBED, RECURSIVEMATCH with CHILDINFO,
// SPECIAL-USE, several patterns, CHILDREN and STATUS.
func TestListExtended(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.ok(`CREATE "Projets/2026"`)
	r.ok(`SUBSCRIBE "Projets/2026"`)
	r.appendRaw("INBOX", testMsg)
	tests := []struct {
		command string
		want    []string
	}{
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" "P%"`, []string{`* LIST (\HasChildren) "/" "Projets" ("CHILDINFO" ("SUBSCRIBED"))`}},
		{`LIST (SUBSCRIBED) "" "P%"`, nil},
		{`LIST (SUBSCRIBED) "" "P*"`, []string{`* LIST (\HasNoChildren \Subscribed) "/" "Projets/2026"`}},
		{`LIST "" "P*" RETURN (CHILDREN SUBSCRIBED)`, []string{`* LIST (\HasChildren) "/" "Projets"`, `* LIST (\HasNoChildren \Subscribed) "/" "Projets/2026"`}},
		{`LIST (SPECIAL-USE) "" "*"`, []string{`* LIST (\HasNoChildren \Archive) "/" "Archive"`, `* LIST (\HasNoChildren \Drafts) "/" "Drafts"`,
			`* LIST (\HasNoChildren \Junk) "/" "Junk"`, `* LIST (\HasNoChildren \Sent) "/" "Sent"`, `* LIST (\HasNoChildren \Trash) "/" "Trash"`}},
		{`LIST "" ("INBOX" "Sent") RETURN (STATUS (MESSAGES UNSEEN))`, []string{`* LIST (\HasNoChildren) "/" "INBOX"`, `* STATUS "INBOX" (MESSAGES 1 UNSEEN 1)`,
			`* LIST (\HasNoChildren \Sent) "/" "Sent"`, `* STATUS "Sent" (MESSAGES 0 UNSEEN 0)`}},
	}
	for _, tt := range tests {
		if lines := r.ok(tt.command); !slices.Equal(lines, tt.want) {
			t.Errorf("%s = %q, want %q", tt.command, lines, tt.want)
		}
	}
	r.fails(`LIST (RECURSIVEMATCH) "" "*"`, "BAD", "")
	r.fails(`LIST (UNKNOWN) "" "*"`, "BAD", "")
}

// TestUIDPlus reports new UIDs (APPENDUID, COPYUID) and expunges by UID,
// leaving other deleted messages alone (RFC 4315).
func TestUIDPlus(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	for i := range 3 {
		if status := r.appendRaw("INBOX", testMsg); !strings.Contains(status, fmt.Sprintf(" %d] ", i+1)) {
			t.Errorf("APPEND = %q, want APPENDUID with UID %d", status, i+1)
		}
	}
	r.ok("SELECT INBOX")
	if _, status := r.cmd("UID COPY 2:3 Archive"); !regexp.MustCompile(`^OK \[COPYUID \d+ 2:3 1:2\]`).MatchString(status) {
		t.Errorf("UID COPY = %q, want COPYUID", status)
	}
	r.ok(`STORE 1:3 +FLAGS.SILENT (\Deleted)`)
	if lines := r.ok("UID EXPUNGE 2"); strings.Join(lines, "|") != "* 2 EXPUNGE" {
		t.Errorf("UID EXPUNGE 2 = %q", lines)
	}
	if lines := r.ok("UID SEARCH DELETED"); lines[0] != "* SEARCH 1 3" {
		t.Errorf("after UID EXPUNGE: %q, want 1 and 3 still there", lines)
	}
}

// TestFetchExpungedElsewhere fetches a message another connection has
// expunged and this one was not told of yet: FETCH returns what survives
// and answers OK [EXPUNGEISSUED], without an EXPUNGE in the middle (RFC
// 2180 §4.1.1, RFC 5530 §3, RFC 9051 §7.5.1); UID FETCH ignores the UID
// (RFC 9051 §6.4.8) and tells of the expunge.
func TestFetchExpungedElsewhere(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.appendRaw("INBOX", testMsg)
	r.appendRaw("INBOX", testMsg)
	r.ok("SELECT INBOX")
	other := ts.raw(t, "alice")
	other.ok("SELECT INBOX")
	other.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	other.ok("EXPUNGE")
	lines, status := r.cmd("FETCH 1:2 (UID FLAGS)")
	if !strings.HasPrefix(status, "OK [EXPUNGEISSUED]") || strings.Join(lines, "|") != "* 2 FETCH (UID 2 FLAGS (\\Recent))" {
		t.Errorf("FETCH = %q, %q; want the other message and OK [EXPUNGEISSUED]", lines, status)
	}
	// The UID of the expunged message is still known to the client and
	// is all it asks here (RFC 2180 §4.1.1).
	lines, status = r.cmd("FETCH 1:2 (UID)")
	if !strings.HasPrefix(status, "OK [EXPUNGEISSUED]") || strings.Join(lines, "|") != "* 1 FETCH (UID 1)|* 2 FETCH (UID 2)" {
		t.Errorf("FETCH (UID) = %q, %q; want both UIDs and OK [EXPUNGEISSUED]", lines, status)
	}
	if lines := r.ok("UID FETCH 1 (FLAGS)"); strings.Join(lines, "|") != "* 1 EXPUNGE" {
		t.Errorf("UID FETCH of an expunged UID = %q, want only the expunge, which UID commands may tell", lines)
	}
}
