package blob

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options says where an S3 store keeps its blobs.
type S3Options struct {
	// URL is s3://BUCKET[/PREFIX]?endpoint=HOST:PORT&region=R&tls=true. It
	// holds no secret: credentials in it are refused.
	URL string
	// CredentialsFile is an AWS shared credentials file (its [default]
	// profile); when empty, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
	CredentialsFile string
	// Dir is a local directory for the read cache, the batch being filled
	// and the spools of large messages.
	Dir string
	// CacheSize bounds the read cache, in bytes; 0 turns it off.
	CacheSize int64
}

// s3URL is a parsed S3Options.URL.
type s3URL struct {
	bucket, prefix, endpoint, region string
	tls                              bool
}

// ParseS3URL checks an s3:// store URL. Its errors never quote the URL, which
// might hold a secret put there by mistake.
func ParseS3URL(raw string) error {
	_, err := parseS3URL(raw)
	return err
}

func parseS3URL(raw string) (s3URL, error) {
	var u s3URL
	p, err := url.Parse(raw)
	if err != nil {
		return u, errors.New("blobs.store: not a URL")
	}
	if p.Scheme != "s3" {
		return u, errors.New("blobs.store: want s3://BUCKET?endpoint=HOST:PORT")
	}
	if p.User != nil {
		return u, errors.New("blobs.store: credentials do not go in the URL: use blobs.credentials or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	u.bucket = p.Host
	if u.bucket == "" {
		return u, errors.New("blobs.store: the URL names no bucket")
	}
	if prefix := strings.Trim(p.Path, "/"); prefix != "" {
		u.prefix = prefix + "/"
	}
	q := p.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "tls":
		default:
			return u, fmt.Errorf("blobs.store: unknown URL parameter %q (want endpoint, region, tls)", k)
		}
	}
	u.endpoint, u.region = q.Get("endpoint"), q.Get("region")
	if u.endpoint == "" {
		return u, errors.New("blobs.store: the URL names no endpoint=HOST:PORT")
	}
	u.tls = true
	if t := q.Get("tls"); t != "" {
		if u.tls, err = strconv.ParseBool(t); err != nil {
			return u, errors.New("blobs.store: tls: want true or false")
		}
	}
	return u, nil
}

// RedactS3URL returns an s3:// store URL fit for a log line: its bucket and
// endpoint, nothing else.
func RedactS3URL(raw string) string {
	u, err := parseS3URL(raw)
	if err != nil {
		return "s3://(invalid)"
	}
	return "s3://" + path.Join(u.bucket, u.prefix) + "?endpoint=" + u.endpoint
}

// s3Timeout bounds one request to the bucket, its retries included.
const s3Timeout = time.Minute

// s3Backend keeps blobs in the objects of a bucket. Append writes into a
// local batch file; Sync uploads it as one object, named by the segment
// number its blobs' Refs carry, so that the objects are exactly the segment
// files a local store would have written.
type s3Backend struct {
	client *minio.Client
	u      s3URL
	dir    string // batch files, spools, the compaction lock
	cache  *cache // nil when off
	// fetched counts the bytes read from the bucket.
	fetched  atomic.Int64
	uploads  atomic.Int64 // objects uploaded
	failures atomic.Int64 // uploads that failed
	uploaded atomic.Int64 // their bytes
	hits     atomic.Int64 // blocks read from the cache
	misses   atomic.Int64 // blocks fetched from the bucket

	mu     sync.Mutex
	syncMu sync.Mutex // one Sync at a time, so a Sync returns only once all earlier appends are durable
	batch  *os.File   // the blobs appended since the last Sync, nil when none
	num    int64      // the segment number of the batch
	offset int64      // its size
	last   int64      // the last segment number taken
	failed sync.Map   // segment number → struct{}: batches whose upload failed

	fetchMu  sync.Mutex
	fetching map[blockKey]*fetch // blocks being fetched, which later readers wait for
}

// A fetch is one GET of a block, shared by the readers that miss it at once
// (a message to a whole hospital, opened by many clients).
type fetch struct {
	done chan struct{}
	data []byte
	err  error
}

// OpenS3 opens the store in the bucket opts.URL names, with the master key.
// It fails when the bucket cannot be reached or does not exist.
func OpenS3(ctx context.Context, opts S3Options, key []byte) (*Store, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("blob key: want %d bytes, have %d", KeySize, len(key))
	}
	u, err := parseS3URL(opts.URL)
	if err != nil {
		return nil, err
	}
	var creds *credentials.Credentials
	if opts.CredentialsFile != "" {
		if _, err := os.Stat(opts.CredentialsFile); err != nil {
			return nil, fmt.Errorf("blobs.credentials: %w", err)
		}
		creds = credentials.NewFileAWSCredentials(opts.CredentialsFile, "default")
	} else {
		creds = credentials.NewEnvAWS()
	}
	client, err := minio.New(u.endpoint, &minio.Options{Creds: creds, Secure: u.tls, Region: u.region, MaxRetries: 3})
	if err != nil {
		return nil, fmt.Errorf("blob bucket %s: %w", u.bucket, err)
	}
	b := &s3Backend{client: client, u: u, dir: filepath.Join(opts.Dir, "tmp"), fetching: map[blockKey]*fetch{}}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create blob work dir: %w", err)
	}
	if err := removeSpools(b.dir); err != nil {
		return nil, err
	}
	if opts.CacheSize > 0 {
		if b.cache, err = openCache(filepath.Join(opts.Dir, "cache"), opts.CacheSize); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s3Timeout)
	defer cancel()
	if err := b.pingCtx(ctx); err != nil {
		return nil, err
	}
	return &Store{key: append([]byte(nil), key...), b: b, spoolDir: b.dir}, nil
}

func (b *s3Backend) objectName(n int64) string { return fmt.Sprintf("%sseg-%019d", b.u.prefix, n) }
func (b *s3Backend) markerName(n int64) string { return fmt.Sprintf("%sretired-%019d", b.u.prefix, n) }
func (b *s3Backend) ctx() (context.Context, func()) {
	return context.WithTimeout(context.Background(), s3Timeout)
}

// newNumber picks the segment number of a new batch: the time in
// milliseconds over the high bits, random low bits, so that the numbers of
// nodes sharing the bucket sort by time and do not meet (and the upload
// refuses to replace an object, should they). b.mu is held.
func (b *s3Backend) newNumber() int64 {
	var r [4]byte
	rand.Read(r[:])
	n := time.Now().UnixMilli()<<20 | int64(binary.BigEndian.Uint32(r[:])&(1<<20-1))
	if n <= b.last {
		n = b.last + 1
	}
	b.last = n
	return n
}

// open starts a batch file when there is none; b.mu is held.
func (b *s3Backend) open() error {
	if b.batch != nil {
		return nil
	}
	f, err := os.CreateTemp(b.dir, "batch-*")
	if err != nil {
		return fmt.Errorf("create blob batch: %w", err)
	}
	// Nothing reads it after a crash: its blobs were never acknowledged.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return fmt.Errorf("create blob batch: %w", err)
	}
	b.batch, b.num, b.offset = f, b.newNumber(), 0
	return nil
}

func (b *s3Backend) append(sealed []byte, size int64) (Ref, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.open(); err != nil {
		return Ref{}, err
	}
	if _, err := b.batch.Write(sealed); err != nil {
		b.discard()
		return Ref{}, fmt.Errorf("append to blob batch: %w", err)
	}
	ref := Ref{Segment: b.num, Offset: b.offset, Length: int64(len(sealed)), Size: size}
	b.offset += int64(len(sealed))
	return ref, nil
}

func (b *s3Backend) appendSpool(sp *Spool) (Ref, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.open(); err != nil {
		return Ref{}, err
	}
	n, err := io.Copy(b.batch, io.NewSectionReader(sp.f, 0, sp.length))
	if err != nil || n != sp.length {
		b.discard()
		return Ref{}, fmt.Errorf("append spool to blob batch: %w", errors.Join(err, io.ErrShortWrite))
	}
	ref := Ref{Segment: b.num, Offset: b.offset, Length: sp.length, Size: sp.size}
	b.offset += sp.length
	return ref, nil
}

// discard drops a batch whose file failed: its blobs' Refs name an object
// that will never exist, and their callers fail. b.mu is held.
func (b *s3Backend) discard() {
	b.failed.Store(b.num, struct{}{})
	b.batch.Close()
	b.batch = nil
}

// sync uploads the batch as one object. The appends that come meanwhile go
// to the next batch.
func (b *s3Backend) sync() error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	b.mu.Lock()
	f, num, size := b.batch, b.num, b.offset
	b.batch = nil
	b.mu.Unlock()
	if f == nil {
		return nil
	}
	defer f.Close()
	ctx, cancel := b.ctx()
	defer cancel()
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	// Never replace an object: a Ref would then name other bytes.
	opts.SetMatchETagExcept("*")
	if _, err := b.client.PutObject(ctx, b.u.bucket, b.objectName(num), io.NewSectionReader(f, 0, size), size, opts); err != nil {
		b.failures.Add(1)
		b.failed.Store(num, struct{}{})
		return fmt.Errorf("upload blob object %d to bucket %s: %w", num, b.u.bucket, err)
	}
	b.uploads.Add(1)
	b.uploaded.Add(size)
	b.seed(f, num, size)
	return nil
}

func (b *s3Backend) lost(n int64) bool {
	_, ok := b.failed.Load(n)
	return ok
}

// seed puts a freshly uploaded object into the read cache: new messages are
// the ones read next.
func (b *s3Backend) seed(f *os.File, num, size int64) {
	if b.cache == nil {
		return
	}
	buf := make([]byte, blockSize)
	for k := int64(0); k*blockSize < size; k++ {
		n, err := f.ReadAt(buf[:min(blockSize, size-k*blockSize)], k*blockSize)
		if err != nil && !errors.Is(err, io.EOF) {
			return
		}
		b.cache.put(blockKey{num, k}, buf[:n])
	}
}

func (b *s3Backend) reader(n int64) (io.ReaderAt, error) {
	return &object{b: b, num: n, block: -1}, nil
}

// block returns block k of object n, from the cache or the bucket. The
// returned bytes are shared: callers only read them.
func (b *s3Backend) block(n, k int64) ([]byte, error) {
	key := blockKey{n, k}
	if b.cache != nil {
		if data, ok := b.cache.get(key); ok {
			b.hits.Add(1)
			return data, nil
		}
	}
	b.fetchMu.Lock()
	if f, ok := b.fetching[key]; ok {
		b.fetchMu.Unlock()
		<-f.done
		return f.data, f.err
	}
	f := &fetch{done: make(chan struct{})}
	b.fetching[key] = f
	b.fetchMu.Unlock()
	b.misses.Add(1)
	f.data, f.err = b.get(n, k)
	if f.err == nil && b.cache != nil {
		b.cache.put(key, f.data)
	}
	b.fetchMu.Lock()
	delete(b.fetching, key)
	b.fetchMu.Unlock()
	close(f.done)
	return f.data, f.err
}

// get reads block k of object n from the bucket.
func (b *s3Backend) get(n, k int64) ([]byte, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	var opts minio.GetObjectOptions
	if err := opts.SetRange(k*blockSize, (k+1)*blockSize-1); err != nil {
		return nil, err
	}
	obj, err := b.client.GetObject(ctx, b.u.bucket, b.objectName(n), opts)
	if err != nil {
		return nil, fmt.Errorf("read blob object %d: %w", n, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		return nil, fmt.Errorf("read blob object %d: %w", n, err)
	}
	b.fetched.Add(int64(len(data)))
	return data, nil
}

// S3Stats counts what a store on S3 did since it was opened.
type S3Stats struct {
	Uploads        int64 // objects uploaded (group commits, compaction copies)
	UploadFailures int64
	UploadedBytes  int64
	FetchedBytes   int64 // bytes read from the bucket (cache misses)
	CacheHits      int64 // blocks read from the local cache
	CacheMisses    int64 // blocks fetched from the bucket
	CacheBytes     int64 // disk space the cache takes
}

// S3Stats returns the counters of a store on S3, and false for one on disk.
func (s *Store) S3Stats() (S3Stats, bool) {
	b, ok := s.b.(*s3Backend)
	if !ok {
		return S3Stats{}, false
	}
	st := S3Stats{
		Uploads: b.uploads.Load(), UploadFailures: b.failures.Load(), UploadedBytes: b.uploaded.Load(),
		FetchedBytes: b.fetched.Load(), CacheHits: b.hits.Load(), CacheMisses: b.misses.Load(),
	}
	if b.cache != nil {
		st.CacheBytes = b.cache.size()
	}
	return st, true
}

// object reads an S3 object by blocks, keeping the last one.
type object struct {
	b     *s3Backend
	num   int64
	block int64
	data  []byte
}

func (o *object) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		k := off / blockSize
		if k != o.block {
			data, err := o.b.block(o.num, k)
			if err != nil {
				return n, err
			}
			o.block, o.data = k, data
		}
		within := off - k*blockSize
		if within >= int64(len(o.data)) {
			return n, io.EOF
		}
		c := copy(p[n:], o.data[within:])
		n += c
		off += int64(c)
	}
	return n, nil
}

func (b *s3Backend) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return b.pingCtx(ctx)
}

func (b *s3Backend) pingCtx(ctx context.Context) error {
	ok, err := b.client.BucketExists(ctx, b.u.bucket)
	if err != nil {
		return fmt.Errorf("blob bucket %s at %s: %w", b.u.bucket, b.u.endpoint, err)
	}
	if !ok {
		return fmt.Errorf("blob bucket %s at %s: no such bucket", b.u.bucket, b.u.endpoint)
	}
	return nil
}

func (b *s3Backend) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batch != nil {
		// Blobs never synced were never acknowledged.
		b.discard()
	}
	return nil
}

// listed lists the objects under prefix with the segment numbers their names
// carry.
func (b *s3Backend) listed(prefix string) (map[int64]minio.ObjectInfo, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	out := map[int64]minio.ObjectInfo{}
	for obj := range b.client.ListObjects(ctx, b.u.bucket, minio.ListObjectsOptions{Prefix: b.u.prefix + prefix}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list bucket %s: %w", b.u.bucket, obj.Err)
		}
		n, err := strconv.ParseInt(strings.TrimPrefix(obj.Key, b.u.prefix+prefix), 10, 64)
		if err != nil {
			continue
		}
		out[n] = obj
	}
	return out, nil
}

func (b *s3Backend) numbers() ([]int64, error) {
	segs, err := b.list()
	if err != nil {
		return nil, err
	}
	nums := make([]int64, len(segs))
	for i, s := range segs {
		nums[i] = s.Number
	}
	return nums, nil
}

func (b *s3Backend) list() ([]Segment, error) {
	objs, err := b.listed("seg-")
	if err != nil {
		return nil, err
	}
	markers, err := b.listed("retired-")
	if err != nil {
		return nil, err
	}
	out := make([]Segment, 0, len(objs))
	for n, o := range objs {
		seg := Segment{Number: n, Size: o.Size}
		if m, ok := markers[n]; ok {
			seg.Retired = m.LastModified
		}
		out = append(out, seg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// closed: an object is whole once uploaded and never written again; the
// batch being filled is not in the bucket yet.
func (b *s3Backend) closed(n int64) (bool, error) { return n != b.active(), nil }

func (b *s3Backend) active() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batch == nil {
		return 0
	}
	return b.num
}

func (b *s3Backend) retire(n int64) error {
	ctx, cancel := b.ctx()
	defer cancel()
	opts := minio.PutObjectOptions{}
	// A later Retire keeps the first date.
	opts.SetMatchETagExcept("*")
	_, err := b.client.PutObject(ctx, b.u.bucket, b.markerName(n), strings.NewReader(""), 0, opts)
	if err != nil && minio.ToErrorResponse(err).Code != "PreconditionFailed" {
		return fmt.Errorf("retire segment %d: %w", n, err)
	}
	return nil
}

func (b *s3Backend) unretire(n int64) error {
	ctx, cancel := b.ctx()
	defer cancel()
	if err := b.client.RemoveObject(ctx, b.u.bucket, b.markerName(n), minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("unretire segment %d: %w", n, err)
	}
	return nil
}

func (b *s3Backend) remove(n int64) error {
	if n == b.active() {
		return fmt.Errorf("remove segment %d: it is the batch being filled", n)
	}
	ctx, cancel := b.ctx()
	defer cancel()
	if err := b.client.RemoveObject(ctx, b.u.bucket, b.objectName(n), minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("remove segment %d: %w", n, err)
	}
	if b.cache != nil {
		b.cache.drop(n)
	}
	return b.unretire(n)
}

// forget has nothing to close: the cache's blocks of removed objects age out.
func (b *s3Backend) forget() {}

func (b *s3Backend) cleanMarkers() error {
	objs, err := b.listed("seg-")
	if err != nil {
		return err
	}
	markers, err := b.listed("retired-")
	if err != nil {
		return err
	}
	for n := range markers {
		if _, ok := objs[n]; !ok {
			if err := b.unretire(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// lockCompaction locks the work directory: one compaction at a time among
// the processes of this machine. Nodes sharing the bucket are kept apart by
// the metadata store's lock, which core takes on PostgreSQL.
func (b *s3Backend) lockCompaction() (unlock func(), err error) { return lockDir(b.dir) }

func (b *s3Backend) segmentFiles() ([]string, error) { return nil, ErrRemote }
