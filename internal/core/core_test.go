package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/store/storetest"
)

func msg(from, to, subject, extra string) []byte {
	return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + subject + "@test>\r\n" + extra + "\r\nHello.\r\n")
}

func TestDeliverAndRead(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice Martin")
		coretest.User(t, svc, "bob", "Bob Durand")
		data := msg("x@remote.example", "alice@test.mssante.fr", "=?utf-8?q?R=C3=A9sultats?=", "")
		err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{MailFrom: "x@remote.example", Recipients: []string{"alice@test.mssante.fr", "bob@test.mssante.fr"}, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
		if inbox.Messages != 1 || inbox.Unseen != 1 || inbox.UIDNext != 2 {
			t.Fatalf("inbox counters = %+v", inbox)
		}
		msgs, err := svc.Messages(ctx, alice, inbox.ID, core.MessageQuery{})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("messages = %v, %v", msgs, err)
		}
		if msgs[0].Subject != "Résultats" {
			t.Errorf("subject = %q, want decoded Résultats", msgs[0].Subject)
		}
		raw, err := svc.ReadMessage(ctx, alice, msgs[0].ID)
		if err != nil || string(raw) != string(data) {
			t.Fatalf("read back %q, %v", raw, err)
		}
		// Bob cannot read Alice's message: it does not exist for him.
		bob, _ := svc.User(ctx, "bob@test.mssante.fr")
		bobActor := core.Actor{AccountID: bob.ID, Address: bob.Address, Door: "test"}
		if _, err := svc.Message(ctx, bobActor, msgs[0].ID); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("bob reads alice's message: err = %v, want ErrNotFound", err)
		}
		if _, err := svc.Messages(ctx, bobActor, inbox.ID, core.MessageQuery{}); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("bob lists alice's inbox: err = %v, want ErrNotFound", err)
		}
		if problems, err := svc.Check(ctx, nil); err != nil || len(problems) > 0 {
			t.Fatalf("check: %v %v", problems, err)
		}
	})
}

func TestUnknownRecipientAndQuota(t *testing.T) {
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{DefaultQuota: 200})
	coretest.User(t, svc, "alice", "Alice")
	if _, err := svc.CheckRecipient(ctx, "nobody@test.mssante.fr"); !errors.Is(err, core.ErrNoSuchRecipient) {
		t.Fatalf("unknown local: %v", err)
	}
	if _, err := svc.CheckRecipient(ctx, "someone@elsewhere.example"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("remote domain: %v", err)
	}
	big := []byte("Subject: big\r\n\r\n" + strings.Repeat("x", 300))
	err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: big})
	if !errors.Is(err, core.ErrQuota) {
		t.Fatalf("over quota: err = %v", err)
	}
	inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
	if inbox.Messages != 0 {
		t.Fatalf("a refused message was stored: %+v", inbox)
	}
	if problems, err := svc.Check(ctx, nil); err != nil || len(problems) > 0 {
		t.Fatalf("check after refusal: %v %v", problems, err)
	}
}

func TestSubmitRights(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice")
		bob := coretest.User(t, svc, "bob", "Bob")
		sys := core.System("cli")
		org, err := svc.AddMailbox(ctx, sys, "cardio@test.mssante.fr", core.KindOrganisational, "Cardiologie", "")
		if err != nil {
			t.Fatal(err)
		}
		// Without any right, Bob cannot send as the service.
		_, err = svc.Submit(ctx, bob, core.Submission{MailFrom: "cardio@test.mssante.fr", Recipients: []string{"alice@test.mssante.fr"},
			Data: msg("cardio@test.mssante.fr", "alice@test.mssante.fr", "s1", "")})
		if !errors.Is(err, core.ErrPermission) {
			t.Fatalf("send as org without right: %v", err)
		}
		// Nor forge From: while using his own envelope.
		_, err = svc.Submit(ctx, bob, core.Submission{MailFrom: "bob@test.mssante.fr", Recipients: []string{"alice@test.mssante.fr"},
			Data: msg("alice@test.mssante.fr", "alice@test.mssante.fr", "s2", "")})
		if !errors.Is(err, core.ErrPermission) {
			t.Fatalf("forged From: %v", err)
		}
		// With send-on-behalf, the message goes out with Sender: Bob.
		member, _ := core.ParseRights("member")
		if err := svc.SetRights(ctx, sys, org.ID, "bob@test.mssante.fr", member); err != nil {
			t.Fatal(err)
		}
		res, err := svc.Submit(ctx, bob, core.Submission{MailFrom: "cardio@test.mssante.fr", Recipients: []string{"alice@test.mssante.fr", "dr.x@other-operator.example"},
			Data: []byte("From: Cardiologie <cardio@test.mssante.fr>\r\nTo: alice@test.mssante.fr\r\nBcc: hidden@test.mssante.fr\r\nSubject: s3\r\n\r\nBonjour\r\n")})
		if err != nil {
			t.Fatal(err)
		}
		if res.Local != 1 || res.Queued != 1 || res.MessageID == "" {
			t.Fatalf("result = %+v", res)
		}
		inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
		msgs, _ := svc.Messages(ctx, alice, inbox.ID, core.MessageQuery{})
		raw, _ := svc.ReadMessage(ctx, alice, msgs[0].ID)
		for _, want := range []string{"Sender: bob@test.mssante.fr", "Message-Id: <", "Date: "} {
			if !strings.Contains(string(raw), want) {
				t.Errorf("delivered message lacks %q:\n%s", want, raw)
			}
		}
		if strings.Contains(string(raw), "Bcc:") {
			t.Errorf("Bcc header leaked to recipients")
		}
		sent := coretest.Folder(t, svc, "cardio@test.mssante.fr", "Sent")
		if sent.Messages != 1 || sent.Unseen != 0 {
			t.Errorf("org Sent folder = %+v, want one seen copy", sent)
		}
		q, err := svc.OutboundList(ctx, sys)
		if err != nil || len(q) != 1 || q[0].Rcpt != "dr.x@other-operator.example" {
			t.Fatalf("queue = %+v, %v", q, err)
		}
		// Revoking takes effect at once.
		if err := svc.SetRights(ctx, sys, org.ID, "bob@test.mssante.fr", 0); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Folders(ctx, bob, org.ID); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("folders after revoke: %v", err)
		}
		if problems, err := svc.Check(ctx, nil); err != nil || len(problems) > 0 {
			t.Fatalf("check: %v %v", problems, err)
		}
	})
}

func TestFlagsExpungeVanishedAndMove(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice")
		for i := range 3 {
			if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: msg("a@b.example", "alice@test.mssante.fr", fmt.Sprint("m", i), "")}); err != nil {
				t.Fatal(err)
			}
		}
		inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
		w := svc.Watch(inbox.MailboxID)
		defer w.Close()
		before := inbox.HighestModSeq
		changed, _, err := svc.StoreFlags(ctx, alice, inbox.ID, []uint32{1, 2}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagSeen | core.FlagDeleted})
		if err != nil || len(changed) != 2 {
			t.Fatalf("store = %v, %v", changed, err)
		}
		if e := <-w.C; e.Kind != core.EventFlags || e.FolderID != inbox.ID {
			t.Fatalf("event = %+v", e)
		}
		// UNCHANGEDSINCE below the new MODSEQ fails for the changed ones.
		_, failed, err := svc.StoreFlags(ctx, alice, inbox.ID, []uint32{1, 3}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagFlagged, UnchangedSince: before})
		if err != nil || len(failed) != 1 || failed[0] != 1 {
			t.Fatalf("unchangedsince failed = %v, %v", failed, err)
		}
		gone, err := svc.Expunge(ctx, alice, inbox.ID, nil)
		if err != nil || fmt.Sprint(gone) != "[1 2]" {
			t.Fatalf("expunge = %v, %v", gone, err)
		}
		vanished, err := svc.Vanished(ctx, alice, inbox.ID, before)
		if err != nil || fmt.Sprint(vanished) != "[1 2]" {
			t.Fatalf("vanished = %v, %v", vanished, err)
		}
		archive := coretest.Folder(t, svc, "alice@test.mssante.fr", "Archive")
		pairs, err := svc.Move(ctx, alice, inbox.ID, []uint32{3}, archive.ID)
		if err != nil || len(pairs) != 1 || pairs[0] != (core.UIDPair{Src: 3, Dst: 1}) {
			t.Fatalf("move = %v, %v", pairs, err)
		}
		inbox = coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
		archive = coretest.Folder(t, svc, "alice@test.mssante.fr", "Archive")
		if inbox.Messages != 0 || archive.Messages != 1 || archive.Unseen != 1 {
			t.Fatalf("after move: inbox %+v archive %+v", inbox, archive)
		}
		if problems, err := svc.Check(ctx, nil); err != nil || len(problems) > 0 {
			t.Fatalf("check: %v %v", problems, err)
		}
	})
}

func TestReadOnlyDelegateCannotChange(t *testing.T) {
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{})
	coretest.User(t, svc, "alice", "Alice")
	sec := coretest.User(t, svc, "sec", "Secrétaire")
	mb := coretest.Mailbox(t, svc, "alice@test.mssante.fr")
	ro, _ := core.ParseRights("read-only")
	if err := svc.SetRights(ctx, core.System("cli"), mb.ID, "sec@test.mssante.fr", ro); err != nil {
		t.Fatal(err)
	}
	if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: msg("a@b.example", "alice", "x", "")}); err != nil {
		t.Fatal(err)
	}
	inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
	if _, err := svc.Expunge(ctx, sec, inbox.ID, nil); !errors.Is(err, core.ErrPermission) {
		t.Errorf("read-only expunge: %v", err)
	}
	if _, err := svc.Append(ctx, sec, inbox.ID, 0, nil, time.Time{}, []byte("Subject: x\r\n\r\n")); !errors.Is(err, core.ErrPermission) {
		t.Errorf("read-only append: %v", err)
	}
	changed, _, err := svc.StoreFlags(ctx, sec, inbox.ID, []uint32{1}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagDeleted | core.FlagSeen})
	if err != nil || len(changed) != 1 || changed[0].Flags != core.FlagSeen {
		t.Errorf("read-only store: %v %v; want only \\Seen set", changed, err)
	}
	if err := svc.SetRights(ctx, sec, mb.ID, "sec@test.mssante.fr", core.AllRights); !errors.Is(err, core.ErrPermission) {
		t.Errorf("delegate grants itself admin: %v", err)
	}
	if _, err := svc.Submit(ctx, sec, core.Submission{MailFrom: "alice@test.mssante.fr", Recipients: []string{"alice@test.mssante.fr"}, Data: msg("alice@test.mssante.fr", "x", "y", "")}); !errors.Is(err, core.ErrPermission) {
		t.Errorf("read-only delegate sends: %v", err)
	}
}

func TestLogin(t *testing.T) {
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{})
	coretest.User(t, svc, "alice", "Alice")
	if _, err := svc.Login(ctx, "imap", "127.0.0.1", "ALICE@test.mssante.fr", coretest.Password); err != nil {
		t.Fatalf("good login: %v", err)
	}
	for _, c := range []struct{ user, pass string }{{"alice@test.mssante.fr", "wrong password"}, {"ghost@test.mssante.fr", coretest.Password}} {
		if _, err := svc.Login(ctx, "imap", "127.0.0.1", c.user, c.pass); !errors.Is(err, core.ErrAuth) {
			t.Errorf("login %s: err = %v, want ErrAuth", c.user, err)
		}
	}
	if err := svc.SetDisabled(ctx, core.System("cli"), "alice@test.mssante.fr", true); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, "imap", "127.0.0.1", "alice@test.mssante.fr", coretest.Password); !errors.Is(err, core.ErrAuth) {
		t.Errorf("disabled login: %v", err)
	}
}

func TestConcurrentDeliveriesGroupCommit(t *testing.T) {
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{})
	coretest.User(t, svc, "alice", "Alice")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: msg("a@b.example", "alice", fmt.Sprint("c", i), "")})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
	if inbox.Messages != 100 || inbox.UIDNext != 101 {
		t.Fatalf("inbox = %+v", inbox)
	}
	if problems, err := svc.Check(ctx, nil); err != nil || len(problems) > 0 {
		t.Fatalf("check: %v %v", problems, err)
	}
}

func TestParseRights(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		err  bool
	}{
		{"lrs", "lrs", false},
		{"read,seen,send-as", "rs2", false},
		{"all", "lrswipkxtea12", false},
		{"member", "lrswipkte1", false},
		{"lrz", "", true},
		{"send-as-everyone", "", true},
	} {
		r, err := core.ParseRights(c.in)
		if (err != nil) != c.err || (!c.err && r.String() != c.want) {
			t.Errorf("ParseRights(%q) = %q, %v; want %q (err %v)", c.in, r, err, c.want, c.err)
		}
	}
}

func TestLoginLockoutAndCache(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	svc := coretest.New(t, coretest.Options{Now: clock})
	coretest.User(t, svc, "alice", "Alice")
	p := core.DefaultLoginPolicy()
	for i := range p.AccountFree {
		if _, err := svc.Login(ctx, "imap", "10.0.0.1:1234", "alice@test.mssante.fr", fmt.Sprint("guess", i)); !errors.Is(err, core.ErrAuth) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	// The next try comes too soon, even with the right password, from any address.
	if _, err := svc.Login(ctx, "imap", "10.0.0.2:1234", "alice@test.mssante.fr", coretest.Password); !errors.Is(err, core.ErrTooManyAttempts) {
		t.Fatalf("after %d failures: %v", p.AccountFree, err)
	}
	now = now.Add(p.DelayMax) // the delay is over
	if _, err := svc.Login(ctx, "imap", "10.0.0.2:1234", "alice@test.mssante.fr", coretest.Password); err != nil {
		t.Fatalf("after waiting: %v", err)
	}
	// A remembered password still stops working the moment it changes.
	if err := svc.SetPassword(ctx, core.System("cli"), "alice@test.mssante.fr", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, "imap", "10.0.0.2:1234", "alice@test.mssante.fr", coretest.Password); !errors.Is(err, core.ErrAuth) {
		t.Fatalf("old password after change: %v", err)
	}
}

func TestChangesSparseUIDsAndDeletedCount(t *testing.T) {
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{})
	alice := coretest.User(t, svc, "alice", "Alice")
	for i := range 100 {
		if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: msg("a@b.example", "alice", fmt.Sprint("s", i), "")}); err != nil {
			t.Fatal(err)
		}
	}
	inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
	// 50 single-UID ranges: more than one query takes, read in chunks.
	var ranges []core.UIDRange
	for u := uint32(2); u <= 100; u += 2 {
		ranges = append(ranges, core.UIDRange{Lo: u, Hi: u})
	}
	ranges = append(ranges, core.UIDRange{Lo: 4, Hi: 4}) // a repeat: listed once
	msgs, err := svc.Messages(ctx, alice, inbox.ID, core.MessageQuery{UIDs: ranges})
	if err != nil || len(msgs) != 50 || msgs[0].UID != 2 || msgs[49].UID != 100 {
		t.Fatalf("sparse set: %d messages, %v", len(msgs), err)
	}
	page, err := svc.Messages(ctx, alice, inbox.ID, core.MessageQuery{UIDs: ranges, Limit: 5, Offset: 10})
	if err != nil || len(page) != 5 || page[0].UID != 22 {
		t.Fatalf("sparse page: %v, %v", page, err)
	}
	// Closed and open-ended ranges together, newest first.
	mixed, err := svc.Messages(ctx, alice, inbox.ID, core.MessageQuery{UIDs: []core.UIDRange{{Lo: 5, Hi: 2}, {Lo: 98}, {Lo: 50, Hi: 50}}, Order: core.ByDateDesc})
	var got []uint32
	for _, m := range mixed {
		got = append(got, m.UID)
	}
	if err != nil || !slices.Equal(got, []uint32{100, 99, 98, 50, 5, 4, 3, 2}) {
		t.Fatalf("mixed ranges: %v, %v", got, err)
	}
	// Every listed message opens without another query.
	r, err := svc.OpenListed(msgs[0])
	if err != nil || r.Size() != msgs[0].Size {
		t.Fatalf("open listed: %v", err)
	}
	if _, err := svc.OpenListed(core.Message{ID: msgs[0].ID}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("open of a message not from Messages: %v", err)
	}

	since := inbox.HighestModSeq
	if _, _, err := svc.StoreFlags(ctx, alice, inbox.ID, []uint32{1, 2, 3}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if f := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX"); f.Deleted != 3 {
		t.Fatalf("deleted count = %d, want 3", f.Deleted)
	}
	if _, err := svc.Expunge(ctx, alice, inbox.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	changed, vanished, highest, err := svc.Changes(ctx, alice, inbox.ID, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 2 || changed[0].UID != 2 || fmt.Sprint(vanished) != "[1]" || highest <= since {
		t.Fatalf("changes = %d msgs, vanished %v, highest %d (since %d)", len(changed), vanished, highest, since)
	}
	if f := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX"); f.Deleted != 2 || f.Messages != 99 {
		t.Fatalf("after expunge: %+v", f)
	}
	if problems, err := svc.Check(ctx, nil); err != nil || len(problems) > 0 {
		t.Fatalf("check: %v %v", problems, err)
	}
}
