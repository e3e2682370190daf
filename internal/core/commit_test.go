package core_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/store/storetest"
)

// Jobs that reach the group committer together share one transaction; one of
// them failing (here a delivery to two mailboxes, one over quota, after the
// other mailbox's rows were written) must leave no trace and must not fail or
// change the others: their messages, UIDs, flags, counters and events are as
// if the failed job had never come.
func TestFailedJobLeavesItsBatchIntact(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		sys := core.System("test")
		svc := coretest.New(t, coretest.Options{Engine: engine})
		bob := coretest.User(t, svc, "bob", "Bob")
		coretest.User(t, svc, "alice", "Alice")
		alice := coretest.Mailbox(t, svc, "alice@"+coretest.Domain)
		if err := svc.SetQuota(ctx, sys, alice.ID, 100); err != nil {
			t.Fatal(err)
		}
		bobInbox := coretest.Folder(t, svc, "bob@"+coretest.Domain, "INBOX")
		if err := svc.Deliver(ctx, sys, core.Delivery{Recipients: []string{"bob@" + coretest.Domain}, Data: msg("x@remote.example", "bob", "zero", "")}); err != nil {
			t.Fatal(err)
		}
		watchAlice := svc.Watch(alice.ID)
		defer watchAlice.Close()
		before := svc.CommitStats()

		release := svc.HoldCommitsForTest()
		defer release()
		big := msg("x@remote.example", "bob, alice", "big", "X-Pad: "+strings.Repeat("x", 200)+"\r\n")
		ops := map[string]func() error{
			"deliver to bob": func() error {
				return svc.Deliver(ctx, sys, core.Delivery{Recipients: []string{"bob@" + coretest.Domain}, Data: msg("x@remote.example", "bob", "one", "")})
			},
			"deliver to bob and alice over quota": func() error {
				return svc.Deliver(ctx, sys, core.Delivery{Recipients: []string{"bob@" + coretest.Domain, "alice@" + coretest.Domain}, Data: big})
			},
			"append": func() error {
				_, err := svc.Append(ctx, bob, bobInbox.ID, core.FlagSeen, nil, time.Time{}, msg("bob@"+coretest.Domain, "bob", "two", ""))
				return err
			},
			"flag": func() error {
				_, _, err := svc.StoreFlags(ctx, bob, bobInbox.ID, []uint32{1}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagFlagged})
				return err
			},
		}
		errs := map[string]chan error{}
		for name, op := range ops {
			c := make(chan error, 1)
			errs[name] = c
			go func() { c <- op() }()
		}
		for deadline := time.Now().Add(10 * time.Second); svc.QueuedCommitsForTest() < len(ops); {
			if time.Now().After(deadline) {
				t.Fatalf("%d jobs queued, want %d", svc.QueuedCommitsForTest(), len(ops))
			}
			time.Sleep(time.Millisecond)
		}
		release()
		for name, c := range errs {
			err := <-c
			if want := name == "deliver to bob and alice over quota"; want != errors.Is(err, core.ErrQuota) {
				t.Errorf("%s: %v", name, err)
			}
		}
		after := svc.CommitStats()
		if after.Commits-before.Commits != 2 || after.Retries-before.Retries != 1 || after.Failures-before.Failures != 1 {
			t.Errorf("commit stats went from %+v to %+v, want the held batch, then one batch run again", before, after)
		}

		inbox := coretest.Folder(t, svc, "bob@"+coretest.Domain, "INBOX")
		if inbox.Messages != 3 || inbox.UIDNext != 4 || inbox.Unseen != 2 {
			t.Errorf("bob's inbox = %+v, want 3 messages, 2 unseen, UIDNEXT 4", inbox)
		}
		msgs, err := svc.Messages(ctx, bob, inbox.ID, core.MessageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var subjects []string
		for _, m := range msgs {
			subjects = append(subjects, m.Subject)
			if m.UID == 1 && m.Flags&core.FlagFlagged == 0 {
				t.Errorf("message 1 lost its flag: %+v", m)
			}
		}
		if got := strings.Join(subjects, " "); !strings.Contains(got, "zero") || !strings.Contains(got, "one") || !strings.Contains(got, "two") || strings.Contains(got, "big") {
			t.Errorf("bob's messages: %q", got)
		}
		if f := coretest.Folder(t, svc, "alice@"+coretest.Domain, "INBOX"); f.Messages != 0 {
			t.Errorf("alice's inbox = %+v", f)
		}
		select {
		case e := <-watchAlice.C:
			t.Errorf("alice's watcher heard %+v of a refused delivery", e)
		default:
		}
		if problems, err := svc.Check(ctx, nil); err != nil || len(problems) > 0 {
			t.Fatalf("check: %v %v", problems, err)
		}
	})
}

// The blobs' fsync overlaps the transaction that writes their rows, but the
// transaction commits only after it succeeded: when it fails, the delivery
// fails and no row names its blob.
func TestFailedBlobSyncCommitsNothing(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		coretest.User(t, svc, "bob", "Bob")
		deliver := func(subject string) error {
			return svc.Deliver(ctx, core.System("test"), core.Delivery{Recipients: []string{"bob@" + coretest.Domain}, Data: msg("x@remote.example", "bob", subject, "")})
		}
		diskFull := errors.New("no space left on device")
		restore := svc.SetBlobSyncForTest(func() error {
			time.Sleep(50 * time.Millisecond) // long after the rows are written
			return diskFull
		})
		if err := deliver("lost"); !errors.Is(err, diskFull) {
			t.Fatalf("delivery with a failed sync: %v", err)
		}
		restore()
		if err := deliver("kept"); err != nil {
			t.Fatal(err)
		}
		inbox := coretest.Folder(t, svc, "bob@"+coretest.Domain, "INBOX")
		if inbox.Messages != 1 || inbox.UIDNext != 2 {
			t.Errorf("inbox = %+v, want only the message synced", inbox)
		}
		if problems, err := svc.Check(ctx, nil); err != nil || len(problems) > 0 {
			t.Fatalf("check: %v %v", problems, err)
		}
	})
}

// AppendAll commits all its messages in one go, with consecutive UIDs, or
// none: a reader failing on the third message, or the mailbox's quota
// reached by the second, leaves the folder as it was (RFC 3502 §6.3.11).
func TestAppendAllIsAllOrNothing(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice")
		inbox := coretest.Folder(t, svc, alice.Address, "INBOX")
		msg := func(i int) string { return "Subject: m" + string(rune('0'+i)) + "\r\n\r\nbody\r\n" }
		items := func(n int, fail int) func() (*core.AppendItem, error) {
			i := 0
			return func() (*core.AppendItem, error) {
				if i == n {
					return nil, nil
				}
				i++
				var r io.Reader = strings.NewReader(msg(i))
				if i == fail {
					r = io.MultiReader(strings.NewReader("Subject: m"), iotest.ErrReader(errors.New("connection lost")))
				}
				return &core.AppendItem{Flags: core.FlagSeen, R: r, Size: int64(len(msg(i)))}, nil
			}
		}
		if _, err := svc.AppendAll(ctx, alice, inbox.ID, items(4, 3)); err == nil || !strings.Contains(err.Error(), "connection lost") {
			t.Fatalf("append with a failing third reader: %v", err)
		}
		if f := coretest.Folder(t, svc, alice.Address, "INBOX"); f.Messages != 0 {
			t.Fatalf("%d messages after a failed multiple append, want 0", f.Messages)
		}
		got, err := svc.AppendAll(ctx, alice, inbox.ID, items(3, 0))
		if err != nil || len(got) != 3 {
			t.Fatalf("append of 3: %d, %v", len(got), err)
		}
		for i, m := range got {
			if m.UID != got[0].UID+uint32(i) || m.Flags&core.FlagSeen == 0 {
				t.Errorf("message %d: UID %d flags %v, want UID %d and \\Seen", i, m.UID, m.Flags, got[0].UID+uint32(i))
			}
		}
		mb := coretest.Mailbox(t, svc, alice.Address)
		if err := svc.SetQuota(ctx, core.System("test"), mb.ID, 4*int64(len(msg(1)))+10); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AppendAll(ctx, alice, inbox.ID, items(2, 0)); !errors.Is(err, core.ErrQuota) {
			t.Fatalf("append over quota: %v, want ErrQuota", err)
		}
		if f := coretest.Folder(t, svc, alice.Address, "INBOX"); f.Messages != 3 {
			t.Fatalf("%d messages after an append over quota, want the 3 before", f.Messages)
		}
	})
}
