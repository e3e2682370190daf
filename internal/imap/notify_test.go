package imap

import (
	"errors"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// lineWithin reads one response line if one comes within d; ok is false
// when none came.
func (r *rawClient) lineWithin(d time.Duration) (line string, ok bool) {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(d))
	s, err := r.br.ReadString('\n')
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && s == "" {
		return "", false
	}
	if err != nil {
		r.t.Fatalf("read: %v (after %q)", err, s)
	}
	return strings.TrimSuffix(s, "\r\n"), true
}

// waitFor reads lines until one matches re, within d.
func (r *rawClient) waitFor(re string, d time.Duration) string {
	r.t.Helper()
	deadline := time.Now().Add(d)
	var seen []string
	for time.Now().Before(deadline) {
		l, ok := r.lineWithin(time.Until(deadline))
		if !ok {
			break
		}
		if regexp.MustCompile(re).MatchString(l) {
			return l
		}
		seen = append(seen, l)
	}
	r.t.Fatalf("no line matching %q within %v (got %q)", re, d, seen)
	return ""
}

// deliver delivers a message to local's INBOX as SMTP would.
func (ts *testServer) deliver(t *testing.T, local, subject string) {
	t.Helper()
	msg := "From: bob@example.org\r\nSubject: " + subject + "\r\n\r\nbody\r\n"
	if err := ts.svc.Deliver(t.Context(), core.System("smtp"), core.Delivery{Recipients: []string{local + "@" + coretest.Domain}, Data: []byte(msg)}); err != nil {
		t.Fatal(err)
	}
}

// TestNotifyImaptest is Dovecot imaptest's notify group: the initial
// STATUS of NOTIFY SET STATUS, with HIGHESTMODSEQ once FlagChange is
// asked, and none without STATUS.
func TestNotifyImaptest(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	if caps := r.ok("CAPABILITY")[0]; !strings.Contains(caps, " NOTIFY") {
		t.Fatalf("NOTIFY not advertised: %s", caps)
	}
	r.ok("CREATE box2")
	r.appendRaw("box2", "Subject: x\r\n\r\nx\r\n")
	f := coretest.Folder(t, ts.svc, "alice@"+coretest.Domain, "box2")
	tests := []struct {
		cmd  string
		want string // the STATUS expected, "" for none
	}{
		{"NOTIFY SET STATUS (mailboxes box2 (MessageNew MessageExpunge))",
			`^\* STATUS "?box2"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)$`},
		{"notify set status (mailboxes box2 (MessageNew MessageExpunge FlagChange))",
			`^\* STATUS "?box2"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ HIGHESTMODSEQ \d+\)$`},
		{"NOTIFY SET (mailboxes box2 (MessageNew MessageExpunge FlagChange))", ""},
		{"NOTIFY SET STATUS (mailboxes (nosuchbox box2) (MessageNew MessageExpunge))",
			`^\* STATUS "?box2"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)$`},
		{"NOTIFY SET STATUS (personal (MailboxName))", ""},
	}
	for _, tt := range tests {
		lines := withPrefix(r.ok(tt.cmd), "* STATUS")
		if tt.want == "" {
			if len(lines) != 0 {
				t.Errorf("%s: got %q, want no STATUS", tt.cmd, lines)
			}
			continue
		}
		if len(lines) != 1 || !regexp.MustCompile(tt.want).MatchString(lines[0]) {
			t.Errorf("%s: got %q, want one matching %s", tt.cmd, lines, tt.want)
		}
		if !strings.Contains(lines[0], "UIDVALIDITY "+strconv.FormatUint(uint64(f.UIDValidity), 10)) {
			t.Errorf("%s: %q does not carry UIDVALIDITY %d", tt.cmd, lines[0], f.UIDValidity)
		}
	}
}

// TestNotifyDuringIdle: a delivery to a folder other than the selected one
// shows as STATUS during IDLE within a second; a flag change, an APPEND
// and an expunge from another session too; NOTIFY NONE stops it.
func TestNotifyDuringIdle(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	other := ts.raw(t, "alice")
	other.ok("CREATE Work")
	other.ok("CREATE Later")
	r.ok("SELECT Work")
	r.ok("NOTIFY SET (selected (MessageNew MessageExpunge)) (personal (MessageNew MessageExpunge FlagChange))")

	r.write("i1 IDLE\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	ts.deliver(t, "alice", "first")
	r.waitFor(`^\* STATUS "?INBOX"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1 HIGHESTMODSEQ \d+\)$`, time.Second)

	other.appendRaw("Later", "Subject: y\r\n\r\ny\r\n")
	r.waitFor(`^\* STATUS "?Later"? \(MESSAGES 1 UIDNEXT 2 `, time.Second)

	other.ok("SELECT INBOX")
	other.ok("STORE 1 +FLAGS (\\Seen \\Deleted)")
	r.waitFor(`^\* STATUS "?INBOX"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 0 `, time.Second)
	other.ok("EXPUNGE")
	r.waitFor(`^\* STATUS "?INBOX"? \(MESSAGES 0 `, time.Second)

	// The selected folder keeps its EXISTS.
	other.appendRaw("Work", "Subject: w\r\n\r\nw\r\n")
	r.waitFor(`^\* 1 EXISTS$`, time.Second)
	r.write("DONE\r\n")
	if _, status := r.until("i1"); !strings.HasPrefix(status, "OK") {
		t.Fatalf("IDLE: %s", status)
	}

	r.ok("NOTIFY NONE")
	r.write("i2 IDLE\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	ts.deliver(t, "alice", "second")
	if l, ok := r.lineWithin(500 * time.Millisecond); ok {
		t.Errorf("after NOTIFY NONE, IDLE told %q", l)
	}
	r.write("DONE\r\n")
	if lines, status := r.until("i2"); !strings.HasPrefix(status, "OK") || len(withPrefix(lines, "* STATUS")) > 0 {
		t.Fatalf("IDLE after NOTIFY NONE: %q %s", lines, status)
	}
}

// TestNotifyAtCommandEnd: changes are told before the tagged response of
// the next command, one STATUS per folder however many changes it had.
func TestNotifyAtCommandEnd(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.ok("NOTIFY SET (inboxes (MessageNew MessageExpunge))")
	for _, s := range []string{"a", "b", "c"} {
		ts.deliver(t, "alice", s)
	}
	time.Sleep(100 * time.Millisecond) // the watcher's goroutine notes them
	lines := withPrefix(r.ok("NOOP"), "* STATUS")
	if len(lines) != 1 || !strings.Contains(lines[0], "MESSAGES 3 UIDNEXT 4") {
		t.Fatalf("NOOP told %q, want one STATUS of 3 messages", lines)
	}
	if lines := withPrefix(r.ok("NOOP"), "* STATUS"); len(lines) != 0 {
		t.Fatalf("second NOOP told %q again", lines)
	}
}

// TestNotifyMailboxEvents: folders created, renamed, (un)subscribed and
// deleted by another session show as LIST.
func TestNotifyMailboxEvents(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	other := ts.raw(t, "alice")
	r.ok("NOTIFY SET (subtree Projets (MailboxName SubscriptionChange)) (personal (MailboxName))")
	steps := []struct {
		cmd  string
		want string
	}{
		{"CREATE Projets/A", `* LIST () "/" "Projets"|* LIST () "/" "Projets/A"`},
		{"RENAME Projets/A Projets/B", `* LIST () "/" "Projets/B" ("OLDNAME" ("Projets/A"))`},
		{"SUBSCRIBE Projets/B", `* LIST (\Subscribed) "/" "Projets/B"`},
		{"UNSUBSCRIBE Projets/B", `* LIST () "/" "Projets/B"`},
		{"DELETE Projets/B", `* LIST (\NonExistent) "/" "Projets/B"`},
		{"CREATE Other", `* LIST () "/" "Other"`},
		{"SUBSCRIBE Other", ""}, // personal does not ask for SubscriptionChange
	}
	for _, s := range steps {
		other.ok(s.cmd)
		time.Sleep(50 * time.Millisecond)
		got := withPrefix(r.ok("NOOP"), "* LIST")
		for i := range got {
			got[i] = strings.ReplaceAll(got[i], `"/" Other`, `"/" "Other"`)
		}
		switch {
		case s.want == "" && len(got) > 0:
			t.Errorf("%s: told %q, want nothing", s.cmd, got)
		case s.want != "" && strings.Join(got, "|") != s.want:
			t.Errorf("%s: told %q, want %q", s.cmd, got, s.want)
		}
	}
}

// TestNotifyNewMessageFetch: MessageNew's fetch-atts for the selected
// mailbox come with the EXISTS, without setting \Seen.
func TestNotifyNewMessageFetch(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.ok("SELECT INBOX")
	r.ok("NOTIFY SET (selected (MessageNew (UID BODY[HEADER.FIELDS (Subject)]) MessageExpunge))")
	r.write("i IDLE\r\n")
	r.line()
	ts.deliver(t, "alice", "pushed")
	r.waitFor(`^\* 1 EXISTS$`, time.Second)
	r.waitFor(`^\* 1 FETCH \(UID 1 BODY\[HEADER\.FIELDS \(Subject\)\] \{\d+\}$`, time.Second)
	r.waitFor(`^Subject: pushed$`, time.Second)
	r.write("DONE\r\n")
	r.until("i")
	if lines := r.ok("FETCH 1 FLAGS"); len(lines) != 1 || strings.Contains(lines[0], `\Seen`) {
		t.Fatalf("FLAGS after the pushed FETCH: %q", lines)
	}
}

// TestNotifyErrors: the NO and BAD answers of RFC 5465 §5 and §8.
func TestNotifyErrors(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	tests := []struct {
		cmd, status, code string
	}{
		{"NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))", "NO", "BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)]"},
		{"NOTIFY SET (personal (MailboxMetadataChange))", "NO", "BADEVENT"},
		{"NOTIFY SET (personal (ServerMetadataChange))", "NO", "BADEVENT"},
		{"NOTIFY SET (personal (SomethingElse))", "NO", "BADEVENT"},
		{"NOTIFY SET (personal (MessageNew))", "BAD", ""},
		{"NOTIFY SET (personal (MessageExpunge))", "BAD", ""},
		{"NOTIFY SET (personal (FlagChange))", "BAD", ""},
		{"NOTIFY SET (selected (MailboxName))", "BAD", ""},
		{"NOTIFY SET (personal (MessageNew (UID) MessageExpunge))", "BAD", ""},
		{"NOTIFY SET (anywhere (MessageNew MessageExpunge))", "BAD", ""},
		{"NOTIFY SET (personal ())", "BAD", ""},
		{"NOTIFY SET (personal)", "BAD", ""},
		{"NOTIFY SET", "BAD", ""},
		{"NOTIFY ALL", "BAD", ""},
	}
	for _, tt := range tests {
		r.fails(tt.cmd, tt.status, tt.code)
	}
	r.ok("NOTIFY SET (selected-delayed (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (personal NONE) (subscribed (MailboxName SubscriptionChange))")
	r.ok("NOTIFY NONE")
	r.ok("NOTIFY NONE")
}

// TestNotifySharedMailboxes: the filters reach the mailboxes shared with
// the person, under their shared names, and personal stays out of them;
// the selected folder gets no STATUS.
func TestNotifySharedMailboxes(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	orgAddr := cardioForAlice(t, ts)
	shared := "Shared/" + orgAddr + "/INBOX"
	r := ts.raw(t, "alice")
	own := []string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}
	var org []string
	for _, f := range own {
		org = append(org, "Shared/"+orgAddr+"/"+f)
	}
	tests := []struct {
		cmd  string
		want []string // the mailboxes of the initial STATUS, in order
	}{
		{"NOTIFY SET STATUS (subtree Shared (MessageNew MessageExpunge))", org},
		{`NOTIFY SET STATUS (subtree "Shared/` + orgAddr + `" (MessageNew MessageExpunge))`, org},
		{`NOTIFY SET STATUS (mailboxes "` + shared + `" (MessageNew MessageExpunge))`, []string{shared}},
		{"NOTIFY SET STATUS (personal (MessageNew MessageExpunge))", own},
		{"NOTIFY SET STATUS (inboxes (MessageNew MessageExpunge))", []string{"INBOX"}},
		{"NOTIFY SET STATUS (subscribed (MessageNew MessageExpunge))", append(slices.Clone(own), org...)},
		{"NOTIFY SET STATUS (inboxes NONE) (personal (MessageNew MessageExpunge))", slices.DeleteFunc(slices.Clone(own), func(f string) bool { return f == "INBOX" })},
	}
	for _, tt := range tests {
		var got []string
		for _, l := range withPrefix(r.ok(tt.cmd), "* STATUS ") {
			name, _, _ := strings.Cut(strings.TrimPrefix(l, "* STATUS "), " (")
			got = append(got, strings.Trim(name, `"`))
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: STATUS of %q, want %q", tt.cmd, got, tt.want)
		}
	}

	r.ok("SELECT Archive")
	if lines := withPrefix(r.ok("NOTIFY SET STATUS (mailboxes (Archive INBOX) (MessageNew MessageExpunge)) (mailboxes \""+shared+"\" (MessageNew MessageExpunge))"), "* STATUS"); len(lines) != 2 || strings.Contains(strings.Join(lines, ""), "Archive") {
		t.Errorf("with Archive selected, STATUS of %q", lines)
	}
	ts.deliver(t, "cardio", "for the team")
	time.Sleep(100 * time.Millisecond)
	if lines := withPrefix(r.ok("NOOP"), "* STATUS"); len(lines) != 1 || !strings.Contains(lines[0], shared) || !strings.Contains(lines[0], "MESSAGES 1 ") {
		t.Errorf("after a delivery to %s, NOOP told %q", orgAddr, lines)
	}
}

// TestNotifySelectedNone: (selected NONE) holds the selected mailbox's
// changes during IDLE until the next command.
func TestNotifySelectedNone(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	r.ok("SELECT INBOX")
	r.ok("NOTIFY SET (selected NONE)")
	r.write("i IDLE\r\n")
	r.line()
	ts.deliver(t, "alice", "held")
	if l, ok := r.lineWithin(500 * time.Millisecond); ok {
		t.Errorf("IDLE with (selected NONE) told %q", l)
	}
	r.write("DONE\r\n")
	if lines, _ := r.until("i"); len(withPrefix(lines, "* 1 EXISTS")) != 1 {
		t.Errorf("DONE told %q, want the EXISTS", lines)
	}
}

// TestNotifyLostRights: a shared mailbox whose rights are taken away shows
// its folders as \NonExistent (RFC 5465 §5.9).
func TestNotifyLostRights(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	org := cardioForAlice(t, ts)
	r := ts.raw(t, "alice")
	r.ok("NOTIFY SET (subtree Shared (MailboxName))")
	mb := coretest.Mailbox(t, ts.svc, org)
	if err := ts.svc.SetRights(t.Context(), systemActor(), mb.ID, "alice@"+coretest.Domain, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	lines := withPrefix(r.ok("NOOP"), "* LIST")
	if len(lines) != 6 || !slices.Contains(lines, `* LIST (\NonExistent) "/" "Shared/`+org+`/INBOX"`) {
		t.Errorf("after losing %s, NOOP told %q", org, lines)
	}
}
