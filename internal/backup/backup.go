// Package backup makes consistent copies of an embedded node — its SQLite
// database and its encrypted blob segments — while it serves, and puts them
// back on a node that has none.
//
// A backup is a folder: caduceus.db (a VACUUM INTO snapshot), blobs/seg-*
// (the segment files, still encrypted under the node's blob key, which the
// backup does not hold) and backup.json, the manifest with each file's size and
// SHA-256, written last: a folder without it is an unfinished backup.
//
// Why it is consistent: a blob is on disk (fsynced) before the row that points
// to it commits, and segments are append-only, so every blob the snapshot's
// rows name is in the segment files copied after the snapshot. Compaction,
// which moves blobs and removes segments, is held off from before the snapshot
// until the last segment is copied.
//
// A cluster on PostgreSQL and S3 is backed up with those engines' own tools
// (docs/backup.md).
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"caduceus/internal/blob"
	"caduceus/internal/store"
)

// ManifestName is the file that makes a folder a finished backup.
const ManifestName = "backup.json"

// Manifest describes one backup.
type Manifest struct {
	Format   int       `json:"format"`
	Created  time.Time `json:"created"`
	Hostname string    `json:"hostname"`
	// KeyID names the blob key the segments are encrypted with (derived from
	// it, revealing nothing of it), so a restore can refuse a wrong key.
	KeyID string `json:"key_id"`
	Files []File `json:"files"`
}

// File is one file of a backup, by its path inside the backup folder.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Size is the bytes of all the backup's files.
func (m Manifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Progress is told how many bytes of total have been copied.
type Progress func(done, total int64)

// Source is what a backup copies: an embedded node's store and blobs.
type Source struct {
	Store    *store.Store
	Blobs    *blob.Store
	Hostname string
	KeyID    string
}

const dbName = "caduceus.db"

// Create writes a backup of src into dir, which must be absent or empty. verify,
// when not nil, is called on the finished copy before the manifest is written
// (to run the store check on it); its failure fails the backup.
func Create(ctx context.Context, src Source, dir string, verify func(dir string) error, progress Progress) (Manifest, error) {
	m := Manifest{Format: 1, Created: time.Now().UTC(), Hostname: src.Hostname, KeyID: src.KeyID}
	if err := emptyDir(dir); err != nil {
		return m, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o700); err != nil {
		return m, fmt.Errorf("create backup folder: %w", err)
	}
	unlock, err := src.Blobs.HoldCompaction(ctx)
	if err != nil {
		return m, err
	}
	defer unlock()
	if err := src.Store.SnapshotTo(ctx, filepath.Join(dir, dbName)); err != nil {
		return m, err
	}
	segs, err := src.Blobs.SegmentFiles()
	if err != nil {
		return m, err
	}
	var total, done int64
	for _, p := range segs {
		fi, err := os.Stat(p)
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		total += fi.Size()
	}
	for _, p := range segs {
		rel := filepath.Join("blobs", filepath.Base(p))
		f, err := copyFile(ctx, p, filepath.Join(dir, rel), func(n int64) {
			if progress != nil {
				progress(done+n, total)
			}
		})
		if err != nil {
			return m, err
		}
		f.Path = rel
		done += f.Size
		m.Files = append(m.Files, f)
	}
	unlock()
	// The snapshot is opened once (by verify, or here) before it is hashed:
	// opening turns it to WAL mode, a change of its header.
	if verify != nil {
		err = verify(dir)
	} else {
		err = settle(ctx, dir)
	}
	if err != nil {
		return m, fmt.Errorf("verify backup: %w", err)
	}
	dbFile, err := hashFile(filepath.Join(dir, dbName))
	if err != nil {
		return m, err
	}
	dbFile.Path = dbName
	m.Files = append([]File{dbFile}, m.Files...)
	return m, writeManifest(dir, m)
}

// ReadManifest reads a finished backup's manifest.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("%s holds no %s: not a backup, or one that did not finish", dir, ManifestName)
	}
	if err != nil {
		return m, fmt.Errorf("read backup manifest: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("backup manifest %s: %w", filepath.Join(dir, ManifestName), err)
	}
	if m.Format != 1 {
		return m, fmt.Errorf("backup manifest format %d: this version reads format 1", m.Format)
	}
	return m, nil
}

// Restore copies the backup in dir into dataDir, the data folder of a node that
// has no database and no blobs yet, after checking that the node's key is the
// backup's (keyID) and while checking every file against the manifest. The
// copy is made under temporary names and renamed at the end, the database
// last, so a restore that fails leaves no half-restored node behind.
func Restore(ctx context.Context, dir, dataDir, keyID string, progress Progress) (Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return m, err
	}
	if m.KeyID != keyID {
		return m, fmt.Errorf("the backup's blobs are encrypted with another key (id %s; this node's key is %s): put the key file of the backed-up node in place first", m.KeyID, keyID)
	}
	if _, err := os.Stat(filepath.Join(dataDir, dbName)); err == nil {
		return m, fmt.Errorf("%s already holds a database: restore into a node with none", dataDir)
	}
	blobDir := filepath.Join(dataDir, "blobs")
	if segs, _ := filepath.Glob(filepath.Join(blobDir, "seg-*")); len(segs) > 0 {
		return m, fmt.Errorf("%s already holds blob segments: restore into a node with none", blobDir)
	}
	if err := os.MkdirAll(blobDir, 0o700); err != nil {
		return m, fmt.Errorf("create blob folder: %w", err)
	}
	var done int64
	total := m.Size()
	var temps []string
	defer func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}()
	for _, f := range m.Files {
		if !filepath.IsLocal(f.Path) {
			return m, fmt.Errorf("backup manifest names %q, outside the backup", f.Path)
		}
		tmp := filepath.Join(dataDir, f.Path) + ".restoring"
		temps = append(temps, tmp)
		got, err := copyFile(ctx, filepath.Join(dir, f.Path), tmp, func(n int64) {
			if progress != nil {
				progress(done+n, total)
			}
		})
		if err != nil {
			return m, err
		}
		if got.Size != f.Size || got.SHA256 != f.SHA256 {
			return m, fmt.Errorf("backup file %s does not match its manifest (size %d, want %d): the backup is damaged", f.Path, got.Size, f.Size)
		}
		done += got.Size
	}
	// The database comes first in the manifest and goes in place last: a
	// node with segments but no database is still a node with none.
	for i := len(m.Files) - 1; i >= 0; i-- {
		f := m.Files[i]
		if err := os.Rename(filepath.Join(dataDir, f.Path)+".restoring", filepath.Join(dataDir, f.Path)); err != nil {
			return m, fmt.Errorf("restore %s: %w", f.Path, err)
		}
	}
	temps = nil
	for _, d := range []string{blobDir, dataDir} {
		if err := syncDir(d); err != nil {
			return m, err
		}
	}
	return m, nil
}

// emptyDir checks that dir is absent or holds nothing.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup folder: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("backup folder %s is not empty: back up into a new folder", dir)
	}
	return nil
}

// settle opens and closes the snapshot once, as a verification would.
func settle(ctx context.Context, dir string) error {
	st, err := store.Open(ctx, "", dir)
	if err != nil {
		return err
	}
	return st.Close()
}

// copyFile copies src to dst (created, fsynced), telling progress the bytes
// copied so far, and returns dst's size and SHA-256.
func copyFile(ctx context.Context, src, dst string, progress func(int64)) (File, error) {
	in, err := os.Open(src)
	if err != nil {
		return File{}, fmt.Errorf("copy: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return File{}, fmt.Errorf("copy: %w", err)
	}
	h := sha256.New()
	n, err := copyCtx(ctx, io.MultiWriter(out, h), in, progress)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, fmt.Errorf("copy %s: %w", filepath.Base(src), err)
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// copyCtx copies in 1 MiB steps, stopping when ctx ends.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader, progress func(int64)) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := r.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
			progress(n)
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func hashFile(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, fmt.Errorf("hash %s: %w", filepath.Base(path), err)
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// writeManifest writes the manifest durably, last, under a temporary name
// renamed into place.
func writeManifest(dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ManifestName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, ManifestName))
	}
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := syncDir(filepath.Join(dir, "blobs")); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
