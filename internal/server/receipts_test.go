package server_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/server/servertest"
	"caduceus/internal/trust/trusttest"
)

// TestTwoNodesReceipts: two nodes of two domains in trust mode. Alice asks
// Bob, on the other operator, for a read receipt: the queue says his
// operator accepted it, his operator's DSN says delivered, his MDN says
// read, each state reaching Alice's receipts and the keywords of her Sent
// copy over mutually authenticated SMTP.
func TestTwoNodesReceipts(t *testing.T) {
	ctx := context.Background()
	f := trusttest.NewFixture(t, servertest.Domain, peerDomain)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aliceMX := ln.Addr().String() // reserved for the first node's MX, which the peer relays to
	ln.Close()
	peer := trustNode(t, f, "mx."+peerDomain, nil, func(c *config.Config) { c.Delivery.Relay = aliceMX })
	sys := core.System("test")
	if err := peer.Core.AddDomain(ctx, sys, peerDomain); err != nil {
		t.Fatal(err)
	}
	// servertest gives every node the test domain: the peer is not its home.
	if err := peer.Core.RemoveDomain(ctx, sys, servertest.Domain); err != nil {
		t.Fatal(err)
	}
	bob := "bob@" + peerDomain
	if _, err := peer.Core.AddUser(ctx, sys, core.NewUser{Address: bob, Name: "Bob", Password: servertest.Password}); err != nil {
		t.Fatal(err)
	}
	srv := trustNode(t, f, "mx."+servertest.Domain, []string{"alice"}, func(c *config.Config) {
		c.Delivery.Relay = peer.Addr("smtp")
		c.Listen.SMTP = aliceMX
	})
	alice := servertest.Actor(t, srv, "alice")
	data := "From: " + alice.Address + "\r\nTo: " + bob + "\r\nSubject: Compte rendu\r\nDisposition-Notification-To: " + alice.Address + "\r\n\r\nBonjour.\r\n"
	res, err := srv.Core.Submit(ctx, alice, core.Submission{MailFrom: alice.Address, Recipients: []string{bob}, Data: []byte(data), Notify: "SUCCESS,FAILURE"})
	if err != nil {
		t.Fatal(err)
	}
	sentCopy := func() (core.Message, string) {
		t.Helper()
		box, err := srv.Core.MailboxByAddress(ctx, sys, alice.Address)
		if err != nil {
			t.Fatal(err)
		}
		sent, err := srv.Core.FolderByName(ctx, sys, box.ID, "Sent")
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := srv.Core.Messages(ctx, sys, sent.ID, core.MessageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.UID == res.SentUID {
				rs, err := srv.Core.Receipts(ctx, alice, m.ID)
				if err != nil || len(rs) != 1 {
					t.Fatalf("receipts %v %v", rs, err)
				}
				return m, rs[0].State
			}
		}
		t.Fatal("no Sent copy")
		return core.Message{}, ""
	}

	// Bob's operator's DSN (NOTIFY=SUCCESS) comes back to Alice's INBOX.
	waitInbox(t, peer, bob, 1, 30*time.Second)
	waitInbox(t, srv, alice.Address, 1, 30*time.Second)
	if m, st := sentCopy(); st != core.ReceiptDelivered || !slices.Contains(m.Keywords, core.KeywordDelivered) {
		t.Fatalf("after the DSN: state %s, keywords %v", st, m.Keywords)
	}

	u, err := peer.Core.User(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	bobActor := core.Actor{AccountID: u.ID, Address: u.Address, Door: "test"}
	box, err := peer.Core.MailboxByAddress(ctx, sys, bob)
	if err != nil {
		t.Fatal(err)
	}
	in, err := peer.Core.FolderByName(ctx, sys, box.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := peer.Core.Messages(ctx, bobActor, in.ID, core.MessageQuery{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("bob's inbox %v %v", msgs, err)
	}
	req, err := peer.Core.ReadReceipt(ctx, bobActor, msgs[0].ID)
	if err != nil || !req.Prompt() || !req.MustAsk && req.To != alice.Address {
		t.Fatalf("request at bob's: %+v %v", req, err)
	}
	if err := peer.Core.SendReadReceipt(ctx, bobActor, msgs[0].ID, "displayed", true); err != nil {
		t.Fatal(err)
	}
	waitInbox(t, srv, alice.Address, 2, 30*time.Second)
	m, st := sentCopy()
	if st != core.ReceiptRead || !slices.Equal(m.Keywords, []string{core.KeywordAccepted, core.KeywordDelivered, core.KeywordRead}) {
		t.Fatalf("after the MDN: state %s, keywords %v", st, m.Keywords)
	}
}
