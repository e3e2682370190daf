package smtp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"caduceus/internal/core/coretest"
	"caduceus/internal/smtp"
)

func TestBench(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	tests := []struct {
		name string
		opts smtp.BenchOptions
	}{
		{"MX", smtp.BenchOptions{Addr: e.mx, To: "alice@" + domain, Messages: 40, Size: 4096, Concurrency: 4}},
		{"submission", smtp.BenchOptions{Addr: e.sub, From: "bob@" + domain, To: "alice@" + domain, Messages: 10, Size: 1024,
			Concurrency: 2, TLS: e.clientTLS, Username: "bob@" + domain, Password: coretest.Password}},
	}
	total := 0
	for _, tt := range tests {
		res, err := smtp.Bench(context.Background(), tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != tt.opts.Messages || res.Failed != 0 {
			t.Fatalf("%s: %v (first error %v)", tt.name, res, res.FirstError)
		}
		if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 || res.PerSecond <= 0 {
			t.Errorf("%s: figures do not add up: %v", tt.name, res)
		}
		total += res.Sent
	}
	// Every message that got its 250 is in the Inbox, each one once.
	ids := map[string]bool{}
	for _, m := range e.folder(t, "alice", "INBOX") {
		ids[messageIDOf(m)] = true
	}
	if len(ids) != total {
		t.Errorf("inbox holds %d distinct Message-IDs, want %d", len(ids), total)
	}
}

func TestBenchCountsFailures(t *testing.T) {
	e := newEnv(t, smtp.Options{})
	res, err := smtp.Bench(context.Background(), smtp.BenchOptions{Addr: e.mx, To: "nobody@" + domain, Messages: 5, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 0 || res.Failed != 5 || res.FirstError == nil {
		t.Fatalf("result = %v, want 5 failures", res)
	}
}

// BenchmarkMX measures durable deliveries through the MX over 10 sessions:
// go test -run X -bench MX ./internal/smtp/
func BenchmarkMX(b *testing.B) {
	svc := coretest.New(b, coretest.Options{})
	coretest.User(b, svc, "alice", "alice")
	addr := serve(b, svc, smtp.Options{})
	b.ResetTimer()
	res, err := smtp.Bench(context.Background(), smtp.BenchOptions{Addr: addr, To: "alice@" + domain, Messages: max(b.N, 10), Size: 4096, Concurrency: 10})
	if err != nil || res.Failed > 0 {
		b.Fatalf("%v %v %v", res, err, res.FirstError)
	}
	b.ReportMetric(res.PerSecond, "msgs/s")
	b.ReportMetric(float64(res.P50)/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(res.P99)/float64(time.Millisecond), "p99-ms")
}

// messageIDOf returns the Message-ID of a raw message.
func messageIDOf(raw string) string {
	m, err := smtp.ReadMessage(strings.NewReader(raw), len(raw)+1)
	if err != nil {
		return ""
	}
	return m.MessageID()
}
