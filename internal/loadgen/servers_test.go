package loadgen

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"caduceus/internal/certs/certstest"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	imapd "caduceus/internal/imap"
	"caduceus/internal/smtp"
)

// clientTLS is what the load generators use against the test servers.
var clientTLS = &tls.Config{InsecureSkipVerify: true}

// listen returns a loopback listener that closes when the test ends.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// shutdown stops a server when the test ends, giving it 5 seconds.
func shutdown(t testing.TB, stop func(context.Context) error) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stop(ctx)
	})
}

// startIMAP serves IMAP over svc on loopback, with STARTTLS, and returns
// its address.
func startIMAP(t testing.TB, svc *core.Service, opts imapd.Options) string {
	t.Helper()
	serverTLS, _ := certstest.TLS(t)
	opts.Hostname, opts.TLS = "imap.test", serverTLS
	srv := imapd.NewServer(svc, opts)
	ln := listen(t)
	go srv.Serve(ln)
	shutdown(t, srv.Shutdown)
	return ln.Addr().String()
}

// startSMTP serves SMTP in mode over svc on loopback, with STARTTLS, and
// returns its address.
func startSMTP(t testing.TB, svc *core.Service, mode smtp.Mode) string {
	t.Helper()
	serverTLS, _ := certstest.TLS(t)
	srv := smtp.NewServer(svc, smtp.Options{Mode: mode, TLS: serverTLS})
	ln := listen(t)
	go srv.Serve(ln)
	shutdown(t, srv.Shutdown)
	return ln.Addr().String()
}

// newCore is a core on a temporary store with the accounts locals at
// coretest.Domain.
func newCore(t testing.TB, locals ...string) *core.Service {
	t.Helper()
	svc := coretest.New(t, coretest.Options{})
	for _, l := range locals {
		coretest.User(t, svc, l, l)
	}
	return svc
}
