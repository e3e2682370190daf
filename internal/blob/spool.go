package blob

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// A Spool is a blob sealed into a temporary file of the store's directory
// as it was read, for a message too large to hold in memory (an IMAP
// APPEND of 50 MB); AppendSpool copies it into a segment (a file, or the batch of the next S3 object). Close removes
// the file. A crash may leave spool files behind: Open removes those a
// day old (another process may be writing younger ones); no metadata ever
// names one.
type Spool struct {
	f      *os.File
	size   int64 // plaintext
	length int64 // sealed
}

// spoolPrefix names spool files; segment files start with "seg-".
const spoolPrefix = "spool-"

// ErrSize is returned by SealSpool when the stream does not hold the size
// announced.
var ErrSize = errors.New("blob: stream size differs from the size announced")

// SealSpool seals r, which must hold exactly size bytes, chunk by chunk
// into a spool file: it holds one chunk at a time. It reads r to its end,
// so that a reader that reports an error only at its end (an IMAP literal
// followed by a bad command line) is heard.
func (s *Store) SealSpool(r io.Reader, size int64) (*Spool, error) {
	if size < 0 {
		return nil, ErrSize
	}
	f, err := os.CreateTemp(s.spoolDir, spoolPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("create spool: %w", err)
	}
	sp := &Spool{f: f, size: size}
	if err := s.sealTo(sp, r); err != nil {
		sp.Close()
		return nil, err
	}
	return sp, nil
}

func (s *Store) sealTo(sp *Spool, r io.Reader) error {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	aead, err := s.aead(salt)
	if err != nil {
		return err
	}
	out := make([]byte, 0, chunkSize+tagSize)
	out = append(append(out, magic...), salt...)
	if _, err := sp.f.Write(out); err != nil {
		return fmt.Errorf("write spool: %w", err)
	}
	sp.length = int64(len(out))
	plain := make([]byte, chunkSize)
	n := chunks(sp.size)
	for i := int64(0); i < n; i++ {
		want := min(int64(chunkSize), sp.size-i*chunkSize)
		if _, err := io.ReadFull(r, plain[:want]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return ErrSize
			}
			return err
		}
		out = aead.Seal(out[:0], nonce(i), plain[:want], ad(i == n-1))
		if _, err := sp.f.Write(out); err != nil {
			return fmt.Errorf("write spool: %w", err)
		}
		sp.length += int64(len(out))
	}
	// The stream must end here.
	var one [1]byte
	k, err := io.ReadFull(r, one[:])
	switch {
	case k > 0:
		return ErrSize
	case err != io.EOF:
		return err
	}
	return nil
}

// Size returns the plaintext size of the spooled blob.
func (sp *Spool) Size() int64 { return sp.size }

// Close removes the spool file.
func (sp *Spool) Close() error {
	name := sp.f.Name()
	err := sp.f.Close()
	if rerr := os.Remove(name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

// AppendSpool copies a spooled blob after the others, as Append does a
// sealed one, reading the file in chunks. It is not durable until Sync
// returns.
func (s *Store) AppendSpool(sp *Spool) (Ref, error) { return s.b.appendSpool(sp) }

// removeSpools removes the spool files a crash left in dir a day ago or
// more.
func removeSpools(dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, spoolPrefix+"*"))
	if err != nil {
		return err
	}
	for _, n := range names {
		fi, err := os.Stat(n)
		if err != nil || time.Since(fi.ModTime()) < 24*time.Hour {
			continue
		}
		if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove spool: %w", err)
		}
	}
	return nil
}
