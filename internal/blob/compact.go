package blob

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Compaction gives back the space of blobs nobody references any more. The
// store only moves bytes; which blobs are alive is the metadata's business, so
// the core drives it:
//
//  1. Claim a closed segment (one no writer holds, here or in another process),
//     Copy its live blobs into the active segment and Sync.
//  2. Repoint the metadata to the copies and drop the rows of dead blobs, in
//     the metadata store's transactions.
//  3. Retire the segment: a marker file records when nothing pointed into it
//     any more.
//  4. In a later run, once the marker is older than a grace period (so that a
//     reader that listed an old location a moment before step 2 still reads
//     it), Remove the segment file.
//
// A crash between any two steps loses nothing: before step 2 commits, the
// copies are unreferenced bytes in the active segment; after it, the old
// segment is intact until step 4.

// ErrBusy is returned by LockCompaction when another compaction runs.
var ErrBusy = errors.New("another blob compaction is running")

// Segment describes one segment file on disk.
type Segment struct {
	Number int64
	Size   int64 // bytes on disk
	// Retired is when compaction last found nothing pointing into the
	// segment; zero while it may hold live blobs.
	Retired time.Time
}

// List returns the segments (files or objects), in order, with their sizes and
// retirement times.
func (s *Store) List() ([]Segment, error) { return s.b.list() }

// Closed tells whether segment n is closed for good: it holds bytes and no
// writer, in this process or another, still appends to it. An uploaded S3
// object is closed from the start: objects are never written again.
func (s *Store) Closed(n int64) (bool, error) { return s.b.closed(n) }

// Copy appends a copy of a blob's sealed bytes, as they are, after the others
// and returns its new location. The copy decrypts with the same key: the
// blob's salt travels in its header and its nonces count its own chunks. It
// is durable once Sync returns.
func (s *Store) Copy(ref Ref) (Ref, error) {
	f, err := s.b.reader(ref.Segment)
	if err != nil {
		return Ref{}, err
	}
	if ref.Length != headerSize+ref.Size+chunks(ref.Size)*tagSize {
		return Ref{}, ErrCorrupt
	}
	sealed := make([]byte, ref.Length)
	if _, err := f.ReadAt(sealed, ref.Offset); err != nil {
		return Ref{}, fmt.Errorf("read blob in segment %d: %w", ref.Segment, err)
	}
	if string(sealed[:4]) != magic {
		return Ref{}, ErrCorrupt
	}
	return s.Append(sealed, ref.Size)
}

// Active returns the number of the segment this store appends to, 0 before
// its first append.
func (s *Store) Active() int64 { return s.b.active() }

// Retire records that nothing points into segment n any more: Remove may
// delete it once the grace period has passed. A later Retire keeps the
// first date.
func (s *Store) Retire(n int64) error { return s.b.retire(n) }

// Unretire drops segment n's retirement marker, when something still points
// into it after all.
func (s *Store) Unretire(n int64) error { return s.b.unretire(n) }

// Remove deletes segment n, closing this store's reader of it, and then its
// retirement marker. Readers opened on it earlier fail from then on.
func (s *Store) Remove(n int64) error { return s.b.remove(n) }

// Forget closes this store's readers of segments another process removed,
// so that their space goes back to the file system.
func (s *Store) Forget() { s.b.forget() }

// CleanMarkers removes retirement markers whose segment is gone (a crash
// between Remove's two steps).
func (s *Store) CleanMarkers() error { return s.b.cleanMarkers() }

// LockCompaction makes sure one compaction at a time runs on the blobs,
// across processes of this machine. It returns ErrBusy when another holds
// the lock. Nodes sharing a bucket also need the metadata store's lock
// (core takes a PostgreSQL advisory lock).
func (s *Store) LockCompaction() (unlock func(), err error) { return s.b.lockCompaction() }

// HoldCompaction waits until no compaction runs and keeps any from starting
// until unlock is called, so that no segment is moved or removed meanwhile (a
// backup copies the segments under it). It gives up when ctx ends.
func (s *Store) HoldCompaction(ctx context.Context) (unlock func(), err error) {
	for {
		unlock, err := s.LockCompaction()
		if !errors.Is(err, ErrBusy) {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the running compaction: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Remote tells whether the segments are objects in a bucket, shared by the
// nodes, rather than files of this node.
func (s *Store) Remote() bool {
	_, ok := s.b.(*s3Backend)
	return ok
}

// ErrRemote is returned by SegmentFiles when the blobs are in a bucket: back
// the bucket up with its own tools (versioning, replication).
var ErrRemote = errors.New("the blobs are in an S3 bucket, not in files: back the bucket up with its versioning or replication")

// SegmentFiles lists the paths of the segment files, oldest first. Call it
// under HoldCompaction for a list that stays true. It returns ErrRemote for
// a store on S3.
func (s *Store) SegmentFiles() ([]string, error) { return s.b.segmentFiles() }
