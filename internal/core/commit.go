package core

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"caduceus/internal/store"
)

// A job is one change to commit durably: a message's sealed blob (or none, for
// a flag change, a move or an expunge) and what to write in the metadata once
// the blob is on disk.
type job struct {
	sealed []byte
	size   int64
	// apply writes the message's rows, referencing blobID, and returns the
	// events to publish after the commit.
	apply func(ctx context.Context, tx *store.Tx, blobID int64) ([]Event, error)
	// text, when set, goes into the search index under the blob.
	text *searchText
	done chan error
}

// committer batches jobs: it appends every waiting blob, syncs the segment once,
// then commits every job's rows in one transaction, each under its own savepoint
// so that one failing job (a quota) does not fail the others. A job's caller
// hears back only after that commit.
type committer struct {
	s    *Service
	jobs chan *job
	quit chan struct{}
	wg   sync.WaitGroup

	stopOnce sync.Once

	commits  atomic.Int64 // transactions committed
	messages atomic.Int64 // jobs committed in them
	failures atomic.Int64 // jobs that failed
}

// maxBatch bounds a batch so that a burst does not make one transaction huge.
const maxBatch = 256

func newCommitter(s *Service) *committer {
	c := &committer{s: s, jobs: make(chan *job, maxBatch), quit: make(chan struct{})}
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
	refs := make([]struct {
		segment, offset, length int64
		err                     error
	}, len(batch))
	// Flag changes, moves and expunges carry no blob: a batch of only those
	// has nothing to sync.
	appended := false
	for i, j := range batch {
		if j.sealed == nil {
			continue
		}
		appended = true
		r, err := c.s.blobs.Append(j.sealed, j.size)
		refs[i].segment, refs[i].offset, refs[i].length, refs[i].err = r.Segment, r.Offset, r.Length, err
	}
	if appended {
		if err := c.s.blobs.Sync(); err != nil {
			for _, j := range batch {
				j.done <- fmt.Errorf("sync blobs: %w", err)
			}
			return
		}
	}
	errs := make([]error, len(batch))
	events := make([][]Event, len(batch))
	err := c.s.st.Tx(ctx, func(tx *store.Tx) error {
		now := c.s.nowMillis()
		for i, j := range batch {
			errs[i], events[i] = nil, nil
			if refs[i].err != nil {
				errs[i] = refs[i].err
				continue
			}
			if _, err := tx.Exec(ctx, `SAVEPOINT job`); err != nil {
				return err
			}
			var blobID int64
			var err error
			if j.sealed != nil {
				blobID, err = tx.Insert(ctx, `INSERT INTO blobs (segment, offset_bytes, length, size, refs, created) VALUES (?, ?, ?, ?, 0, ?)`,
					refs[i].segment, refs[i].offset, refs[i].length, j.size, now)
			}
			if err == nil && j.text != nil {
				err = j.text.index(ctx, tx, blobID)
			}
			if err == nil {
				events[i], err = j.apply(ctx, tx, blobID)
			}
			if err != nil {
				errs[i], events[i] = err, nil
				if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT job`); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT job`); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		var all []Event
		for _, ev := range events {
			all = append(all, ev...)
		}
		c.s.publish(all...)
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

// CommitStats counts the group committer's work since start, for metrics.
type CommitStats struct {
	Commits  int64 // transactions (each with one blob sync)
	Messages int64 // messages stored durably
	Failures int64 // messages refused at commit (quota, errors)
}

// CommitStats returns the committer's counters.
func (s *Service) CommitStats() CommitStats {
	return CommitStats{Commits: s.commit.commits.Load(), Messages: s.commit.messages.Load(), Failures: s.commit.failures.Load()}
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
