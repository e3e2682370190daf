package directory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"caduceus/internal/store"
)

// Summary tells what an import read and what changed.
type Summary struct {
	Generation int64         `json:"generation"` // the generation now current
	Files      []FileSummary `json:"files"`
	Rows       int           `json:"rows"`    // data lines read, in all files
	Entries    int           `json:"entries"` // entries in the new generation
	Added      int           `json:"added"`   // entries the previous generation did not have
	Updated    int           `json:"updated"` // entries whose data changed
	Unchanged  int           `json:"unchanged"`
	Removed    int           `json:"removed"` // entries of the previous generation now gone
	// Folded counts rows merged into another row's entry: further rows of a
	// practitioner at the same place, and practitioners listed through their
	// MSSanté personal mailbox.
	Folded     int           `json:"folded"`
	Skills     int           `json:"skills"`   // SavoirFaire rows read
	Rejected   int           `json:"rejected"` // lines rejected, in all files
	Rejections []Rejection   `json:"rejections"`
	Timings    []Timing      `json:"timings"`
	Duration   time.Duration `json:"duration"`
}

// ErrImportRunning is returned when another import of the same directory is under
// way.
var ErrImportRunning = errors.New("another directory import is running")

// Import reads the extraction files named by paths (PS_LibreAcces_Personne_activite,
// PS_LibreAcces_SavoirFaire, Extraction_Correspondance_MSSante, as .txt or in
// their .zip) into a new generation of the national data and makes it current.
// The files together are the whole national directory: entries of the previous
// generation not found in them are removed. Progress goes to progress (a
// terminal gets a bar). On error, nothing changes.
func (d *Directory) Import(ctx context.Context, paths []string, progress io.Writer) (Summary, error) {
	start := time.Now()
	var sum Summary
	unlock, err := d.lockImport(ctx)
	if err != nil {
		return sum, err
	}
	defer unlock()
	srcs, closeSources, err := openSources(paths)
	if err != nil {
		return sum, fmt.Errorf("directory import: %w", err)
	}
	defer closeSources()
	srcs = mailboxesFirst(srcs)

	var old int64
	if err := d.st.QueryRow(ctx, `SELECT generation FROM directory_state WHERE id = 1`).Scan(&old); err != nil {
		return sum, fmt.Errorf("directory import: read state: %w", err)
	}
	gens, err := d.generations(ctx)
	if err != nil {
		return sum, err
	}
	for _, g := range gens {
		if g != old {
			if err := d.dropGeneration(ctx, g); err != nil {
				return sum, err
			}
		}
	}
	n := old + 1
	b, err := d.newBuilder(ctx, n)
	if err != nil {
		return sum, err
	}
	ok := false
	defer func() {
		if !ok {
			b.abort()
			d.dropGeneration(context.WithoutCancel(ctx), n)
		}
	}()

	p := newProgress(progress, srcs)
	rej := &rejections{}
	if err := d.readAll(ctx, b, srcs, &sum, rej, p); err != nil {
		p.done()
		return sum, err
	}
	b.step("read files")
	err = b.duplicateMailboxes(ctx, func(src, first int64) error {
		rej.add(srcs[src>>32].name, int(src&0xffffffff),
			fmt.Sprintf("mailbox address already on line %d; the first is kept", first&0xffffffff))
		sum.Files[src>>32].Rejected++
		return nil
	})
	if err != nil {
		p.done()
		return sum, err
	}
	err = b.build(ctx, p.phase)
	if err == nil {
		p.phase("comparing with the current data")
		err = b.compare(ctx, old, &sum)
		b.step("compare")
	}
	if err == nil {
		p.phase("finishing")
		err = b.finish(ctx)
		b.step("finish")
	}
	p.done()
	if err != nil {
		return sum, err
	}
	sum.Rejected, sum.Rejections = rej.count, rej.list
	entryRows := sum.Rows - sum.Skills - sum.Rejected
	sum.Folded = entryRows - sum.Entries
	if err := d.switchTo(ctx, old, n, sum.Entries); err != nil {
		return sum, err
	}
	ok = true
	sum.Generation = n
	sum.Timings = b.timings
	sum.Duration = time.Since(start)
	return sum, nil
}

// readAll reads every source into the builder: one goroutine parses while this
// one writes to the database, handing batches over a short channel so memory
// stays bounded.
func (d *Directory) readAll(ctx context.Context, b *builder, srcs []source, sum *Summary, rej *rejections, p *progressReport) error {
	// The loading transaction runs under ctx; cancelling readCtx only stops
	// the reader.
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan batch, 2)
	parsed := make(chan error, 1)
	sum.Files = make([]FileSummary, len(srcs))
	go func() {
		defer close(batches)
		bt := &batcher{ctx: readCtx, out: batches}
		for i, src := range srcs {
			fs := &sum.Files[i]
			fs.Name = src.name
			if err := readSource(src, i, bt, fs, rej, &p.read); err != nil {
				parsed <- fmt.Errorf("directory import: %s: %w; nothing was changed", src.name, err)
				return
			}
		}
		parsed <- bt.flush()
	}()
	var loadErr error
	for bt := range batches {
		if loadErr == nil {
			loadErr = b.load(ctx, bt.rows, bt.skills)
			if loadErr != nil {
				cancel()
			}
		}
	}
	if err := <-parsed; err != nil && loadErr == nil {
		return err
	}
	if loadErr != nil {
		return loadErr
	}
	entries := 0
	for _, fs := range sum.Files {
		sum.Rows += fs.Rows
		switch fs.Kind {
		case kindSkills.String():
			sum.Skills += fs.Rows - fs.Rejected
		case kindActivity.String(), kindMailboxes.String():
			entries += fs.Rows - fs.Rejected
		}
	}
	if entries == 0 {
		return errors.New("directory import: no PS_LibreAcces_Personne_activite or Extraction_Correspondance_MSSante rows; nothing was changed")
	}
	return nil
}

// batch is a slice of read rows on its way to the database.
type batch struct {
	rows   []stageRow
	skills []skillRow
}

const batchSize = 2000

// batcher is the rowSink of readAll: it groups rows into batches. It also
// leaves out the activity rows of practitioners who have an MSSanté personal
// mailbox: their mailbox is their entry. Mailbox files are read first (see
// mailboxesFirst), so their national ids are all known by then.
type batcher struct {
	ctx      context.Context
	out      chan<- batch
	cur      batch
	personal []string // national ids with a personal mailbox, sorted once complete
	sorted   bool
}

func (bt *batcher) entry(r stageRow) error {
	switch {
	case r.origin == originMailbox && r.e.MailboxKind == KindPersonal && r.e.NationalID != "":
		// A copy: the id shares the memory of its whole line.
		bt.personal = append(bt.personal, strings.Clone(r.e.NationalID))
	case r.origin == originActivity:
		if !bt.sorted {
			slices.Sort(bt.personal)
			bt.personal = slices.Compact(bt.personal)
			bt.sorted = true
		}
		if _, found := slices.BinarySearch(bt.personal, r.e.NationalID); found {
			return nil
		}
	}
	bt.cur.rows = append(bt.cur.rows, r)
	if len(bt.cur.rows) >= batchSize {
		return bt.flush()
	}
	return nil
}

func (bt *batcher) skill(s skillRow) error {
	bt.cur.skills = append(bt.cur.skills, s)
	if len(bt.cur.skills) >= batchSize {
		return bt.flush()
	}
	return nil
}

func (bt *batcher) flush() error {
	if len(bt.cur.rows)+len(bt.cur.skills) == 0 {
		return nil
	}
	select {
	case bt.out <- bt.cur:
		bt.cur = batch{}
		return nil
	case <-bt.ctx.Done():
		return bt.ctx.Err()
	}
}

// switchTo makes generation n current in one statement, unless another process
// switched since old was read.
func (d *Directory) switchTo(ctx context.Context, old, n int64, entries int) error {
	res, err := d.st.Exec(ctx, `UPDATE directory_state SET generation = ?, previous = ?, switched = ?, entries = ?
		WHERE id = 1 AND generation = ?`, n, old, time.Now().Unix(), entries, old)
	if err != nil {
		return fmt.Errorf("directory import: switch to generation %d: %w", n, err)
	}
	if k, err := res.RowsAffected(); err == nil && k != 1 {
		return fmt.Errorf("directory import: generation %d changed during the import", old)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.use(n)
}

// lockImport makes sure one import at a time builds generations: a PostgreSQL
// advisory lock, or a lock on a file next to the SQLite generations.
func (d *Directory) lockImport(ctx context.Context) (func(), error) {
	if d.st.Dialect() == store.Postgres {
		conn, err := d.st.DB().Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("directory import: %w", err)
		}
		var got bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(7243106)`).Scan(&got); err != nil {
			conn.Close()
			return nil, fmt.Errorf("directory import: lock: %w", err)
		}
		if !got {
			conn.Close()
			return nil, ErrImportRunning
		}
		return func() {
			conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7243106)`)
			conn.Close()
		}, nil
	}
	if err := os.MkdirAll(d.generationDir(), 0o700); err != nil {
		return nil, fmt.Errorf("directory import: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(d.generationDir(), "import.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("directory import: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrImportRunning
		}
		return nil, fmt.Errorf("directory import: lock: %w", err)
	}
	return func() { f.Close() }, nil
}
