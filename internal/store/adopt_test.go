package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"caduceus/internal/store"
	"caduceus/internal/store/storetest"
)

// legacyDDL is what internal/auth, internal/directory and internal/web ran
// at every start before the store's migrations created their tables, word
// for word ({C} was COLLATE "C" on PostgreSQL, nothing on SQLite).
var legacyDDL = []string{
	`CREATE TABLE IF NOT EXISTS auth_sessions (
		id TEXT PRIMARY KEY,
		account TEXT NOT NULL,
		pending INTEGER NOT NULL,
		created BIGINT NOT NULL,
		seen BIGINT NOT NULL,
		remote TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS auth_sessions_account ON auth_sessions (account)`,
	`CREATE TABLE IF NOT EXISTS auth_codes (
		code_key TEXT PRIMARY KEY,
		hash TEXT NOT NULL,
		salt TEXT NOT NULL,
		created BIGINT NOT NULL,
		expires BIGINT NOT NULL,
		tries INTEGER NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS web_signatures (
		id TEXT PRIMARY KEY,
		account_id BIGINT NOT NULL,
		name TEXT NOT NULL,
		body TEXT NOT NULL,
		created BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS web_signatures_account ON web_signatures (account_id)`,
	`CREATE TABLE IF NOT EXISTS web_directory_profiles (
		account_id BIGINT PRIMARY KEY,
		listed INTEGER NOT NULL,
		dematerialised INTEGER NOT NULL,
		profession TEXT NOT NULL,
		specialty TEXT NOT NULL,
		organisation TEXT NOT NULL,
		city TEXT NOT NULL,
		postcode TEXT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS directory_state (
		id INTEGER PRIMARY KEY,
		generation BIGINT NOT NULL,
		previous BIGINT NOT NULL,
		switched BIGINT NOT NULL,
		entries BIGINT NOT NULL,
		local_version BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS directory_local (
		key TEXT PRIMARY KEY,
		listed INTEGER NOT NULL,
		national_id TEXT NOT NULL,
		civility TEXT NOT NULL,
		last_name TEXT NOT NULL,
		first_name TEXT NOT NULL,
		profession TEXT NOT NULL,
		profession_label TEXT NOT NULL,
		specialty TEXT NOT NULL,
		specialty_label TEXT NOT NULL,
		organisation TEXT NOT NULL,
		service TEXT NOT NULL,
		address TEXT NOT NULL,
		postcode TEXT{C} NOT NULL,
		city TEXT NOT NULL,
		department TEXT NOT NULL,
		mailbox TEXT{C} NOT NULL,
		kind TEXT NOT NULL,
		demat INTEGER NOT NULL,
		city_key TEXT NOT NULL,
		toks TEXT NOT NULL,
		names TEXT NOT NULL,
		updated BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS directory_local_mailbox ON directory_local(mailbox)`,
	`CREATE TABLE IF NOT EXISTS directory_favourite (
		account_id BIGINT NOT NULL,
		entry_id TEXT NOT NULL,
		created BIGINT NOT NULL,
		PRIMARY KEY (account_id, entry_id)
	)`,
	`INSERT INTO directory_state (id, generation, previous, switched, entries, local_version)
		SELECT 1, 0, 0, 0, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM directory_state)`,
}

// rows are one row of each adopted table, as the packages write them.
var rows = []struct {
	insert string
	args   []any
}{
	{`INSERT INTO auth_sessions (id, account, pending, created, seen, remote) VALUES (?, ?, ?, ?, ?, ?)`,
		[]any{"s1", "alice@test.mssante.fr", 0, 1, 2, "192.0.2.1"}},
	{`INSERT INTO auth_codes (code_key, hash, salt, created, expires, tries) VALUES (?, ?, ?, ?, ?, 0)`,
		[]any{"k1", "h", "s", 1, 2}},
	{`INSERT INTO web_signatures (id, account_id, name, body, created) VALUES (?, ?, ?, ?, ?)`,
		[]any{"sig1", 7, "Cabinet", "Dr Alice Martin", 1}},
	{`INSERT INTO web_directory_profiles (account_id, listed, dematerialised, profession, specialty, organisation, city, postcode)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, []any{7, 1, 0, "10", "Cardiologie", "Hôpital Sud", "Lyon", "69003"}},
	{`INSERT INTO directory_local (key, listed, national_id, civility, last_name, first_name, profession, profession_label,
		specialty, specialty_label, organisation, service, address, postcode, city, department, mailbox, kind, demat,
		city_key, toks, names, updated) VALUES (?, 1, '', '', ?, '', '', '', '', '', '', '', '', ?, '', '', ?, 'PER', 0, '', '', '', 1)`,
		[]any{"alice@test.mssante.fr", "Martin", "69003", "alice@test.mssante.fr"}},
	{`INSERT INTO directory_favourite (account_id, entry_id, created) VALUES (?, ?, ?)`, []any{7, "810001", 1}},
	{`UPDATE directory_state SET generation = ?, local_version = ?`, []any{3, 1}},
}

// counts tells how many rows each adopted table holds, and the directory's
// generation.
func counts(t *testing.T, st *store.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, table := range []string{"auth_sessions", "auth_codes", "web_signatures", "web_directory_profiles",
		"directory_local", "directory_favourite", "directory_state"} {
		var n int
		if err := st.QueryRow(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		fmt.Fprintf(&b, "%s=%d ", table, n)
	}
	var gen int
	if err := st.QueryRow(ctx, `SELECT generation FROM directory_state`).Scan(&gen); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "generation=%d", gen)
	return b.String()
}

func write(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	for _, r := range rows {
		if _, err := st.Exec(ctx, r.insert, r.args...); err != nil {
			t.Fatalf("%s: %v", r.insert, err)
		}
	}
}

func version(t *testing.T, st *store.Store) int {
	t.Helper()
	var v int
	if err := st.QueryRow(context.Background(), `SELECT version FROM schema_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

const full = "auth_sessions=1 auth_codes=1 web_signatures=1 web_directory_profiles=1 " +
	"directory_local=1 directory_favourite=1 directory_state=1 generation=3"

// A fresh store has every table the packages use, and the directory its one
// state row.
func TestMigrationsCreateEveryTable(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		st := storetest.Open(t, engine)
		if got, want := counts(t, st), "auth_sessions=0 auth_codes=0 web_signatures=0 web_directory_profiles=0 "+
			"directory_local=0 directory_favourite=0 directory_state=1 generation=0"; got != want {
			t.Fatalf("fresh store: %s, want %s", got, want)
		}
		write(t, st)
		if got := counts(t, st); got != full {
			t.Fatalf("after writes: %s, want %s", got, full)
		}
	})
}

// A database where the packages created their own tables, with rows in them,
// upgrades in place: the migrations adopt the tables and keep every row.
func TestMigrationsAdoptLegacyTables(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		dsn, dir := storetest.Location(t, engine)
		old, err := store.OpenAt(ctx, dsn, dir, store.AdoptionVersion())
		if err != nil {
			t.Fatal(err)
		}
		collate := ""
		if old.Dialect() == store.Postgres {
			collate = ` COLLATE "C"`
		}
		for _, q := range legacyDDL {
			if _, err := old.Exec(ctx, strings.ReplaceAll(q, "{C}", collate)); err != nil {
				t.Fatalf("legacy DDL: %v", err)
			}
		}
		write(t, old)
		old.Close()

		for range 2 { // the second open finds nothing to do
			st, err := store.Open(ctx, dsn, dir)
			if err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			if got := counts(t, st); got != full {
				t.Errorf("after upgrade: %s, want %s", got, full)
			}
			if v, want := version(t, st), store.SchemaVersion(); v != want {
				t.Errorf("schema version %d, want %d", v, want)
			}
			st.Close()
		}
	})
}
