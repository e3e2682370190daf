package imap

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"caduceus/internal/core/coretest"
)

// TestBenchRuns checks that the load command runs against a live server
// without protocol errors; figures come from the CLI, not from tests.
func TestBenchRuns(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "bench", "Bench")
	res, err := Bench(context.Background(), BenchOptions{
		Addr: ts.addr, Username: "bench@" + coretest.Domain, Password: coretest.Password,
		TLS: &tls.Config{InsecureSkipVerify: true}, Clients: 3, Duration: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Errors != 0 || res.Logins != 3 {
		t.Errorf("bench = %+v, want operations and no errors", res)
	}
}
