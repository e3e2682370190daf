package imap

import (
	"encoding/base64"
	"testing"

	"caduceus/internal/core/coretest"
)

// TestSearchText searches with TEXT and BODY through the core's substring
// index: strings of decoded bodies (quoted-printable, base64, a charset),
// accents, case and runs of white space ignored, found anywhere in a word
// or across words (RFC 9051 §6.4.4 "contains the specified string"), every
// header field for TEXT only; and HEADER and BCC in decoded header fields.
func TestSearchText(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	r := ts.raw(t, "alice")
	msgs := []string{
		// 1: quoted-printable UTF-8.
		"From: labo@example.org\r\nSubject: Analyses\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"R=C3=A9sultats de l'h=C3=A9moglobine glyqu=C3=A9e.\r\n",
		// 2: base64 in ISO-8859-1.
		"From: cabinet@example.org\r\nSubject: Courrier\r\nBcc: =?utf-8?q?H=C3=A9l=C3=A8ne?= <helene@example.org>\r\n" +
			"X-Dossier: 2026-0042\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64.StdEncoding.EncodeToString([]byte("Compte rendu op\xe9ratoire du patient.")) + "\r\n",
		// 3: the word only in the subject.
		"From: secretariat@example.org\r\nSubject: Hemoglobine\r\n\r\nVoir la piece jointe.\r\n",
	}
	for _, m := range msgs {
		r.appendRaw("INBOX", m)
	}
	r.ok("SELECT INBOX")
	tests := []struct{ command, want string }{
		{`SEARCH BODY resultats`, "* SEARCH 1"},
		{`SEARCH BODY "HÉMOGLOB"`, "* SEARCH 1"},
		{`SEARCH TEXT "HÉMOGLOB"`, "* SEARCH 1 3"},
		{`SEARCH TEXT "operatoire patient"`, "* SEARCH"},
		{`SEARCH TEXT "opératoire   DU patient"`, "* SEARCH 2"},
		{`SEARCH BODY "moglobi"`, "* SEARCH 1"},
		{`SEARCH TEXT "moglobi"`, "* SEARCH 1 3"},
		{`SEARCH TEXT "2026-0042"`, "* SEARCH 2"},
		{`SEARCH BODY "2026-0042"`, "* SEARCH"},
		{`SEARCH TEXT "labo@example"`, "* SEARCH 1"},
		{`SEARCH BODY "l'hémo"`, "* SEARCH 1"},
		{`SEARCH TEXT "du"`, "* SEARCH 2"},
		{`SEARCH TEXT "compte rendu" NOT BODY glyquee`, "* SEARCH 2"},
		{`SEARCH OR BODY glyq TEXT "opér"`, "* SEARCH 1 2"},
		{`SEARCH TEXT "absent"`, "* SEARCH"},
		{`SEARCH TEXT ""`, "* SEARCH 1 2 3"},
		{`SEARCH HEADER X-Dossier 0042`, "* SEARCH 2"},
		{`SEARCH HEADER X-Dossier ""`, "* SEARCH 2"},
		{`SEARCH BCC "hélène"`, "* SEARCH 2"},
		{`UID SEARCH FROM LABO`, "* SEARCH 1"},
	}
	for _, tt := range tests {
		if lines := r.ok(tt.command); len(lines) != 1 || lines[0] != tt.want {
			t.Errorf("%s = %q, want %q", tt.command, lines, tt.want)
		}
	}
}
