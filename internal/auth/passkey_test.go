package auth_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"caduceus/internal/auth"
	"caduceus/internal/auth/passkeytest"
)

func post(body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func TestPasskeys(t *testing.T) {
	ctx := context.Background()
	f, st := newFactors(t)
	alice, bob := addAccount(t, st, "alice@x.test"), addAccount(t, st, "bob@x.test")
	const origin = "https://mail.chu.test"
	pk, err := auth.NewPasskeys(f, "mail.chu.test", origin)
	if err != nil {
		t.Fatal(err)
	}
	dev := passkeytest.New(origin)
	opts, key, err := pk.BeginRegistration(ctx, alice, "alice@x.test", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := dev.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := pk.FinishRegistration(ctx, bob, "bob@x.test", "Bob", key, "", post(resp)); !errors.Is(err, auth.ErrPasskey) {
		t.Fatalf("bob finishes alice's registration: err = %v", err)
	}
	opts, key, _ = pk.BeginRegistration(ctx, alice, "alice@x.test", "Alice")
	resp, _ = dev.Create(opts)
	if err := pk.FinishRegistration(ctx, alice, "alice@x.test", "Alice", key, "Téléphone", post(resp)); err != nil {
		t.Fatal(err)
	}
	if has, _ := pk.Has(ctx, alice); !has {
		t.Fatal("no passkey after registration")
	}

	login := func(acct int64, d *passkeytest.Authenticator) (int64, error) {
		opts, key, err := pk.BeginLogin(ctx, acct)
		if err != nil {
			return 0, err
		}
		resp, err := d.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		return pk.FinishLogin(ctx, key, acct, post(resp))
	}
	if who, err := login(0, dev); err != nil || who != alice {
		t.Fatalf("passkey alone: %d, %v", who, err)
	}
	if who, err := login(alice, dev); err != nil || who != alice {
		t.Fatalf("passkey as second factor: %d, %v", who, err)
	}
	if _, err := login(bob, dev); err == nil {
		t.Fatal("alice's passkey accepted as bob's second factor")
	}
	dev.UserVerified = false
	if _, err := login(0, dev); !errors.Is(err, auth.ErrPasskey) {
		t.Fatalf("passkey alone without user verification: err = %v", err)
	}
	dev.UserVerified = true
	phishing := *dev
	phishing.Origin = "https://mail.chu-test.example"
	if _, err := login(0, &phishing); !errors.Is(err, auth.ErrPasskey) {
		t.Fatalf("assertion made for another origin: err = %v", err)
	}
	opts, key, _ = pk.BeginLogin(ctx, 0)
	resp, _ = dev.Get(opts)
	if _, err := pk.FinishLogin(ctx, key, 0, post(resp)); err != nil {
		t.Fatal(err)
	}
	if _, err := pk.FinishLogin(ctx, key, 0, post(resp)); !errors.Is(err, auth.ErrPasskey) {
		t.Fatalf("replayed assertion: err = %v", err)
	}
	list, _ := pk.List(ctx, alice)
	if len(list) != 1 || list[0].Name != "Téléphone" || list[0].LastUsed.IsZero() {
		t.Fatalf("list = %+v", list)
	}
	if err := pk.Remove(ctx, bob, list[0].ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("bob removes alice's passkey: err = %v", err)
	}
	if err := pk.Remove(ctx, alice, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := login(0, dev); !errors.Is(err, auth.ErrPasskey) {
		t.Fatalf("removed passkey: err = %v", err)
	}
}
