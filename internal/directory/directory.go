package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"caduceus/internal/store"
)

// ErrNotFound is returned for an entry id that is not in the directory, or not
// listed.
var ErrNotFound = errors.New("directory: no such entry")

// Directory is the directory of health professionals over one store. It is safe
// for concurrent use.
type Directory struct {
	st      *store.Store
	dataDir string // SQLite generations live in dataDir/directory

	mu           sync.Mutex
	gen          *generation // the current national data; nil before any import
	localVersion int64       // changes of local entries, as last read
	checked      time.Time   // when gen and localVersion were last read
}

// refreshEvery is how long a process trusts its idea of the current generation
// before reading directory_state again: another process (the import command, or
// another node of a cluster) may have switched it.
const refreshEvery = time.Second

// Open opens the directory kept in st. Its tables (directory_state,
// directory_local, directory_favourite) are created by the store's
// migrations; the national data's tables, one set per generation, by
// imports. dataDir is where national data is kept when st is SQLite.
func Open(ctx context.Context, st *store.Store, dataDir string) (*Directory, error) {
	var n int64
	if err := st.QueryRow(ctx, `SELECT generation FROM directory_state WHERE id = 1`).Scan(&n); err != nil {
		return nil, fmt.Errorf("read directory state: %w", err)
	}
	return &Directory{st: st, dataDir: dataDir}, nil
}

// Close releases the national data's connections. The store stays open.
func (d *Directory) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen == nil {
		return nil
	}
	err := d.gen.close()
	d.gen = nil
	return err
}

// Generation returns the number of the national data searches read, 0 before the
// first import.
func (d *Directory) Generation(ctx context.Context) (int64, error) {
	g, err := d.current(ctx)
	if err != nil || g == nil {
		return 0, err
	}
	defer g.release()
	return g.n, nil
}

// current returns the generation searches should read, acquired: the caller
// must release it. It is nil, with no error, before the first import.
func (d *Directory) current(ctx context.Context) (*generation, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.checked) >= refreshEvery || d.gen == nil {
		var n int64
		err := d.st.QueryRow(ctx, `SELECT generation, local_version FROM directory_state WHERE id = 1`).Scan(&n, &d.localVersion)
		if err != nil {
			return nil, fmt.Errorf("read directory state: %w", err)
		}
		if d.gen == nil || d.gen.n != n {
			if err := d.use(n); err != nil {
				return nil, err
			}
		}
		d.checked = time.Now()
	}
	if d.gen == nil {
		return nil, nil
	}
	d.gen.acquire()
	return d.gen, nil
}

// use makes generation n current in this process; d.mu is held.
func (d *Directory) use(n int64) error {
	var g *generation
	if n > 0 {
		var err error
		if g, err = d.openGeneration(n); err != nil {
			return err
		}
	}
	old := d.gen
	d.gen = g
	if old != nil {
		go old.close() // waits for the searches still reading it
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// entryColumns are the columns an Entry is read from, in scanEntry's order, in
// both the national and the local tables.
const entryColumns = `national_id, civility, last_name, first_name, profession, profession_label,
	specialty, specialty_label, organisation, service, address, postcode, city, department,
	mailbox, kind, demat`

func scanEntry(s scanner, e *Entry, extra ...any) error {
	var kind string
	var demat int
	dest := append([]any{&e.NationalID, &e.Civility, &e.LastName, &e.FirstName, &e.Profession,
		&e.ProfessionLabel, &e.Specialty, &e.SpecialtyLabel, &e.Organisation, &e.Service,
		&e.Address, &e.Postcode, &e.City, &e.Department, &e.Mailbox, &kind, &demat}, extra...)
	if err := s.Scan(dest...); err != nil {
		return err
	}
	e.MailboxKind = MailboxKind(kind)
	e.Dematerialised = demat != 0
	return nil
}

// entryArgs returns an entry's values in entryColumns order.
func entryArgs(e *Entry) []any {
	demat := 0
	if e.Dematerialised {
		demat = 1
	}
	return []any{e.NationalID, e.Civility, e.LastName, e.FirstName, e.Profession,
		e.ProfessionLabel, e.Specialty, e.SpecialtyLabel, e.Organisation, e.Service,
		e.Address, e.Postcode, e.City, e.Department, e.Mailbox, string(e.MailboxKind), demat}
}
