package core_test

import (
	"context"
	"testing"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/store/storetest"
)

func TestSearch(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice")
		bob := coretest.User(t, svc, "bob", "Bob")
		deliver := func(data string) {
			t.Helper()
			if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: []byte(data)}); err != nil {
				t.Fatal(err)
			}
		}
		deliver("From: Laboratoire <labo@bio.example>\r\nSubject: =?utf-8?q?R=C3=A9sultats_de_biologie?=\r\n\r\nGlyc\xc3\xa9mie normale.\r\n")
		deliver("From: Dr House <house@plainsboro.example>\r\nSubject: Consultation\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Echographie cardiaque pr=E9vue</p>\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"ordonnance-2026.pdf\"\r\n\r\nJVBERi0=\r\n--b--\r\n")
		mb := coretest.Mailbox(t, svc, "alice@test.mssante.fr")
		for _, c := range []struct {
			q    string
			want string // subject of the single hit, "" for none
		}{
			{"resultats", "Résultats de biologie"}, // accents folded
			{"GLYCÉMIE", "Résultats de biologie"},  // body, case
			{"echo", "Consultation"},               // prefix, HTML body, Latin-1
			{"prévue", "Consultation"},             // quoted-printable, charset
			{"ordonnance", "Consultation"},         // attachment name
			{"house plainsboro", "Consultation"},   // addresses, two words
			{"labo consultation", ""},              // both words must match
			{`" OR 1=1 --`, ""},                    // no query syntax gets through
			{"JVBERi0", ""},                        // attachment content is not indexed
		} {
			got, err := svc.Search(ctx, alice, mb.ID, c.q, 10)
			if err != nil {
				t.Fatalf("search %q: %v", c.q, err)
			}
			if c.want == "" && len(got) != 0 || c.want != "" && (len(got) != 1 || got[0].Subject != c.want) {
				t.Errorf("search %q = %d hits %v, want %q", c.q, len(got), subjects(got), c.want)
			}
		}
		if _, err := svc.Search(ctx, bob, mb.ID, "resultats", 10); err == nil {
			t.Error("bob searched alice's mailbox")
		}
	})
}

func subjects(ms []core.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Subject)
	}
	return out
}

func TestSearchFolder(t *testing.T) {
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{})
	alice := coretest.User(t, svc, "alice", "Alice")
	for _, subj := range []string{"scanner thoracique", "bilan sanguin", "scanner cérébral"} {
		if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: []byte("Subject: " + subj + "\r\n\r\nx\r\n")}); err != nil {
			t.Fatal(err)
		}
	}
	inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
	uids, err := svc.SearchFolder(ctx, alice, inbox.ID, "SCANNER")
	if err != nil || len(uids) != 2 || uids[0] != 1 || uids[1] != 3 {
		t.Fatalf("uids = %v, %v; want [1 3]", uids, err)
	}
}

func TestSearchFolderBodyOnly(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		svc := coretest.New(t, coretest.Options{Engine: engine})
		alice := coretest.User(t, svc, "alice", "Alice")
		for _, m := range []string{"Subject: scanner\r\n\r\nrien\r\n", "Subject: autre\r\n\r\nle scanner est prêt\r\n"} {
			if err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@test.mssante.fr"}, Data: []byte(m)}); err != nil {
				t.Fatal(err)
			}
		}
		inbox := coretest.Folder(t, svc, "alice@test.mssante.fr", "INBOX")
		text, err := svc.SearchFolder(ctx, alice, inbox.ID, "scanner")
		if err != nil || len(text) != 2 {
			t.Fatalf("TEXT: %v %v", text, err)
		}
		body, err := svc.SearchFolderBody(ctx, alice, inbox.ID, "scanner")
		if err != nil || len(body) != 1 || body[0] != 2 {
			t.Fatalf("BODY: %v %v; want [2]", body, err)
		}
	})
}
