package blob

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// blockSize is the unit of the S3 reads and of the read cache: a ranged GET
// fetches one aligned block of an object, which holds a few small messages
// packed together or four chunks of a large one.
const blockSize = 256 << 10

// A cache keeps blocks of S3 objects, sealed as they are in the bucket, in
// files of a local directory, dropping the least recently used ones past its
// size. Objects are never rewritten, so a cached block never goes stale. The
// files survive a restart: the next cache indexes them, oldest use first.
type cache struct {
	dir string
	max int64

	mu    sync.Mutex
	used  int64
	lru   *list.List // of *cacheEntry, the most recently used first
	items map[blockKey]*list.Element
}

type blockKey struct{ seg, block int64 }

// diskSize is what a file of n bytes takes on disk, in 4 KiB file system
// blocks: the cache of many small objects is bounded by what it really uses.
func diskSize(n int64) int64 { return (n + 4095) &^ 4095 }

type cacheEntry struct {
	key  blockKey
	size int64
}

// openCache indexes the blocks already in dir (created if needed) and trims
// them to max bytes.
func openCache(dir string, max int64) (*cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create blob cache: %w", err)
	}
	c := &cache{dir: dir, max: max, lru: list.New(), items: map[blockKey]*list.Element{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list blob cache: %w", err)
	}
	type found struct {
		key  blockKey
		size int64
		used time.Time
	}
	var all []found
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		k, ok := parseBlockName(e.Name())
		if !ok {
			// A write a crash cut short, a day old or more (another process
			// sharing the cache may be writing younger ones).
			if strings.HasPrefix(e.Name(), "tmp-") && time.Since(info.ModTime()) > 24*time.Hour {
				os.Remove(filepath.Join(dir, e.Name()))
			}
			continue
		}
		all = append(all, found{k, diskSize(info.Size()), info.ModTime()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used.After(all[j].used) })
	for _, f := range all {
		c.items[f.key] = c.lru.PushBack(&cacheEntry{key: f.key, size: f.size})
		c.used += f.size
	}
	c.mu.Lock()
	c.evict()
	c.mu.Unlock()
	return c, nil
}

// get returns a cached block, or false when it is not there.
func (c *cache) get(k blockKey) ([]byte, bool) {
	c.mu.Lock()
	el, ok := c.items[k]
	if ok {
		c.lru.MoveToFront(el)
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(c.path(k))
	if err != nil {
		// Another process sharing the cache evicted it: forget it too.
		c.mu.Lock()
		if cur, ok := c.items[k]; ok && cur == el {
			c.unlink(el)
		}
		c.mu.Unlock()
		return nil, false
	}
	return b, true
}

// put stores a block, unless it alone is larger than the cache, and drops
// the least recently used ones past the cache's size. A failure to write
// only costs a later fetch.
func (c *cache) put(k blockKey, b []byte) {
	size := diskSize(int64(len(b)))
	if size > c.max {
		return
	}
	f, err := os.CreateTemp(c.dir, "tmp-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(f.Name())
		return
	}
	if err := os.Rename(f.Name(), c.path(k)); err != nil {
		os.Remove(f.Name())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.used -= el.Value.(*cacheEntry).size
		el.Value.(*cacheEntry).size = size
		c.used += size
		c.lru.MoveToFront(el)
	} else {
		c.items[k] = c.lru.PushFront(&cacheEntry{key: k, size: size})
		c.used += size
	}
	c.evict()
}

// drop removes the blocks of segment seg, which was removed from the bucket.
func (c *cache) drop(seg int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.items {
		if k.seg == seg {
			c.unlink(el)
			os.Remove(c.path(k))
		}
	}
}

// size returns the disk space the cache's files take, in 4 KiB blocks.
func (c *cache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// evict drops the least recently used blocks until the cache fits; c.mu is
// held.
func (c *cache) evict() {
	for c.used > c.max {
		el := c.lru.Back()
		if el == nil {
			return
		}
		e := el.Value.(*cacheEntry)
		c.unlink(el)
		// A file another process sharing the cache removed already is
		// as good as removed here.
		os.Remove(c.path(e.key))
	}
}

func (c *cache) unlink(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.items, e.key)
	c.used -= e.size
}

func (c *cache) path(k blockKey) string {
	return filepath.Join(c.dir, fmt.Sprintf("%019d-%d", k.seg, k.block))
}

func parseBlockName(name string) (blockKey, bool) {
	s, b, ok := strings.Cut(name, "-")
	if !ok {
		return blockKey{}, false
	}
	seg, err1 := strconv.ParseInt(s, 10, 64)
	block, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return blockKey{}, false
	}
	return blockKey{seg, block}, true
}
