package crashtest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/server"
)

// TestCrashKeepsAcknowledgedMail kills `caduceus serve` with SIGKILL while
// several clients submit, restarts it, and checks that every message that
// got its 250 is in the recipient's Inbox and the sender's Sent folder, and
// that `caduceus check` finds nothing wrong.
func TestCrashKeepsAcknowledgedMail(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "caduceus")
	build := exec.Command("go", "build", "-o", bin, "caduceus/cmd/caduceus")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freePort(t)
	cfgPath := filepath.Join(dir, "caduceus.toml")
	cfg := fmt.Sprintf("hostname = \"mx.crash.test\"\ndata_dir = %q\n\n[listen]\nsubmission = %q\n\n[delivery]\nrelay = \"127.0.0.1:1\"\n\n[auth]\naccount_password_for_mail = true\n",
		filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	caduceus := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--config", cfgPath)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("caduceus %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	caduceus("", "domain", "add", "crash.test")
	caduceus("secret password 1\n", "user", "add", "alice@crash.test", "--name", "Alice", "--password-stdin")
	caduceus("secret password 2\n", "user", "add", "bob@crash.test", "--name", "Bob", "--password-stdin")

	srv := startServe(t, bin, cfgPath, addr)
	clientTLS := nodeTLS(t, filepath.Join(dir, "data"))

	// Six clients submit until the server dies; each records the
	// Message-IDs it got a 250 for.
	var mu sync.Mutex
	var acked []string
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gosmtp.DialStartTLS(addr, clientTLS)
			if err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			defer c.Close()
			if err := c.Auth(sasl.NewPlainClient("", "bob@crash.test", "secret password 2")); err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			for n := 0; ; n++ {
				id := fmt.Sprintf("crash-%d-%d@client.test", i, n)
				msg := "From: bob@crash.test\r\nTo: alice@crash.test\r\nSubject: crash\r\nMessage-ID: <" + id + ">\r\n\r\n" + strings.Repeat(strings.Repeat("z", 76)+"\r\n", 26)
				if err := c.SendMail("bob@crash.test", []string{"alice@crash.test"}, strings.NewReader(msg)); err != nil {
					select {
					case <-enough: // the server is gone
					default:
						t.Errorf("client %d before the crash: %v", i, err)
					}
					return
				}
				mu.Lock()
				acked = append(acked, id)
				if len(acked) >= 150 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	stopped := make(chan struct{})
	go func() {
		wg.Wait()
		close(stopped)
	}()
	select {
	case <-enough:
	case <-stopped:
		t.Fatal("every client stopped before the crash")
	case <-time.After(60 * time.Second):
		t.Fatal("clients made no progress")
	}
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	<-stopped
	mu.Lock()
	want := append([]string(nil), acked...)
	mu.Unlock()
	t.Logf("%d messages acknowledged before SIGKILL", len(want))

	// The node starts again and serves.
	srv = startServe(t, bin, cfgPath, addr)
	c, err := gosmtp.DialStartTLS(addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "bob@crash.test", "secret password 2")); err != nil {
		t.Fatal(err)
	}
	after := "From: bob@crash.test\r\nTo: alice@crash.test\r\nMessage-ID: <after@client.test>\r\n\r\nhi\r\n"
	if err := c.SendMail("bob@crash.test", []string{"alice@crash.test"}, strings.NewReader(after)); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	c.Quit()
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}

	// Every acknowledged message is in alice's Inbox and bob's Sent folder.
	inbox, sent := storedIDs(t, cfgPath)
	for _, id := range append(want, "after@client.test") {
		if !inbox["<"+id+">"] {
			t.Errorf("%s got a 250 but is not in the Inbox", id)
		}
		if !sent["<"+id+">"] {
			t.Errorf("%s got a 250 but is not in the Sent folder", id)
		}
	}
	if out := caduceus("", "check"); !strings.Contains(out, "store ok") {
		t.Errorf("caduceus check:\n%s", out)
	}
}

// freePort returns a loopback "host:port" nobody listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs `caduceus serve` and waits until addr accepts connections.
func startServe(t *testing.T, bin, cfgPath, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not listen on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nodeTLS trusts the self-signed certificate the node made in its data
// directory, and only it.
func nodeTLS(t *testing.T, dataDir string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dataDir, "selfsigned.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("self-signed certificate unreadable")
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// storedIDs opens the stopped node's store and returns the Message-IDs in
// alice's Inbox and bob's Sent folder.
func storedIDs(t *testing.T, cfgPath string) (inbox, sent map[string]bool) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	node, err := server.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	ids := func(addr, folder string) map[string]bool {
		sys := core.System("test")
		mb, err := node.Core.MailboxByAddress(ctx, sys, addr)
		if err != nil {
			t.Fatal(err)
		}
		var f core.Folder
		if strings.HasPrefix(folder, `\`) {
			f, err = node.Core.FolderByUse(ctx, sys, mb.ID, folder)
		} else {
			f, err = node.Core.FolderByName(ctx, sys, mb.ID, folder)
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := node.Core.Messages(ctx, sys, f.ID, core.MessageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, m := range msgs {
			out[m.MessageID] = true
		}
		return out
	}
	return ids("alice@crash.test", "INBOX"), ids("bob@crash.test", `\Sent`)
}
