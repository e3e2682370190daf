package blob

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"testing"
)

// A copied blob decrypts to the same plaintext at its new place, and the old
// segment, once removed, is gone from disk and from the listing.
func TestCopyRetireRemove(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	s, err := Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3*chunkSize+5)
	rand.Read(data)
	old := put(t, s, data)
	put(t, s, []byte("dead weight"))
	if closed, err := s.Closed(old.Segment); err != nil || closed {
		t.Fatalf("the active segment is closed = %v, %v", closed, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if closed, err := s.Closed(old.Segment); err != nil || !closed {
		t.Fatalf("a segment of a closed store: closed = %v, %v", closed, err)
	}
	moved, err := s.Copy(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if moved.Segment == old.Segment || moved.Size != old.Size || moved.Length != old.Length {
		t.Fatalf("copy %+v of %+v", moved, old)
	}
	if got, err := s.ReadAll(moved); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("copy reads back %d bytes, %v", len(got), err)
	}
	if err := s.Remove(moved.Segment); err == nil {
		t.Fatal("removing the active segment worked")
	}
	if err := s.Retire(old.Segment); err != nil {
		t.Fatal(err)
	}
	segs, err := s.List()
	if err != nil || len(segs) != 2 || segs[0].Retired.IsZero() || !segs[1].Retired.IsZero() {
		t.Fatalf("list = %+v, %v", segs, err)
	}
	if err := s.Remove(old.Segment); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAll(old); err == nil {
		t.Fatal("the removed segment still reads")
	}
	segs, err = s.List()
	if err != nil || len(segs) != 1 || segs[0].Number != moved.Segment {
		t.Fatalf("after remove, list = %+v, %v", segs, err)
	}
}

// Two stores on one directory (an operator command while the server runs)
// each append to a segment of their own, and neither sees the other's as
// closed; one compaction at a time holds the lock.
func TestTwoWriters(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	a, err := Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ra := put(t, a, []byte("from a"))
	rb := put(t, b, []byte("from b"))
	if ra.Segment == rb.Segment {
		t.Fatalf("both write segment %d", ra.Segment)
	}
	for _, s := range []*Store{a, b} {
		for _, n := range []int64{ra.Segment, rb.Segment} {
			if closed, err := s.Closed(n); err != nil || closed {
				t.Errorf("segment %d being written is closed = %v, %v", n, closed, err)
			}
		}
	}
	if got, err := a.ReadAll(rb); err != nil || string(got) != "from b" {
		t.Errorf("a reads b's blob: %q, %v", got, err)
	}
	unlock, err := a.LockCompaction()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.LockCompaction(); !errors.Is(err, ErrBusy) {
		t.Fatalf("second compaction lock: %v, want ErrBusy", err)
	}
	unlock()
	unlock, err = b.LockCompaction()
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock()
}

// A marker left by a crash between removing a segment and its marker goes.
func TestCleanMarkers(t *testing.T) {
	s, err := Open(t.TempDir(), testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Retire(42); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.b.(*dirBackend).retiredPath(42)); err != nil {
		t.Fatalf("no marker: %v", err)
	}
	if err := s.CleanMarkers(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.b.(*dirBackend).retiredPath(42)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker of a missing segment kept: %v", err)
	}
}
