package auth_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"caduceus/internal/auth"
	"caduceus/internal/store"
	"caduceus/internal/store/storetest"
)

// newFactors opens a migrated store (SQLite) and the factors over it.
func newFactors(t *testing.T) (*auth.Factors, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return factorsOver(t, st), st
}

func factorsOver(t *testing.T, st *store.Store) *auth.Factors {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	f, err := auth.NewFactors(st, key)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func addAccount(t *testing.T, st *store.Store, addr string) int64 {
	t.Helper()
	var id int64
	err := st.Tx(context.Background(), func(tx *store.Tx) error {
		var err error
		id, err = tx.Insert(context.Background(), `INSERT INTO accounts (address, name, created) VALUES (?, ?, ?)`, addr, addr, time.Now().UnixMilli())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestFactorLinks(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) { testFactorLinks(t, storetest.Open(t, engine)) })
}

func testFactorLinks(t *testing.T, st *store.Store) {
	{
		ctx := context.Background()
		f := factorsOver(t, st)
		alice, bob := addAccount(t, st, "alice@x.test"), addAccount(t, st, "bob@x.test")
		card := auth.Card{Issuer: "CN=AC IGC-SANTE FORT PERSONNES", Serial: "1f", Fingerprint: "ab12", NationalID: "810002813839", NotAfter: time.Now().Add(time.Hour)}
		if err := f.LinkCard(ctx, alice, card); err != nil {
			t.Fatal(err)
		}
		if err := f.LinkCard(ctx, alice, card); err != nil {
			t.Fatalf("linking the same card again: %v", err)
		}
		if err := f.LinkCard(ctx, bob, card); !errors.Is(err, auth.ErrLinkedElsewhere) {
			t.Fatalf("card of another account: err = %v", err)
		}
		if id, err := f.CardAccount(ctx, "ab12"); err != nil || id != alice {
			t.Fatalf("card account = %d, %v", id, err)
		}
		cards, err := f.Cards(ctx, alice)
		if err != nil || len(cards) != 1 || cards[0].NationalID != card.NationalID || cards[0].LastUsed.IsZero() {
			t.Fatalf("cards = %+v, %v", cards, err)
		}
		if err := f.UnlinkCard(ctx, bob, cards[0].ID); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("bob unlinks alice's card: err = %v", err)
		}
		if err := f.UnlinkCard(ctx, alice, cards[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.CardAccount(ctx, "ab12"); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("unlinked card: err = %v", err)
		}

		if err := f.LinkPSC(ctx, alice, "810002813839", "Alice"); err != nil {
			t.Fatal(err)
		}
		if err := f.LinkPSC(ctx, bob, "810002813839", "Bob"); !errors.Is(err, auth.ErrLinkedElsewhere) {
			t.Fatalf("PSC identity of another account: err = %v", err)
		}
		links, err := f.PSCLinks(ctx, alice)
		if err != nil || len(links) != 1 {
			t.Fatalf("links = %+v, %v", links, err)
		}
		if err := f.UnlinkPSC(ctx, alice, links[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.PSCAccount(ctx, "810002813839"); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("unlinked PSC: err = %v", err)
		}
	}
}

func TestFlows(t *testing.T) {
	ctx := context.Background()
	f, _ := newFactors(t)
	now := time.Now()
	f.Now = func() time.Time { return now }
	type flow struct{ Nonce string }
	if err := f.PutFlow(ctx, "psc", "state1", flow{"n1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	var got flow
	if err := f.TakeFlow(ctx, "other", "state1", &got); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("flow of another kind: err = %v", err)
	}
	if err := f.TakeFlow(ctx, "psc", "state1", &got); err != nil || got.Nonce != "n1" {
		t.Fatalf("take = %+v, %v", got, err)
	}
	if err := f.TakeFlow(ctx, "psc", "state1", &got); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("second take: err = %v", err)
	}
	f.PutFlow(ctx, "psc", "state2", flow{"n2"}, time.Minute)
	now = now.Add(time.Minute)
	if err := f.TakeFlow(ctx, "psc", "state2", &got); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("expired flow: err = %v", err)
	}
}
