package imap

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"caduceus/internal/core/coretest"
)

// FuzzSession sends arbitrary commands through a logged-in session of a
// real server, INBOX selected, with messages, folders and a second user to
// act on. Whatever arrives, no command may panic (the connection would
// recover, so the server's log is checked) and the server must go on
// serving. The seeds, which run with every go test, cover each command
// the session takes.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"a FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)",
		"a UID FETCH 1:* (BODY.PEEK[1.MIME] BINARY.PEEK[1] BINARY.SIZE[1] BODY[HEADER.FIELDS (SUBJECT)]<0.5>) (CHANGEDSINCE 1)",
		"a FETCH 2 (BODY[2.1.TEXT] BODY[]<10.20> RFC822.HEADER RFC822.TEXT)",
		"a UID STORE 1:* +FLAGS.SILENT (\\Seen $label)\r\nb STORE 2 -FLAGS (\\Seen) (UNCHANGEDSINCE 1)",
		"a SEARCH RETURN (MIN MAX COUNT SAVE) OR FROM house BODY bilan\r\nb UID FETCH $ FLAGS",
		"a UID SEARCH CHARSET UTF-8 SUBJECT \"é\" LARGER 10 NOT DELETED SINCE 1-Jan-2020 MODSEQ 1",
		"a SORT (REVERSE DATE SUBJECT FROM SIZE) UTF-8 ALL\r\nb UID THREAD REFERENCES UTF-8 ALL",
		"a UID SORT RETURN (MIN MAX COUNT PARTIAL 2:1) (SUBJECT) UTF-8 ALL\r\nb SEARCH RETURN (PARTIAL 1:9) UNSEEN",
		"a SEARCH RETURN (UPDATE ALL) SEEN\r\nb STORE 1:* +FLAGS (\\Seen \\Deleted)\r\nc UID SEARCH RETURN (UPDATE) BODY x\r\nd EXPUNGE\r\ne CANCELUPDATE \"a\" \"c\"",
		"a COPY 1 Trash\r\nb UID MOVE 2 Archives\r\nc STATUS Trash (MESSAGES UIDNEXT SIZE DELETED HIGHESTMODSEQ APPENDLIMIT)",
		"a STORE 1 +FLAGS (\\Deleted)\r\nb UID EXPUNGE 1:*\r\nc EXPUNGE",
		"a CREATE Projets/2026 (USE (\\Archive))\r\nb RENAME Projets/2026 Projets/2027\r\nc LIST \"\" * RETURN (SPECIAL-USE CHILDREN STATUS (MESSAGES))\r\nd DELETE Projets/2027",
		"a SETACL INBOX bob@test.mssante.fr +lr\r\nb GETACL INBOX\r\nc LISTRIGHTS INBOX bob@test.mssante.fr\r\nd MYRIGHTS INBOX\r\ne DELETEACL INBOX bob@test.mssante.fr",
		"a GETQUOTAROOT INBOX\r\nb GETQUOTA \"\"\r\nc NAMESPACE\r\nd ID (\"name\" \"fuzz\")",
		"a ENABLE QRESYNC UTF8=ACCEPT\r\nb SELECT INBOX (QRESYNC (1 1 1:5))\r\nc EXAMINE INBOX (CONDSTORE)",
		"a APPEND INBOX (\\Flagged) \"01-Jan-2024 00:00:00 +0000\" {11+}\r\nSubject: x\r\n\r\nb APPEND INBOX ~{3+}\r\nabc",
		"a IDLE\r\nDONE\r\nb NOOP\r\nc CHECK\r\nd UNSELECT\r\ne SELECT INBOX",
		"a NOTIFY SET STATUS (selected (MessageNew (UID FLAGS BODY.PEEK[HEADER]) MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)) (subtree Shared (MessageNew MessageExpunge))\r\nb APPEND Trash {11+}\r\nSubject: x\r\n\r\nc CREATE N\r\nd SUBSCRIBE N\r\ne IDLE\r\nDONE\r\nf NOTIFY NONE",
		"a FETCH 0:4294967295 FLAGS\r\nb UID FETCH 4294967295:* (BODY[999.1])\r\nc FETCH * BODY[1.2.3.4.5.HEADER]",
		"a LOGIN x y\r\nb AUTHENTICATE PLAIN\r\n*\r\nc STARTTLS\r\nd CLOSE",
	} {
		f.Add([]byte(seed))
	}
	var logs syncBuffer
	ts := startServerWith(f, Options{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))})
	coretest.User(f, ts.svc, "alice", "Alice")
	coretest.User(f, ts.svc, "bob", "Bob")
	f.Fuzz(func(t *testing.T, data []byte) {
		r := ts.raw(t, "alice")
		r.appendRaw("INBOX", testMsg)
		r.appendRaw("INBOX", nested)
		r.ok("SELECT INBOX")
		r.nc.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(r.nc, string(data)+"\r\nzz LOGOUT\r\n")
		io.Copy(io.Discard, r.nc) // until the server closes, or the deadline
		if out := logs.String(); strings.Contains(out, "panic") {
			t.Fatalf("%q made the server panic: %s", data, out)
		}
		ts.raw(t, "alice").ok("NOOP")
	})
}

// nested is a message with a multipart inside a multipart and an attached
// message, for the part numbers of FETCH.
const nested = "From: a@example.org\r\nTo: alice@test.mssante.fr\r\nSubject: =?UTF-8?Q?r=C3=A9sultats?=\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=out\r\n\r\n" +
	"--out\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n" +
	"--in\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nr=E9sultat\r\n" +
	"--in\r\nContent-Type: text/html\r\n\r\n<p>résultat</p>\r\n--in--\r\n" +
	"--out\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n" +
	"--out\r\nContent-Type: application/pdf; name=cr.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--out--\r\n"
