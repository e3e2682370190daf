package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"caduceus/internal/store"
	"caduceus/internal/store/storetest"
)

// Transactions take their statements from the store's cache and fill it
// after they end, whether they commit, fail or only read; none of this may
// wait for the connection the transaction itself holds.
func TestTxStatementsAcrossOutcomes(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		st := storetest.Open(t, engine)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		const insert = `INSERT INTO domains (name, created) VALUES (?, ?)`
		const count = `SELECT COUNT(*) FROM domains WHERE name LIKE ?`
		boom := errors.New("boom")

		// A failed transaction whose statement the cache lacked:
		// rolled back, and the store still serves the next one.
		err := st.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Insert(ctx, insert, "lost.example", 1); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("failed transaction: %v", err)
		}
		for i, name := range []string{"a.example", "b.example", "c.example"} {
			if err := st.Tx(ctx, func(tx *store.Tx) error {
				_, err := tx.Insert(ctx, insert, name, i)
				return err
			}); err != nil {
				t.Fatalf("insert %s: %v", name, err)
			}
		}
		for range 3 {
			var n int
			err := st.ReadTx(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, count, "%.example").Scan(&n)
			})
			if err != nil || n != 3 {
				t.Fatalf("read: %d domains, %v; want 3 (the failed one rolled back)", n, err)
			}
		}
		if err := st.ReadTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Query(ctx, `SELECT name FROM domains WHERE created > ?`, 0); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("failed read: %v", err)
		}
		var n int
		if err := st.QueryRow(ctx, count, "b%").Scan(&n); err != nil || n != 1 {
			t.Fatalf("pool read after transactions: %d, %v", n, err)
		}
	})
}
