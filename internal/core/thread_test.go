package core_test

import (
	"context"
	"testing"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/store/storetest"
)

// A delivered message joins the thread of a message it answers in the same
// mailbox; one that answers nothing there starts a thread of its own.
func TestDeliveryThreads(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice")
		coretest.User(t, svc, "bob", "Bob")
		for _, m := range []struct{ to, subject, extra string }{
			{"alice", "first", ""},
			{"alice", "other", ""},
			{"alice", "reply", "In-Reply-To: <first@test>\r\n"},
			{"alice", "deeper", "References: <first@test> <reply@test>\r\n"},
			{"bob", "elsewhere", "In-Reply-To: <first@test>\r\n"},
			{"alice", "no-id", ""},
		} {
			data := msg("x@remote.example", m.to, m.subject, m.extra)
			if m.subject == "no-id" {
				data = []byte("From: x@remote.example\r\nSubject: no-id\r\n\r\nHello.\r\n")
			}
			if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{m.to + "@" + coretest.Domain}, Data: data}); err != nil {
				t.Fatal(err)
			}
		}
		inbox := coretest.Folder(t, svc, "alice@"+coretest.Domain, "INBOX")
		msgs, err := svc.Messages(ctx, alice, inbox.ID, core.MessageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		thread := map[string]int64{}
		for _, m := range msgs {
			if m.ThreadID == 0 {
				t.Errorf("%s has no thread", m.Subject)
			}
			thread[m.Subject] = m.ThreadID
			if m.Subject == "first" && m.ThreadID != m.ID {
				t.Errorf("first starts thread %d, want its own id %d", m.ThreadID, m.ID)
			}
		}
		if thread["reply"] != thread["first"] || thread["deeper"] != thread["first"] {
			t.Errorf("answers are not in the first message's thread: %v", thread)
		}
		if thread["other"] == thread["first"] || thread["no-id"] == thread["first"] || thread["no-id"] == thread["other"] {
			t.Errorf("unrelated messages share a thread: %v", thread)
		}
		bobInbox := coretest.Folder(t, svc, "bob@"+coretest.Domain, "INBOX")
		bobs, err := svc.Messages(ctx, core.System("test"), bobInbox.ID, core.MessageQuery{})
		if err != nil || len(bobs) != 1 || bobs[0].ThreadID != bobs[0].ID {
			t.Errorf("bob's answer to a message he never had: %+v, %v", bobs, err)
		}
	})
}
