package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"caduceus/internal/blob"
	"caduceus/internal/store"
)

// A job is one change to commit durably: a message's sealed blob (or none, for
// a flag change, a move or an expunge) and what to write in the metadata, which
// commits once the blob is on disk.
type job struct {
	sealed []byte
	// spool, instead of sealed, holds a large message's sealed blob in a
	// file (blob.Store.SealSpool); its owner removes it after the commit.
	spool *blob.Spool
	size  int64
	// apply writes the message's rows, referencing blobID, and returns the
	// events to publish after the commit. It may run more than once, in
	// transactions rolled back but the last (see committer.commit): it must set,
	// not accumulate, what it keeps outside the transaction.
	apply func(ctx context.Context, tx *store.Tx, blobID int64) ([]Event, error)
	// model is the stored form of the blob's message model.
	model []byte
	// text, when set, goes into the search index under the blob.
	text *searchText
	// with are jobs committed with this one, all or none, after it: the
	// other messages of one IMAP MULTIAPPEND. withRefs says where their
	// blobs went.
	with     []*job
	withRefs []blobRef
	done     chan error
}

// committer batches jobs: it appends every waiting blob and syncs the segment
// once while it writes every job's rows in one transaction, which it commits
// after the sync; one failing job (a quota) does not fail the others. A job's
// caller hears back only after that commit.
type committer struct {
	s    *Service
	sync func() error // makes the appended blobs durable: the blob store's Sync
	jobs chan *job
	quit chan struct{}
	wg   sync.WaitGroup

	stopOnce sync.Once

	commits  atomic.Int64 // transactions committed
	messages atomic.Int64 // jobs committed in them
	failures atomic.Int64 // jobs that failed
	retries  atomic.Int64 // batches run again, with savepoints, after a job failed
}

// maxBatch bounds a batch so that a burst does not make one transaction huge.
const maxBatch = 256

func newCommitter(s *Service) *committer {
	c := &committer{s: s, sync: s.blobs.Sync, jobs: make(chan *job, maxBatch), quit: make(chan struct{})}
	c.wg.Add(1)
	go c.run()
	return c
}

// submit queues a job and waits for its commit. The commit goes on even if ctx
// ends meanwhile: a message that reached the disk is kept, acknowledged or not.
func (c *committer) submit(ctx context.Context, j *job) error {
	j.done = make(chan error, 1)
	select {
	case c.jobs <- j:
	case <-c.quit:
		return fmt.Errorf("store message: %w", errClosed)
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-j.done
}

func (c *committer) stop() {
	c.stopOnce.Do(func() { close(c.quit) })
	c.wg.Wait()
}

func (c *committer) run() {
	defer c.wg.Done()
	for {
		select {
		case j := <-c.jobs:
			c.commit(c.collect(j))
		case <-c.quit:
			for {
				select {
				case j := <-c.jobs:
					c.commit(c.collect(j))
				default:
					return
				}
			}
		}
	}
}

func (c *committer) collect(first *job) []*job {
	batch := []*job{first}
	for len(batch) < maxBatch {
		select {
		case j := <-c.jobs:
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

func (c *committer) commit(batch []*job) {
	ctx := context.Background()
	refs := make([]blobRef, len(batch))
	// Flag changes, moves and expunges carry no blob: a batch of only those
	// has nothing to sync.
	appended := false
	for i, j := range batch {
		if j.sealed == nil && j.spool == nil {
			continue
		}
		appended = true
		refs[i] = c.appendBlob(j)
		j.withRefs = j.withRefs[:0]
		for _, w := range j.with {
			j.withRefs = append(j.withRefs, c.appendBlob(w))
		}
	}
	// The blobs' fsync runs while the transaction writes their rows, which
	// commit only once it has succeeded: no committed row names a blob that
	// is not on disk.
	synced := func() error { return nil }
	if appended {
		done := make(chan error, 1)
		go func() { done <- c.sync() }()
		synced = sync.OnceValue(func() error { return <-done })
	}
	// A savepoint per job costs two round trips on PostgreSQL, often more
	// than the job itself, and jobs seldom fail: run the batch without them
	// first. When a job fails, that attempt is rolled back whole and the batch
	// runs again with a savepoint per job, so that the failure stays the job's.
	errs, events, err := c.apply(ctx, batch, refs, synced, false)
	if errors.Is(err, errJobFailed) {
		c.retries.Add(1)
		errs, events, err = c.apply(ctx, batch, refs, synced, true)
	}
	// A transaction that failed early did not wait for the sync; the next
	// batch's appends must not start under it.
	synced()
	if err == nil {
		var all []Event
		for _, ev := range events {
			all = append(all, ev...)
		}
		c.s.publishLocal(all...)
		c.s.announceArrivals(all)
	}
	c.commits.Add(1)
	for i, j := range batch {
		if err != nil {
			c.failures.Add(1)
			j.done <- fmt.Errorf("commit: %w", err)
			continue
		}
		if errs[i] != nil {
			c.failures.Add(1)
		} else {
			c.messages.Add(1)
		}
		j.done <- errs[i]
	}
}

// blobRef says where a job's blob went, or why it could not.
type blobRef struct {
	segment, offset, length int64
	err                     error
}

// errJobFailed ends, and rolls back, a batch's attempt without savepoints when
// one of its jobs fails.
var errJobFailed = errors.New("a job of the batch failed")

// apply runs the jobs of a batch in one transaction and commits it once
// synced reports the blobs durable, telling the other nodes of the events on
// PostgreSQL. Without savepoints it stops at the first job that fails, with
// errJobFailed; with them it rolls that job back to its savepoint and goes
// on. It returns each job's error and events.
func (c *committer) apply(ctx context.Context, batch []*job, refs []blobRef, synced func() error, savepoints bool) ([]error, [][]Event, error) {
	errs := make([]error, len(batch))
	events := make([][]Event, len(batch))
	err := c.s.st.Tx(ctx, func(tx *store.Tx) error {
		// Jobs lock folder rows and then record audit entries: the chain's
		// lock first keeps every node's batches in one lock order.
		if err := c.s.audit.Lock(ctx, tx); err != nil {
			return err
		}
		now := c.s.nowMillis()
		var all []Event
		for i, j := range batch {
			if refs[i].err != nil {
				errs[i] = refs[i].err
				continue
			}
			if savepoints {
				if _, err := tx.Exec(ctx, `SAVEPOINT job`); err != nil {
					return err
				}
			}
			events[i], errs[i] = c.runJob(ctx, tx, j, refs[i], now)
			if errs[i] != nil {
				if !savepoints {
					return errJobFailed
				}
				events[i] = nil
				if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT job`); err != nil {
					return err
				}
			}
			if savepoints {
				if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT job`); err != nil {
					return err
				}
			}
			all = append(all, events[i]...)
		}
		if err := c.s.notifyNodes(ctx, tx, all); err != nil {
			return err
		}
		if err := synced(); err != nil {
			return fmt.Errorf("sync blobs: %w", err)
		}
		return nil
	})
	return errs, events, err
}

// appendBlob appends a job's sealed blob to the blob store.
func (c *committer) appendBlob(j *job) blobRef {
	var r blob.Ref
	var err error
	if j.spool != nil {
		r, err = c.s.blobs.AppendSpool(j.spool)
	} else {
		r, err = c.s.blobs.Append(j.sealed, j.size)
	}
	return blobRef{segment: r.Segment, offset: r.Offset, length: r.Length, err: err}
}

// runJob writes one job's rows, then those of the jobs committed with it:
// a failure of any fails them all.
func (c *committer) runJob(ctx context.Context, tx *store.Tx, j *job, ref blobRef, now int64) ([]Event, error) {
	events, err := c.runOne(ctx, tx, j, ref, now)
	for k, w := range j.with {
		if err != nil {
			return nil, err
		}
		if j.withRefs[k].err != nil {
			return nil, j.withRefs[k].err
		}
		var ev []Event
		ev, err = c.runOne(ctx, tx, w, j.withRefs[k], now)
		events = append(events, ev...)
	}
	return events, err
}

// runOne writes one job's rows: its blob's, its search index, then its own.
func (c *committer) runOne(ctx context.Context, tx *store.Tx, j *job, ref blobRef, now int64) ([]Event, error) {
	var blobID int64
	if j.sealed != nil || j.spool != nil {
		var err error
		if blobID, err = insertBlob(ctx, tx, j, ref, now); err != nil {
			return nil, err
		}
	}
	return j.apply(ctx, tx, blobID)
}

// insertBlob writes the row of a job's blob and, when the job has text, the
// blob's search index; it returns the blob's id.
func insertBlob(ctx context.Context, tx *store.Tx, j *job, ref blobRef, now int64) (int64, error) {
	const insert = `INSERT INTO blobs (segment, offset_bytes, length, size, refs, created, model) VALUES (?, ?, ?, ?, 0, ?, ?)`
	args := []any{ref.segment, ref.offset, ref.length, j.size, now, j.model}
	if j.text != nil && tx.Dialect() == store.Postgres {
		// One statement writes both: a round trip less per message.
		var id int64
		err := tx.QueryRow(ctx, `WITH b AS (`+insert+` RETURNING id),
			t AS (INSERT INTO blob_text (blob_id, tsv) SELECT id, `+tsvector+` FROM b),
			g AS (INSERT INTO blob_grams (blob_id, head, body) SELECT id, ?, ? FROM b)
			SELECT id FROM b`, append(append(args, j.text.weighted()...), j.text.head, j.text.full)...).Scan(&id)
		if err != nil {
			return 0, fmt.Errorf("store and index blob: %w", err)
		}
		return id, nil
	}
	id, err := tx.Insert(ctx, insert, args...)
	if err != nil {
		return 0, fmt.Errorf("store blob: %w", err)
	}
	if j.text != nil {
		if err := j.text.index(ctx, tx, id); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// CommitStats counts the group committer's work since start, for metrics.
type CommitStats struct {
	Commits  int64 // transactions (each with one blob sync)
	Messages int64 // messages stored durably
	Failures int64 // messages refused at commit (quota, errors)
	Retries  int64 // batches run again, a savepoint per job, after a job failed
}

// CommitStats returns the committer's counters.
func (s *Service) CommitStats() CommitStats {
	return CommitStats{Commits: s.commit.commits.Load(), Messages: s.commit.messages.Load(),
		Failures: s.commit.failures.Load(), Retries: s.commit.retries.Load()}
}

// write commits fn through the group committer, so that flag changes, moves
// and expunges share the batches, and the syncs, of deliveries. events is
// called once fn has succeeded; what it returns is published after the commit.
func (s *Service) write(ctx context.Context, fn func(tx *store.Tx) error, events func() []Event) error {
	return s.commit.submit(ctx, &job{apply: func(ctx context.Context, tx *store.Tx, _ int64) ([]Event, error) {
		if err := fn(tx); err != nil {
			return nil, err
		}
		return events(), nil
	}})
}
