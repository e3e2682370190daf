// Package blob keeps message contents, encrypted, in append-only segment files
// on the node's disk, or in the objects of an S3 bucket (see s3.go).
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
//
// On S3 a segment is one object: Append buffers the batch in a local file and
// Sync uploads it whole, so a Ref names (object, offset) as it names (file,
// offset) on disk, and the objects hold exactly the bytes a segment file would.
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
)

const (
	chunkSize  = 64 << 10
	tagSize    = 16
	saltSize   = 32
	headerSize = 4 + saltSize // magic + salt
	magic      = "CDB1"
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

// Store keeps sealed blobs in a backend: segment files in a directory (Open)
// or objects in an S3 bucket (OpenS3). Sealing and reading are the same for
// both, so a blob's bytes leave the node only encrypted.
type Store struct {
	key []byte
	b   backend
	// spoolDir holds the spool files of large blobs (SealSpool).
	spoolDir string
}

// A backend keeps sealed blobs: it appends them, makes them durable on Sync,
// reads them back by location and lets compaction list, retire and remove
// its segments (files or objects).
type backend interface {
	append(sealed []byte, size int64) (Ref, error)
	appendSpool(sp *Spool) (Ref, error)
	sync() error
	lost(n int64) bool
	reader(n int64) (io.ReaderAt, error)
	ping() error
	close() error
	numbers() ([]int64, error)
	list() ([]Segment, error)
	closed(n int64) (bool, error)
	active() int64
	retire(n int64) error
	unretire(n int64) error
	remove(n int64) error
	forget()
	cleanMarkers() error
	lockCompaction() (unlock func(), err error)
	segmentFiles() ([]string, error)
	put(n int64, r io.Reader, size int64) error
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
	return &Store{key: append([]byte(nil), key...), b: &dirBackend{dir: dir, segment: last}, spoolDir: dir}, nil
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

// Append writes a sealed blob after the others. It is not durable until
// Sync returns.
func (s *Store) Append(sealed []byte, size int64) (Ref, error) { return s.b.append(sealed, size) }

// Sync makes every blob appended so far durable: the group-commit point. On
// disk it is one fsync per segment touched; on S3, the upload of the batch as
// one object. A Sync that fails leaves the blobs appended since the last one
// unusable: their callers must fail. A Sync that finds the blobs taken by a
// concurrent one returns once that one is done, but only that one hears of
// its failure: a caller that appends while others Sync checks Lost after.
func (s *Store) Sync() error { return s.b.sync() }

// Lost reports whether ref's blob was carried by a Sync that failed (its
// segment's fsync, or its object's upload): it must not be referenced.
func (s *Store) Lost(ref Ref) bool { return s.b.lost(ref.Segment) }

// Open returns a reader of a blob's plaintext that decrypts only the chunks it is
// asked for.
func (s *Store) Open(ref Ref) (*Reader, error) {
	f, err := s.b.reader(ref.Segment)
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
// and writable, or its bucket is there. Readiness probes call it every few
// seconds, so it writes nothing.
func (s *Store) Ping() error { return s.b.ping() }

// Close closes the segment files, or drops the S3 batch not synced.
func (s *Store) Close() error { return s.b.close() }

// Reader reads a blob's plaintext; it implements io.Reader, io.ReaderAt and
// io.Seeker. It is not safe for concurrent use.
type Reader struct {
	f     io.ReaderAt
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

// Segments lists the numbers of the segments (files or objects), in order.
func (s *Store) Segments() ([]int64, error) { return s.b.numbers() }

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
