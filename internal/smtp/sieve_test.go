package smtp_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/smtp"
)

// activate stores and activates a Sieve script for user.
func (e *testEnv) activate(t *testing.T, user, script string) {
	t.Helper()
	ctx := context.Background()
	mb := coretest.Mailbox(t, e.svc, user+"@"+domain)
	if err := e.svc.PutSieveScript(ctx, system, mb.ID, "filters", script); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ActivateSieveScript(ctx, system, mb.ID, "filters"); err != nil {
		t.Fatal(err)
	}
}

// receive sends one message through the MX and fails the test if it is refused.
func (e *testEnv) receive(t *testing.T, from, to, data string) {
	t.Helper()
	if err := send(e.dial(t, e.mx, false), from, []string{to}, data); err != nil {
		t.Fatalf("MX refused: %v", err)
	}
}

// queued returns the queue's entries with their content.
func (e *testEnv) queued(t *testing.T) ([]core.Outbound, []string) {
	t.Helper()
	ctx := context.Background()
	list, err := e.svc.OutboundList(ctx, system)
	if err != nil {
		t.Fatal(err)
	}
	var data []string
	for _, o := range list {
		r, err := e.svc.OpenOutbound(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		data = append(data, string(b))
	}
	return list, data
}

func count(t *testing.T, e *testEnv, user, folder string) int {
	t.Helper()
	return len(e.folder(t, user, folder))
}

// TestSieveDelivery checks what scripts do to mail arriving through the MX.
func TestSieveDelivery(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	ctx := context.Background()
	alice := coretest.Mailbox(t, e.svc, "alice@"+domain)
	if _, err := e.svc.CreateFolder(ctx, system, alice.ID, "Labs", ""); err != nil {
		t.Fatal(err)
	}
	in := func(id string) string { return message("x@remote.example", "alice@"+domain, id) }

	// RFC 5228 §4.1, RFC 5232 §5: fileinto with flags.
	e.activate(t, "alice", `require ["fileinto", "imap4flags"];
if header :contains "Message-ID" "lab" { fileinto :flags ["\\Flagged", "$Lab"] "Labs"; stop; }
if header :contains "Message-ID" "missing" { fileinto "Nowhere"; stop; }
if header :contains "Message-ID" "drop" { discard; stop; }`)
	e.receive(t, "x@remote.example", "alice@"+domain, in("lab-1@remote.example"))
	if n := count(t, e, "alice", "Labs"); n != 1 {
		t.Fatalf("Labs has %d messages, want 1", n)
	}
	labs := coretest.Folder(t, e.svc, "alice@"+domain, "Labs")
	msgs, _ := e.svc.Messages(ctx, system, labs.ID, core.MessageQuery{})
	if msgs[0].Flags&core.FlagFlagged == 0 || len(msgs[0].Keywords) != 1 || msgs[0].Keywords[0] != "$Lab" {
		t.Errorf("flags %v keywords %v, want \\Flagged and $Lab", msgs[0].Flags, msgs[0].Keywords)
	}
	if n := count(t, e, "alice", "INBOX"); n != 0 {
		t.Fatalf("INBOX has %d, want 0", n)
	}
	// RFC 5228 §4.1: a folder that does not exist keeps the message.
	e.receive(t, "x@remote.example", "alice@"+domain, in("missing-1@remote.example"))
	if n := count(t, e, "alice", "INBOX"); n != 1 {
		t.Fatalf("missing folder: INBOX has %d, want 1", n)
	}
	// RFC 5228 §4.4: discard.
	e.receive(t, "x@remote.example", "alice@"+domain, in("drop-1@remote.example"))
	if n := count(t, e, "alice", "INBOX"); n != 1 {
		t.Fatalf("discard: INBOX has %d, want 1", n)
	}

	// A run that fails (too many actions) keeps the message.
	var many strings.Builder
	many.WriteString(`require "fileinto"; `)
	for i := range 40 {
		many.WriteString(`fileinto "Labs` + strings.Repeat("x", i) + `"; `)
	}
	e.activate(t, "alice", many.String())
	e.receive(t, "x@remote.example", "alice@"+domain, in("many-1@remote.example"))
	if n := count(t, e, "alice", "INBOX"); n != 2 {
		t.Fatalf("failed run: INBOX has %d, want 2", n)
	}

	// RFC 5429: reject sends a refusal to the sender through the queue.
	e.activate(t, "alice", `require "reject"; reject "Je ne reçois plus de courrier ici.";`)
	e.receive(t, "x@remote.example", "alice@"+domain, in("rej-1@remote.example"))
	if n := count(t, e, "alice", "INBOX"); n != 2 {
		t.Fatalf("reject: INBOX has %d, want 2", n)
	}
	list, data := e.queued(t)
	if len(list) != 1 || list[0].Rcpt != "x@remote.example" || list[0].MailFrom != "" {
		t.Fatalf("queue after reject: %+v", list)
	}
	for _, want := range []string{"Auto-Submitted: auto-replied", "disposition-notification", "Je ne reçois plus de courrier ici.", "Original-Message-ID: <rej-1@remote.example>", "deleted"} {
		if !strings.Contains(data[0], want) {
			t.Errorf("refusal lacks %q:\n%s", want, data[0])
		}
	}
	e.svc.DropOutbound(ctx, system, list[0].ID)
}

// TestSieveRedirect checks that redirect reaches local mailboxes and the
// trust space only, and does not loop.
func TestSieveRedirect(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	e.activate(t, "alice", `redirect "bob@`+domain+`";`)
	e.activate(t, "bob", `redirect "alice@`+domain+`";`)
	e.receive(t, "x@remote.example", "alice@"+domain, message("x@remote.example", "alice@"+domain, "r-1@remote.example"))
	// alice → bob → alice: the message now names alice in Delivered-To,
	// so her second redirect is refused and she keeps it.
	bob := e.folder(t, "bob", "INBOX")
	alice := e.folder(t, "alice", "INBOX")
	if len(bob)+len(alice) != 1 {
		t.Fatalf("loop: alice has %d, bob %d; want the message kept once", len(alice), len(bob))
	}
	for _, m := range append(bob, alice...) {
		if !strings.HasPrefix(m, "Delivered-To: ") {
			t.Errorf("redirected copy lacks Delivered-To:\n%s", m)
		}
	}

	// Outside the trust space: refused, kept.
	e.activate(t, "secretaire", `redirect "someone@gmail.example";`)
	e.receive(t, "x@remote.example", "secretaire@"+domain, message("x@remote.example", "secretaire@"+domain, "r-2@remote.example"))
	if n := count(t, e, "secretaire", "INBOX"); n != 1 {
		t.Fatalf("redirect outside the trust space: INBOX has %d, want 1", n)
	}
	// Inside the trust space: queued, with the recipient as sender.
	e.activate(t, "secretaire", `redirect "dr@hopital.mssante.fr";`)
	e.receive(t, "x@remote.example", "secretaire@"+domain, message("x@remote.example", "secretaire@"+domain, "r-3@remote.example"))
	if n := count(t, e, "secretaire", "INBOX"); n != 1 {
		t.Fatalf("redirect inside the trust space: INBOX has %d, want 1", n)
	}
	list, data := e.queued(t)
	if len(list) != 1 || list[0].Rcpt != "dr@hopital.mssante.fr" || list[0].MailFrom != "secretaire@"+domain || !strings.Contains(data[0], "Delivered-To: secretaire@"+domain) {
		t.Fatalf("queue after redirect: %+v", list)
	}
}

// TestVacation checks the automatic reply through the MX: RFC 3834's
// cases, the once-per-period rule and the dates.
func TestVacation(t *testing.T) {
	clock := coretest.NewClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	e := newEnvOver(t, coretest.New(t, coretest.Options{MessageLimit: 64 << 10, Now: clock.Now}), smtp.Options{})
	ctx := context.Background()
	bob := coretest.Mailbox(t, e.svc, "bob@"+domain)
	if err := e.svc.SetVacation(ctx, system, bob.ID, core.VacationSettings{
		Enabled: true, Subject: "Absent", Text: "Je suis absent jusqu'au 10.\n.Point.", Days: 7,
		Start: clock.Now().Add(-time.Hour), End: clock.Now().Add(48 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	base := func(from, id, extra string) string {
		return "From: " + from + "\r\nTo: bob@" + domain + "\r\nSubject: Bilan\r\nMessage-ID: <" + id + ">\r\n" + extra + "\r\nCorps.\r\n"
	}
	replies := func() []string {
		list, data := e.queued(t)
		var out []string
		for i, o := range list {
			if strings.Contains(data[i], "Auto-Submitted: auto-replied") {
				out = append(out, o.Rcpt+"\n"+data[i])
			}
		}
		return out
	}
	e.receive(t, "x@remote.example", "bob@"+domain, base("x@remote.example", "v1@remote.example", ""))
	got := replies()
	if len(got) != 1 {
		t.Fatalf("%d replies, want 1", len(got))
	}
	for _, want := range []string{"x@remote.example\n", "Subject: Absent\r\n", "In-Reply-To: <v1@remote.example>\r\n", "References: <v1@remote.example>\r\n", "From: bob@" + domain, "Je suis absent jusqu'au 10.\r\n.Point.\r\n"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("reply lacks %q:\n%s", want, got[0])
		}
	}
	// Once per period.
	e.receive(t, "x@remote.example", "bob@"+domain, base("x@remote.example", "v2@remote.example", ""))
	if n := len(replies()); n != 1 {
		t.Fatalf("second message: %d replies, want still 1", n)
	}
	// RFC 3834 §2: never to these.
	for _, tc := range []struct{ name, from, extra string }{
		{"auto-submitted", "a@remote.example", "Auto-Submitted: auto-generated\r\n"},
		{"list-id", "b@remote.example", "List-Id: <staff.remote.example>\r\n"},
		{"precedence bulk", "c@remote.example", "Precedence: bulk\r\n"},
		{"precedence list", "d@remote.example", "Precedence: list\r\n"},
		{"precedence junk", "e@remote.example", "Precedence: junk\r\n"},
		{"null sender", "", ""},
		{"mailer-daemon", "MAILER-DAEMON@remote.example", ""},
		{"own address", "bob@" + domain, ""},
	} {
		e.receive(t, tc.from, "bob@"+domain, base("someone@remote.example", tc.name+"@remote.example", tc.extra))
		if n := len(replies()); n != 1 {
			t.Fatalf("%s: %d replies, want still 1", tc.name, n)
		}
	}
	// The period passes, but so has the end date: no reply.
	clock.Add(8 * 24 * time.Hour)
	e.receive(t, "x@remote.example", "bob@"+domain, base("x@remote.example", "v3@remote.example", ""))
	if n := len(replies()); n != 1 {
		t.Fatalf("after the end: %d replies, want still 1", n)
	}
	// Without an end, the period passed: a new reply.
	if err := e.svc.SetVacation(ctx, system, bob.ID, core.VacationSettings{Enabled: true, Subject: "Absent", Text: "Je suis absent jusqu'au 10.\n.Point.", Days: 7}); err != nil {
		t.Fatal(err)
	}
	e.receive(t, "x@remote.example", "bob@"+domain, base("x@remote.example", "v4@remote.example", ""))
	if n := len(replies()); n != 2 {
		t.Fatalf("after the period: %d replies, want 2", n)
	}
	if n := count(t, e, "bob", "INBOX"); n != 12 {
		t.Errorf("bob's INBOX has %d messages, want all 12 kept", n)
	}
	// What bob's own script discards gets no automatic reply.
	e.activate(t, "bob", `if header :contains "Subject" "spam" { discard; }`)
	e.receive(t, "z@remote.example", "bob@"+domain, strings.Replace(base("z@remote.example", "v5@remote.example", ""), "Subject: Bilan", "Subject: spam", 1))
	if n := len(replies()); n != 2 {
		t.Fatalf("discarded message: %d replies, want still 2", n)
	}
	e.receive(t, "w@remote.example", "bob@"+domain, base("w@remote.example", "v6@remote.example", ""))
	if n := len(replies()); n != 3 {
		t.Fatalf("kept by bob's script: %d replies, want 3", n)
	}
}

// A colleague on the same server gets the automatic reply too: local
// submissions run the recipient's filters.
func TestVacationForLocalSender(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	ctx := context.Background()
	bob := coretest.Mailbox(t, e.svc, "bob@"+domain)
	if err := e.svc.SetVacation(ctx, system, bob.ID, core.VacationSettings{Enabled: true, Text: "Absent cette semaine."}); err != nil {
		t.Fatal(err)
	}
	c := e.login(t, "alice")
	if err := send(c, "alice@"+domain, []string{"bob@" + domain}, message("alice@"+domain, "bob@"+domain, "local-1@"+domain)); err != nil {
		t.Fatal(err)
	}
	inbox := e.folder(t, "alice", "INBOX")
	if len(inbox) != 1 || !strings.Contains(inbox[0], "Auto-Submitted: auto-replied") || !strings.Contains(inbox[0], "Subject: Auto: Bilan") || !strings.Contains(inbox[0], "In-Reply-To: <local-1@"+domain+">") {
		t.Fatalf("alice's INBOX: %q", inbox)
	}
	if n := count(t, e, "bob", "INBOX"); n != 1 {
		t.Fatalf("bob's INBOX has %d, want 1", n)
	}
}

// A vacation bounded by dates in the script itself, as Roundcube writes
// it (RFC 5260 currentdate, RFC 5231 :value).
func TestVacationScriptWithDates(t *testing.T) {
	clock := coretest.NewClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	e := newEnvOver(t, coretest.New(t, coretest.Options{MessageLimit: 64 << 10, Now: clock.Now}), smtp.Options{})
	e.activate(t, "bob", `require ["vacation", "date", "relational"];
if allof (currentdate :value "ge" "date" "2026-12-01", currentdate :value "le" "date" "2026-12-10") {
  vacation :days 7 :subject "Absent" "De retour le 11.";
}`)
	msg := func(from, id string) string {
		return "From: " + from + "\r\nTo: bob@" + domain + "\r\nSubject: Bilan\r\nMessage-ID: <" + id + ">\r\n\r\nCorps.\r\n"
	}
	e.receive(t, "x@remote.example", "bob@"+domain, msg("x@remote.example", "d1@remote.example"))
	clock.Add(10 * 24 * time.Hour)
	e.receive(t, "y@remote.example", "bob@"+domain, msg("y@remote.example", "d2@remote.example"))
	list, data := e.queued(t)
	if len(list) != 1 || list[0].Rcpt != "x@remote.example" || !strings.Contains(data[0], "De retour le 11.") {
		t.Fatalf("queue: %+v", list)
	}
}

// The body test reads the decoded text of a message arriving through the
// MX (RFC 5173).
func TestSieveBody(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	mb := coretest.Mailbox(t, e.svc, "alice@"+domain)
	if _, err := e.svc.CreateFolder(context.Background(), system, mb.ID, "Ordonnances", ""); err != nil {
		t.Fatal(err)
	}
	e.activate(t, "alice", `require ["body", "fileinto"]; if body :text :contains "ordonnance jointe" { fileinto "Ordonnances"; }`)
	data := "From: x@remote.example\r\nTo: alice@" + domain + "\r\nSubject: Suivi\r\nMessage-ID: <b1@remote.example>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"Vm9pY2kgbCdvcmRvbm5hbmNlIGpvaW50ZS4=\r\n"
	e.receive(t, "x@remote.example", "alice@"+domain, data)
	e.receive(t, "x@remote.example", "alice@"+domain, message("x@remote.example", "alice@"+domain, "b2@remote.example"))
	if n, m := count(t, e, "alice", "Ordonnances"), count(t, e, "alice", "INBOX"); n != 1 || m != 1 {
		t.Fatalf("Ordonnances has %d, INBOX %d; want 1 and 1", n, m)
	}
}
