package store_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"caduceus/internal/store"
	"caduceus/internal/store/storetest"
)

// A store opened read-only reads, refuses every write, and leaves no file
// beside a SQLite database closed cleanly; its catalog lists the schema.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		dsn, dir := storetest.Location(t, engine)
		st, err := store.Open(ctx, dsn, dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Exec(ctx, `INSERT INTO domains (name, created) VALUES (?, ?)`, "a.example", 1); err != nil {
			t.Fatal(err)
		}
		st.Close()
		var before []string
		if dir != "" {
			before = files(t, dir)
		}

		ro, err := store.OpenReadOnly(ctx, dsn, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		var n int
		if err := ro.QueryRow(ctx, `SELECT COUNT(*) FROM domains`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("read: %d domains, %v", n, err)
		}
		if _, err := ro.Exec(ctx, `INSERT INTO domains (name, created) VALUES (?, ?)`, "b.example", 2); err == nil {
			t.Error("insert through a read-only store: no error")
		}
		err = ro.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM domains`)
			return err
		})
		if err == nil {
			t.Error("delete through a read-only store: no error")
		}
		tables, err := ro.Tables(ctx)
		if err != nil || !slices.Contains(tables, "messages") || !slices.Contains(tables, "migrate_progress") {
			t.Errorf("tables %v, %v", tables, err)
		}
		for table, want := range map[string][]string{"messages": {"id"}, "rights": {"mailbox_id", "account_id"}, "audit_anchor": nil} {
			if pk, err := ro.PrimaryKey(ctx, table); err != nil || !slices.Equal(pk, want) {
				t.Errorf("primary key of %s: %v, %v; want %v", table, pk, err, want)
			}
		}
		if dir != "" {
			if after := files(t, dir); !slices.Equal(after, before) {
				t.Errorf("files beside the database: %v, were %v", after, before)
			}
		}
	})
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, filepath.Base(e.Name()))
	}
	return names
}

// A database whose schema is behind this code's is not opened read-only:
// nothing would migrate it.
func TestOpenReadOnlyOldSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Exec(ctx, `UPDATE schema_version SET version = version - 1`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if ro, err := store.OpenReadOnly(ctx, "", dir); err == nil {
		ro.Close()
		t.Error("an old schema opened read-only")
	}
}
