package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// caduceus dev seeds the demo organisation, prints where everything is and
// the demo users, and stops cleanly.
func TestDev(t *testing.T) {
	dir := t.TempDir()
	cfg := strings.NewReplacer(":2525", ":0", ":5587", ":0", ":5465", ":0", ":1143", ":0", ":1993", ":0", ":8443", ":0", ":9090", ":0", ":3389", ":0", ":4190", ":0").Replace(devConfig)
	if err := os.WriteFile(filepath.Join(dir, "caduceus.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dev", "--dir", dir}, nil, &out, &errOut) }()
	// Seeding the demo (users, messages, 5,000 directory entries) takes
	// seconds; under -race on a loaded 2-core machine, up to a minute.
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Administer this node") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("dev did not print its summary:\n%s\n%s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"https://localhost:", "account_password_for_mail = true", "IMAP (TLS)", "claire.martin@chu-demo.mssante.fr", devPassword, "cardiologie@", "caduceus dev outbox --dir " + dir} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dev output lacks %q:\n%s", want, out.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dev stopped with %v", err)
	}
	cfgPath := filepath.Join(dir, "caduceus.toml")
	stats, _, err := runCLI(t, cfgPath, "", "mailbox", "stats", "cardiologie@chu-demo.mssante.fr", "--json")
	if err != nil || !strings.Contains(stats, `"folder":"INBOX","messages":1`) {
		t.Fatalf("demo org mailbox: %v %s", err, stats)
	}
	if out, _, err := runCLI(t, cfgPath, "", "check"); err != nil || !strings.Contains(out, "store ok") {
		t.Fatalf("check after dev: %v %s", err, out)
	}
}
