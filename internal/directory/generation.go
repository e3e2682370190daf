package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"caduceus/internal/store"
)

// generation is one complete set of national data, as searches read it.
type generation struct {
	n        int64
	st       *store.Store
	db       *sql.DB // SQLite: the generation's own file; PostgreSQL: the store's pool
	own      bool    // db belongs to the generation and closes with it
	names    *strings.Replacer
	inFlight sync.RWMutex // read-held by each search, write-held to close

	// Ids of the entries local ones shadow, for local version shadowVersion;
	// guarded by the Directory's mu.
	shadow        map[int64]bool
	shadowVersion int64
}

// tables are the tables of a generation, written {name} in its queries.
var tables = []string{"entry", "posting", "term", "stat", "stage", "skill", "best"}

func newGeneration(st *store.Store, n int64, db *sql.DB, own bool) *generation {
	var pairs []string
	for _, t := range tables {
		name := t
		switch {
		case st.Dialect() == store.Postgres:
			name = fmt.Sprintf("directory_g%d_%s", n, t)
		case t == "stage" || t == "skill" || t == "best":
			name = "work." + t // the attached staging file of a build
		}
		pairs = append(pairs, "{"+t+"}", name)
	}
	collate := ""
	if st.Dialect() == store.Postgres {
		collate = ` COLLATE "C"`
	}
	pairs = append(pairs, "{C}", collate)
	return &generation{n: n, st: st, db: db, own: own, names: strings.NewReplacer(pairs...)}
}

// q expands the table names of a query and its placeholders for the engine.
func (g *generation) q(query string) string {
	return g.st.Rebind(g.names.Replace(query))
}

func (g *generation) postgres() bool { return g.st.Dialect() == store.Postgres }

func (g *generation) acquire() { g.inFlight.RLock() }
func (g *generation) release() { g.inFlight.RUnlock() }

// close waits for the searches reading g, then releases its connections.
func (g *generation) close() error {
	g.inFlight.Lock()
	defer g.inFlight.Unlock()
	if g.own {
		return g.db.Close()
	}
	return nil
}

// openGeneration opens generation n for reading.
func (d *Directory) openGeneration(n int64) (*generation, error) {
	if d.st.Dialect() == store.Postgres {
		return newGeneration(d.st, n, d.st.DB(), false), nil
	}
	path := d.generationPath(n)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("directory generation %d: %w", n, err)
	}
	// The file never changes once built: immutable spares SQLite its locks.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("open directory generation %d: %w", n, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	return newGeneration(d.st, n, db, true), nil
}

func (d *Directory) generationDir() string { return filepath.Join(d.dataDir, "directory") }

func (d *Directory) generationPath(n int64) string {
	return filepath.Join(d.generationDir(), fmt.Sprintf("g%d.db", n))
}

// workPath is the staging file of generation n's import, deleted when it ends.
func (d *Directory) workPath(n int64) string {
	return filepath.Join(d.generationDir(), fmt.Sprintf("g%d.work.db", n))
}

// parseGenerationName returns the generation a file ("g12.db", "g12.work.db")
// or PostgreSQL table ("directory_g12_entry") belongs to.
func parseGenerationName(name string) (int64, bool) {
	name = strings.TrimPrefix(name, "directory_")
	if !strings.HasPrefix(name, "g") {
		return 0, false
	}
	end := strings.IndexAny(name, "._")
	if end < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(name[1:end], 10, 64)
	return n, err == nil && n > 0
}

// generations lists the generations present in storage, complete or not.
func (d *Directory) generations(ctx context.Context) ([]int64, error) {
	var names []string
	if d.st.Dialect() == store.Postgres {
		rows, err := d.st.Query(ctx, `SELECT tablename FROM pg_tables
			WHERE schemaname = current_schema() AND tablename LIKE 'directory\_g%'`)
		if err != nil {
			return nil, fmt.Errorf("list directory generations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return nil, err
			}
			names = append(names, n)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	} else {
		files, err := os.ReadDir(d.generationDir())
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("list directory generations: %w", err)
		}
		for _, f := range files {
			names = append(names, f.Name())
		}
	}
	seen := map[int64]bool{}
	var gens []int64
	for _, name := range names {
		n, ok := parseGenerationName(name)
		if ok && !seen[n] {
			seen[n] = true
			gens = append(gens, n)
		}
	}
	return gens, nil
}

// dropGeneration deletes generation n from storage.
func (d *Directory) dropGeneration(ctx context.Context, n int64) error {
	if d.st.Dialect() == store.Postgres {
		for _, t := range tables {
			name := fmt.Sprintf("directory_g%d_%s", n, t)
			if _, err := d.st.Exec(ctx, `DROP TABLE IF EXISTS `+name); err != nil {
				return fmt.Errorf("drop %s: %w", name, err)
			}
		}
		return nil
	}
	path := d.generationPath(n)
	for _, p := range []string{path, path + "-journal", path + "-wal", path + "-shm", d.workPath(n)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove directory generation %d: %w", n, err)
		}
	}
	return nil
}
