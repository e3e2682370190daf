package migrate

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"caduceus/internal/store/storetest"
)

// A row's key comes back from its progress record as it was: segment-sized
// numbers exact, texts as texts.
func TestKeyRoundTrip(t *testing.T) {
	for _, key := range [][]any{
		nil,
		{int64(42)},
		{int64(1)<<62 + 7, int64(3)},
		{"sess-é\"x", int64(-1)},
	} {
		s, err := encodeKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if key == nil {
			if s != "" {
				t.Errorf("nil key encoded as %q", s)
			}
			continue
		}
		got, err := decodeKey(s)
		if err != nil || !reflect.DeepEqual(got, key) {
			t.Errorf("key %v: back as %v (%v)", key, got, err)
		}
	}
}

// The tables to copy are the schema's, parents first, without the search
// indexes and bookkeeping, on both engines.
func TestTables(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		st := storetest.Open(t, engine)
		tables, skipped, err := Tables(context.Background(), st, st)
		if err != nil {
			t.Fatal(err)
		}
		if len(skipped) != 0 {
			t.Errorf("skipped %v", skipped)
		}
		if !slices.Equal(tables[:len(first)], first) {
			t.Errorf("tables start %v, want %v", tables[:len(first)], first)
		}
		for _, never := range []string{"schema_version", "migrate_progress", "blob_text", "blob_grams"} {
			if slices.Contains(tables, never) {
				t.Errorf("%s copied", never)
			}
		}
		for _, want := range []string{"audit", "rights", "directory_state", "audit_anchor"} {
			if !slices.Contains(tables, want) {
				t.Errorf("%s not copied", want)
			}
		}
		if engine != "sqlite" {
			return
		}
		// Every table a foreign key points to is copied before the tables
		// pointing to it: a new migration adding one to another table must
		// add that table to first.
		keys := 0
		for i, table := range tables {
			rows, err := st.Query(context.Background(), `SELECT "table" FROM pragma_foreign_key_list(?)`, table)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var parent string
				if err := rows.Scan(&parent); err != nil {
					t.Fatal(err)
				}
				keys++
				if j := slices.Index(tables, parent); j < 0 || j >= i {
					t.Errorf("%s points to %s, copied after it", table, parent)
				}
			}
			rows.Close()
		}
		if keys < 20 {
			t.Errorf("%d foreign keys found, want the schema's (30)", keys)
		}
	})
}
