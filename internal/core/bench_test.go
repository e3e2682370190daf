package core_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"caduceus/internal/blob/blobtest"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// BenchmarkDeliver measures durable deliveries of 4 KiB messages from 10
// concurrent senders, each fsynced before it returns.
func BenchmarkDeliver(b *testing.B) {
	ctx := context.Background()
	svc := coretest.New(b, coretest.Options{})
	coretest.User(b, svc, "alice", "Alice")
	body := strings.Repeat("Compte rendu de consultation, ligne de texte.\r\n", 4096/48)
	var n atomic.Int64
	b.SetParallelism(5) // 2 cores × 5 = 10 concurrent senders
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			data := []byte(fmt.Sprintf("From: lab@remote.example\r\nTo: alice@test.mssante.fr\r\nSubject: r%d\r\nMessage-ID: <%d@bench>\r\n\r\n%s", i, i, body))
			if err := svc.Deliver(ctx, core.System("bench"), core.Delivery{MailFrom: "lab@remote.example", Recipients: []string{"alice@test.mssante.fr"}, Data: data}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDeliverS3 is BenchmarkDeliver with the blobs in an S3 bucket
// (blobtest.S3: a local versitygw): each batch is uploaded as one object
// before its rows commit.
func BenchmarkDeliverS3(b *testing.B) {
	ctx := context.Background()
	svc := coretest.New(b, coretest.Options{S3: blobtest.S3(b), CacheSize: 512 << 20})
	coretest.User(b, svc, "alice", "Alice")
	body := strings.Repeat("Compte rendu de consultation, ligne de texte.\r\n", 4096/48)
	var n atomic.Int64
	b.SetParallelism(5) // 2 cores × 5 = 10 concurrent senders
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			data := []byte(fmt.Sprintf("From: lab@remote.example\r\nTo: alice@test.mssante.fr\r\nSubject: r%d\r\nMessage-ID: <%d@bench>\r\n\r\n%s", i, i, body))
			if err := svc.Deliver(ctx, core.System("bench"), core.Delivery{MailFrom: "lab@remote.example", Recipients: []string{"alice@test.mssante.fr"}, Data: data}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
