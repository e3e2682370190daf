package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"caduceus/internal/store"
)

// TOTP codes follow RFC 6238 with its defaults: SHA-1, 6 digits, 30-second
// steps, which every authenticator app reads from an otpauth:// URI.
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// ErrTOTPWrong reports a wrong, replayed or missing TOTP or recovery code.
var ErrTOTPWrong = errors.New("auth: wrong authenticator code")

// TOTPEnrolment is a secret drawn for an account and not yet confirmed.
type TOTPEnrolment struct {
	Secret string // base32, for typing into an app by hand
	URI    string // otpauth://totp/… for the QR code
}

// BeginTOTP draws a new TOTP secret for the account and keeps it,
// unconfirmed, in place of any earlier one still unconfirmed. issuer and
// account label the entry in the authenticator app.
func (f *Factors) BeginTOTP(ctx context.Context, accountID int64, issuer, account string) (TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("auth: draw TOTP secret: %w", err)
	}
	sealed, err := f.seal([]byte(key.Secret()))
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("auth: seal TOTP secret: %w", err)
	}
	err = f.st.Tx(ctx, func(tx *store.Tx) error {
		var confirmed int
		err := tx.QueryRow(ctx, `SELECT confirmed FROM auth_totp WHERE account_id = ?`, accountID).Scan(&confirmed)
		if err == nil && confirmed != 0 {
			return errors.New("auth: an authenticator app is already enrolled")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth_totp WHERE account_id = ?`, accountID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO auth_totp (account_id, sealed, created) VALUES (?, ?, ?)`, accountID, sealed, f.now().UnixMilli())
		return err
	})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("auth: begin TOTP: %w", err)
	}
	return TOTPEnrolment{Secret: key.Secret(), URI: key.URL()}, nil
}

// ConfirmTOTP checks a first code from the app against the unconfirmed
// secret and, when it is right, turns TOTP on for the account.
func (f *Factors) ConfirmTOTP(ctx context.Context, accountID int64, code string) error {
	return f.checkTOTP(ctx, accountID, code, false)
}

// CheckTOTP verifies a code of the account's confirmed app. A code is
// accepted once: the step it belongs to is remembered, so a code seen by
// someone looking over a shoulder is worth nothing afterwards (RFC 6238 §5.2).
func (f *Factors) CheckTOTP(ctx context.Context, accountID int64, code string) error {
	return f.checkTOTP(ctx, accountID, code, true)
}

func (f *Factors) checkTOTP(ctx context.Context, accountID int64, code string, confirmed bool) error {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	return f.st.Tx(ctx, func(tx *store.Tx) error {
		var sealed string
		var isConfirmed int
		var last int64
		err := tx.QueryRow(ctx, `SELECT sealed, confirmed, last_step FROM auth_totp WHERE account_id = ?`, accountID).Scan(&sealed, &isConfirmed, &last)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (isConfirmed != 0) != confirmed) {
			return ErrTOTPWrong
		}
		if err != nil {
			return fmt.Errorf("auth: read TOTP: %w", err)
		}
		secret, err := f.open(sealed)
		if err != nil {
			return fmt.Errorf("auth: open TOTP secret: %w", err)
		}
		step, ok := matchStep(string(secret), code, f.now())
		if !ok || step <= last {
			return ErrTOTPWrong
		}
		_, err = tx.Exec(ctx, `UPDATE auth_totp SET last_step = ?, confirmed = 1 WHERE account_id = ?`, step, accountID)
		return err
	})
}

// matchStep returns the 30-second step, one either side of now (RFC 6238 §5.2
// allows for clock drift), whose code is code.
func matchStep(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / 30
	var found int64
	ok := false
	for step := cur - 1; step <= cur+1; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, true
		}
	}
	return found, ok
}

// HasTOTP reports whether the account has a confirmed authenticator app.
func (f *Factors) HasTOTP(ctx context.Context, accountID int64) (bool, error) {
	var confirmed int
	err := f.st.QueryRow(ctx, `SELECT confirmed FROM auth_totp WHERE account_id = ?`, accountID).Scan(&confirmed)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("auth: read TOTP: %w", err)
	}
	return confirmed != 0, nil
}

// RemoveTOTP turns the account's authenticator app off.
func (f *Factors) RemoveTOTP(ctx context.Context, accountID int64) error {
	if _, err := f.st.Exec(ctx, `DELETE FROM auth_totp WHERE account_id = ?`, accountID); err != nil {
		return fmt.Errorf("auth: remove TOTP: %w", err)
	}
	return nil
}

// recoveryAlphabet leaves out letters and digits that read alike (0/O, 1/l/I).
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// NewRecoveryCodes replaces the account's recovery codes with ten new ones
// and returns them in clear, to be shown once. Only keyed hashes are kept.
func (f *Factors) NewRecoveryCodes(ctx context.Context, accountID int64) ([]string, error) {
	codes := make([]string, 10)
	for i := range codes {
		raw := make([]byte, 10)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("auth: draw recovery code: %w", err)
		}
		var b strings.Builder
		for j, c := range raw {
			if j == 5 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[int(c)%len(recoveryAlphabet)])
		}
		codes[i] = b.String()
	}
	err := f.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM auth_recovery WHERE account_id = ?`, accountID); err != nil {
			return err
		}
		for _, c := range codes {
			if _, err := tx.Exec(ctx, `INSERT INTO auth_recovery (account_id, hash) VALUES (?, ?)`, accountID, f.mac("recovery", c)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("auth: store recovery codes: %w", err)
	}
	return codes, nil
}

// UseRecoveryCode accepts one of the account's recovery codes and uses it
// up; ErrTOTPWrong if it is not one of them (or was used before).
func (f *Factors) UseRecoveryCode(ctx context.Context, accountID int64, code string) error {
	code = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(code), " ", ""))
	if len(code) == 10 {
		code = code[:5] + "-" + code[5:]
	}
	res, err := f.st.Exec(ctx, `DELETE FROM auth_recovery WHERE account_id = ? AND hash = ?`, accountID, f.mac("recovery", code))
	if err != nil {
		return fmt.Errorf("auth: use recovery code: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrTOTPWrong
	}
	return nil
}

// RecoveryCodesLeft counts the account's unused recovery codes.
func (f *Factors) RecoveryCodesLeft(ctx context.Context, accountID int64) (int, error) {
	var n int
	if err := f.st.QueryRow(ctx, `SELECT COUNT(*) FROM auth_recovery WHERE account_id = ?`, accountID).Scan(&n); err != nil {
		return 0, fmt.Errorf("auth: count recovery codes: %w", err)
	}
	return n, nil
}
