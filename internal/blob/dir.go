package blob

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// dirBackend keeps blobs in segment files of a directory.
type dirBackend struct {
	dir      string
	readOnly bool // opened by OpenReadOnly: appends fail

	mu      sync.Mutex
	syncMu  sync.Mutex // one Sync at a time, so a Sync returns only once all earlier appends are durable
	cur     *os.File   // the active segment
	segment int64
	offset  int64
	dirty   []*os.File // segments written since the last Sync, the active one included

	readers sync.Map // segment number → *os.File opened for reading
	failed  sync.Map // path → struct{}: segments whose fsync failed
}

// maxSegment is the size past which a new segment file is started.
const maxSegment = 1 << 30

func (d *dirBackend) append(sealed []byte, size int64) (Ref, error) {
	if d.readOnly {
		return Ref{}, errReadOnly
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil || d.offset+int64(len(sealed)) > maxSegment && d.offset > 0 {
		if err := d.rotate(); err != nil {
			return Ref{}, err
		}
	}
	if _, err := d.cur.Write(sealed); err != nil {
		return Ref{}, fmt.Errorf("append to segment %d: %w", d.segment, err)
	}
	ref := Ref{Segment: d.segment, Offset: d.offset, Length: int64(len(sealed)), Size: size}
	d.offset += int64(len(sealed))
	if len(d.dirty) == 0 || d.dirty[len(d.dirty)-1] != d.cur {
		d.dirty = append(d.dirty, d.cur)
	}
	return ref, nil
}

func (d *dirBackend) appendSpool(sp *Spool) (Ref, error) {
	if d.readOnly {
		return Ref{}, errReadOnly
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil || d.offset+sp.length > maxSegment && d.offset > 0 {
		if err := d.rotate(); err != nil {
			return Ref{}, err
		}
	}
	n, err := io.Copy(d.cur, io.NewSectionReader(sp.f, 0, sp.length))
	if err != nil || n != sp.length {
		// The torn bytes are never named by any metadata; the next blob
		// goes after them.
		d.offset += n
		return Ref{}, fmt.Errorf("append spool to segment %d: %w", d.segment, errors.Join(err, io.ErrShortWrite))
	}
	ref := Ref{Segment: d.segment, Offset: d.offset, Length: sp.length, Size: sp.size}
	d.offset += sp.length
	if len(d.dirty) == 0 || d.dirty[len(d.dirty)-1] != d.cur {
		d.dirty = append(d.dirty, d.cur)
	}
	return ref, nil
}

// sync fsyncs every segment touched since the last sync. Syncs run one at a
// time: a sync that finds the list of dirty segments taken by another waits
// for that one's fsync, which covers its appends too.
func (d *dirBackend) sync() error {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	d.mu.Lock()
	dirty := d.dirty
	d.dirty = nil
	d.mu.Unlock()
	for _, f := range dirty {
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			// What the kernel held for the file may be gone: nothing
			// appended to it before can be trusted.
			d.failed.Store(f.Name(), struct{}{})
			return fmt.Errorf("sync %s: %w", f.Name(), err)
		}
	}
	return nil
}

func (d *dirBackend) lost(n int64) bool {
	_, ok := d.failed.Load(d.path(n))
	return ok
}

func (d *dirBackend) reader(seg int64) (io.ReaderAt, error) {
	if f, ok := d.readers.Load(seg); ok {
		return f.(*os.File), nil
	}
	f, err := os.Open(d.path(seg))
	if err != nil {
		return nil, fmt.Errorf("open segment %d: %w", seg, err)
	}
	if prev, loaded := d.readers.LoadOrStore(seg, f); loaded {
		f.Close()
		return prev.(*os.File), nil
	}
	return f, nil
}

func (d *dirBackend) ping() error {
	fi, err := os.Stat(d.dir)
	if err != nil {
		return fmt.Errorf("blob dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("blob dir %s: not a directory", d.dir)
	}
	if err := syscall.Access(d.dir, 2); err != nil { // W_OK
		return fmt.Errorf("blob dir %s: not writable: %w", d.dir, err)
	}
	return nil
}

func (d *dirBackend) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	if d.cur != nil {
		errs = append(errs, d.cur.Sync(), d.cur.Close())
		d.cur = nil
	}
	d.readers.Range(func(k, v any) bool {
		errs = append(errs, v.(*os.File).Close())
		d.readers.Delete(k)
		return true
	})
	return errors.Join(errs...)
}

func (d *dirBackend) rotate() error {
	if d.cur != nil {
		// A concurrent Sync may still hold this file: sync it here, and Sync
		// treats an already closed file as done.
		if err := d.cur.Sync(); err != nil {
			d.failed.Store(d.cur.Name(), struct{}{})
			return fmt.Errorf("sync segment %d: %w", d.segment, err)
		}
		d.dirty = nil
		if err := d.cur.Close(); err != nil {
			return fmt.Errorf("close segment %d: %w", d.segment, err)
		}
	}
	// Another process on the same directory (an operator command while the
	// server runs) may have taken the next number: take the one after.
	var f *os.File
	for {
		d.segment++
		var err error
		f, err = os.OpenFile(d.path(d.segment), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
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
		return fmt.Errorf("lock segment %d: %w", d.segment, err)
	}
	// The new file's name must survive a crash too.
	if err := syncDir(d.dir); err != nil {
		f.Close()
		return err
	}
	d.cur, d.offset = f, 0
	return nil
}

func (d *dirBackend) path(seg int64) string {
	return filepath.Join(d.dir, fmt.Sprintf("seg-%08d", seg))
}

func (d *dirBackend) retiredPath(n int64) string {
	return filepath.Join(d.dir, fmt.Sprintf("retired-%08d", n))
}

func (d *dirBackend) numbers() ([]int64, error) { return segments(d.dir) }

func (d *dirBackend) list() ([]Segment, error) {
	nums, err := segments(d.dir)
	if err != nil {
		return nil, err
	}
	out := make([]Segment, 0, len(nums))
	for _, n := range nums {
		fi, err := os.Stat(d.path(n))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("stat segment %d: %w", n, err)
		}
		seg := Segment{Number: n, Size: fi.Size()}
		if mi, err := os.Stat(d.retiredPath(n)); err == nil {
			seg.Retired = mi.ModTime()
		}
		out = append(out, seg)
	}
	return out, nil
}

// closed: writers hold a lock on the segment they append to from its
// creation to its closing; a closed segment never receives another byte,
// since writers only append to segments they created.
func (d *dirBackend) closed(n int64) (bool, error) {
	f, err := os.Open(d.path(n))
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

func (d *dirBackend) active() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil {
		return 0
	}
	return d.segment
}

func (d *dirBackend) retire(n int64) error {
	f, err := os.OpenFile(d.retiredPath(n), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("retire segment %d: %w", n, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("retire segment %d: %w", n, err)
	}
	return syncDir(d.dir)
}

func (d *dirBackend) unretire(n int64) error {
	if err := os.Remove(d.retiredPath(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unretire segment %d: %w", n, err)
	}
	return nil
}

func (d *dirBackend) remove(n int64) error {
	if n == d.active() {
		return fmt.Errorf("remove segment %d: it is the active segment", n)
	}
	if f, ok := d.readers.LoadAndDelete(n); ok {
		f.(*os.File).Close()
	}
	if err := os.Remove(d.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove segment %d: %w", n, err)
	}
	if err := syncDir(d.dir); err != nil {
		return err
	}
	return d.unretire(n)
}

func (d *dirBackend) forget() {
	d.readers.Range(func(k, v any) bool {
		if _, err := os.Stat(d.path(k.(int64))); errors.Is(err, fs.ErrNotExist) {
			if _, ok := d.readers.LoadAndDelete(k); ok {
				v.(*os.File).Close()
			}
		}
		return true
	})
}

func (d *dirBackend) cleanMarkers() error {
	entries, err := os.ReadDir(d.dir)
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
		if _, err := os.Stat(d.path(n)); errors.Is(err, fs.ErrNotExist) {
			if err := d.unretire(n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *dirBackend) lockCompaction() (unlock func(), err error) {
	return lockDir(d.dir)
}

func (d *dirBackend) segmentFiles() ([]string, error) {
	segs, err := segments(d.dir)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(segs))
	for i, n := range segs {
		paths[i] = d.path(n)
	}
	return paths, nil
}

// lockDir takes the compaction lock file of dir, failing with ErrBusy when
// another process holds it.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "compact.lock"), os.O_RDONLY|os.O_CREATE, 0o600)
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
