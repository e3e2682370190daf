package main

import (
	"context"
	"log/slog"
	"testing"

	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/loadgen"
	"caduceus/internal/server"
)

// tenRules is a Sieve script of ten rules of the kinds people write, none
// of which the benchmark's messages meet, so every rule is evaluated.
const tenRules = `require ["fileinto", "envelope", "imap4flags", "copy"];
if header :contains "X-Spam-Flag" "yes" { fileinto "Junk"; stop; }
if address :domain :is "From" "spam.example" { discard; stop; }
if header :matches "Subject" "*[urgent]*" { addflag "\\Flagged"; }
if envelope :localpart :is "to" "secretariat" { fileinto :copy "Secretariat"; }
if size :over 5M { fileinto "Large"; }
if anyof (header :contains "List-Id" "staff", exists "List-Post") { fileinto "Lists"; }
if allof (address :is "To" "bob@chu.mssante.fr", not exists "Cc") { addflag "$Direct"; }
if header :is :comparator "i;octet" "X-Origin" "MSS" { fileinto "MSS"; }
if address :all :contains ["To", "Cc"] "clinic" { fileinto "Clinic"; }
if header :matches "Subject" "R?sultats*labo" { fileinto "Results"; }
`

// BenchmarkSieveSMTP measures what a Sieve script of ten rules costs at
// delivery, as `caduceus bench smtp` sees it (issue 12: under 10 %): two
// `caduceus serve` processes, the recipient of one with the script active,
// loaded in turn, twice each, in one run.
//
//	go test ./cmd/caduceus -run '^$' -bench SieveSMTP -benchtime 2000x
func BenchmarkSieveSMTP(b *testing.B) {
	plain := writeClusterNode(b, "plain", b.TempDir(), "", nil, "127.0.0.1:1")
	filtered := writeClusterNode(b, "sieve", b.TempDir(), "", nil, "127.0.0.1:1")
	for _, n := range []*clusterNode{plain, filtered} {
		for _, args := range [][]string{{"domain", "add", clusterDomain}, {"user", "add", "alice@" + clusterDomain, "--name", "Alice", "--password-stdin"}} {
			if _, errOut, err := runCLI(b, n.config, clusterPassword+"\n", args...); err != nil {
				b.Fatalf("%v: %v %s", args, err, errOut)
			}
		}
	}
	activateScript(b, filtered.config, "alice@"+clusterDomain, tenRules)
	startServe(b, "plain", plain.config)
	startServe(b, "sieve", filtered.config)
	rate := map[string][]float64{}
	b.ResetTimer()
	for range 2 {
		for _, n := range []*clusterNode{plain, filtered} {
			res, err := loadgen.SMTP(context.Background(), loadgen.SMTPOptions{
				Addr: n.smtp, To: "alice@" + clusterDomain, Messages: b.N, Concurrency: 10, Size: 4096,
			})
			if err != nil || res.Failed > 0 {
				b.Fatalf("load %s: %+v, %v", n.name, res, err)
			}
			rate[n.name] = append(rate[n.name], res.PerSecond)
		}
	}
	b.StopTimer()
	mean := func(v []float64) float64 { return (v[0] + v[1]) / 2 }
	b.ReportMetric(mean(rate["plain"]), "plain-msgs/s")
	b.ReportMetric(mean(rate["sieve"]), "sieve-msgs/s")
	b.ReportMetric(100*(1-mean(rate["sieve"])/mean(rate["plain"])), "cost-%")
}

// activateScript stores script as the active Sieve script of addr's
// mailbox, through the node's core, before the node serves.
func activateScript(b *testing.B, cfgPath, addr, script string) {
	b.Helper()
	ctx := context.Background()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	n, err := server.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	sys := core.System("bench")
	mb, err := n.Core.MailboxByAddress(ctx, sys, addr)
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Core.PutSieveScript(ctx, sys, mb.ID, "rules", script); err != nil {
		b.Fatal(err)
	}
	if err := n.Core.ActivateSieveScript(ctx, sys, mb.ID, "rules"); err != nil {
		b.Fatal(err)
	}
}
