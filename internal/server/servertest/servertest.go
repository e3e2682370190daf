// Package servertest starts a whole Caduceus node for integration tests in one
// call: every listener on a loopback port chosen by the kernel, a fresh data
// directory, a local domain and a few accounts.
package servertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/server"
	"caduceus/internal/store/storetest"
)

// Domain is the local domain of every test node.
const Domain = "test.mssante.fr"

// Password is the password of every test account.
const Password = "correct horse battery"

// Options tunes Start; the zero value starts every listener on SQLite.
type Options struct {
	// Engine is "sqlite" or "postgres"; storetest.DefaultEngine() when empty.
	Engine string
	// Users are local parts of accounts to create in Domain, e.g. "alice".
	Users []string
	// Configure, when set, may change the configuration before the start.
	Configure func(*config.Config)
	// Log, when set, receives the node's logs (default: discarded unless
	// CADUCEUS_TEST_LOG is set).
	Log *slog.Logger
}

// Start runs a node until the test ends and returns it; Addr("smtp"),
// Addr("imaps")… tell where each listener is.
func Start(t testing.TB, o Options) *server.Server {
	t.Helper()
	cfg := config.Defaults()
	cfg.Hostname = "mx." + Domain
	cfg.DataDir = t.TempDir()
	cfg.Listen = config.Listen{
		SMTP: "127.0.0.1:0", Submission: "127.0.0.1:0", Submissions: "127.0.0.1:0",
		IMAP: "127.0.0.1:0", IMAPS: "127.0.0.1:0", HTTPS: "127.0.0.1:0", Metrics: "127.0.0.1:0", LDAP: "127.0.0.1:0", ManageSieve: "127.0.0.1:0",
	}
	cfg.Delivery.Relay = "127.0.0.1:1" // nothing leaves the machine unless a test sets a relay
	// Door tests log in with Password; tests of device-only login turn it off.
	cfg.Auth.AccountPasswordForMail = true
	if o.Engine == "" {
		o.Engine = storetest.DefaultEngine()
	}
	if o.Engine == "postgres" {
		cfg.Database = storetest.PostgresDSN(t)
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	logger := o.Log
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
		if os.Getenv("CADUCEUS_TEST_LOG") != "" {
			logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
	}
	ctx := context.Background()
	srv, err := server.Start(ctx, cfg, logger)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	sys := core.System("test")
	if err := srv.Core.AddDomain(ctx, sys, Domain); err != nil {
		t.Fatal(err)
	}
	for _, u := range o.Users {
		if _, err := srv.Core.AddUser(ctx, sys, core.NewUser{Address: u + "@" + Domain, Name: u, Password: Password, NotifyEmail: u + "@notify.example"}); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// ClientTLS returns a TLS configuration that trusts the node's self-signed
// certificate, and only it.
func ClientTLS(t testing.TB, srv *server.Server) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(srv.Config.DataDir, "selfsigned.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("self-signed certificate unreadable")
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// Actor returns the core actor of a test account, as a door would after login.
func Actor(t testing.TB, srv *server.Server, local string) core.Actor {
	t.Helper()
	a, err := srv.Core.User(context.Background(), local+"@"+Domain)
	if err != nil {
		t.Fatal(err)
	}
	return core.Actor{AccountID: a.ID, Address: a.Address, Door: "test"}
}
