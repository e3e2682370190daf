package imap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// bigMessage is a message with a text part and an attachment of size
// bytes, base64-encoded, and the attachment's bytes.
func bigMessage(size int) (msg, attachment []byte) {
	attachment = make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(attachment)
	var b bytes.Buffer
	b.WriteString("From: lab@remote.example\r\nTo: alice@" + coretest.Domain + "\r\nSubject: imagerie\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=big\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nVoir les images.\r\n" +
		"--big\r\nContent-Type: application/dicom; name=scan.dcm\r\nContent-Disposition: attachment; filename=scan.dcm\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(attachment)
	for i := 0; i < len(enc); i += 76 {
		b.WriteString(enc[i:min(i+76, len(enc))])
		b.WriteString("\r\n")
	}
	b.WriteString("--big--\r\n")
	return b.Bytes(), attachment
}

// heapPeak samples the heap in use until stop is called, and returns its
// peak above the level when it started.
func heapPeak() (stop func() uint64) {
	// A low GC target keeps garbage from passing for memory in use.
	old := debug.SetGCPercent(10)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		debug.SetGCPercent(old)
		return peak.Load()
	}
}

// FETCH BODY[2] and BINARY[2] of a 20 MB attachment stream the part from
// the blob: the server's heap grows by far less than the part.
func TestFetchLargePartMemoryFlat(t *testing.T) {
	const size = 20 << 20
	ts := startServer(t)
	ctx := context.Background()
	coretest.User(t, ts.svc, "alice", "Alice")
	msg, attachment := bigMessage(size)
	if err := ts.svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@" + coretest.Domain}, Data: msg}); err != nil {
		t.Fatal(err)
	}
	encoded := msg[bytes.Index(msg, []byte("base64\r\n\r\n"))+len("base64\r\n\r\n") : len(msg)-len("\r\n--big--\r\n")]
	msg = nil
	r := ts.raw(t, "alice")
	r.ok("SELECT INBOX")
	for _, tt := range []struct {
		item string
		want []byte
	}{
		{"BODY.PEEK[2]", encoded},
		{"BINARY.PEEK[2]", attachment},
	} {
		t.Run(tt.item, func(t *testing.T) {
			stop := heapPeak()
			tag := "big"
			r.write(tag + " FETCH 1 (" + tt.item + ")\r\n")
			r.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
			head, err := r.br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			n, ok := announced(strings.TrimSuffix(head, "\r\n"))
			if !ok || n != len(tt.want) {
				t.Fatalf("response %q: literal of %d bytes, want %d", head, n, len(tt.want))
			}
			h := sha256.New()
			if _, err := io.CopyN(h, r.br, int64(n)); err != nil {
				t.Fatal(err)
			}
			rest, _ := r.br.ReadString('\n')
			status, _ := r.br.ReadString('\n')
			grew := stop()
			if !strings.HasPrefix(status, tag+" OK") {
				t.Fatalf("status %q (after %q)", status, rest)
			}
			if want := sha256.Sum256(tt.want); !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("%s: the bytes differ from the part", tt.item)
			}
			// The client here reads in the same process and holds 4 KiB;
			// the server streams 64 KiB chunks: the heap grows by under
			// 1 MB (about 5 MB under the race detector). A whole-part
			// buffer would be 20 MB (27 encoded).
			if grew > 8<<20 {
				t.Errorf("%s of %d MB: heap in use grew by %.1f MB", tt.item, size>>20, float64(grew)/(1<<20))
			}
			t.Logf("%s of %d MB: heap in use grew by at most %.2f MB", tt.item, size>>20, float64(grew)/(1<<20))
		})
	}
}

// APPEND of a message with a 20 MB attachment streams the literal into the
// blob store: the server's heap grows by far less than the message, and
// the message reads back whole.
func TestAppendLargeMemoryFlat(t *testing.T) {
	const size = 20 << 20
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	msg, _ := bigMessage(size)
	r := ts.raw(t, "alice")
	stop := heapPeak()
	r.write(fmt.Sprintf("big APPEND INBOX {%d+}\r\n", len(msg)))
	r.nc.SetWriteDeadline(time.Now().Add(60 * time.Second))
	for off := 0; off < len(msg); off += 64 << 10 {
		if _, err := r.nc.Write(msg[off:min(off+64<<10, len(msg))]); err != nil {
			t.Fatal(err)
		}
	}
	r.write("\r\n")
	_, status := r.until("big")
	grew := stop()
	if !strings.HasPrefix(status, "OK") {
		t.Fatalf("APPEND: %s", status)
	}
	if grew > 8<<20 {
		t.Errorf("APPEND of %d MB: heap in use grew by %.1f MB", len(msg)>>20, float64(grew)/(1<<20))
	}
	t.Logf("APPEND of %d MB: heap in use grew by at most %.2f MB", len(msg)>>20, float64(grew)/(1<<20))
	r.ok("SELECT INBOX")
	r.write("f FETCH 1 (RFC822.SIZE BODY.PEEK[])\r\n")
	r.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	head, err := r.br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	n, ok := announced(strings.TrimSuffix(head, "\r\n"))
	if !ok || n != len(msg) || !strings.Contains(head, fmt.Sprintf("RFC822.SIZE %d", len(msg))) {
		t.Fatalf("FETCH: %q", head)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, r.br, int64(n)); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(msg); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Error("the message read back differs")
	}
	r.until("f")
	if ts.svc.ModelFallbacks() != 0 {
		t.Error("the appended message has no stored model")
	}
}
