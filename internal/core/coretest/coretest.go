// Package coretest starts a core over a throwaway store for tests, with a local
// domain and a few accounts, in one call.
package coretest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"caduceus/internal/blob"
	"caduceus/internal/blob/blobtest"
	"caduceus/internal/core"
	"caduceus/internal/store"
	"caduceus/internal/store/storetest"
)

// Domain is the local domain of every test core.
const Domain = "test.mssante.fr"

// Password is the password of every test account.
const Password = "correct horse battery"

// Options tunes New; the zero value is fine.
type Options struct {
	Engine       string // "sqlite" or "postgres"; storetest.DefaultEngine() when empty
	MessageLimit int64
	DefaultQuota int64
	// NIL is the X-MSS-NIL value of every message sent.
	NIL string
	// Now, when set, is the core's clock.
	Now func() time.Time
	// DevicesOnly refuses the bare account password on the mail doors, as
	// production does by default; the zero value accepts it, so that door
	// tests can log in with Password.
	DevicesOnly bool
	// LoginPolicy, when set, replaces core.DefaultLoginPolicy.
	LoginPolicy core.LoginPolicy
	// Bearer, when set, checks Pro Santé Connect tokens (OAUTHBEARER).
	Bearer core.BearerVerifier
	// S3, when set, is the bucket the core keeps its blobs in (with a read
	// cache of CacheSize bytes), instead of segment files in a temporary
	// folder.
	S3        *blobtest.Server
	CacheSize int64
	// SupportAddress is the core's support address ([support] address).
	SupportAddress string
}

// New returns a running core on a fresh store; it is closed when the test ends.
func New(t testing.TB, o Options) *core.Service {
	t.Helper()
	svc, _ := NewWithStore(t, o)
	return svc
}

// NewWithStore is New, and also returns the store under the core, for the
// packages a node hands it to at start (auth's session store, the
// directory): wiring, as internal/server does, never a way around the core.
func NewWithStore(t testing.TB, o Options) (*core.Service, *store.Store) {
	t.Helper()
	if o.Engine == "" {
		o.Engine = storetest.DefaultEngine()
	}
	st := storetest.Open(t, o.Engine)
	key := make([]byte, blob.KeySize)
	rand.Read(key)
	var blobs *blob.Store
	var err error
	if o.S3 != nil {
		blobs, err = blob.OpenS3(context.Background(), blob.S3Options{URL: o.S3.URL, CredentialsFile: o.S3.CredentialsFile, Dir: t.TempDir(), CacheSize: o.CacheSize}, key)
	} else {
		blobs, err = blob.Open(t.TempDir(), key)
	}
	if err != nil {
		t.Fatal(err)
	}
	dkimSecret := make([]byte, 32)
	rand.Read(dkimSecret)
	pushSecret := make([]byte, 32)
	rand.Read(pushSecret)
	svc, err := core.New(context.Background(), core.Options{
		Store: st, Blobs: blobs, Hostname: "mx.test.mssante.fr", DKIMSecret: dkimSecret, PushSecret: pushSecret, NIL: o.NIL,
		MessageSizeLimit: o.MessageLimit, DefaultQuota: o.DefaultQuota,
		Logger: slog.New(slog.DiscardHandler), Now: o.Now,
		AccountPasswordForMail: !o.DevicesOnly, LoginPolicy: o.LoginPolicy, Bearer: o.Bearer,
		SupportAddress: o.SupportAddress,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Close()
		blobs.Close()
	})
	if err := svc.AddDomain(context.Background(), core.System("test"), Domain); err != nil {
		t.Fatal(err)
	}
	return svc, st
}

// User creates an account local@Domain and returns its actor, logged in
// through door "test".
func User(t testing.TB, svc *core.Service, local, name string) core.Actor {
	t.Helper()
	ctx := context.Background()
	addr := local + "@" + Domain
	if _, err := svc.AddUser(ctx, core.System("test"), core.NewUser{Address: addr, Name: name, Password: Password}); err != nil {
		t.Fatal(err)
	}
	a, err := svc.User(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	return core.Actor{AccountID: a.ID, Address: a.Address, Door: "test"}
}

// Mailbox returns the mailbox at addr as the system sees it.
func Mailbox(t testing.TB, svc *core.Service, addr string) core.Access {
	t.Helper()
	a, err := svc.MailboxByAddress(context.Background(), core.System("test"), addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Folder returns a mailbox's folder by name, as the system sees it.
func Folder(t testing.TB, svc *core.Service, addr, name string) core.Folder {
	t.Helper()
	f, err := svc.FolderByName(context.Background(), core.System("test"), Mailbox(t, svc, addr).ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
