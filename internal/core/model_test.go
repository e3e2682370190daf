package core_test

import (
	"caduceus/internal/store/storetest"
	"context"
	"fmt"
	"reflect"
	"testing"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/message"
)

func multipartMsg(i int) []byte {
	return fmt.Appendf(nil, "From: lab@remote.example\r\nTo: alice@test.mssante.fr\r\nSubject: result %d\r\nMessage-ID: <r%d@remote.example>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the report.\r\n"+
		"--b\r\nContent-Type: application/pdf; name=cr%d.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n", i, i, i)
}

// A message's model is stored at delivery and read back without parsing;
// one stored before models existed is parsed on the fly until the
// migration computes its model, in resumable batches, and its row of the
// substring index IMAP SEARCH reads.
func TestModelStoredAndMigrated(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc, st := coretest.NewWithStore(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice Martin")
		for i := range 5 {
			err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: multipartMsg(i)})
			if err != nil {
				t.Fatal(err)
			}
		}
		inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
		list := func() []core.Message {
			msgs, err := svc.Messages(ctx, alice, inbox.ID, core.MessageQuery{})
			if err != nil || len(msgs) != 5 {
				t.Fatalf("messages: %d, %v", len(msgs), err)
			}
			return msgs
		}
		stored, err := svc.Model(list()[0])
		if err != nil {
			t.Fatal(err)
		}
		if svc.ModelFallbacks() != 0 {
			t.Fatal("a message delivered now was parsed again")
		}
		if a := message.Attachments(stored); len(a) != 1 || a[0].Name != "cr0.pdf" || a[0].Part.DecodedSize != 9 {
			t.Fatalf("attachments of the stored model: %+v", a)
		}
		if err := svc.ResetModels(ctx, alice); err == nil {
			t.Fatal("a user reset the models")
		}
		if err := svc.ResetModels(ctx, core.System("cli")); err != nil {
			t.Fatal(err)
		}
		search := func() []uint32 {
			uids, err := svc.SearchFolder(ctx, alice, inbox.ID, "ee the rep")
			if err != nil {
				t.Fatal(err)
			}
			return uids
		}
		if got := search(); len(got) != 5 {
			t.Fatalf("substring search before the migration: %v", got)
		}
		// As a database from before the substring index: no row for any blob.
		if _, err := st.Exec(ctx, `DELETE FROM blob_grams`); err != nil {
			t.Fatal(err)
		}
		if got := search(); len(got) != 0 {
			t.Fatalf("substring search with an empty index: %v", got)
		}
		parsed, err := svc.Model(list()[0])
		if err != nil || svc.ModelFallbacks() != 1 || !reflect.DeepEqual(parsed, stored) {
			t.Fatalf("fallback: %v, %d fallbacks, same=%v", err, svc.ModelFallbacks(), reflect.DeepEqual(parsed, stored))
		}
		var calls []core.ModelProgress
		p, err := svc.MigrateModels(ctx, 2, func(p core.ModelProgress) { calls = append(calls, p) })
		if err != nil || p.Done != 5 || p.Total != 5 || len(calls) != 3 {
			t.Fatalf("migration: %+v, %v, progress %v", p, err, calls)
		}
		for _, m := range list() {
			if _, err := svc.Model(m); err != nil {
				t.Fatal(err)
			}
		}
		if svc.ModelFallbacks() != 1 {
			t.Errorf("%d fallbacks after the migration, want still 1", svc.ModelFallbacks())
		}
		if got := search(); len(got) != 5 {
			t.Errorf("substring search after the migration: %v, want the 5 messages", got)
		}
		if p, err := svc.MigrateModels(ctx, 2, nil); err != nil || p.Total != 0 {
			t.Errorf("second run: %+v, %v", p, err)
		}
	})
}
