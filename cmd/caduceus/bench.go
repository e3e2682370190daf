package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"caduceus/internal/imap"
	"caduceus/internal/smtp"
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

func cmdBenchSMTP(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "bench smtp", "bench smtp --addr HOST:PORT --to ADDR [--messages N] [--size BYTES] [--concurrency C] [--starttls|--tls] [--user ADDR --password-stdin]", 0)
	addr := f.String("addr", "127.0.0.1:2525", "SMTP server")
	to := f.String("to", "", "recipient of every message (required)")
	from := f.String("from", "bench@localhost", "envelope sender")
	messages := f.Int("messages", 1000, "messages to send")
	size := f.Int("size", 4096, "size of each message in bytes")
	concurrency := f.Int("concurrency", 10, "concurrent sessions")
	starttls := f.Bool("starttls", false, "upgrade with STARTTLS")
	implicit := f.Bool("tls", false, "speak TLS from the first byte (port 465)")
	insecure := f.Bool("insecure", true, "accept the server's certificate without checking it (self-signed dev and test servers)")
	user := f.String("user", "", "log in with AUTH PLAIN as this account (submission)")
	pwStdin := f.Bool("password-stdin", false, "read the password for --user from stdin")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if *to == "" {
		f.Usage()
		return fmt.Errorf("--to is required")
	}
	o := smtp.BenchOptions{Addr: *addr, From: *from, To: *to, Messages: *messages, Size: *size, Concurrency: *concurrency, ImplicitTLS: *implicit, Username: *user}
	if *starttls || *implicit || *user != "" {
		o.TLS = &tls.Config{InsecureSkipVerify: *insecure, MinVersion: tls.VersionTLS12}
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
	fmt.Fprintf(e.stderr, "sending %d messages of %d bytes to %s over %d sessions…\n", *messages, *size, *addr, *concurrency)
	res, err := smtp.Bench(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, res.String())
	if res.Failed > 0 {
		return fmt.Errorf("%d messages failed; first: %v", res.Failed, res.FirstError)
	}
	return nil
}
