package auth_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"caduceus/internal/auth"
)

func TestTOTP(t *testing.T) {
	ctx := context.Background()
	f, st := newFactors(t)
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	f.Now = func() time.Time { return now }
	acct := addAccount(t, st, "alice@x.test")
	en, err := f.BeginTOTP(ctx, acct, "Caduceus", "alice@x.test")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(en.URI)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") != en.Secret || u.Query().Get("issuer") != "Caduceus" {
		t.Fatalf("URI %q", en.URI)
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(en.Secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if on, _ := f.HasTOTP(ctx, acct); on {
		t.Fatal("TOTP on before the first code")
	}
	if err := f.CheckTOTP(ctx, acct, code(now)); !errors.Is(err, auth.ErrTOTPWrong) {
		t.Fatalf("unconfirmed secret used for login: err = %v", err)
	}
	if err := f.ConfirmTOTP(ctx, acct, code(now)); err != nil {
		t.Fatal(err)
	}
	if on, _ := f.HasTOTP(ctx, acct); !on {
		t.Fatal("TOTP off after confirmation")
	}
	if err := f.CheckTOTP(ctx, acct, code(now)); !errors.Is(err, auth.ErrTOTPWrong) {
		t.Fatalf("replayed code: err = %v", err)
	}
	now = now.Add(30 * time.Second)
	if err := f.CheckTOTP(ctx, acct, code(now.Add(-30*time.Second))); !errors.Is(err, auth.ErrTOTPWrong) {
		t.Fatalf("code of the step already used: err = %v", err)
	}
	if err := f.CheckTOTP(ctx, acct, code(now.Add(25*time.Second))); err != nil {
		t.Fatalf("next step's code (clock drift): %v", err)
	}
	now = now.Add(5 * time.Minute)
	if err := f.CheckTOTP(ctx, acct, code(now.Add(-2*time.Minute))); !errors.Is(err, auth.ErrTOTPWrong) {
		t.Fatalf("old code: err = %v", err)
	}
	if err := f.CheckTOTP(ctx, acct, "12345"); !errors.Is(err, auth.ErrTOTPWrong) {
		t.Fatalf("short code: err = %v", err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	f, st := newFactors(t)
	acct, other := addAccount(t, st, "alice@x.test"), addAccount(t, st, "bob@x.test")
	codes, err := f.NewRecoveryCodes(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 11 || seen[c] {
			t.Fatalf("codes %q", codes)
		}
		seen[c] = true
	}
	if len(codes) != 10 {
		t.Fatalf("%d codes, want 10", len(codes))
	}
	if err := f.UseRecoveryCode(ctx, other, codes[0]); !errors.Is(err, auth.ErrTOTPWrong) {
		t.Fatalf("another account's code: err = %v", err)
	}
	if err := f.UseRecoveryCode(ctx, acct, " "+codes[0][:5]+codes[0][6:]+" "); err != nil {
		t.Fatalf("code typed without its dash: %v", err)
	}
	if err := f.UseRecoveryCode(ctx, acct, codes[0]); !errors.Is(err, auth.ErrTOTPWrong) {
		t.Fatalf("used code: err = %v", err)
	}
	if n, _ := f.RecoveryCodesLeft(ctx, acct); n != 9 {
		t.Fatalf("%d left, want 9", n)
	}
	fresh, err := f.NewRecoveryCodes(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.UseRecoveryCode(ctx, acct, codes[1]); !errors.Is(err, auth.ErrTOTPWrong) {
		t.Fatalf("code of the replaced set: err = %v", err)
	}
	if err := f.UseRecoveryCode(ctx, acct, fresh[9]); err != nil {
		t.Fatal(err)
	}
}
