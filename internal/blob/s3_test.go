package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"caduceus/internal/blob/blobtest"
)

func openS3(t *testing.T, srv *blobtest.Server, key []byte, cacheSize int64) *Store {
	t.Helper()
	s, err := OpenS3(context.Background(), S3Options{URL: srv.URL, CredentialsFile: srv.CredentialsFile, Dir: t.TempDir(), CacheSize: cacheSize}, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestS3RoundTrip(t *testing.T) {
	srv := blobtest.S3(t)
	key := testKey(t)
	s := openS3(t, srv, key, 64<<20)
	sizes := []int{0, 1, 1000, chunkSize, chunkSize + 1, 300 << 10, 1<<20 + 3}
	type stored struct {
		ref   Ref
		plain []byte
	}
	var all []stored
	// Two batches, the second with a spooled blob: each is one object.
	for batch := range 2 {
		for _, n := range sizes {
			plain := randomBytes(n)
			var ref Ref
			if batch == 1 && n == 300<<10 {
				sp, err := s.SealSpool(bytes.NewReader(plain), int64(n))
				if err != nil {
					t.Fatal(err)
				}
				if ref, err = s.AppendSpool(sp); err != nil {
					t.Fatal(err)
				}
				sp.Close()
			} else {
				sealed, err := s.Seal(plain)
				if err != nil {
					t.Fatal(err)
				}
				if ref, err = s.Append(sealed, int64(n)); err != nil {
					t.Fatal(err)
				}
			}
			all = append(all, stored{ref, plain})
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if all[0].ref.Segment == all[len(sizes)].ref.Segment || all[0].ref.Segment != all[len(sizes)-1].ref.Segment {
		t.Errorf("segments %d, %d, %d: want one object per batch", all[0].ref.Segment, all[len(sizes)-1].ref.Segment, all[len(sizes)].ref.Segment)
	}
	segs, err := s.Segments()
	if err != nil || len(segs) != 2 {
		t.Fatalf("segments %v, %v: want 2 objects", segs, err)
	}
	// Read back through the cache the uploads filled, then from a node with
	// a cold cache, then with none.
	for name, st := range map[string]*Store{"warm": s, "cold": openS3(t, srv, key, 64<<20), "uncached": openS3(t, srv, key, 0)} {
		for _, b := range all {
			got, err := st.ReadAll(b.ref)
			if err != nil {
				t.Fatalf("%s: size %d: %v", name, b.ref.Size, err)
			}
			if !bytes.Equal(got, b.plain) {
				t.Errorf("%s: size %d: plaintext differs", name, b.ref.Size)
			}
			if st.Lost(b.ref) {
				t.Errorf("%s: size %d: reported lost", name, b.ref.Size)
			}
		}
	}
	// Another key does not open them.
	other := openS3(t, srv, testKey(t), 0)
	if _, err := other.ReadAll(all[2].ref); err != ErrCorrupt {
		t.Errorf("read with another key: %v, want ErrCorrupt", err)
	}
}

// A read of a few bytes of a large blob fetches the blocks holding them, not
// the object.
func TestS3RangedRead(t *testing.T) {
	srv := blobtest.S3(t)
	key := testKey(t)
	s := openS3(t, srv, key, 0)
	plain := randomBytes(4 << 20)
	sealed, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.Append(sealed, int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	cold := openS3(t, srv, key, 0)
	b := cold.b.(*s3Backend)
	tests := []struct {
		off, n int64
	}{
		{0, 10},
		{3<<20 + 12345, 100},
		{int64(len(plain)) - 7, 7},
		{chunkSize - 3, 6}, // across two chunks
	}
	for _, tt := range tests {
		r, err := cold.Open(ref)
		if err != nil {
			t.Fatal(err)
		}
		before := b.fetched.Load()
		got := make([]byte, tt.n)
		if _, err := r.ReadAt(got, tt.off); err != nil {
			t.Fatalf("ReadAt(%d, %d): %v", tt.n, tt.off, err)
		}
		if !bytes.Equal(got, plain[tt.off:tt.off+tt.n]) {
			t.Errorf("ReadAt(%d, %d): bytes differ", tt.n, tt.off)
		}
		// The header's block and at most two for the chunks.
		if f := b.fetched.Load() - before; f > 3*blockSize {
			t.Errorf("ReadAt(%d, %d) fetched %d bytes of a %d-byte object", tt.n, tt.off, f, len(sealed))
		}
	}
}

// The bucket holds only sealed bytes.
func TestS3NotPlaintext(t *testing.T) {
	srv := blobtest.S3(t)
	s := openS3(t, srv, testKey(t), 0)
	marker := []byte("PATIENT-MARKER-7f3a9c: diagnosis confidential")
	plain := bytes.Repeat(append(marker, '\n'), 2000)
	sealed, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.Append(sealed, int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	b := s.b.(*s3Backend)
	obj, err := b.client.GetObject(context.Background(), b.u.bucket, b.objectName(ref.Segment), minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(raw)) != ref.Length {
		t.Fatalf("object holds %d bytes, want %d", len(raw), ref.Length)
	}
	if bytes.Contains(raw, marker[:12]) {
		t.Error("the object in the bucket holds the plaintext")
	}
	if srv.Dir != "" {
		// The server's own files too.
		filepath.Walk(srv.Dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				if b, _ := os.ReadFile(p); bytes.Contains(b, marker[:12]) {
					t.Errorf("%s holds the plaintext", p)
				}
			}
			return nil
		})
	}
}

// The read cache stays within its size, on disk too, whatever is read.
func TestS3CacheBound(t *testing.T) {
	srv := blobtest.S3(t)
	key := testKey(t)
	const max = 3 * blockSize
	s := openS3(t, srv, key, max)
	var refs []Ref
	var plains [][]byte
	for range 8 {
		plain := randomBytes(200 << 10)
		sealed, err := s.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := s.Append(sealed, int64(len(plain)))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		refs, plains = append(refs, ref), append(plains, plain)
	}
	dir := t.TempDir()
	cold, err := OpenS3(context.Background(), S3Options{URL: srv.URL, CredentialsFile: srv.CredentialsFile, Dir: dir, CacheSize: max}, key)
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Close()
	for round := range 2 {
		for i, ref := range refs {
			got, err := cold.ReadAll(ref)
			if err != nil || !bytes.Equal(got, plains[i]) {
				t.Fatalf("round %d, blob %d: %v", round, i, err)
			}
			for name, st := range map[string]*Store{"writer": s, "reader": cold} {
				if n := st.b.(*s3Backend).cache.size(); n > max {
					t.Fatalf("%s cache holds %d bytes, over %d", name, n, max)
				}
			}
		}
	}
	var onDisk int64
	filepath.Walk(filepath.Join(dir, "cache"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			onDisk += diskSize(info.Size())
		}
		return nil
	})
	if onDisk > max || onDisk == 0 {
		t.Errorf("cache folder holds %d bytes, want some and at most %d", onDisk, max)
	}
	// A restart finds the blocks again.
	cold.Close()
	again, err := OpenS3(context.Background(), S3Options{URL: srv.URL, CredentialsFile: srv.CredentialsFile, Dir: dir, CacheSize: max}, key)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if n := again.b.(*s3Backend).cache.size(); n != onDisk {
		t.Errorf("reopened cache indexes %d bytes, want %d", n, onDisk)
	}
}

// When the bucket cannot be reached, Sync fails: nothing is acknowledged.
func TestS3SyncFailure(t *testing.T) {
	srv := blobtest.Own(t)
	s := openS3(t, srv, testKey(t), 1<<20)
	sealed, err := s.Seal([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.Append(sealed, 5)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	err = s.Sync()
	if err == nil || !strings.Contains(err.Error(), "upload blob object") {
		t.Fatalf("Sync with the server down: %v, want an upload error", err)
	}
	// Another appender whose blob that Sync carried hears it from Lost: its
	// own Sync finds nothing left to upload.
	if err := s.Sync(); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	if !s.Lost(ref) {
		t.Error("the blob of the failed upload is not reported lost")
	}
	if err := s.Ping(); err == nil {
		t.Error("Ping with the server down: no error")
	}
}

// Compaction's steps on objects: list, retire, copy, remove, clean markers.
func TestS3Compaction(t *testing.T) {
	srv := blobtest.S3(t)
	key := testKey(t)
	s := openS3(t, srv, key, 1<<20)
	plain := []byte("to be moved")
	sealed, _ := s.Seal(plain)
	old, err := s.Append(sealed, int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Active() != old.Segment {
		t.Errorf("Active %d, want the batch's %d", s.Active(), old.Segment)
	}
	if closed, _ := s.Closed(old.Segment); closed {
		t.Error("the batch being filled is closed")
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if closed, _ := s.Closed(old.Segment); !closed {
		t.Error("an uploaded object is not closed")
	}
	moved, err := s.Copy(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ReadAll(moved); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("copy: %q, %v", got, err)
	}
	if err := s.Retire(old.Segment); err != nil {
		t.Fatal(err)
	}
	if err := s.Retire(old.Segment); err != nil {
		t.Fatalf("second Retire: %v", err)
	}
	segs, err := s.List()
	if err != nil || len(segs) != 2 || segs[0].Number != old.Segment || segs[0].Retired.IsZero() || !segs[1].Retired.IsZero() {
		t.Fatalf("List %+v, %v: want the old object retired, the new one not", segs, err)
	}
	if segs[0].Size != old.Length {
		t.Errorf("size %d, want %d", segs[0].Size, old.Length)
	}
	if err := s.Remove(old.Segment); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAll(old); err == nil {
		t.Error("read of a removed object succeeded")
	}
	// A marker whose object is gone (a crash inside Remove) is cleaned.
	if err := s.Retire(old.Segment); err != nil {
		t.Fatal(err)
	}
	if err := s.CleanMarkers(); err != nil {
		t.Fatal(err)
	}
	markers, err := s.b.(*s3Backend).listed("retired-")
	if err != nil || len(markers) != 0 {
		t.Errorf("markers left: %v, %v", markers, err)
	}
	if _, err := s.SegmentFiles(); err != ErrRemote {
		t.Errorf("SegmentFiles: %v, want ErrRemote", err)
	}
	unlock, err := s.LockCompaction()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LockCompaction(); err != ErrBusy {
		t.Errorf("second LockCompaction: %v, want ErrBusy", err)
	}
	unlock()
}

func TestParseS3URL(t *testing.T) {
	tests := []struct {
		url     string
		want    s3URL
		wantErr string
	}{
		{"s3://mail?endpoint=s3.example.fr:9000&region=eu-west-3&tls=true", s3URL{bucket: "mail", endpoint: "s3.example.fr:9000", region: "eu-west-3", tls: true}, ""},
		{"s3://mail/node-a?endpoint=127.0.0.1:7070&tls=false", s3URL{bucket: "mail", prefix: "node-a/", endpoint: "127.0.0.1:7070", tls: false}, ""},
		{"s3://mail?endpoint=s3.example.fr", s3URL{bucket: "mail", endpoint: "s3.example.fr", tls: true}, ""},
		{"s3://AKIA:hunter2@mail?endpoint=x:1", s3URL{}, "credentials do not go in the URL"},
		{"s3://mail?endpoint=x:1&secret=hunter2", s3URL{}, `unknown URL parameter "secret"`},
		{"s3://mail", s3URL{}, "no endpoint"},
		{"s3://?endpoint=x:1", s3URL{}, "no bucket"},
		{"https://mail?endpoint=x:1", s3URL{}, "want s3://"},
		{"s3://mail?endpoint=x:1&tls=maybe", s3URL{}, "tls"},
	}
	for _, tt := range tests {
		got, err := parseS3URL(tt.url)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.url, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s: the error quotes the secret", tt.url)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v, %v, want %+v", tt.url, got, err, tt.want)
		}
	}
	if got := RedactS3URL("s3://AKIA:hunter2@mail?endpoint=x:1"); strings.Contains(got, "hunter2") {
		t.Errorf("RedactS3URL kept the secret: %s", got)
	}
	for raw, want := range map[string]string{
		"s3://mail?endpoint=x:1&region=r":         "s3://mail?endpoint=x:1",
		"s3://mail/node-a?endpoint=x:1&tls=false": "s3://mail/node-a?endpoint=x:1",
	} {
		if got := RedactS3URL(raw); got != want {
			t.Errorf("RedactS3URL(%s) = %s, want %s", raw, got, want)
		}
	}
}

// Appenders syncing at once (the committer and a compaction) and readers
// through a cache smaller than what they read: every blob comes back whole.
func TestS3Concurrent(t *testing.T) {
	srv := blobtest.S3(t)
	s := openS3(t, srv, testKey(t), 2*blockSize)
	type stored struct {
		ref   Ref
		plain []byte
	}
	const writers, each = 4, 20
	results := make([][]stored, writers)
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				plain := randomBytes(1000 + (w*each+i)*997)
				sealed, err := s.Seal(plain)
				if err != nil {
					errs <- err
					return
				}
				ref, err := s.Append(sealed, int64(len(plain)))
				if err != nil {
					errs <- err
					return
				}
				if err := s.Sync(); err != nil {
					errs <- err
					return
				}
				results[w] = append(results[w], stored{ref, plain})
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for w := range writers {
		go func() {
			for _, r := range results[w] {
				got, err := s.ReadAll(r.ref)
				if err == nil && !bytes.Equal(got, r.plain) {
					err = fmt.Errorf("blob at %d/%d differs", r.ref.Segment, r.ref.Offset)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := s.b.(*s3Backend).cache.size(); n > 2*blockSize {
		t.Errorf("cache holds %d bytes, over %d", n, 2*blockSize)
	}
}

// A segment file uploaded as the object of the same number reads back with
// the Refs the metadata holds: objects and segment files have one format.
func TestS3ReadsSegmentFiles(t *testing.T) {
	srv := blobtest.S3(t)
	key := testKey(t)
	disk, err := Open(t.TempDir(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	plain := randomBytes(150 << 10)
	sealed, err := disk.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	// Another blob first, so that this one is not at offset 0.
	first, err := disk.Seal([]byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := disk.Append(first, 5); err != nil {
		t.Fatal(err)
	}
	ref, err := disk.Append(sealed, int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}
	if err := disk.Sync(); err != nil {
		t.Fatal(err)
	}
	s := openS3(t, srv, key, 0)
	b := s.b.(*s3Backend)
	path := disk.b.(*dirBackend).path(ref.Segment)
	if _, err := b.client.FPutObject(context.Background(), b.u.bucket, b.objectName(ref.Segment), path, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if ref.Offset == 0 {
		t.Fatal("the blob is at the start of its segment")
	}
	got, err := s.ReadAll(ref)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("read of the uploaded segment: %v", err)
	}
}

// Readers missing the same block at once share one GET.
func TestS3SharedFetch(t *testing.T) {
	srv := blobtest.S3(t)
	key := testKey(t)
	s := openS3(t, srv, key, 0)
	plain := randomBytes(100 << 10)
	sealed, _ := s.Seal(plain)
	ref, err := s.Append(sealed, int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	cold := openS3(t, srv, key, 16<<20)
	const readers = 16
	errs := make(chan error, readers)
	start := make(chan struct{})
	for range readers {
		go func() {
			<-start
			got, err := cold.ReadAll(ref)
			if err == nil && !bytes.Equal(got, plain) {
				err = fmt.Errorf("plaintext differs")
			}
			errs <- err
		}()
	}
	close(start)
	for range readers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if f := cold.b.(*s3Backend).fetched.Load(); f != ref.Length {
		t.Errorf("%d readers fetched %d bytes of a %d-byte object", readers, f, ref.Length)
	}
}
