package auth

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Passkeys registers WebAuthn credentials (W3C Web Authentication Level 2)
// and logs in with them: as a second factor after the password, or alone,
// since a passkey that verified its user (PIN, fingerprint) is already two
// factors. Challenges live in the factors' flows and are used once.
type Passkeys struct {
	wa *webauthn.WebAuthn
	f  *Factors
}

// ErrPasskey reports a passkey ceremony that failed: wrong origin or
// challenge, unknown credential, bad signature, user not verified.
var ErrPasskey = errors.New("auth: passkey refused")

// passkeyTTL bounds a WebAuthn ceremony; browsers time out sooner.
const passkeyTTL = 5 * time.Minute

// NewPasskeys returns the relying party for rpID (the host name users see,
// without port) and the web app's origin (https://host[:port]).
func NewPasskeys(f *Factors, rpID, origin string) (*Passkeys, error) {
	wa, err := webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: "Caduceus", RPOrigins: []string{origin}})
	if err != nil {
		return nil, fmt.Errorf("auth: passkeys: %w", err)
	}
	return &Passkeys{wa: wa, f: f}, nil
}

// Passkey is a registered credential as its owner sees it.
type Passkey struct {
	ID                int64
	Name              string
	Created, LastUsed time.Time
}

// passkeyUser is an account as the WebAuthn library sees it; its handle is
// the account id, which says nothing about the person.
type passkeyUser struct {
	id          int64
	name, label string
	creds       []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return []byte(strconv.FormatInt(u.id, 10)) }
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.label }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (p *Passkeys) user(ctx context.Context, accountID int64, name, label string) (*passkeyUser, error) {
	rows, err := p.f.st.Query(ctx, `SELECT credential FROM auth_passkeys WHERE account_id = ?`, accountID)
	if err != nil {
		return nil, fmt.Errorf("auth: read passkeys: %w", err)
	}
	defer rows.Close()
	u := &passkeyUser{id: accountID, name: name, label: label}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, fmt.Errorf("auth: decode passkey: %w", err)
		}
		u.creds = append(u.creds, c)
	}
	return u, rows.Err()
}

// BeginRegistration starts enrolling a passkey for an account. It returns
// the options for navigator.credentials.create and the key of the
// ceremony, to be handed back to FinishRegistration.
func (p *Passkeys) BeginRegistration(ctx context.Context, accountID int64, address, name string) (json.RawMessage, string, error) {
	u, err := p.user(ctx, accountID, address, name)
	if err != nil {
		return nil, "", err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	opts, session, err := p.wa.BeginRegistration(u,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired}),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, "", fmt.Errorf("auth: begin passkey registration: %w", err)
	}
	return p.keep(ctx, "passkey-register", opts, session)
}

// FinishRegistration checks the browser's answer (the request body, JSON)
// and keeps the new passkey under label.
func (p *Passkeys) FinishRegistration(ctx context.Context, accountID int64, address, name, key, label string, r *http.Request) error {
	var session webauthn.SessionData
	if err := p.f.TakeFlow(ctx, "passkey-register", key, &session); err != nil {
		return ErrPasskey
	}
	if !bytes.Equal(session.UserID, []byte(strconv.FormatInt(accountID, 10))) {
		return ErrPasskey
	}
	u, err := p.user(ctx, accountID, address, name)
	if err != nil {
		return err
	}
	cred, err := p.wa.FinishRegistration(u, session, r)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPasskey, err)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	if label == "" {
		label = "Clé d'accès"
	}
	_, err = p.f.st.Exec(ctx, `INSERT INTO auth_passkeys (account_id, credential_id, name, credential, created) VALUES (?, ?, ?, ?, ?)`,
		accountID, base64.RawURLEncoding.EncodeToString(cred.ID), label, string(raw), p.f.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("auth: keep passkey: %w", err)
	}
	return nil
}

// BeginLogin starts a passkey login. With accountID 0 the browser may offer
// any passkey of this site (a login with the passkey alone, which must then
// verify its user); otherwise only the account's, as a second factor.
func (p *Passkeys) BeginLogin(ctx context.Context, accountID int64) (json.RawMessage, string, error) {
	if accountID == 0 {
		opts, session, err := p.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			return nil, "", fmt.Errorf("auth: begin passkey login: %w", err)
		}
		return p.keep(ctx, "passkey-login", opts, session)
	}
	u, err := p.user(ctx, accountID, "", "")
	if err != nil {
		return nil, "", err
	}
	if len(u.creds) == 0 {
		return nil, "", ErrPasskey
	}
	opts, session, err := p.wa.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, "", fmt.Errorf("auth: begin passkey login: %w", err)
	}
	return p.keep(ctx, "passkey-login", opts, session)
}

// FinishLogin checks the browser's assertion and returns the account it
// proves. accountID is the one of the pending login for a second factor,
// or 0 for a passkey alone.
func (p *Passkeys) FinishLogin(ctx context.Context, key string, accountID int64, r *http.Request) (int64, error) {
	var session webauthn.SessionData
	if err := p.f.TakeFlow(ctx, "passkey-login", key, &session); err != nil {
		return 0, ErrPasskey
	}
	var cred *webauthn.Credential
	var who int64
	var err error
	if accountID == 0 {
		if len(session.UserID) != 0 {
			return 0, ErrPasskey
		}
		cred, err = p.wa.FinishDiscoverableLogin(func(_, handle []byte) (webauthn.User, error) {
			id, perr := strconv.ParseInt(string(handle), 10, 64)
			if perr != nil {
				return nil, ErrPasskey
			}
			who = id
			return p.user(ctx, id, "", "")
		}, session, r)
		if err == nil && !cred.Flags.UserVerified {
			err = errors.New("user not verified")
		}
	} else {
		if !bytes.Equal(session.UserID, []byte(strconv.FormatInt(accountID, 10))) {
			return 0, ErrPasskey
		}
		var u *passkeyUser
		if u, err = p.user(ctx, accountID, "", ""); err != nil {
			return 0, err
		}
		who = accountID
		cred, err = p.wa.FinishLogin(u, session, r)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrPasskey, err)
	}
	// Keep the new signature counter, so that a cloned authenticator shows.
	raw, err := json.Marshal(cred)
	if err != nil {
		return 0, err
	}
	_, err = p.f.st.Exec(ctx, `UPDATE auth_passkeys SET credential = ?, last_used = ? WHERE credential_id = ? AND account_id = ?`,
		string(raw), p.f.now().UnixMilli(), base64.RawURLEncoding.EncodeToString(cred.ID), who)
	if err != nil {
		return 0, fmt.Errorf("auth: passkey use: %w", err)
	}
	return who, nil
}

func (p *Passkeys) keep(ctx context.Context, kind string, opts any, session *webauthn.SessionData) (json.RawMessage, string, error) {
	key := randomToken()
	if err := p.f.PutFlow(ctx, kind, key, session, passkeyTTL); err != nil {
		return nil, "", err
	}
	raw, err := json.Marshal(opts)
	if err != nil {
		return nil, "", err
	}
	return raw, key, nil
}

// List returns the account's passkeys.
func (p *Passkeys) List(ctx context.Context, accountID int64) ([]Passkey, error) {
	rows, err := p.f.st.Query(ctx, `SELECT id, name, created, last_used FROM auth_passkeys WHERE account_id = ? ORDER BY id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("auth: list passkeys: %w", err)
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		var k Passkey
		var created, used int64
		if err := rows.Scan(&k.ID, &k.Name, &created, &used); err != nil {
			return nil, err
		}
		k.Created, k.LastUsed = time.UnixMilli(created), millis(used)
		out = append(out, k)
	}
	return out, rows.Err()
}

// Has reports whether the account has a passkey.
func (p *Passkeys) Has(ctx context.Context, accountID int64) (bool, error) {
	var n int
	err := p.f.st.QueryRow(ctx, `SELECT COUNT(*) FROM auth_passkeys WHERE account_id = ?`, accountID).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("auth: count passkeys: %w", err)
	}
	return n > 0, nil
}

// Remove deletes one of the account's passkeys.
func (p *Passkeys) Remove(ctx context.Context, accountID, id int64) error {
	return p.f.deleteOwned(ctx, `DELETE FROM auth_passkeys WHERE id = ? AND account_id = ?`, id, accountID)
}
