package trust

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// fetcher reads a source, a file path or an http(s) URL, and keeps the last
// copy that parsed in a cache directory, so that a node restarted while the
// authority is unreachable still has a list in force.
type fetcher struct {
	client   *http.Client
	cacheDir string
}

func isURL(src string) bool {
	return strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://")
}

// read returns the current content of src, up to limit bytes.
func (f *fetcher) read(ctx context.Context, src string, limit int64) ([]byte, error) {
	if !isURL(src) {
		fh, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		return readLimited(fh, limit, src)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", src, resp.Status)
	}
	return readLimited(resp.Body, limit, src)
}

func readLimited(r io.Reader, limit int64, src string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", src, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", src, limit)
	}
	return b, nil
}

// cachePath is where the last good copy of src is kept.
func (f *fetcher) cachePath(kind, src string) string {
	sum := sha256.Sum256([]byte(src))
	return filepath.Join(f.cacheDir, kind+"-"+hex.EncodeToString(sum[:8]))
}

// keep stores a copy that parsed, atomically.
func (f *fetcher) keep(kind, src string, data []byte) error {
	if f.cacheDir == "" {
		return nil
	}
	if err := os.MkdirAll(f.cacheDir, 0o700); err != nil {
		return err
	}
	p := f.cachePath(kind, src)
	tmp, err := os.CreateTemp(f.cacheDir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// cached returns the last good copy of src and when it was fetched.
func (f *fetcher) cached(kind, src string) ([]byte, time.Time, error) {
	if f.cacheDir == "" {
		return nil, time.Time{}, os.ErrNotExist
	}
	p := f.cachePath(kind, src)
	st, err := os.Stat(p)
	if err != nil {
		return nil, time.Time{}, err
	}
	b, err := os.ReadFile(p)
	return b, st.ModTime(), err
}
