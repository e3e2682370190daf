package loadgen

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/smtp"
)

func TestSMTP(t *testing.T) {
	svc := newCore(t, "alice", "bob")
	mx, sub := startSMTP(t, svc, smtp.MX), startSMTP(t, svc, smtp.Submission)
	domain := coretest.Domain
	tests := []struct {
		name string
		opts SMTPOptions
	}{
		{"MX", SMTPOptions{Addr: mx, To: "alice@" + domain, Messages: 40, Size: 4096, Concurrency: 4}},
		{"submission", SMTPOptions{Addr: sub, From: "bob@" + domain, To: "alice@" + domain, Messages: 10, Size: 1024,
			Concurrency: 2, TLS: clientTLS, Username: "bob@" + domain, Password: coretest.Password}},
	}
	total := 0
	for _, tt := range tests {
		res, err := SMTP(context.Background(), tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != tt.opts.Messages || res.Failed != 0 {
			t.Fatalf("%s: %+v (first error %v)", tt.name, res, res.FirstError)
		}
		l := res.Latency
		if l.Count != res.Sent || l.P50 <= 0 || l.P99 < l.P50 || l.Max < l.P99 || res.PerSecond <= 0 {
			t.Errorf("%s: figures do not add up: %+v", tt.name, res)
		}
		var out strings.Builder
		if err := res.Report(&out); err != nil || !strings.HasPrefix(out.String(), fmt.Sprintf("%d sent, 0 failed in ", res.Sent)) {
			t.Errorf("%s: report %q, %v", tt.name, out.String(), err)
		}
		total += res.Sent
	}
	// Every message that got its 250 is in the Inbox, each one once.
	if ids := messageIDs(t, svc, "alice@"+domain); len(ids) != total {
		t.Errorf("inbox holds %d distinct Message-IDs, want %d", len(ids), total)
	}
}

func TestSMTPCountsFailures(t *testing.T) {
	mx := startSMTP(t, newCore(t), smtp.MX)
	res, err := SMTP(context.Background(), SMTPOptions{Addr: mx, To: "nobody@" + coretest.Domain, Messages: 5, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 0 || res.Failed != 5 || res.FirstError == nil {
		t.Fatalf("result = %+v, want 5 failures", res)
	}
}

// BenchmarkMX measures durable deliveries through the MX over 10 sessions:
// go test -run X -bench MX ./internal/loadgen/
func BenchmarkMX(b *testing.B) {
	mx := startSMTP(b, newCore(b, "alice"), smtp.MX)
	b.ResetTimer()
	res, err := SMTP(context.Background(), SMTPOptions{Addr: mx, To: "alice@" + coretest.Domain, Messages: max(b.N, 10), Size: 4096, Concurrency: 10})
	if err != nil || res.Failed > 0 {
		b.Fatalf("%+v %v %v", res, err, res.FirstError)
	}
	b.ReportMetric(res.PerSecond, "msgs/s")
	b.ReportMetric(float64(res.Latency.P50)/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(res.Latency.P99)/float64(time.Millisecond), "p99-ms")
}

// messageIDs returns the distinct Message-IDs of the messages in addr's
// Inbox.
func messageIDs(t *testing.T, svc *core.Service, addr string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	sys := core.System("test")
	f := coretest.Folder(t, svc, addr, "INBOX")
	msgs, err := svc.Messages(ctx, sys, f.ID, core.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range msgs {
		raw, err := svc.ReadMessage(ctx, sys, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if msg, err := smtp.ReadMessage(strings.NewReader(string(raw)), len(raw)+1); err == nil {
			ids[msg.MessageID()] = true
		}
	}
	return ids
}
