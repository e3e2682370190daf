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
	svc := coretest.New(b, coretest.Options{})
	coretest.User(b, svc, "alice", "Alice")
	benchDeliveries(b, svc)
}

// BenchmarkDeliverSieve is BenchmarkDeliver with a ten-rule Sieve script
// active on the recipient's mailbox, none of whose rules files the
// messages elsewhere.
func BenchmarkDeliverSieve(b *testing.B) {
	ctx := context.Background()
	svc := coretest.New(b, coretest.Options{})
	coretest.User(b, svc, "alice", "Alice")
	mb := coretest.Mailbox(b, svc, "alice@"+coretest.Domain).ID
	script := `require ["fileinto", "envelope", "imap4flags", "copy"];
if header :contains "X-Spam-Flag" "yes" { fileinto "Junk"; stop; }
if address :domain :is "From" "spam.example" { discard; stop; }
if header :matches "Subject" "*[urgent]*" { addflag "\\Flagged"; }
if envelope :localpart :is "to" "secretariat" { fileinto :copy "Secretariat"; }
if size :over 5M { fileinto "Large"; }
if anyof (header :contains "List-Id" "staff", exists "List-Post") { fileinto "Lists"; }
if allof (address :is "To" "bob@test.mssante.fr", not exists "Cc") { addflag "$Direct"; }
if header :is :comparator "i;octet" "X-Origin" "MSS" { fileinto "MSS"; }
if address :all :contains ["To", "Cc"] "clinic" { fileinto "Clinic"; }
if header :matches "Subject" "R?sultats*labo" { fileinto "Results"; }
`
	if err := svc.PutSieveScript(ctx, core.System("bench"), mb, "rules", script); err != nil {
		b.Fatal(err)
	}
	if err := svc.ActivateSieveScript(ctx, core.System("bench"), mb, "rules"); err != nil {
		b.Fatal(err)
	}
	benchDeliveries(b, svc)
}

// benchDeliveries delivers 4 KiB messages to alice from 10 concurrent
// senders.
func benchDeliveries(b *testing.B, svc *core.Service) {
	ctx := context.Background()
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
