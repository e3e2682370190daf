package blob

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"caduceus/internal/blob/blobtest"
)

// A segment put whole from a read-only store into a store of each backend
// reads back the same through its Refs; a second put of it is refused; the
// read-only store refuses appends.
func TestPutSegment(t *testing.T) {
	key := testKey(t)
	dir := t.TempDir()
	disk, err := Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	plain := randomBytes(200 << 10)
	put(t, disk, []byte("first"))
	ref := put(t, disk, plain)
	disk.Close()

	src, err := OpenReadOnly(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sealed, err := src.Seal([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Append(sealed, 1); !errors.Is(err, errReadOnly) {
		t.Errorf("append to a read-only store: %v", err)
	}
	targets := []struct {
		name string
		open func(t *testing.T) *Store
	}{
		{"files", func(t *testing.T) *Store {
			s, err := Open(t.TempDir(), key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"s3", func(t *testing.T) *Store { return openS3(t, blobtest.S3(t), key, 0) }},
	}
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			dst := tc.open(t)
			defer dst.Close()
			segs, err := src.List()
			if err != nil || len(segs) != 1 {
				t.Fatalf("source segments: %v, %v", segs, err)
			}
			r, err := src.SegmentReader(segs[0].Number)
			if err != nil {
				t.Fatal(err)
			}
			if err := dst.PutSegment(segs[0].Number, io.NewSectionReader(r, 0, segs[0].Size), segs[0].Size); err != nil {
				t.Fatal(err)
			}
			got, err := dst.ReadAll(ref)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("read of the copied segment: %v", err)
			}
			if err := dst.PutSegment(segs[0].Number, bytes.NewReader(nil), 0); err == nil {
				t.Error("a second put of the segment: no error")
			}
			have, err := dst.List()
			if err != nil || len(have) != 1 || have[0].Size != segs[0].Size {
				t.Errorf("target segments: %v, %v", have, err)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("source dir holds %d entries, want its one segment: %v", len(entries), err)
	}
}
