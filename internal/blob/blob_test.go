package blob

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func put(t *testing.T, s *Store, data []byte) Ref {
	t.Helper()
	sealed, err := s.Seal(data)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.Append(sealed, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestRoundTripSizes(t *testing.T) {
	s, err := Open(t.TempDir(), testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, size := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17} {
		data := make([]byte, size)
		rand.Read(data)
		ref := put(t, s, data)
		got, err := s.ReadAll(ref)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("size %d: plaintext differs", size)
		}
	}
}

func TestRangesAndSeek(t *testing.T) {
	s, err := Open(t.TempDir(), testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, 5*chunkSize+123)
	rand.Read(data)
	ref := put(t, s, data)
	r, err := s.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ off, n int64 }{{0, 10}, {chunkSize - 5, 10}, {2*chunkSize + 7, chunkSize}, {int64(len(data)) - 3, 3}} {
		if _, err := r.Seek(c.off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, c.n)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatalf("range %v: %v", c, err)
		}
		if !bytes.Equal(buf, data[c.off:c.off+c.n]) {
			t.Fatalf("range %v differs", c)
		}
	}
}

func TestTamperAndWrongKeyDetected(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	ref := put(t, s, []byte("Compte rendu: confidentiel"))
	s.Close()

	other, err := Open(dir, testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.ReadAll(ref); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read with another key: err = %v, want ErrCorrupt", err)
	}
	other.Close()

	path := s.b.(*dirBackend).path(ref.Segment)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("confidentiel")) {
		t.Fatal("plaintext visible in the segment file")
	}
	raw[ref.Offset+headerSize+3] ^= 1
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, s.key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ReadAll(ref); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a flipped byte: err = %v, want ErrCorrupt", err)
	}
}

func TestReopenStartsNewSegment(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	s, err := Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	a := put(t, s, []byte("first"))
	s.Close()
	s, err = Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := put(t, s, []byte("second"))
	if b.Segment == a.Segment {
		t.Fatalf("reopened store appended to segment %d after a possible torn tail", a.Segment)
	}
	for ref, want := range map[Ref]string{a: "first", b: "second"} {
		got, err := s.ReadAll(ref)
		if err != nil || string(got) != want {
			t.Fatalf("read %v = %q, %v", ref, got, err)
		}
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := t.TempDir() + "/k/blob.key"
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("key changed between loads")
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", st.Mode().Perm())
	}
}

// A spooled blob reads back as the stream it was sealed from; a stream
// shorter or longer than announced is refused.
func TestSpool(t *testing.T) {
	s, err := Open(t.TempDir(), make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, size := range []int{0, 1, chunkSize, 3*chunkSize + 17} {
		data := bytes.Repeat([]byte("x"), size)
		sp, err := s.SealSpool(bytes.NewReader(data), int64(size))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := s.AppendSpool(sp)
		sp.Close()
		if err != nil {
			t.Fatal(err)
		}
		sealed, _ := s.Seal(data)
		if ref.Length != int64(len(sealed)) {
			t.Errorf("size %d: spooled %d sealed bytes, Seal makes %d", size, ref.Length, len(sealed))
		}
		got, err := s.ReadAll(ref)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("size %d: read back %d bytes, %v", size, len(got), err)
		}
	}
	for _, tt := range []struct {
		data string
		size int64
	}{{"short", 10}, {"longer than said", 4}} {
		if _, err := s.SealSpool(strings.NewReader(tt.data), tt.size); !errors.Is(err, ErrSize) {
			t.Errorf("%q as %d bytes: %v, want ErrSize", tt.data, tt.size, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(s.spoolDir, spoolPrefix+"*")); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
}
