package imap

import (
	"slices"
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
	if indexOf(lines, "* FLAGS") >= 0 || indexOf(lines, "* 2 FETCH (FLAGS ($Label1))") < 0 {
		t.Errorf("FETCH after the announcement = %q; want the flags and no second FLAGS", lines)
	}
}
