package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"caduceus/internal/loadgen"
)

func cmdBenchIMAP(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "bench imap", "bench imap --addr HOST:PORT --user ADDR --password-stdin [--clients N] [--duration D] [--mix write|read] [--idle N --idle-users A,B --metrics URL]", 0)
	addr := f.String("addr", "127.0.0.1:1143", "IMAP server (STARTTLS port)")
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
	o := loadgen.SMTPOptions{Addr: *addr, From: *from, To: *to, Messages: *messages, Size: *size, Concurrency: *concurrency, ImplicitTLS: *implicit, Username: *user}
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
