// Package storetest opens throwaway stores on SQLite and PostgreSQL for tests.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"

	"caduceus/internal/store"
)

// PostgresURL is the PostgreSQL server the test suites use, unless
// CADUCEUS_TEST_POSTGRES names another: the one every development machine and
// CI run here have, with trust authentication.
const PostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Engines are the SQL engines every store test runs on.
var Engines = []string{"sqlite", "postgres"}

// DefaultEngine is the engine of tests that do not loop over both: SQLite,
// or the one CADUCEUS_TEST_ENGINE names ("postgres" runs such a package's
// whole suite on PostgreSQL).
func DefaultEngine() string {
	if os.Getenv("CADUCEUS_TEST_ENGINE") == "postgres" {
		return "postgres"
	}
	return "sqlite"
}

// EachEngine runs fn as one subtest per engine, named for it: the loop every
// test of code over the store starts with. T is *testing.T or *testing.B.
func EachEngine[T interface{ Run(string, func(T)) bool }](t T, fn func(t T, engine string)) {
	for _, engine := range Engines {
		t.Run(engine, func(t T) { fn(t, engine) })
	}
}

// Open opens a fresh store for a test on the named engine ("sqlite" or
// "postgres"): a temporary SQLite file, or a new PostgreSQL database dropped when
// the test ends. Without a reachable PostgreSQL the test is skipped, except on CI
// (CI=true), where that is a failure.
func Open(t testing.TB, engine string) *store.Store {
	t.Helper()
	dsn, dir := Location(t, engine)
	s, err := store.Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatalf("open %s store: %v", engine, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Location returns where a fresh, empty store lives on the named engine, as
// store.Open takes it: a temporary data directory for SQLite, a new database's
// URL for PostgreSQL (see PostgresDSN). Tests that reopen a store use it.
func Location(t testing.TB, engine string) (dsn, dataDir string) {
	t.Helper()
	if engine == "sqlite" {
		return "", t.TempDir()
	}
	return PostgresDSN(t), ""
}

// PostgresDSN creates an empty PostgreSQL database for one test and returns
// its URL; the database is dropped when the test ends.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("CADUCEUS_TEST_POSTGRES")
	if admin == "" {
		admin = PostgresURL
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer db.Close()
	if err := db.PingContext(context.Background()); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("postgres at %s: %v", admin, err)
		}
		t.Skipf("no postgres at %s: %v", admin, err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "caduceus_test_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", admin, err)
	}
	u.Path = "/" + name
	return fmt.Sprint(u)
}
