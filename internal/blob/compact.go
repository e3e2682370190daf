package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// List returns the segment files on disk, in order, with their sizes and
// retirement times.
func (s *Store) List() ([]Segment, error) {
	nums, err := segments(s.dir)
	if err != nil {
		return nil, err
	}
	out := make([]Segment, 0, len(nums))
	for _, n := range nums {
		fi, err := os.Stat(s.path(n))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("stat segment %d: %w", n, err)
		}
		seg := Segment{Number: n, Size: fi.Size()}
		if mi, err := os.Stat(s.retiredPath(n)); err == nil {
			seg.Retired = mi.ModTime()
		}
		out = append(out, seg)
	}
	return out, nil
}

// Closed tells whether segment n is closed for good: it holds bytes and no
// writer, in this process or another, still appends to it. Writers hold a lock
// on the segment they append to from its creation to its closing; a closed
// segment never receives another byte, since writers only append to segments
// they created.
func (s *Store) Closed(n int64) (bool, error) {
	f, err := os.Open(s.path(n))
	if err != nil {
		return false, fmt.Errorf("open segment %d: %w", n, err)
	}
	defer f.Close()
	if err := lockFile(f, false); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return false, fmt.Errorf("lock segment %d: %w", n, err)
	}
	// An empty segment may be one a writer created and has not locked yet.
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat segment %d: %w", n, err)
	}
	return fi.Size() > 0, nil
}

// Copy appends a copy of a blob's sealed bytes, as they are, to the active
// segment and returns its new location. The copy decrypts with the same key:
// the blob's salt travels in its header and its nonces count its own chunks.
// It is durable once Sync returns.
func (s *Store) Copy(ref Ref) (Ref, error) {
	f, err := s.reader(ref.Segment)
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
func (s *Store) Active() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		return 0
	}
	return s.segment
}

// Retire records that nothing points into segment n any more: Remove may
// delete it once the grace period has passed. A later Retire keeps the
// first date.
func (s *Store) Retire(n int64) error {
	f, err := os.OpenFile(s.retiredPath(n), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("retire segment %d: %w", n, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("retire segment %d: %w", n, err)
	}
	return syncDir(s.dir)
}

// Unretire drops segment n's retirement marker, when something still points
// into it after all.
func (s *Store) Unretire(n int64) error {
	if err := os.Remove(s.retiredPath(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unretire segment %d: %w", n, err)
	}
	return nil
}

// Remove deletes segment n from disk, closing this store's reader of it, and
// then its retirement marker. Readers opened on it earlier fail from then on.
func (s *Store) Remove(n int64) error {
	if n == s.Active() {
		return fmt.Errorf("remove segment %d: it is the active segment", n)
	}
	if f, ok := s.readers.LoadAndDelete(n); ok {
		f.(*os.File).Close()
	}
	if err := os.Remove(s.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove segment %d: %w", n, err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	return s.Unretire(n)
}

// Forget closes this store's readers of segments another process removed,
// so that their space goes back to the file system.
func (s *Store) Forget() {
	s.readers.Range(func(k, v any) bool {
		if _, err := os.Stat(s.path(k.(int64))); errors.Is(err, fs.ErrNotExist) {
			if _, ok := s.readers.LoadAndDelete(k); ok {
				v.(*os.File).Close()
			}
		}
		return true
	})
}

// CleanMarkers removes retirement markers whose segment is gone (a crash
// between Remove's two steps).
func (s *Store) CleanMarkers() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("list blob dir: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), "retired-")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			continue
		}
		if _, err := os.Stat(s.path(n)); errors.Is(err, fs.ErrNotExist) {
			if err := s.Unretire(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// LockCompaction makes sure one compaction at a time runs on the directory,
// across processes. It returns ErrBusy when another holds the lock.
func (s *Store) LockCompaction() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, "compact.lock"), os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open compaction lock: %w", err)
	}
	if err := lockFile(f, false); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("lock compaction: %w", err)
	}
	return func() { f.Close() }, nil
}

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

// SegmentFiles lists the paths of the segment files, oldest first. Call it
// under HoldCompaction for a list that stays true.
func (s *Store) SegmentFiles() ([]string, error) {
	segs, err := segments(s.dir)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(segs))
	for i, n := range segs {
		paths[i] = s.path(n)
	}
	return paths, nil
}

func (s *Store) retiredPath(n int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("retired-%08d", n))
}

// lockFile takes an exclusive flock on f, waiting for it when wait is set,
// failing with EWOULDBLOCK otherwise. Closing f releases it.
func lockFile(f *os.File, wait bool) error {
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
