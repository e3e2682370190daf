package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
)

// OpenReadOnly opens the segment files in dir for reading only: nothing in
// dir is created, removed or written, and appends fail. It serves to copy an
// installation that must stay as it is (caduceus migrate).
func OpenReadOnly(dir string, key []byte) (*Store, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("blob key: want %d bytes, have %d", KeySize, len(key))
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("blob dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("blob dir %s: not a directory", dir)
	}
	return &Store{key: append([]byte(nil), key...), b: &dirBackend{dir: dir, readOnly: true}, spoolDir: dir}, nil
}

// errReadOnly is what appending to a store opened by OpenReadOnly returns.
var errReadOnly = errors.New("blob store opened read-only")

// SegmentReader returns the bytes of segment n as they are stored, sealed,
// for copying the segment whole to another store (PutSegment).
func (s *Store) SegmentReader(n int64) (io.ReaderAt, error) { return s.b.reader(n) }

// PutSegment stores size bytes from r as segment n, unchanged: a segment
// file or object copied from another store with the same key, whose Refs
// then name the same bytes here. It fails when segment n already exists, so
// that no Ref ever names other bytes; the segment appears whole or not at
// all.
func (s *Store) PutSegment(n int64, r io.Reader, size int64) error { return s.b.put(n, r, size) }

func (d *dirBackend) put(n int64, r io.Reader, size int64) error {
	if d.readOnly {
		return errReadOnly
	}
	path := d.path(n)
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("put segment %d: %w", n, os.ErrExist)
	}
	// Named as a spool, so that Open removes it once old if a kill leaves it.
	f, err := os.CreateTemp(d.dir, spoolPrefix+"put-*")
	if err != nil {
		return fmt.Errorf("put segment %d: %w", n, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	written, err := io.Copy(f, io.LimitReader(r, size))
	if err == nil && written != size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("put segment %d: %w", n, err)
	}
	// A link, unlike a rename, never replaces a segment that appeared meanwhile.
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("put segment %d: %w", n, err)
	}
	return syncDir(filepath.Dir(path))
}

func (b *s3Backend) put(n int64, r io.Reader, size int64) error {
	// A segment may be up to a gigabyte: a second more per megabyte.
	ctx, cancel := context.WithTimeout(context.Background(), s3Timeout+time.Duration(size>>20)*time.Second)
	defer cancel()
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	opts.SetMatchETagExcept("*")
	if _, err := b.client.PutObject(ctx, b.u.bucket, b.objectName(n), r, size, opts); err != nil {
		return fmt.Errorf("put segment %d to bucket %s: %w", n, b.u.bucket, err)
	}
	b.uploads.Add(1)
	b.uploaded.Add(size)
	return nil
}
