package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"caduceus/internal/imap"
)

func cmdBenchIMAP(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "bench imap", "bench imap --addr HOST:PORT --user ADDR --password-stdin [--clients N] [--duration D]", 0)
	addr := f.String("addr", "127.0.0.1:1143", "IMAP server (STARTTLS port)")
	user := f.String("user", "", "account to log in as (required)")
	clients := f.Int("clients", 10, "concurrent connections")
	duration := f.Duration("duration", 10*time.Second, "how long to run")
	folder := f.String("folder", "INBOX", "folder to work in")
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
	fmt.Fprintf(e.stderr, "loading %s with %d clients for %v…\n", *addr, *clients, *duration)
	res, err := imap.Bench(ctx, imap.BenchOptions{
		Addr: *addr, Username: *user, Password: pw, Clients: *clients, Duration: *duration, Mailbox: *folder,
		TLS: &tls.Config{InsecureSkipVerify: *insecure, MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "operations  %d in %v (%d logins)\nthroughput  %.0f ops/s\nlatency     p50 %v  p99 %v\nerrors      %d\n",
		res.Ops, res.Elapsed.Round(time.Millisecond), res.Logins, res.OpsPerSec, res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), res.Errors)
	if res.Errors > 0 {
		return fmt.Errorf("%d protocol errors", res.Errors)
	}
	return nil
}
