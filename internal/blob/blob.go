// Package blob keeps message contents, encrypted, in append-only segment files.
//
// Why segments: a delivery is durable only once its bytes are on disk, and an fsync
// per message caps a small server at a few hundred messages a second. Appending many
// messages to one file and syncing it once per batch (group commit) costs one fsync
// for the whole batch. Segments are never rewritten: after a crash the tail of the
// active segment may hold a torn blob, but no metadata points at it, and the next
// start opens a new segment instead of appending after the torn bytes. The space
// of blobs nobody needs any more comes back by compaction (see compact.go):
// live blobs move, sealed as they are, out of mostly dead closed segments, which
// are then removed whole.
//
// Each blob is sealed with AES-256-GCM under its own key, derived with HKDF-SHA256
// from the store's master key and a random salt kept in the blob's header. The
// plaintext is cut into 64 KiB chunks, each sealed on its own with its index as
// nonce and a final-chunk marker in the additional data, so a reader can decrypt
// any byte range without reading the whole blob, and truncation or reordering of
// chunks is detected.
package blob

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const (
	chunkSize  = 64 << 10
	tagSize    = 16
	saltSize   = 32
	headerSize = 4 + saltSize // magic + salt
	magic      = "CDB1"
	// maxSegment is the size past which a new segment is started.
	maxSegment = 1 << 30
)

// KeySize is the size of the master key, in bytes.
const KeySize = 32

// Ref locates one sealed blob.
type Ref struct {
	Segment int64 // segment number
	Offset  int64 // where the sealed blob starts in the segment
	Length  int64 // sealed length, header and tags included
	Size    int64 // plaintext size
}

// Store is a directory of segment files.
type Store struct {
	dir string
	key []byte

	mu      sync.Mutex
	syncMu  sync.Mutex // one Sync at a time, so a Sync returns only once all earlier appends are durable
	active  *os.File
	segment int64
	offset  int64
	dirty   []*os.File // segments written since the last Sync, the active one included

	readers sync.Map // segment number → *os.File opened for reading
}

// ErrCorrupt is returned when a blob fails authentication: its bytes were changed,
// truncated or belong to another key.
var ErrCorrupt = errors.New("blob corrupt or key mismatch")

// Open opens the store in dir with the master key, creating dir if needed, and
// starts a fresh segment for writing.
func Open(dir string, key []byte) (*Store, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("blob key: want %d bytes, have %d", KeySize, len(key))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create blob dir: %w", err)
	}
	last, err := lastSegment(dir)
	if err != nil {
		return nil, err
	}
	if err := removeSpools(dir); err != nil {
		return nil, err
	}
	s := &Store{dir: dir, key: append([]byte(nil), key...), segment: last}
	return s, nil
}

// LoadOrCreateKey reads the master key from path, or writes a new random one there
// (mode 0600) when the file does not exist yet.
func LoadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != KeySize {
			return nil, fmt.Errorf("key file %s: want %d bytes, have %d", path, KeySize, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync key file: %w", err)
	}
	return key, f.Close()
}

// Seal encrypts plaintext into a sealed blob ready for Append. It needs no lock,
// so callers seal in parallel and only the append is serialised.
func (s *Store) Seal(plaintext []byte) ([]byte, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	aead, err := s.aead(salt)
	if err != nil {
		return nil, err
	}
	n := chunks(int64(len(plaintext)))
	out := make([]byte, 0, headerSize+len(plaintext)+int(n)*tagSize)
	out = append(out, magic...)
	out = append(out, salt...)
	for i := int64(0); i < n; i++ {
		lo := i * chunkSize
		hi := min(lo+chunkSize, int64(len(plaintext)))
		out = aead.Seal(out, nonce(i), plaintext[lo:hi], ad(i == n-1))
	}
	return out, nil
}

// Append writes a sealed blob at the end of the active segment. It is not durable
// until Sync returns.
func (s *Store) Append(sealed []byte, size int64) (Ref, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil || s.offset+int64(len(sealed)) > maxSegment && s.offset > 0 {
		if err := s.rotate(); err != nil {
			return Ref{}, err
		}
	}
	if _, err := s.active.Write(sealed); err != nil {
		return Ref{}, fmt.Errorf("append to segment %d: %w", s.segment, err)
	}
	ref := Ref{Segment: s.segment, Offset: s.offset, Length: int64(len(sealed)), Size: size}
	s.offset += int64(len(sealed))
	if len(s.dirty) == 0 || s.dirty[len(s.dirty)-1] != s.active {
		s.dirty = append(s.dirty, s.active)
	}
	return ref, nil
}

// Sync makes every blob appended so far durable: one fsync per segment touched.
// Syncs run one at a time: a Sync that finds the list of dirty segments taken by
// another waits for that one's fsync, which covers its appends too.
func (s *Store) Sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	dirty := s.dirty
	s.dirty = nil
	s.mu.Unlock()
	for _, f := range dirty {
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			return fmt.Errorf("sync %s: %w", f.Name(), err)
		}
	}
	return nil
}

// Open returns a reader of a blob's plaintext that decrypts only the chunks it is
// asked for.
func (s *Store) Open(ref Ref) (*Reader, error) {
	f, err := s.reader(ref.Segment)
	if err != nil {
		return nil, err
	}
	if ref.Length < headerSize {
		return nil, ErrCorrupt
	}
	hdr := make([]byte, headerSize)
	if _, err := f.ReadAt(hdr, ref.Offset); err != nil {
		return nil, fmt.Errorf("read blob header: %w", err)
	}
	if string(hdr[:4]) != magic {
		return nil, ErrCorrupt
	}
	aead, err := s.aead(hdr[4:])
	if err != nil {
		return nil, err
	}
	if ref.Length != headerSize+ref.Size+chunks(ref.Size)*tagSize {
		return nil, ErrCorrupt
	}
	return &Reader{f: f, ref: ref, aead: aead, chunk: -1}, nil
}

// ReadAll returns a blob's whole plaintext.
func (s *Store) ReadAll(ref Ref) ([]byte, error) {
	r, err := s.Open(ref)
	if err != nil {
		return nil, err
	}
	b := make([]byte, ref.Size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Ping reports whether the store can take new blobs: its directory is there
// and writable. Readiness probes call it every few seconds, so it writes nothing.
func (s *Store) Ping() error {
	fi, err := os.Stat(s.dir)
	if err != nil {
		return fmt.Errorf("blob dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("blob dir %s: not a directory", s.dir)
	}
	if err := syscall.Access(s.dir, 2); err != nil { // W_OK
		return fmt.Errorf("blob dir %s: not writable: %w", s.dir, err)
	}
	return nil
}

// Close closes the segment files.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.active != nil {
		errs = append(errs, s.active.Sync(), s.active.Close())
		s.active = nil
	}
	s.readers.Range(func(k, v any) bool {
		errs = append(errs, v.(*os.File).Close())
		s.readers.Delete(k)
		return true
	})
	return errors.Join(errs...)
}

// Reader reads a blob's plaintext; it implements io.Reader, io.ReaderAt and
// io.Seeker. It is not safe for concurrent use.
type Reader struct {
	f     *os.File
	ref   Ref
	aead  cipher.AEAD
	pos   int64
	chunk int64  // index of the chunk in buf, -1 for none
	buf   []byte // plaintext of that chunk
	raw   []byte
}

// Size returns the plaintext size.
func (r *Reader) Size() int64 { return r.ref.Size }

// Read reads plaintext from the current position.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.pos)
	r.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek moves the position of the next Read.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.ref.Size
	default:
		return 0, errors.New("blob: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("blob: negative position")
	}
	r.pos = offset
	return offset, nil
}

// ReadAt reads plaintext at off, decrypting only the chunks that hold it.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		if off >= r.ref.Size {
			return n, io.EOF
		}
		i := off / chunkSize
		if err := r.load(i); err != nil {
			return n, err
		}
		c := copy(p[n:], r.buf[off-i*chunkSize:])
		n += c
		off += int64(c)
	}
	return n, nil
}

func (r *Reader) load(i int64) error {
	if r.chunk == i {
		return nil
	}
	plain := min(int64(chunkSize), r.ref.Size-i*chunkSize)
	if cap(r.raw) < int(plain)+tagSize {
		r.raw = make([]byte, plain+tagSize)
	}
	raw := r.raw[:plain+tagSize]
	if _, err := r.f.ReadAt(raw, r.ref.Offset+headerSize+i*(chunkSize+tagSize)); err != nil {
		return fmt.Errorf("read blob chunk: %w", err)
	}
	last := i == chunks(r.ref.Size)-1
	buf, err := r.aead.Open(r.buf[:0], nonce(i), raw, ad(last))
	if err != nil {
		r.chunk = -1
		return ErrCorrupt
	}
	r.buf, r.chunk = buf, i
	return nil
}

// Segments lists the numbers of the segment files on disk, in order.
func (s *Store) Segments() ([]int64, error) { return segments(s.dir) }

func (s *Store) rotate() error {
	if s.active != nil {
		// A concurrent Sync may still hold this file: sync it here, and Sync
		// treats an already closed file as done.
		if err := s.active.Sync(); err != nil {
			return fmt.Errorf("sync segment %d: %w", s.segment, err)
		}
		s.dirty = nil
		if err := s.active.Close(); err != nil {
			return fmt.Errorf("close segment %d: %w", s.segment, err)
		}
	}
	// Another process on the same directory (an operator command while the
	// server runs) may have taken the next number: take the one after.
	var f *os.File
	for {
		s.segment++
		var err error
		f, err = os.OpenFile(s.path(s.segment), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create segment: %w", err)
		}
	}
	// The lock tells compaction, in this process or another, that the segment
	// is still being written; it goes with the file's closing, or a crash.
	if err := lockFile(f, true); err != nil {
		f.Close()
		return fmt.Errorf("lock segment %d: %w", s.segment, err)
	}
	// The new file's name must survive a crash too.
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.active, s.offset = f, 0
	return nil
}

func (s *Store) reader(seg int64) (*os.File, error) {
	if f, ok := s.readers.Load(seg); ok {
		return f.(*os.File), nil
	}
	f, err := os.Open(s.path(seg))
	if err != nil {
		return nil, fmt.Errorf("open segment %d: %w", seg, err)
	}
	if prev, loaded := s.readers.LoadOrStore(seg, f); loaded {
		f.Close()
		return prev.(*os.File), nil
	}
	return f, nil
}

func (s *Store) aead(salt []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, s.key, salt, "caduceus blob v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive blob key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (s *Store) path(seg int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("seg-%08d", seg))
}

func chunks(size int64) int64 {
	if size == 0 {
		return 1
	}
	return (size + chunkSize - 1) / chunkSize
}

func nonce(i int64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], uint64(i))
	return n
}

func ad(last bool) []byte {
	if last {
		return []byte{1}
	}
	return []byte{0}
}

func segments(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list blob dir: %w", err)
	}
	var segs []int64
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), "seg-")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, n)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i] < segs[j] })
	return segs, nil
}

func lastSegment(dir string) (int64, error) {
	segs, err := segments(dir)
	if err != nil || len(segs) == 0 {
		return 0, err
	}
	return segs[len(segs)-1], nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir for sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
