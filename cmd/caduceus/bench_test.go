package main

import (
	"regexp"
	"strings"
	"testing"

	"caduceus/internal/server/servertest"
)

// caduceus bench smtp and bench imap load a running node and print their
// figures in the form docs/performance.md quotes.
func TestBenchCommands(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Users: []string{"alice"}})
	alice := "alice@" + servertest.Domain
	cfg := t.TempDir() + "/none.toml" // bench reads no configuration

	out, errOut, err := runCLI(t, cfg, "", "bench", "smtp", "--addr", srv.Addr("smtp"), "--to", alice, "--messages", "20", "--concurrency", "2")
	if err != nil {
		t.Fatalf("bench smtp: %v\n%s", err, errOut)
	}
	if !regexp.MustCompile(`^20 sent, 0 failed in [0-9.]+m?s: [0-9]+ messages/s, latency p50 \S+ p99 \S+ max \S+\n$`).MatchString(out) {
		t.Errorf("bench smtp printed %q", out)
	}

	// A first session has the core remember the password: the measured
	// logins then cost what a reconnection costs, not an argon2id hash.
	if _, errOut, err := runCLI(t, cfg, servertest.Password+"\n", "bench", "imap", "--addr", srv.Addr("imap"), "--user", alice,
		"--password-stdin", "--clients", "1", "--duration", "1ms", "--rounds", "1"); err != nil {
		t.Fatalf("bench imap: %v\n%s", err, errOut)
	}
	out, errOut, err = runCLI(t, cfg, servertest.Password+"\n", "bench", "imap", "--addr", srv.Addr("imap"), "--user", alice,
		"--password-stdin", "--clients", "2", "--duration", "1s", "--rounds", "3")
	if err != nil {
		t.Fatalf("bench imap: %v\n%s", err, errOut)
	}
	lines := strings.Split(out, "\n")
	want := []string{`^operations  [0-9]+ in \S+ \([0-9]+ sessions, [0-9]+ durable writes\)$`, `^throughput  [0-9]+ ops/s$`,
		`^latency     p50 \S+  p99 \S+$`, `^errors      0$`, `^  append +[0-9]+  p50 \S+  p99 \S+$`}
	for i, re := range want {
		if i >= len(lines) || !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("bench imap line %d does not match %s:\n%s", i+1, re, out)
		}
	}
}
