package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"caduceus/internal/loadgen"
	"caduceus/internal/trust"
)

func cmdBenchIMAP(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "bench imap", "bench imap --addr HOST:PORT --user ADDR --password-stdin [--clients N] [--duration D] [--mix write|read] [--idle N --idle-users A,B --metrics URL]", 0)
	addr := f.String("addr", "127.0.0.1:1143", "IMAP server (STARTTLS port), or several separated by commas (the nodes of a cluster: connections are spread over them)")
	user := f.String("user", "", "account to log in as (required)")
	clients := f.Int("clients", 10, "concurrent connections")
	duration := f.Duration("duration", 10*time.Second, "how long to run")
	folder := f.String("folder", "INBOX", "folder to work in")
	mix := f.String("mix", "write", "what each round does: write (append a message, fetch it, flag it, expunge it) or read (fetch the newest, read one, mark it; append and expunge now and then)")
	rounds := f.Int("rounds", 20, "rounds per session, between LOGIN and LOGOUT")
	idle := f.Int("idle", 0, "after the load, open this many connections left in IDLE and measure the server's memory")
	idleUsers := f.String("idle-users", "", "comma-separated accounts for the idle connections (default --user; all share the password)")
	metrics := f.String("metrics", "http://127.0.0.1:9090/metrics", "the server's metrics URL, to read its memory around --idle")
	insecure := f.Bool("insecure", true, "accept the server's certificate without checking it (self-signed dev and test servers)")
	f.Bool("password-stdin", true, "read the password from the first line of stdin (always on)")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if *user == "" {
		f.Usage()
		return fmt.Errorf("--user is required")
	}
	pw, err := readSecret(e.stdin)
	if err != nil {
		return err
	}
	o := loadgen.IMAPOptions{
		Addr: *addr, Username: *user, Password: pw, Clients: *clients, Duration: *duration, Mailbox: *folder,
		Mix: loadgen.Mix(*mix), Rounds: *rounds,
		TLS: &tls.Config{InsecureSkipVerify: *insecure, MinVersion: tls.VersionTLS12},
	}
	if *idle > 0 {
		o.IdleConns = *idle
		if *idleUsers != "" {
			o.IdleUsers = strings.Split(*idleUsers, ",")
		}
		o.Memory = loadgen.MetricsMemory(*metrics)
	}
	fmt.Fprintf(e.stderr, "loading %s with %d clients for %v (%s mix)…\n", *addr, *clients, *duration, *mix)
	res, err := loadgen.IMAP(ctx, o)
	if err != nil {
		return err
	}
	if err := res.Report(e.stdout); err != nil {
		return err
	}
	for _, sample := range res.ErrorSamples {
		fmt.Fprintf(e.stderr, "error: %s\n", sample)
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d protocol errors", res.Errors)
	}
	return nil
}

func cmdBenchSMTP(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "bench smtp", "bench smtp --addr HOST:PORT --to ADDR [--messages N] [--size BYTES] [--concurrency C] [--starttls|--tls] [--user ADDR --password-stdin] [--cert F --key F [--ca F] [--baseline HOST:PORT]]", 0)
	addr := f.String("addr", "127.0.0.1:2525", "SMTP server, or several separated by commas (the nodes of a cluster: sessions are spread over them)")
	to := f.String("to", "", "recipient of every message (required)")
	from := f.String("from", "bench@localhost", "envelope sender")
	messages := f.Int("messages", 1000, "messages to send")
	size := f.Int("size", 4096, "size of each message in bytes")
	concurrency := f.Int("concurrency", 10, "concurrent sessions")
	starttls := f.Bool("starttls", false, "upgrade with STARTTLS")
	implicit := f.Bool("tls", false, "speak TLS from the first byte (port 465)")
	insecure := f.Bool("insecure", true, "accept the server's certificate without checking it (self-signed dev and test servers)")
	certFile := f.String("cert", "", "present this client certificate (PEM, with --key): mutual TLS, as an operator of the trust space")
	keyFile := f.String("key", "", "the key of --cert")
	caFile := f.String("ca", "", "verify the server's certificate against this bundle (PEM or .p7b) instead of --insecure")
	serverName := f.String("server-name", "", "with --ca, the name the server's certificate must hold (default: the host of --addr)")
	perConn := f.Int("per-connection", 0, "messages per connection before reconnecting (a new handshake); 0: one connection per session")
	baseline := f.String("baseline", "", "also load this server (trust mode off) the same way without a client certificate, alternating, and print both side by side")
	rounds := f.Int("rounds", 2, "with --baseline, runs per side, alternating")
	user := f.String("user", "", "log in with AUTH PLAIN as this account (submission)")
	pwStdin := f.Bool("password-stdin", false, "read the password for --user from stdin")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if *to == "" {
		f.Usage()
		return fmt.Errorf("--to is required")
	}
	o := loadgen.SMTPOptions{Addr: *addr, From: *from, To: *to, Messages: *messages, Size: *size, Concurrency: *concurrency,
		ImplicitTLS: *implicit, Username: *user, PerConnection: *perConn}
	if *starttls || *implicit || *user != "" || *certFile != "" || *baseline != "" {
		o.TLS = &tls.Config{InsecureSkipVerify: *insecure, MinVersion: tls.VersionTLS12}
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		cas, err := trust.ParseBundle(pem)
		if err != nil {
			return fmt.Errorf("--ca %s: %w", *caFile, err)
		}
		pool := x509.NewCertPool()
		for _, c := range cas {
			pool.AddCert(c)
		}
		o.TLS.RootCAs, o.TLS.InsecureSkipVerify = pool, false
		o.TLS.ServerName = *serverName
	}
	plain := o
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("--cert: %w", err)
		}
		o.TLS = o.TLS.Clone()
		o.TLS.Certificates = []tls.Certificate{cert}
	}
	if *user != "" {
		if !*pwStdin {
			return fmt.Errorf("--user needs --password-stdin")
		}
		pw, err := readSecret(e.stdin)
		if err != nil {
			return err
		}
		o.Password = pw
	}
	if *baseline != "" {
		plain.Addr = *baseline
		return benchSideBySide(ctx, e, plain, o, *rounds)
	}
	fmt.Fprintf(e.stderr, "sending %d messages of %d bytes to %s over %d sessions…\n", *messages, *size, *addr, *concurrency)
	res, err := loadgen.SMTP(ctx, o)
	if err != nil {
		return err
	}
	if err := res.Report(e.stdout); err != nil {
		return err
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d messages failed; first: %v", res.Failed, res.FirstError)
	}
	return nil
}

// benchSideBySide loads a node without trust mode (plain.Addr) and one in
// trust mode (trusted.Addr, mutual TLS) the same way, alternating, and
// prints each run, then both means and what trust mode costs.
func benchSideBySide(ctx context.Context, e env, plain, trusted loadgen.SMTPOptions, rounds int) error {
	rounds = max(rounds, 1)
	var sum [2]float64
	var p50, p99 [2]time.Duration
	sides := []struct {
		label string
		o     loadgen.SMTPOptions
	}{{"without trust mode", plain}, {"trust mode, mutual TLS", trusted}}
	fmt.Fprintf(e.stderr, "sending %d messages of %d bytes over %d sessions to %s (no trust mode) and %s (trust mode), %d rounds each…\n",
		plain.Messages, plain.Size, plain.Concurrency, plain.Addr, trusted.Addr, rounds)
	for r := range rounds {
		for i, side := range sides {
			res, err := loadgen.SMTP(ctx, side.o)
			if err != nil {
				return err
			}
			if res.Failed > 0 {
				return fmt.Errorf("%s: %d messages failed; first: %v", side.label, res.Failed, res.FirstError)
			}
			fmt.Fprintf(e.stdout, "round %d, %-24s ", r+1, side.label+":")
			if err := res.Report(e.stdout); err != nil {
				return err
			}
			sum[i] += res.PerSecond
			p50[i] += res.Latency.P50 / time.Duration(rounds)
			p99[i] += res.Latency.P99 / time.Duration(rounds)
		}
	}
	n := float64(rounds)
	fmt.Fprintf(e.stdout, "\n%-24s %12s %12s %12s\n", "", "messages/s", "p50", "p99")
	for i, side := range sides {
		fmt.Fprintf(e.stdout, "%-24s %12.0f %12v %12v\n", side.label, sum[i]/n, p50[i].Round(10*time.Microsecond), p99[i].Round(10*time.Microsecond))
	}
	if sum[0] > 0 {
		fmt.Fprintf(e.stdout, "trust mode costs %.1f %% of throughput\n", 100*(1-sum[1]/sum[0]))
	}
	return nil
}
