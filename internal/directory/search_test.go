package directory

import (
	"context"
	"errors"
	"slices"
	"testing"

	"caduceus/internal/store/storetest"
)

func TestSearch(t *testing.T) {
	tests := []struct {
		name  string
		query Query
		want  []string
	}{
		{"accents and case ignored", Query{Text: "lefevre"}, []string{"LEFÈVRE Hélène"}},
		{"accents in the query", Query{Text: "Hélène LEFÈVRE"}, []string{"LEFÈVRE Hélène"}},
		{"prefix", Query{Text: "lef"}, []string{"LEFÈVRE Hélène"}},
		{"one typo", Query{Text: "lefebvre"}, []string{"LEFÈVRE Hélène"}},
		{"apostrophe", Query{Text: "d'almeida"}, []string{"D'ALMEIDA Jean-Pierre", "D'ALMEIDA Jean-Pierre"}},
		{"apostrophe left out", Query{Text: "dalmeida jean"}, []string{"D'ALMEIDA Jean-Pierre", "D'ALMEIDA Jean-Pierre"}},
		{"compound first name", Query{Text: "jean-pierre"}, []string{"D'ALMEIDA Jean-Pierre", "D'ALMEIDA Jean-Pierre"}},
		{"compound last name joined", Query{Text: "legall"}, []string{"LE GALL Noël"}},
		{"exact before prefix before typo", Query{Text: "martin"}, []string{"MARTIN Marie", "MARTINEZ Paul", "MARTIM Anne"}},
		{"two words", Query{Text: "marie mart"}, []string{"MARTIN Marie"}},
		{"no match", Query{Text: "zzyzx"}, nil},
		{"profession", Query{Profession: "10"}, []string{"LEFÈVRE Hélène", "MARTIN Marie"}},
		{"specialty from the SavoirFaire file", Query{Specialty: "SM04"}, []string{"MARTIN Marie"}},
		{"city, accents ignored", Query{City: "Saint-Étienne"}, []string{"D'ALMEIDA Jean-Pierre"}},
		{"city, saint abbreviated", Query{City: "st etienne"}, []string{"D'ALMEIDA Jean-Pierre"}},
		{"city from the delivery line", Query{City: "lyon", Kind: KindOrganisation}, []string{"CHU DE LYON"}},
		{"postcode prefix", Query{Postcode: "424"}, []string{"D'ALMEIDA Jean-Pierre"}},
		{"department", Query{Department: "42"}, []string{"D'ALMEIDA Jean-Pierre", "D'ALMEIDA Jean-Pierre"}},
		{"corsica", Query{Department: "2a"}, []string{"DUPONT Cécile"}},
		{"organisation", Query{Organisation: "pharmacie port"}, []string{"MARTINEZ Paul"}},
		{"organisational mailbox by its service", Query{Text: "cardiologie"}, []string{"CHU DE LYON"}},
		{"mailbox type", Query{Kind: "per", Department: "69"}, []string{"LEFÈVRE Hélène"}},
		{"with a mailbox", Query{Text: "l", WithMailbox: true}, []string{"LEFÈVRE Hélène", "CHU DE LYON"}},
		{"mailbox prefix", Query{Mailbox: "HELENE."}, []string{"LEFÈVRE Hélène"}},
		{"words and filters", Query{Text: "mar", Profession: "21"}, []string{"MARTINEZ Paul"}},
	}
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		d := imported(t, engine)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, err := d.Search(context.Background(), tt.query)
				if err != nil {
					t.Fatal(err)
				}
				if got := names(res.Entries); !slices.Equal(got, tt.want) {
					t.Errorf("got %q, want %q", got, tt.want)
				}
				if res.Total != len(tt.want) || res.Capped {
					t.Errorf("total %d capped %v, want %d", res.Total, res.Capped, len(tt.want))
				}
			})
		}
	})
}

func TestSearchEntryFields(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		d := imported(t, engine)
		ctx := context.Background()
		res, err := d.Search(ctx, Query{Text: "martin marie"})
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("search: %v, %d entries", err, len(res.Entries))
		}
		got := res.Entries[0]
		want := Entry{
			ID: "p:8" + testRPPS(4) + ":R5", NationalID: "8" + testRPPS(4), LastName: "MARTIN",
			FirstName: "Marie", Profession: "10", Specialty: "SM04",
			SpecialtyLabel: "Cardiologie et maladies vasculaires", Organisation: "HOPITAL SAINT-JOSEPH",
			Address: "RUE DES LILAS", Postcode: "75014", City: "PARIS", Department: "75",
		}
		if got != want {
			t.Errorf("entry\n got %+v\nwant %+v", got, want)
		}
		again, err := d.Entry(ctx, want.ID)
		if err != nil || again != want {
			t.Errorf("Entry(%q) = %+v, %v", want.ID, again, err)
		}
		org, err := d.Entry(ctx, "m:secretariat.cardio@ch-lyon.mssante.fr")
		if err != nil {
			t.Fatal(err)
		}
		if org.MailboxKind != KindOrganisation || org.Service != "Service de cardiologie" ||
			org.City != "LYON" || org.Postcode != "69003" || !org.Dematerialised {
			t.Errorf("organisational mailbox: %+v", org)
		}
		if _, err := d.Entry(ctx, "m:nobody@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown entry: %v", err)
		}
	})
}

func TestSearchPaging(t *testing.T) {
	d := imported(t, "sqlite")
	ctx := context.Background()
	all, err := d.Search(ctx, Query{Text: "mar"})
	if err != nil {
		t.Fatal(err)
	}
	var paged []Entry
	for off := 0; off < all.Total; off += 2 {
		res, err := d.Search(ctx, Query{Text: "mar", Offset: off, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != all.Total {
			t.Fatalf("total %d on page at %d, want %d", res.Total, off, all.Total)
		}
		paged = append(paged, res.Entries...)
	}
	if !slices.Equal(names(paged), names(all.Entries)) {
		t.Errorf("pages give %q, one search %q", names(paged), names(all.Entries))
	}
	if _, err := d.Search(ctx, Query{}); !errors.Is(err, ErrEmptyQuery) {
		t.Errorf("empty query: %v", err)
	}
	if _, err := d.Search(ctx, Query{Kind: KindPersonal, WithMailbox: true}); !errors.Is(err, ErrBroadQuery) {
		t.Errorf("query without an indexed criterion: %v", err)
	}
}

func TestSearchBeforeImport(t *testing.T) {
	d := openDirectory(t, "sqlite")
	res, err := d.Search(context.Background(), Query{Text: "martin"})
	if err != nil || len(res.Entries) != 0 {
		t.Errorf("search of an empty directory: %+v, %v", res, err)
	}
}
