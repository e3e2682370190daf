package core_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/store/storetest"
)

// TestReadReceiptRoundTrip: Alice asks for a read receipt from Bob (here) and
// Dr X (another operator); the states move as the queue, a DSN and Bob's MDN
// say, on the receipts and as keywords of the Sent copy.
func TestReadReceiptRoundTrip(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		{
			ctx := context.Background()
			svc := coretest.New(t, coretest.Options{Engine: engine})
			alice := coretest.User(t, svc, "alice", "Alice")
			bob := coretest.User(t, svc, "bob", "Bob")
			from := "alice@" + coretest.Domain
			remote := "dr.x@autre.mssante.fr"
			data := msg(from, "bob@"+coretest.Domain, "rr1", "Disposition-Notification-To: "+from+"\r\n")
			res, err := svc.Submit(ctx, alice, core.Submission{MailFrom: from, Recipients: []string{"bob@" + coretest.Domain, remote}, Data: data})
			if err != nil {
				t.Fatal(err)
			}
			sent := sentMessage(t, svc, alice, from, res.SentUID)
			states := func() map[string]string {
				t.Helper()
				rs, err := svc.Receipts(ctx, alice, sent.ID)
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]string{}
				for _, r := range rs {
					out[r.Recipient] = r.State
				}
				return out
			}
			want := func(bobState, xState string, keywords ...string) {
				t.Helper()
				got := states()
				if got["bob@"+coretest.Domain] != bobState || got[remote] != xState {
					t.Fatalf("receipts %v, want bob %s, dr.x %s", got, bobState, xState)
				}
				m := sentMessage(t, svc, alice, from, res.SentUID)
				if !slices.Equal(m.Keywords, keywords) {
					t.Fatalf("Sent keywords %v, want %v", m.Keywords, keywords)
				}
			}
			want(core.ReceiptDelivered, core.ReceiptSent)

			// The remote operator accepts it.
			q, err := svc.OutboundList(ctx, core.System("test"))
			if err != nil || len(q) != 1 {
				t.Fatalf("queue %v %v", q, err)
			}
			if err := svc.OutboundDone(ctx, core.System("queue"), q[0].ID, true, "250 ok"); err != nil {
				t.Fatal(err)
			}
			want(core.ReceiptDelivered, core.ReceiptRelayed, core.KeywordAccepted)

			// Its DSN says delivered.
			dsn := "From: MAILER-DAEMON@mx.autre.mssante.fr\r\nTo: " + from + "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
				"--b\r\nContent-Type: text/plain\r\n\r\nOK\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.autre.mssante.fr\r\n\r\nFinal-Recipient: rfc822; " + remote + "\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n" +
				"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <rr1@test>\r\n\r\n--b--\r\n"
			if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{from}, Data: []byte(dsn)}); err != nil {
				t.Fatal(err)
			}
			want(core.ReceiptDelivered, core.ReceiptDelivered, core.KeywordAccepted, core.KeywordDelivered)

			// Bob opens it: the request is there, to ask (no Return-Path
			// on a local delivery equals the request's address).
			inbox := coretest.Folder(t, svc, "bob@"+coretest.Domain, "INBOX")
			msgs, err := svc.Messages(ctx, bob, inbox.ID, core.MessageQuery{})
			if err != nil || len(msgs) != 1 {
				t.Fatalf("bob's inbox %v %v", msgs, err)
			}
			req, err := svc.ReadReceipt(ctx, bob, msgs[0].ID)
			if err != nil || !req.Requested || req.To != from || !req.Prompt() || req.Automatic() {
				t.Fatalf("request %+v %v", req, err)
			}
			if err := svc.SendReadReceipt(ctx, bob, msgs[0].ID, "displayed", false); !errors.Is(err, core.ErrPermission) {
				t.Fatalf("automatic receipt without consent: %v", err)
			}
			if err := svc.SendReadReceipt(ctx, bob, msgs[0].ID, "displayed", true); err != nil {
				t.Fatal(err)
			}
			if err := svc.SendReadReceipt(ctx, bob, msgs[0].ID, "displayed", true); !errors.Is(err, core.ErrExists) {
				t.Fatalf("second receipt: %v", err)
			}
			m, err := svc.Message(ctx, bob, msgs[0].ID)
			if err != nil || !slices.Contains(m.Keywords, core.KeywordMDNSent) {
				t.Fatalf("bob's copy keywords %v %v", m.Keywords, err)
			}
			want(core.ReceiptRead, core.ReceiptDelivered, core.KeywordAccepted, core.KeywordDelivered)

			// Dr X's MDN, deleted without reading.
			mdn := "From: " + remote + "\r\nTo: " + from + "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n" +
				"--b\r\nContent-Type: text/plain\r\n\r\nSupprimé\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822;" + remote + "\r\nOriginal-Message-ID: <rr1@test>\r\nDisposition: automatic-action/MDN-sent-automatically; deleted\r\n\r\n--b--\r\n"
			if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{from}, Data: []byte(mdn)}); err != nil {
				t.Fatal(err)
			}
			want(core.ReceiptRead, core.ReceiptDeleted, core.KeywordAccepted, core.KeywordDelivered)

			// Someone who cannot read Alice's mailbox sees nothing.
			if _, err := svc.Receipts(ctx, bob, sent.ID); !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("bob reads alice's receipts: %v", err)
			}
		}
	})
}

func TestReadReceiptPolicy(t *testing.T) {
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{})
	alice := coretest.User(t, svc, "alice", "Alice")
	bob := coretest.User(t, svc, "bob", "Bob")
	from := "alice@" + coretest.Domain
	box := coretest.Mailbox(t, svc, "bob@"+coretest.Domain)
	if err := svc.SetReadReceiptPolicy(ctx, alice, box.ID, core.MDNAlways); !errors.Is(err, core.ErrPermission) && !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("alice sets bob's policy: %v", err)
	}
	if err := svc.SetReadReceiptPolicy(ctx, bob, box.ID, "sometimes"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad policy: %v", err)
	}
	if err := svc.SetReadReceiptPolicy(ctx, bob, box.ID, core.MDNAlways); err != nil {
		t.Fatal(err)
	}
	// A request from the message's own sender (Return-Path) goes by policy;
	// one to another address is still asked.
	for i, tc := range []struct {
		returnPath string
		automatic  bool
	}{{from, true}, {"bounces@ailleurs.fr", false}} {
		data := "Return-Path: <" + tc.returnPath + ">\r\n" + string(msg(from, "bob", "p"+string(rune('a'+i)), "Disposition-Notification-To: "+from+"\r\n"))
		if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{MailFrom: tc.returnPath, Recipients: []string{"bob@" + coretest.Domain}, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	inbox := coretest.Folder(t, svc, "bob@"+coretest.Domain, "INBOX")
	msgs, err := svc.Messages(ctx, bob, inbox.ID, core.MessageQuery{})
	if err != nil || len(msgs) != 2 {
		t.Fatal(msgs, err)
	}
	for i, want := range []bool{true, false} {
		req, err := svc.ReadReceipt(ctx, bob, msgs[i].ID)
		if err != nil || req.Automatic() != want || req.Prompt() == want {
			t.Fatalf("message %d: %+v %v, want automatic %v", i, req, err, want)
		}
		err = svc.SendReadReceipt(ctx, bob, msgs[i].ID, "displayed", false)
		if (err == nil) != want {
			t.Fatalf("message %d: automatic receipt: %v", i, err)
		}
	}
	if err := svc.DeclineReadReceipt(ctx, bob, msgs[1].ID); err != nil {
		t.Fatal(err)
	}
	if req, _ := svc.ReadReceipt(ctx, bob, msgs[1].ID); req.Prompt() || !req.Done {
		t.Fatalf("declined receipt still asked: %+v", req)
	}
}

func sentMessage(t *testing.T, svc *core.Service, actor core.Actor, addr string, uid uint32) core.Message {
	t.Helper()
	f := coretest.Folder(t, svc, addr, "Sent")
	msgs, err := svc.Messages(context.Background(), actor, f.ID, core.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.UID == uid {
			return m
		}
	}
	t.Fatalf("no Sent message with UID %d", uid)
	return core.Message{}
}
