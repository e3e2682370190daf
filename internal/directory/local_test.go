package directory

import (
	"context"
	"errors"
	"slices"
	"testing"

	"caduceus/internal/store/storetest"
)

func TestLocalEntries(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		d := imported(t, engine)
		locals := []LocalEntry{
			{Key: "alice@caduceus.example", Listed: true, Entry: Entry{LastName: "Durand-Lefèvre",
				FirstName: "Alice", Profession: "10", Specialty: "SM38", City: "Lyon", Postcode: "69002",
				Mailbox: "Alice@Caduceus.example", MailboxKind: KindPersonal, Dematerialised: true}},
			{Key: "bob@caduceus.example", Listed: false, Entry: Entry{LastName: "Lefèvre", FirstName: "Bob",
				Mailbox: "bob@caduceus.example", MailboxKind: KindPersonal}},
			{Key: "urgences@caduceus.example", Listed: true, Entry: Entry{Organisation: "Clinique du Lac",
				Service: "Urgences", Mailbox: "urgences@caduceus.example", MailboxKind: KindOrganisation}},
			// The national mailbox of Hélène Lefèvre, now on the red list here.
			{Key: "helene", Listed: false, Entry: Entry{LastName: "Lefèvre", FirstName: "Hélène",
				Mailbox: "helene.lefevre@medecin.mssante.fr", MailboxKind: KindPersonal}},
		}
		for _, le := range locals {
			if err := d.UpsertLocal(ctx, le); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			query Query
			want  []string
		}{
			{Query{Text: "lefevre"}, []string{"Durand-Lefèvre Alice"}},
			{Query{Text: "lefebvre alice"}, []string{"Durand-Lefèvre Alice"}},
			{Query{Text: "urgences"}, []string{"Clinique du Lac"}},
			{Query{Specialty: "sm38", Department: "69"}, []string{"Durand-Lefèvre Alice"}},
			{Query{Text: "helene"}, nil},
		}
		for _, tt := range tests {
			res, err := d.Search(ctx, tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(res.Entries); !slices.Equal(got, tt.want) {
				t.Errorf("%+v: got %q, want %q", tt.query, got, tt.want)
			}
		}
		alice, err := d.Entry(ctx, "l:alice@caduceus.example")
		if err != nil || !alice.Local || alice.Mailbox != "alice@caduceus.example" || alice.Department != "69" || !alice.Dematerialised {
			t.Errorf("local entry: %+v, %v", alice, err)
		}
		for _, id := range []string{"l:bob@caduceus.example", "m:helene.lefevre@medecin.mssante.fr"} {
			if _, err := d.Entry(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("unlisted %s: %v", id, err)
			}
		}
		// Leaving the red list brings the entry back; removing it too.
		if err := d.RemoveLocal(ctx, "helene"); err != nil {
			t.Fatal(err)
		}
		if res, err := d.Search(ctx, Query{Text: "helene"}); err != nil || len(res.Entries) != 1 || res.Entries[0].Local {
			t.Errorf("national entry back: %+v, %v", res, err)
		}
	})
}

func TestFavourites(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		d := imported(t, engine)
		const me, other = 7, 8
		paul := "p:8" + testRPPS(5) + ":R6"
		for _, id := range []string{paul, "m:secretariat.cardio@ch-lyon.mssante.fr"} {
			if err := d.AddFavourite(ctx, me, id); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.AddFavourite(ctx, me, paul); err != nil {
			t.Errorf("adding twice: %v", err)
		}
		if err := d.AddFavourite(ctx, me, "m:nobody@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown entry: %v", err)
		}
		favs, err := d.Favourites(ctx, me)
		if err != nil || !slices.Equal(names(favs), []string{"CHU DE LYON", "MARTINEZ Paul"}) {
			t.Errorf("favourites %q, %v", names(favs), err)
		}
		// The favourite comes first, before better matches.
		res, err := d.Search(ctx, Query{Text: "mart", AccountID: me})
		if err != nil || !slices.Equal(names(res.Entries), []string{"MARTINEZ Paul", "MARTIM Anne", "MARTIN Marie"}) ||
			!res.Entries[0].Favourite || res.Entries[1].Favourite {
			t.Errorf("search with favourites: %q, %v", names(res.Entries), err)
		}
		res, err = d.Search(ctx, Query{Text: "mart", AccountID: other})
		if err != nil || names(res.Entries)[0] != "MARTIM Anne" {
			t.Errorf("another account's search: %q, %v", names(res.Entries), err)
		}
		if err := d.RemoveFavourite(ctx, me, paul); err != nil {
			t.Fatal(err)
		}
		favs, err = d.Favourites(ctx, me)
		if err != nil || !slices.Equal(names(favs), []string{"CHU DE LYON"}) {
			t.Errorf("after removal: %q, %v", names(favs), err)
		}
	})
}
