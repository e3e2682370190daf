// Package migrate moves a whole installation from one store to another: the
// embedded one (SQLite file, blob segment files) to PostgreSQL and an S3
// bucket, or back. It copies the blob segments unchanged (they are sealed
// with the same key on both sides, and a Ref names the same bytes in a file
// and in an object), then every table of the schema in dependency order,
// with its ids, in batches. Each batch commits together with a progress row
// in the target's migrate_progress table, so a killed run goes on where it
// stopped. The source is only read.
//
// What is not copied: the search indexes (blob_text, blob_grams), whose form
// is the engine's own, and the message models, which are nulled so that
// core.Service.MigrateModels computes them again and fills the target's
// indexes; and the directory's national generations (a file per generation
// on SQLite, tables on PostgreSQL), which are imported again on the target
// with `caduceus directory import`.
package migrate

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"caduceus/internal/blob"
	"caduceus/internal/core"
	"caduceus/internal/store"
)

// Side is one end of a migration: a store and its blobs, and the id of the
// blob key they are sealed with.
type Side struct {
	Store *store.Store
	Blobs *blob.Store
	KeyID string
}

// Progress says how far a run is: Phase "blobs" counts bytes of segments,
// "rows" counts rows of tables.
type Progress struct {
	Phase       string
	Table       string // the table being copied, in phase "rows"
	Done, Total int64
}

// Options tune a run.
type Options struct {
	// Batch is the number of rows copied and committed at a time (default
	// 500; fewer for wide tables, to stay under the engines' parameter
	// limits).
	Batch int
	// Progress, when set, is called after each segment and each batch.
	Progress func(Progress)
	// AfterStep, when set, is called after each segment copied and each
	// batch committed, with their count so far; an error from it stops the
	// run as a kill would (tests resume from there).
	AfterStep func(step int) error
}

// Result is what a run did.
type Result struct {
	Segments        int   // segments copied by this run
	SegmentsPresent int   // segments the target had already
	Bytes           int64 // bytes of the segments copied
	Tables          int   // tables copied
	Rows            int64 // rows the target holds of them
	// Skipped names the source's tables left out, besides the search
	// indexes: the directory's generations.
	Skipped []string
	// DirectoryReset tells that the source had national directory data,
	// which the target must import again.
	DirectoryReset bool
	// AlreadyDone tells that an earlier run had finished the copy: this
	// one only checked it.
	AlreadyDone bool
}

// first are the tables other tables point to, copied before the rest so that
// foreign keys hold at each commit.
var first = []string{"domains", "accounts", "mailboxes", "blobs", "folders", "messages"}

// nulled are columns copied as NULL: the message models, computed again on
// the target, which fills its search indexes as it does.
var nulled = map[string]string{"blobs": "model"}

// sourceRow names the progress row saying which installation is copied.
const sourceRow = "source"

// Run copies src into dst, going on from where an earlier run stopped. dst
// must be empty (its schema made by store.Open) or hold the progress of an
// earlier run from the same source; both must use the same blob key.
func Run(ctx context.Context, src, dst Side, opts Options) (Result, error) {
	var res Result
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if src.KeyID != dst.KeyID {
		return res, fmt.Errorf("the target's blob key (id %s) is not the source's (id %s): the blobs are copied sealed, so the target needs the source's key file", dst.KeyID, src.KeyID)
	}
	var err error
	if res.AlreadyDone, err = claim(ctx, dst.Store, src.KeyID); err != nil {
		return res, err
	}
	step := 0
	next := func() error {
		step++
		if opts.AfterStep != nil {
			return opts.AfterStep(step)
		}
		return nil
	}
	if err := copyBlobs(ctx, src.Blobs, dst.Blobs, &res, opts, next); err != nil {
		return res, err
	}
	tables, skipped, err := Tables(ctx, src.Store, dst.Store)
	if err != nil {
		return res, err
	}
	res.Skipped = skipped
	var total int64
	counts := map[string]int64{}
	for _, t := range tables {
		n, err := count(ctx, src.Store, t)
		if err != nil {
			return res, err
		}
		counts[t] = n
		total += n
	}
	var done int64
	for _, t := range tables {
		n, err := copyTable(ctx, src.Store, dst.Store, t, opts, func(rows int64) error {
			if opts.Progress != nil {
				opts.Progress(Progress{Phase: "rows", Table: t, Done: done + rows, Total: total})
			}
			return next()
		})
		if err != nil {
			return res, err
		}
		done += counts[t]
		res.Tables++
		res.Rows += n
	}
	if err := dst.Store.ResetSequences(ctx, tables); err != nil {
		return res, err
	}
	if res.DirectoryReset, err = resetDirectory(ctx, dst.Store); err != nil {
		return res, err
	}
	if _, err := dst.Store.Exec(ctx, `UPDATE migrate_progress SET done = 1 WHERE name = ?`, sourceRow); err != nil {
		return res, fmt.Errorf("record the end of the copy: %w", err)
	}
	return res, nil
}

// claim records on dst which installation is copied into it, or checks that
// it is the one an earlier run copied, and tells whether that run finished.
// A target with data and no such record is refused: two installations are
// never mixed.
func claim(ctx context.Context, dst *store.Store, keyID string) (done bool, err error) {
	var had string
	err = dst.QueryRow(ctx, `SELECT last_key, done FROM migrate_progress WHERE name = ?`, sourceRow).Scan(&had, &done)
	switch {
	case err == nil:
		if had != keyID {
			return false, fmt.Errorf("the target holds part of a migration from another installation (key id %s, this one is %s): start from an empty target", had, keyID)
		}
		return done, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("read the target's migration progress: %w", err)
	}
	for _, t := range []string{"domains", "accounts", "mailboxes", "blobs", "messages", "audit", "outbound"} {
		n, err := count(ctx, dst, t)
		if err != nil {
			return false, err
		}
		if n > 0 {
			return false, fmt.Errorf("the target is not empty (%d rows in %s) and no migration into it was started: migrate only into a new database", n, t)
		}
	}
	if _, err := dst.Exec(ctx, `INSERT INTO migrate_progress (name, last_key, rows, done) VALUES (?, ?, 0, 0)`, sourceRow, keyID); err != nil {
		return false, fmt.Errorf("record the migration on the target: %w", err)
	}
	return false, nil
}

// copyBlobs puts every segment of src that dst lacks into dst, unchanged.
func copyBlobs(ctx context.Context, src, dst *blob.Store, res *Result, opts Options, next func() error) error {
	segs, err := src.List()
	if err != nil {
		return fmt.Errorf("list the source's segments: %w", err)
	}
	have, err := dst.List()
	if err != nil {
		return fmt.Errorf("list the target's segments: %w", err)
	}
	present := map[int64]int64{}
	for _, s := range have {
		present[s.Number] = s.Size
	}
	var total, done int64
	for _, s := range segs {
		total += s.Size
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		failed  error
		workers = make(chan struct{}, segmentWorkers)
	)
	for _, s := range segs {
		mu.Lock()
		if size, ok := present[s.Number]; ok {
			if size != s.Size && failed == nil {
				failed = fmt.Errorf("segment %d: %d bytes on the target, %d on the source", s.Number, size, s.Size)
			}
			res.SegmentsPresent++
			done += s.Size
			mu.Unlock()
			continue
		}
		stop := failed
		mu.Unlock()
		if stop == nil {
			stop = ctx.Err()
		}
		if stop != nil {
			break
		}
		workers <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-workers }()
			err := putSegment(src, dst, s)
			mu.Lock()
			defer mu.Unlock()
			if failed != nil {
				return
			}
			if err == nil {
				res.Segments++
				res.Bytes += s.Size
				done += s.Size
				if opts.Progress != nil {
					opts.Progress(Progress{Phase: "blobs", Done: done, Total: total})
				}
				err = next()
			}
			failed = err
		}()
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	return ctx.Err()
}

// segmentWorkers is how many segments are copied at once: a bucket's
// objects are many and small (one per group commit until compaction packs
// them), and each costs a round trip.
const segmentWorkers = 4

func putSegment(src, dst *blob.Store, s blob.Segment) error {
	r, err := src.SegmentReader(s.Number)
	if err != nil {
		return err
	}
	return dst.PutSegment(s.Number, io.NewSectionReader(r, 0, s.Size), s.Size)
}

// Tables returns the tables of src to copy into dst, parents first, and the
// tables of src left out that are not search indexes or bookkeeping.
func Tables(ctx context.Context, src, dst *store.Store) (copied, skipped []string, err error) {
	names, err := src.Tables(ctx)
	if err != nil {
		return nil, nil, err
	}
	theirs, err := dst.Tables(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range names {
		switch {
		case t == "schema_version" || t == "migrate_progress" || strings.HasPrefix(t, "sqlite_"),
			strings.HasPrefix(t, "blob_text") || strings.HasPrefix(t, "blob_grams"):
		case !slices.Contains(theirs, t):
			skipped = append(skipped, t)
		default:
			copied = append(copied, t)
		}
	}
	rank := func(t string) int {
		if i := slices.Index(first, t); i >= 0 {
			return i
		}
		return len(first)
	}
	sort.Slice(copied, func(i, j int) bool {
		ri, rj := rank(copied[i]), rank(copied[j])
		if ri != rj {
			return ri < rj
		}
		return copied[i] < copied[j]
	})
	sort.Strings(skipped)
	return copied, skipped, nil
}

func count(ctx context.Context, st *store.Store, table string) (int64, error) {
	var n int64
	if err := st.QueryRow(ctx, `SELECT COUNT(*) FROM `+store.QuoteIdent(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// maxParams bounds the placeholders of one INSERT, under SQLite's limit
// (32766) and PostgreSQL's (65535).
const maxParams = 30000

// copyTable copies the rows of table past the last one an earlier run
// committed, batch by batch, and returns how many rows the target holds.
// after is called after each commit with the rows copied so far.
func copyTable(ctx context.Context, src, dst *store.Store, table string, opts Options, after func(rows int64) error) (int64, error) {
	name := "table:" + table
	var lastKey string
	var rows int64
	var done bool
	err := dst.QueryRow(ctx, `SELECT last_key, rows, done FROM migrate_progress WHERE name = ?`, name).Scan(&lastKey, &rows, &done)
	started := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read progress of %s: %w", table, err)
	}
	if done {
		return rows, nil
	}
	cols, err := src.Columns(ctx, table)
	if err != nil {
		return 0, err
	}
	theirs, err := dst.Columns(ctx, table)
	if err != nil {
		return 0, err
	}
	for _, c := range cols {
		if !slices.Contains(theirs, c) {
			return 0, fmt.Errorf("table %s: the target has no column %s (not the same schema version)", table, c)
		}
	}
	pk, err := src.PrimaryKey(ctx, table)
	if err != nil {
		return 0, err
	}
	var last []any
	if lastKey != "" {
		if last, err = decodeKey(lastKey); err != nil {
			return 0, fmt.Errorf("progress of %s: %w", table, err)
		}
	}
	batch := min(opts.Batch, maxParams/len(cols))
	if len(pk) == 0 {
		batch = -1 // a small table with no key (audit_anchor): whole
	}
	sel := make([]string, len(cols))
	quoted := make([]string, len(cols))
	keyAt := make([]int, len(pk))
	for i, c := range cols {
		quoted[i] = store.QuoteIdent(c)
		sel[i] = quoted[i]
		if nulled[table] == c {
			sel[i] = "NULL"
		}
		if k := slices.Index(pk, c); k >= 0 {
			keyAt[k] = i
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		page, err := readPage(ctx, src, table, sel, pk, last, batch)
		if err != nil {
			return rows, err
		}
		full := batch > 0 && len(page) == batch
		if len(page) > 0 && len(pk) > 0 {
			row := page[len(page)-1]
			last = make([]any, len(pk))
			for k, i := range keyAt {
				last[k] = row[i]
			}
		}
		key, err := encodeKey(last)
		if err != nil {
			return rows, fmt.Errorf("progress of %s: %w", table, err)
		}
		err = dst.Tx(ctx, func(tx *store.Tx) error {
			if !started {
				// Rows the target's migrations put there (the directory's state).
				if _, err := tx.Exec(ctx, `DELETE FROM `+store.QuoteIdent(table)); err != nil {
					return err
				}
			}
			if err := insert(ctx, tx, table, quoted, page); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO migrate_progress (name, last_key, rows, done) VALUES (?, ?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET last_key = excluded.last_key, rows = excluded.rows, done = excluded.done`,
				name, key, rows+int64(len(page)), flag(!full))
			return err
		})
		if err != nil {
			return rows, fmt.Errorf("copy %s: %w", table, err)
		}
		started = true
		rows += int64(len(page))
		if err := after(rows); err != nil {
			return rows, err
		}
		if !full {
			return rows, nil
		}
	}
}

// flag is a boolean as the INTEGER columns of the schema keep it.
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readPage reads up to n rows of table (all when n < 0) past the key last, in
// key order.
func readPage(ctx context.Context, src *store.Store, table string, sel, pk []string, last []any, n int) ([][]any, error) {
	q := `SELECT ` + strings.Join(sel, ", ") + ` FROM ` + store.QuoteIdent(table)
	var args []any
	if len(pk) > 0 {
		qk := make([]string, len(pk))
		for i, c := range pk {
			qk[i] = store.QuoteIdent(c)
		}
		if last != nil {
			marks := strings.TrimSuffix(strings.Repeat("?, ", len(pk)), ", ")
			q += ` WHERE (` + strings.Join(qk, ", ") + `) > (` + marks + `)`
			args = append(args, last...)
		}
		q += ` ORDER BY ` + strings.Join(qk, ", ")
	}
	if n > 0 {
		q += fmt.Sprintf(` LIMIT %d`, n)
	}
	rows, err := src.DB().QueryContext(ctx, src.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	var page [][]any
	for rows.Next() {
		row := make([]any, len(sel))
		ptrs := make([]any, len(sel))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		page = append(page, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	return page, nil
}

// insert writes rows into table in one statement.
func insert(ctx context.Context, tx *store.Tx, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO ` + store.QuoteIdent(table) + ` (` + strings.Join(cols, ", ") + `) VALUES `)
	marks := `(` + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + `)`
	args := make([]any, 0, len(rows)*len(cols))
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(marks)
		args = append(args, r...)
	}
	if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// encodeKey writes a row's key as JSON; numbers stay exact (decodeKey).
func encodeKey(key []any) (string, error) {
	if key == nil {
		return "", nil
	}
	b, err := json.Marshal(key)
	return string(b), err
}

func decodeKey(s string) ([]any, error) {
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var key []any
	if err := d.Decode(&key); err != nil {
		return nil, err
	}
	for i, v := range key {
		if n, ok := v.(json.Number); ok {
			x, err := n.Int64()
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", s, err)
			}
			key[i] = x
		}
	}
	return key, nil
}

// resetDirectory points the target's directory at no national generation:
// they are not copied. It tells whether the source had one.
func resetDirectory(ctx context.Context, dst *store.Store) (bool, error) {
	var gen int64
	err := dst.QueryRow(ctx, `SELECT generation FROM directory_state WHERE id = 1`).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) || err == nil && gen == 0 {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the directory's state: %w", err)
	}
	if _, err := dst.Exec(ctx, `UPDATE directory_state SET generation = 0, previous = 0, switched = 0, entries = 0 WHERE id = 1`); err != nil {
		return false, fmt.Errorf("reset the directory's state: %w", err)
	}
	return true, nil
}

// Verify compares src and dst once copied: the rows of every table copied
// (of a table keyed by id, those up to the source's largest, so that what the
// target wrote since — the audit entry of the migration — does not count)
// and the digest of every mailbox. It returns the differences found.
func Verify(ctx context.Context, src, dst *store.Store) ([]string, error) {
	tables, _, err := Tables(ctx, src, dst)
	if err != nil {
		return nil, err
	}
	var diffs []string
	for _, t := range tables {
		a, err := count(ctx, src, t)
		if err != nil {
			return nil, err
		}
		pk, err := src.PrimaryKey(ctx, t)
		if err != nil {
			return nil, err
		}
		var top any
		if slices.Equal(pk, []string{"id"}) {
			if err := src.QueryRow(ctx, `SELECT MAX(id) FROM `+store.QuoteIdent(t)).Scan(&top); err != nil {
				return nil, fmt.Errorf("largest id of %s: %w", t, err)
			}
		}
		var b int64
		if n, ok := top.(int64); ok {
			err = dst.QueryRow(ctx, `SELECT COUNT(*) FROM `+store.QuoteIdent(t)+` WHERE id <= ?`, n).Scan(&b)
		} else {
			b, err = count(ctx, dst, t)
		}
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		if a != b {
			diffs = append(diffs, fmt.Sprintf("table %s: %d rows on the source, %d on the target", t, a, b))
		}
	}
	sd, err := core.Digests(ctx, src)
	if err != nil {
		return nil, err
	}
	dd, err := core.Digests(ctx, dst)
	if err != nil {
		return nil, err
	}
	theirs := map[string]core.MailboxDigest{}
	for _, d := range dd {
		theirs[d.Address] = d
	}
	for _, d := range sd {
		t, ok := theirs[d.Address]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("mailbox %s: missing on the target", d.Address))
		case t != d:
			diffs = append(diffs, fmt.Sprintf("mailbox %s: %d folders, %d messages, %d bytes, sha256 %s on the source; %d, %d, %d, %s on the target",
				d.Address, d.Folders, d.Messages, d.Bytes, d.Hash, t.Folders, t.Messages, t.Bytes, t.Hash))
		}
		delete(theirs, d.Address)
	}
	for a := range theirs {
		diffs = append(diffs, fmt.Sprintf("mailbox %s: on the target only", a))
	}
	return diffs, nil
}
