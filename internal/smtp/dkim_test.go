package smtp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/smtp"
)

// TestDKIMSignedAndVerified sends a message through the core of one node,
// which signs it with the key `caduceus dkim add` made, and hands the queued
// copy to the MX of another node that looks the printed record up: intact it
// passes, tampered it fails, unsigned it says none.
func TestDKIMSignedAndVerified(t *testing.T) {
	ctx := context.Background()
	sender := coretest.New(t, coretest.Options{})
	alice := coretest.User(t, sender, "alice", "Alice")
	key, err := sender.AddDKIMKey(ctx, core.System("cli"), coretest.Domain, "s1")
	if err != nil {
		t.Fatal(err)
	}
	res, err := sender.Submit(ctx, alice, core.Submission{
		MailFrom: alice.Address, Recipients: []string{"dr@autre.mssante.fr"},
		Data: []byte("From: alice@" + coretest.Domain + "\r\nTo: dr@autre.mssante.fr\r\nSubject: Compte rendu\r\n\r\nLe compte rendu suit.\r\n"),
	})
	if err != nil || res.Queued != 1 {
		t.Fatalf("submit: %+v, %v", res, err)
	}
	queued, err := sender.OutboundList(ctx, core.System("test"))
	if err != nil || len(queued) != 1 {
		t.Fatalf("queue: %v, %v", queued, err)
	}
	r, err := sender.OpenOutbound(ctx, queued[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed, []byte("DKIM-Signature:")) {
		t.Fatalf("queued message not signed:\n%s", signed)
	}

	var lookups []string
	e := newEnv(t, smtp.Options{LookupTXT: func(_ context.Context, name string) ([]string, error) {
		lookups = append(lookups, name)
		if name == key.RecordName {
			return []string{key.Record}, nil
		}
		return nil, errors.New("no such host")
	}})
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"intact", string(signed), "dkim=pass header.d=" + coretest.Domain},
		{"tampered", strings.Replace(string(signed), "Le compte rendu", "La facture", 1), "dkim=fail"},
		{"unsigned", "From: x@ailleurs.fr\r\nSubject: s\r\n\r\nb\r\n", "dkim=none"},
		{"forged verdict", "Authentication-Results: mx.test.mssante.fr; dkim=pass header.d=" + coretest.Domain + "\r\nFrom: x@ailleurs.fr\r\n\r\nb\r\n", "dkim=none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t, e.mx, false)
			defer c.Close()
			if err := send(c, "alice@"+coretest.Domain, []string{"bob@" + coretest.Domain}, tc.msg); err != nil {
				t.Fatal(err)
			}
			msgs := e.folder(t, "bob", "INBOX")
			got := strings.ReplaceAll(msgs[len(msgs)-1], "\r\n ", " ") // unfold
			if n := strings.Count(got, "Authentication-Results: mx.test.mssante.fr;"); n != 1 {
				t.Fatalf("%d Authentication-Results fields of ours, want 1:\n%s", n, got)
			}
			if !strings.Contains(got, "Authentication-Results: mx.test.mssante.fr; "+tc.want) {
				t.Fatalf("stored message lacks %q:\n%s", tc.want, got)
			}
		})
	}
	if len(lookups) == 0 || lookups[0] != "s1._domainkey."+coretest.Domain {
		t.Fatalf("DNS lookups %v", lookups)
	}
}
