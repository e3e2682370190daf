package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"caduceus/internal/core"
)

// The list of an organisational mailbox says who replied to, forwarded or
// moved each message, as the core noted it when a member did; a personal
// mailbox notes nothing, and who may not read the mailbox learns nothing.
func TestWhoHandled(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		e.deliver(fmt.Sprintf("From: <sender@example.org>\nTo: <%s>\nSubject: demande %d\nMessage-ID: <demande-%d@example.org>\n\nbonjour\n", secret, i, i), secret, alice)
	}
	acct, err := e.svc.User(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	actor, err := e.svc.ActorFor(ctx, acct.ID, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := e.svc.Mailboxes(ctx, actor)
	if err != nil {
		t.Fatal(err)
	}
	var box, own core.Access
	for _, b := range boxes {
		switch b.Address {
		case secret:
			box = b
		case alice:
			own = b
		}
	}
	send := func(from, field string) {
		t.Helper()
		data := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: suite\r\n%s\r\n\r\nvu\r\n", from, bob, field)
		if _, err := e.svc.Submit(ctx, actor, core.Submission{MailFrom: from, Recipients: []string{bob}, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	send(secret, "In-Reply-To: <demande-1@example.org>")
	send(secret, "References: <demande-0@example.org> <demande-2@example.org>")
	send(alice, "In-Reply-To: <demande-3@example.org>")

	folders, err := e.svc.Folders(ctx, actor, box.ID)
	if err != nil {
		t.Fatal(err)
	}
	var inbox, trash core.Folder
	for _, f := range folders {
		switch {
		case f.Name == "INBOX":
			inbox = f
		case f.SpecialUse == `\Trash`:
			trash = f
		}
	}
	msgs, err := e.svc.Messages(ctx, actor, inbox.ID, core.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.MessageID == "<demande-3@example.org>" {
			if _, err := e.svc.Move(ctx, actor, inbox.ID, []uint32{m.UID}, trash.ID); err != nil {
				t.Fatal(err)
			}
		}
	}

	c := e.login(alice)
	_, body := e.get(c, fmt.Sprintf("/mail/%d/%d", box.ID, inbox.ID))
	for _, want := range []string{"Répondu par " + alice, "Transféré par " + alice} {
		if !strings.Contains(body, want) {
			t.Fatalf("the secretariat's inbox lacks %q", want)
		}
	}
	if _, body = e.get(c, fmt.Sprintf("/mail/%d/%d", box.ID, trash.ID)); !strings.Contains(body, "Déplacé par "+alice+" vers "+trash.Name) {
		t.Fatal("the secretariat's trash does not say who moved the message there")
	}
	if got, err := e.svc.Handlings(ctx, actor, own.ID, []string{"<demande-3@example.org>"}); err != nil || len(got) != 0 {
		t.Fatalf("a reply from a personal mailbox was noted: %v, %v", got, err)
	}
	b, err := e.svc.User(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	bobActor, err := e.svc.ActorFor(ctx, b.ID, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Handlings(ctx, bobActor, box.ID, []string{"<demande-1@example.org>"}); err == nil {
		t.Fatal("bob, who may not read the secretariat, is told who handled its messages")
	}
}
