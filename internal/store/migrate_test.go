package store_test

import (
	"context"
	"testing"

	"caduceus/internal/store"
	"caduceus/internal/store/storetest"
)

// Opening a store twice migrates once: the second open finds the schema current.
func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for range 2 {
		st, err := store.Open(ctx, "", dir)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := st.QueryRow(ctx, `SELECT COUNT(*) FROM folders`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	pg := storetest.Open(t, "postgres")
	if err := pg.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Insert(ctx, `INSERT INTO domains (name, created) VALUES (?, ?)`, "a.example", 1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, "mysql://x", dir); err == nil {
		t.Fatal("a MySQL URL was accepted")
	}
}
