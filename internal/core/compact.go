package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"caduceus/internal/blob"
	"caduceus/internal/store"
)

// Blob compaction gives back the disk space of messages nobody references any
// more. A closed segment whose dead bytes pass a threshold has its live blobs
// copied, sealed as they are, into the active segment; once the copies are
// synced, the blobs rows are repointed and the rows of dead blobs deleted
// through the group committer, so the change serialises with every delivery,
// copy and expunge of this node. The segment is then retired, and its file
// removed only after a grace period, by a later run: a FETCH that listed a
// blob's old location a moment before still reads it. Before the file goes,
// the committer checks once more that no row points into it.
//
// A crash at any step loses nothing: copies not yet referenced are dead bytes
// of the active segment, which a later compaction reclaims; a repointed row
// points at synced bytes; the old segment stays until nothing points into it.

// CompactOptions tunes CompactBlobs.
type CompactOptions struct {
	// Threshold is the share of a closed segment's bytes that must be dead
	// before its live blobs move out; 0 means DefaultCompactThreshold.
	Threshold float64
	// Grace is how long a retired segment stays on disk before its file is
	// removed. Zero removes it in the same run: only for a stopped server.
	Grace time.Duration
	// Progress, when not nil, hears how many of the live bytes to move have
	// moved so far.
	Progress func(done, total int64)

	// failAt, in tests, stops the run at a named step as a crash would.
	failAt string
}

// DefaultCompactThreshold is the share of dead bytes past which a segment is
// compacted by default.
const DefaultCompactThreshold = 0.5

// CompactResult says what a compaction run did.
type CompactResult struct {
	Compacted  int   // segments emptied of their live blobs, now retired
	Moved      int   // live blobs moved
	MovedBytes int64 // their sealed bytes
	DeadRows   int   // rows of dead blobs deleted
	Removed    int   // retired segment files removed
	Reclaimed  int64 // their bytes, given back to the file system
	Duration   time.Duration
}

// errCompactCrash is what a test's failAt step returns.
var errCompactCrash = errors.New("compaction stopped by test")

// repointBatch and deleteBatch bound how many rows one committer job repoints
// or deletes, so that a large segment does not hold deliveries back for long.
// Deletes are smaller: SQLite's FTS5 index takes about 0.4 ms to forget a row.
const (
	repointBatch = 500
	deleteBatch  = 100
)

// CompactBlobs reclaims the space of dead blobs: it moves the live blobs out of
// closed segments mostly made of dead ones, then removes the segments retired
// at least opts.Grace ago. Only the system may run it. It returns
// blob.ErrBusy when another compaction runs on the same blob directory.
func (s *Service) CompactBlobs(ctx context.Context, actor Actor, opts CompactOptions) (CompactResult, error) {
	start := s.now()
	var res CompactResult
	if !actor.IsSystem() {
		return res, ErrPermission
	}
	if opts.Threshold <= 0 || opts.Threshold > 1 {
		opts.Threshold = DefaultCompactThreshold
	}
	unlock, err := s.blobs.LockCompaction()
	if err != nil {
		return res, err
	}
	defer unlock()
	unlockNodes, err := s.lockCompactionNodes(ctx)
	if err != nil {
		return res, err
	}
	defer unlockNodes()
	s.blobs.Forget()
	if err := s.blobs.CleanMarkers(); err != nil {
		return res, err
	}
	stats, err := s.BlobStats(ctx)
	if err != nil {
		return res, err
	}
	// Each group of segments is copied out and synced together: one
	// segment, or, in a bucket, many small objects packed into one.
	var groups [][]int64
	var total int64
	var small []SegmentStats
	for _, st := range stats {
		if st.State != SegmentClosed {
			continue
		}
		switch {
		case float64(st.Size-st.LiveBytes) >= opts.Threshold*float64(st.Size):
			groups = append(groups, []int64{st.Number})
			total += st.LiveBytes
		case s.blobs.Remote() && st.Size < packBelow:
			small = append(small, st)
		}
	}
	if len(small) >= packMin {
		var group []int64
		var size int64
		for _, st := range small {
			if len(group) > 0 && size+st.LiveBytes > packTarget {
				groups = append(groups, group)
				group, size = nil, 0
			}
			group = append(group, st.Number)
			size += st.LiveBytes
			total += st.LiveBytes
		}
		groups = append(groups, group)
	}
	var done int64
	var errs []error
	for _, g := range groups {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		err := s.compactSegments(ctx, actor, g, opts, &res, func(n int64) {
			done += n
			if opts.Progress != nil {
				opts.Progress(done, total)
			}
		})
		if errors.Is(err, errCompactCrash) {
			return res, err
		}
		if err != nil {
			s.log.Error("blob compaction", "segments", len(g), "first", g[0], "err", err)
			errs = append(errs, err)
		}
	}
	if err := s.removeRetired(ctx, actor, opts, &res); err != nil {
		errs = append(errs, err)
	}
	res.Duration = s.now().Sub(start)
	return res, errors.Join(errs...)
}

// Packing small objects: a bucket gets one object per group commit, small
// under light load. Once there are packMin closed objects below packBelow
// bytes, compaction copies their live blobs into objects of up to about
// packTarget bytes and retires them, even if nothing in them is dead.
const (
	packBelow  = 4 << 20
	packMin    = 16
	packTarget = 64 << 20
)

// compactSegments moves the live blobs of segments segs into the active
// segment (one sync for them all), deletes their dead rows and retires each
// one nothing points into any more.
func (s *Service) compactSegments(ctx context.Context, actor Actor, segs []int64, opts CompactOptions, res *CompactResult, progress func(int64)) error {
	type move struct {
		id       int64
		from, to blob.Ref
	}
	var moves []move
	for _, n := range segs {
		rows, err := s.st.Query(ctx, `SELECT id, offset_bytes, length, size FROM blobs WHERE segment = ? AND refs > 0 ORDER BY offset_bytes`, n)
		if err != nil {
			return fmt.Errorf("list live blobs of segment %d: %w", n, err)
		}
		for rows.Next() {
			m := move{from: blob.Ref{Segment: n}}
			if err := rows.Scan(&m.id, &m.from.Offset, &m.from.Length, &m.from.Size); err != nil {
				rows.Close()
				return err
			}
			moves = append(moves, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	moved := map[int64]int64{} // segment → bytes moved out
	count := map[int64]int{}   // segment → blobs moved out
	for i := range moves {
		if err := ctx.Err(); err != nil {
			return err
		}
		to, err := s.blobs.Copy(moves[i].from)
		if err != nil {
			return fmt.Errorf("segment %d, blob %d: %w", moves[i].from.Segment, moves[i].id, err)
		}
		moves[i].to = to
		moved[moves[i].from.Segment] += to.Length
		count[moves[i].from.Segment]++
		progress(to.Length)
	}
	if err := s.blobs.Sync(); err != nil {
		return fmt.Errorf("sync blob copies: %w", err)
	}
	// The committer's Sync may have carried some copies, and failed.
	for _, m := range moves {
		if s.blobs.Lost(m.to) {
			return fmt.Errorf("segment %d, blob %d: its copy was lost with a failed sync", m.from.Segment, m.id)
		}
	}
	if opts.failAt == "copied" {
		return errCompactCrash
	}
	for lo := 0; lo < len(moves); lo += repointBatch {
		batch := moves[lo:min(lo+repointBatch, len(moves))]
		err := s.write(ctx, func(tx *store.Tx) error {
			for _, m := range batch {
				// A row another run repointed already stays where it is; its
				// copy here becomes dead bytes.
				if _, err := tx.Exec(ctx, `UPDATE blobs SET segment = ?, offset_bytes = ? WHERE id = ? AND segment = ? AND offset_bytes = ?`,
					m.to.Segment, m.to.Offset, m.id, m.from.Segment, m.from.Offset); err != nil {
					return fmt.Errorf("repoint blob %d: %w", m.id, err)
				}
			}
			return nil
		}, noEvents)
		if err != nil {
			return err
		}
		if opts.failAt == "repointed-part" {
			return errCompactCrash
		}
	}
	for _, n := range segs {
		dead, err := s.deleteDead(ctx, n)
		if err != nil {
			return err
		}
		var left int64
		err = s.write(ctx, func(tx *store.Tx) error {
			// A blob committed into the segment after the listing above (its
			// writer rotated away just before) keeps the segment for a later run.
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM blobs WHERE segment = ?`, n).Scan(&left); err != nil {
				return err
			}
			detail := fmt.Sprintf("moved %d blobs (%d bytes), deleted %d dead, %d left", count[n], moved[n], dead, left)
			return s.audit.Record(ctx, tx, actor.audit("blobs.compact", fmt.Sprintf("segment %d", n), nil, detail))
		}, noEvents)
		if err != nil {
			return err
		}
		res.Moved += count[n]
		res.MovedBytes += moved[n]
		res.DeadRows += int(dead)
		s.log.Info("blob segment compacted", "segment", n, "moved", count[n], "moved_bytes", moved[n], "dead_rows", dead, "left", left)
		if left > 0 {
			continue
		}
		if opts.failAt == "repointed" {
			return errCompactCrash
		}
		if err := s.blobs.Retire(n); err != nil {
			return err
		}
		res.Compacted++
	}
	return nil
}

// deleteDead deletes the rows of segment n's dead blobs and their search rows,
// a batch per committer job, and returns how many went.
func (s *Service) deleteDead(ctx context.Context, n int64) (int64, error) {
	rows, err := s.st.Query(ctx, `SELECT id FROM blobs WHERE segment = ? AND refs = 0`, n)
	if err != nil {
		return 0, fmt.Errorf("list dead blobs of segment %d: %w", n, err)
	}
	var ids []any
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var total int64
	for lo := 0; lo < len(ids); lo += deleteBatch {
		batch := ids[lo:min(lo+deleteBatch, len(ids))]
		// Dead: no reference counted, and none in fact (a row whose count went
		// wrong stays, and keeps the segment). A count of 0 never rises again.
		dead := `SELECT id FROM blobs WHERE id IN (?` + strings.Repeat(", ?", len(batch)-1) + `) AND refs = 0
			AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = blobs.id)
			AND NOT EXISTS (SELECT 1 FROM outbound WHERE blob_id = blobs.id)`
		var deleted int64
		err := s.write(ctx, func(tx *store.Tx) error {
			deleted = 0
			rows, err := tx.Query(ctx, dead, batch...)
			if err != nil {
				return fmt.Errorf("find dead blobs: %w", err)
			}
			var gone []any
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				gone = append(gone, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil || len(gone) == 0 {
				return err
			}
			list := `(?` + strings.Repeat(", ?", len(gone)-1) + `)`
			textKey := "rowid"
			if tx.Dialect() == store.Postgres {
				textKey = "blob_id"
			}
			for _, table := range []string{"blob_text", "blob_grams"} {
				if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE `+textKey+` IN `+list, gone...); err != nil {
					return fmt.Errorf("delete search rows of dead blobs: %w", err)
				}
			}
			if _, err := tx.Exec(ctx, `DELETE FROM blobs WHERE id IN `+list, gone...); err != nil {
				return fmt.Errorf("delete dead blobs: %w", err)
			}
			deleted = int64(len(gone))
			return nil
		}, noEvents)
		if err != nil {
			return total, err
		}
		total += deleted
	}
	return total, nil
}

// removeRetired removes the files of segments retired at least opts.Grace ago
// into which still nothing points.
func (s *Service) removeRetired(ctx context.Context, actor Actor, opts CompactOptions, res *CompactResult) error {
	segs, err := s.blobs.List()
	if err != nil {
		return err
	}
	now := s.now()
	for _, seg := range segs {
		if seg.Retired.IsZero() || now.Sub(seg.Retired) < opts.Grace {
			continue
		}
		if closed, err := s.blobs.Closed(seg.Number); err != nil || !closed {
			continue
		}
		if opts.failAt == "retired" {
			return errCompactCrash
		}
		var left int64
		// Through the committer: every batch of this node that appended to the
		// segment before it was closed has committed by now.
		err := s.write(ctx, func(tx *store.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM blobs WHERE segment = ?`, seg.Number).Scan(&left); err != nil {
				return err
			}
			if left > 0 {
				return nil
			}
			return s.audit.Record(ctx, tx, actor.audit("blobs.remove", fmt.Sprintf("segment %d", seg.Number), nil, fmt.Sprintf("%d bytes reclaimed", seg.Size)))
		}, noEvents)
		if err != nil {
			return fmt.Errorf("segment %d: %w", seg.Number, err)
		}
		if left > 0 {
			if err := s.blobs.Unretire(seg.Number); err != nil {
				return err
			}
			continue
		}
		if err := s.blobs.Remove(seg.Number); err != nil {
			return err
		}
		res.Removed++
		res.Reclaimed += seg.Size
		s.log.Info("blob segment removed", "segment", seg.Number, "bytes", seg.Size)
	}
	return nil
}

func noEvents() []Event { return nil }

// compactionLock is the PostgreSQL advisory lock key of blob compaction.
const compactionLock = 7243107

// lockCompactionNodes keeps the nodes sharing a PostgreSQL database (and so
// an S3 bucket) from compacting at once: a session advisory lock, held on a
// connection of its own until unlock. It returns blob.ErrBusy when another
// node holds it for more than a few seconds: the lock of a node that died
// goes once PostgreSQL sees its connection closed, which takes a moment. On
// SQLite, the blob store's own lock is enough: one machine.
func (s *Service) lockCompactionNodes(ctx context.Context) (unlock func(), err error) {
	if s.st.Dialect() != store.Postgres {
		return func() {}, nil
	}
	conn, err := s.st.DB().Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("blob compaction lock: %w", err)
	}
	for try := 0; ; try++ {
		var got bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, compactionLock).Scan(&got); err != nil {
			conn.Close()
			return nil, fmt.Errorf("blob compaction lock: %w", err)
		}
		if got {
			break
		}
		if try == 15 {
			conn.Close()
			return nil, blob.ErrBusy
		}
		select {
		case <-ctx.Done():
			conn.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return func() {
		conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, compactionLock)
		conn.Close()
	}, nil
}

// Segment states in SegmentStats.
const (
	SegmentActive  = "active"  // this node appends to it
	SegmentWriting = "writing" // another process appends to it, or it is empty
	SegmentClosed  = "closed"  // never written again
	SegmentRetired = "retired" // nothing points into it; removed after the grace period
)

// SegmentStats describes one blob segment on disk.
type SegmentStats struct {
	Number    int64     `json:"segment"`
	State     string    `json:"state"`
	Size      int64     `json:"size"`       // bytes on disk
	LiveBlobs int64     `json:"live_blobs"` // blobs still referenced
	LiveBytes int64     `json:"live_bytes"` // their sealed bytes
	Retired   time.Time `json:"retired,omitzero"`
}

// BlobStats lists the blob segments on disk with their live bytes: what
// compaction would find.
func (s *Service) BlobStats(ctx context.Context) ([]SegmentStats, error) {
	type live struct{ blobs, bytes int64 }
	lives := map[int64]live{}
	rows, err := s.st.Query(ctx, `SELECT segment, COUNT(*), COALESCE(SUM(length), 0) FROM blobs WHERE refs > 0 GROUP BY segment`)
	if err != nil {
		return nil, fmt.Errorf("count live blobs: %w", err)
	}
	for rows.Next() {
		var n int64
		var l live
		if err := rows.Scan(&n, &l.blobs, &l.bytes); err != nil {
			rows.Close()
			return nil, err
		}
		lives[n] = l
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Listed after the rows: a blob committed since is in a segment that is
	// still being written, which compaction leaves alone.
	segs, err := s.blobs.List()
	if err != nil {
		return nil, err
	}
	active := s.blobs.Active()
	out := make([]SegmentStats, len(segs))
	for i, seg := range segs {
		st := SegmentStats{Number: seg.Number, Size: seg.Size, LiveBlobs: lives[seg.Number].blobs, LiveBytes: lives[seg.Number].bytes, Retired: seg.Retired}
		switch closed, err := s.blobs.Closed(seg.Number); {
		case err != nil:
			return nil, err
		case seg.Number == active:
			st.State = SegmentActive
		case !closed:
			st.State = SegmentWriting
		case !seg.Retired.IsZero():
			st.State = SegmentRetired
		default:
			st.State = SegmentClosed
		}
		out[i] = st
	}
	return out, nil
}

// checkSegments reports blob rows pointing outside the segment files on disk,
// such as into a segment compaction removed.
func (s *Service) checkSegments(ctx context.Context, add func(format string, args ...any)) error {
	type loc struct{ id, seg, end int64 }
	var locs []loc
	rows, err := s.st.Query(ctx, `SELECT id, segment, offset_bytes + length FROM blobs ORDER BY id`)
	if err != nil {
		return fmt.Errorf("check blob locations: %w", err)
	}
	for rows.Next() {
		var l loc
		if err := rows.Scan(&l.id, &l.seg, &l.end); err != nil {
			rows.Close()
			return err
		}
		locs = append(locs, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Listed after the rows, so that a segment written since is there.
	segs, err := s.blobs.List()
	if err != nil {
		return err
	}
	sizes := make(map[int64]int64, len(segs))
	for _, seg := range segs {
		sizes[seg.Number] = seg.Size
	}
	for _, l := range locs {
		size, ok := sizes[l.seg]
		switch {
		case !ok:
			add("blob %d: segment %d is not on disk", l.id, l.seg)
		case l.end > size:
			add("blob %d: ends at byte %d of segment %d, which holds %d", l.id, l.end, l.seg, size)
		}
	}
	return nil
}
