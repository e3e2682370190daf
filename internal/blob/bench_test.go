package blob

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"caduceus/internal/blob/blobtest"
)

// BenchmarkAppendSync measures durable throughput: batches of 4 KiB messages
// appended and made durable by one Sync (an fsync on disk, an upload on S3),
// as the group committer does. One op is one message.
func BenchmarkAppendSync(b *testing.B) {
	key := make([]byte, KeySize)
	rand.Read(key)
	plain := make([]byte, 4<<10)
	rand.Read(plain)
	stores := []struct {
		name string
		open func(b *testing.B) *Store
	}{
		{"disk", func(b *testing.B) *Store {
			s, err := Open(b.TempDir(), key)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"s3", func(b *testing.B) *Store {
			srv := blobtest.S3(b)
			s, err := OpenS3(context.Background(), S3Options{URL: srv.URL, CredentialsFile: srv.CredentialsFile, Dir: b.TempDir(), CacheSize: 512 << 20}, key)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		for _, batch := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", st.name, batch), func(b *testing.B) {
				s := st.open(b)
				defer s.Close()
				sealed, err := s.Seal(plain)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(plain)))
				b.ResetTimer()
				for i := 0; i < b.N; {
					for j := 0; j < batch && i < b.N; j, i = j+1, i+1 {
						if _, err := s.Append(sealed, int64(len(plain))); err != nil {
							b.Fatal(err)
						}
					}
					if err := s.Sync(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}
