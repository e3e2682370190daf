package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"caduceus/internal/certs/certstest"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	imapd "caduceus/internal/imap"
)

// Measurements run the server in a process of its own, so that the
// clients' work and memory do not count as the server's: the test binary
// starts itself again with serverSpecEnv set, and TestServerProcess, in
// that child, serves until its standard input closes, writing a CPU
// profile to CADUCEUS_IMAP_SERVER_CPUPROFILE when it is set. Its metrics
// endpoint collects garbage before it answers, so that memory figures
// are what is live.

const serverSpecEnv = "CADUCEUS_IMAP_SERVER_SPEC"

// serverSpec is what the child serves.
type serverSpec struct {
	Users        int // accounts u0…u(n-1) at coretest.Domain
	Fill         int // messages delivered to u0's INBOX before serving
	MaxConnsIP   int
	MaxConnsUser int
}

// serverReady is the line the child prints once it serves.
type serverReady struct {
	IMAP    string `json:"imap"`
	Metrics string `json:"metrics"`
	Filled  string `json:"filled"` // how long the fill took
}

const readyPrefix = "imap-server-ready "

// benchUser is the address of account i of a served spec.
func benchUser(i int) string { return fmt.Sprintf("u%d@%s", i, coretest.Domain) }

// startServerProcess runs a server as spec says in a child process and
// returns what it serves; the child stops when the test ends.
func startServerProcess(t *testing.T, spec serverSpec) serverReady {
	t.Helper()
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerProcess$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), serverSpecEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), readyPrefix)
		if !ok {
			continue
		}
		var r serverReady
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, stdout)
		return r
	}
	t.Fatalf("server process ended before serving: %v", sc.Err())
	return serverReady{}
}

// TestServerProcess is the child's side of startServerProcess; it does
// nothing in a normal test run.
func TestServerProcess(t *testing.T) {
	js := os.Getenv(serverSpecEnv)
	if js == "" {
		t.Skip("runs only as the child of startServerProcess")
	}
	var spec serverSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("CADUCEUS_IMAP_SERVER_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	svc := coretest.New(t, coretest.Options{})
	addUsers(t, svc, spec.Users)
	start := time.Now()
	if spec.Fill > 0 {
		fill(t, svc, benchUser(0), spec.Fill)
	}
	filled := time.Since(start)
	serverTLS, _ := certstest.TLS(t)
	srv := imapd.NewServer(svc, imapd.Options{Hostname: "imap.test", TLS: serverTLS,
		MaxConnsPerIP: spec.MaxConnsIP, MaxConnsPerAccount: spec.MaxConnsUser,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	go http.Serve(mln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Collect garbage first, so that the figures are what is live.
		debug.FreeOSMemory()
		metrics.ServeHTTP(w, r)
	}))
	ready, _ := json.Marshal(serverReady{IMAP: ln.Addr().String(), Metrics: "http://" + mln.Addr().String() + "/metrics", Filled: filled.String()})
	fmt.Println(readyPrefix + string(ready))
	io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	mln.Close()
}

// addUsers creates accounts u0…u(n-1), hashing their passwords on
// every core at once.
func addUsers(t testing.TB, svc *core.Service, n int) {
	t.Helper()
	sem := make(chan struct{}, runtime.NumCPU())
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			u := core.NewUser{Address: benchUser(i), Name: fmt.Sprintf("User %d", i), Password: coretest.Password}
			if _, err := svc.AddUser(context.Background(), core.System("test"), u); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		t.Fatalf("add users: %v", err)
	}
}

// fill delivers n messages to addr through the core, from parallel
// senders so that the core commits them in batches.
func fill(t testing.TB, svc *core.Service, addr string, n int) {
	t.Helper()
	const senders = 32
	var wg sync.WaitGroup
	errc := make(chan error, senders)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < n; i += senders {
				d := core.Delivery{MailFrom: "sender@example.org", Recipients: []string{addr}, Data: fillMessage(i)}
				if err := svc.Deliver(context.Background(), core.System("test"), d); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		t.Fatalf("fill: %v", err)
	}
}

// fillMessage is the i-th message of a filled folder: a header a client
// lists and a short body.
func fillMessage(i int) []byte {
	return fmt.Appendf(nil, "From: Dr Sender %d <sender%d@example.org>\r\nTo: u0@%s\r\n"+
		"Subject: Compte rendu %d\r\nDate: Mon, 4 Mar 2024 10:%02d:00 +0100\r\nMessage-ID: <fill-%d@example.org>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Compte rendu de consultation numéro %d.\r\n", i%100, i%100, coretest.Domain, i, i%60, i, i)
}

// processMemory reads this process's memory, after a collection, for
// measurements made in the test process itself.
func processMemory(context.Context) (MemoryUse, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return MemoryUse{}, err
	}
	var size, resident uint64
	if _, err := fmt.Sscan(string(statm), &size, &resident); err != nil {
		return MemoryUse{}, fmt.Errorf("statm: %w", err)
	}
	return MemoryUse{Heap: ms.HeapInuse, RSS: resident * uint64(os.Getpagesize())}, nil
}
