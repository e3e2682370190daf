package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"caduceus/internal/store"
)

// Factors keeps what lets a person in beside the password, in the shared
// metadata store: TOTP secrets (sealed), recovery codes (keyed hashes),
// linked CPx cards, Pro Santé Connect links and passkeys, and the
// short-lived flows between two steps of a login. Its tables are created by
// the store's migrations.
type Factors struct {
	st  *store.Store
	key []byte // seals TOTP secrets and keys the recovery-code hashes
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// NewFactors returns the factors kept in st. key (32 bytes) must be the same
// on every node: it seals the TOTP secrets and keys the recovery-code hashes.
func NewFactors(st *store.Store, key []byte) (*Factors, error) {
	if len(key) != 32 {
		return nil, errors.New("auth: factors key must be 32 bytes")
	}
	return &Factors{st: st, key: key}, nil
}

func (f *Factors) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Errors of linking.
var (
	// ErrLinkedElsewhere: the card or PSC identity is already linked to
	// another account.
	ErrLinkedElsewhere = errors.New("auth: already linked to another account")
	// ErrOtherPerson: the card's or PSC identity's national identifier is not
	// the one recorded for the account.
	ErrOtherPerson = errors.New("auth: national identifier differs from the account's")
)

// PutFlow keeps data (JSON-encoded) under kind and key for ttl, replacing
// any earlier value. Only a hash of key is stored.
func (f *Factors) PutFlow(ctx context.Context, kind, key string, data any, ttl time.Duration) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("auth: encode %s flow: %w", kind, err)
	}
	id := flowID(kind, key)
	now := f.now()
	err = f.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM auth_flows WHERE id = ? OR expires < ?`, id, now.UnixMilli()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO auth_flows (id, kind, data, expires) VALUES (?, ?, ?, ?)`, id, kind, string(b), now.Add(ttl).UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("auth: put %s flow: %w", kind, err)
	}
	return nil
}

// TakeFlow reads and deletes the flow under kind and key into v, so that it
// can be used once. A missing or expired flow gives ErrNotFound.
func (f *Factors) TakeFlow(ctx context.Context, kind, key string, v any) error {
	id := flowID(kind, key)
	var data string
	var expires int64
	err := f.st.Tx(ctx, func(tx *store.Tx) error {
		err := tx.QueryRow(ctx, `SELECT data, expires FROM auth_flows WHERE id = ?`, id).Scan(&data, &expires)
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM auth_flows WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return sql.ErrNoRows
		}
		return nil
	})
	if errors.Is(err, sql.ErrNoRows) || (err == nil && f.now().UnixMilli() >= expires) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("auth: take %s flow: %w", kind, err)
	}
	if err := json.Unmarshal([]byte(data), v); err != nil {
		return fmt.Errorf("auth: decode %s flow: %w", kind, err)
	}
	return nil
}

// PeekFlow reads the flow under kind and key into v without using it up.
func (f *Factors) PeekFlow(ctx context.Context, kind, key string, v any) error {
	var data string
	var expires int64
	err := f.st.QueryRow(ctx, `SELECT data, expires FROM auth_flows WHERE id = ?`, flowID(kind, key)).Scan(&data, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && f.now().UnixMilli() >= expires) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("auth: read %s flow: %w", kind, err)
	}
	return json.Unmarshal([]byte(data), v)
}

func flowID(kind, key string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// seal encrypts a small secret with AES-256-GCM under the factors key.
func (f *Factors) seal(plain []byte) (string, error) {
	block, err := aes.NewCipher(f.key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(gcm.Seal(nonce, nonce, plain, nil)), nil
}

func (f *Factors) open(sealed string) ([]byte, error) {
	raw, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(f.key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(raw) < gcm.NonceSize() {
		return nil, errors.New("auth: sealed secret too short")
	}
	return gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
}

// mac is the keyed hash of a recovery code.
func (f *Factors) mac(purpose, s string) string {
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// LinkedCard is a CPx card linked to an account.
type LinkedCard struct {
	ID int64
	Card
	Linked, LastUsed time.Time
}

// LinkCard links card to an account. A card linked to another account gives
// ErrLinkedElsewhere; linking it again to the same account does nothing.
func (f *Factors) LinkCard(ctx context.Context, accountID int64, c Card) error {
	return f.link(ctx, "card", accountID, `SELECT account_id FROM auth_cards WHERE fingerprint = ?`, c.Fingerprint,
		`INSERT INTO auth_cards (account_id, fingerprint, issuer, serial, national_id, not_after, created) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		accountID, c.Fingerprint, c.Issuer, c.Serial, c.NationalID, c.NotAfter.UnixMilli(), f.now().UnixMilli())
}

// CardAccount returns the account a card (by SHA-256 fingerprint) is linked
// to, and records its use; ErrNotFound if it is linked to none.
func (f *Factors) CardAccount(ctx context.Context, fingerprint string) (int64, error) {
	return f.linkedAccount(ctx, "card", `SELECT account_id FROM auth_cards WHERE fingerprint = ?`,
		`UPDATE auth_cards SET last_used = ? WHERE fingerprint = ?`, fingerprint)
}

// Cards lists the cards linked to an account, newest first.
func (f *Factors) Cards(ctx context.Context, accountID int64) ([]LinkedCard, error) {
	rows, err := f.st.Query(ctx, `SELECT id, fingerprint, issuer, serial, national_id, not_after, created, last_used FROM auth_cards WHERE account_id = ? ORDER BY id DESC`, accountID)
	if err != nil {
		return nil, fmt.Errorf("auth: list cards: %w", err)
	}
	defer rows.Close()
	var out []LinkedCard
	for rows.Next() {
		var c LinkedCard
		var notAfter, created, used int64
		if err := rows.Scan(&c.ID, &c.Fingerprint, &c.Issuer, &c.Serial, &c.NationalID, &notAfter, &created, &used); err != nil {
			return nil, err
		}
		c.NotAfter, c.Linked, c.LastUsed = time.UnixMilli(notAfter), time.UnixMilli(created), millis(used)
		out = append(out, c)
	}
	return out, rows.Err()
}

// UnlinkCard removes one of the account's cards; ErrNotFound if it has no
// such card.
func (f *Factors) UnlinkCard(ctx context.Context, accountID, id int64) error {
	return f.deleteOwned(ctx, `DELETE FROM auth_cards WHERE id = ? AND account_id = ?`, id, accountID)
}

// PSCLink is a Pro Santé Connect identity linked to an account.
type PSCLink struct {
	ID               int64
	Subject          string // SubjectNameID, the national identifier
	Name             string
	Linked, LastUsed time.Time
}

// LinkPSC links a Pro Santé Connect identity (its SubjectNameID) to an
// account; ErrLinkedElsewhere if another account has it.
func (f *Factors) LinkPSC(ctx context.Context, accountID int64, subject, name string) error {
	return f.link(ctx, "PSC identity", accountID, `SELECT account_id FROM auth_psc WHERE subject = ?`, subject,
		`INSERT INTO auth_psc (account_id, subject, name, created) VALUES (?, ?, ?, ?)`, accountID, subject, name, f.now().UnixMilli())
}

// PSCAccount returns the account linked to a Pro Santé Connect
// SubjectNameID, and records its use; ErrNotFound if none is.
func (f *Factors) PSCAccount(ctx context.Context, subject string) (int64, error) {
	return f.linkedAccount(ctx, "PSC identity", `SELECT account_id FROM auth_psc WHERE subject = ?`,
		`UPDATE auth_psc SET last_used = ? WHERE subject = ?`, subject)
}

// PSCLinks lists the Pro Santé Connect identities linked to an account.
func (f *Factors) PSCLinks(ctx context.Context, accountID int64) ([]PSCLink, error) {
	rows, err := f.st.Query(ctx, `SELECT id, subject, name, created, last_used FROM auth_psc WHERE account_id = ? ORDER BY id DESC`, accountID)
	if err != nil {
		return nil, fmt.Errorf("auth: list PSC links: %w", err)
	}
	defer rows.Close()
	var out []PSCLink
	for rows.Next() {
		var l PSCLink
		var created, used int64
		if err := rows.Scan(&l.ID, &l.Subject, &l.Name, &created, &used); err != nil {
			return nil, err
		}
		l.Linked, l.LastUsed = time.UnixMilli(created), millis(used)
		out = append(out, l)
	}
	return out, rows.Err()
}

// UnlinkPSC removes one of the account's Pro Santé Connect links.
func (f *Factors) UnlinkPSC(ctx context.Context, accountID, id int64) error {
	return f.deleteOwned(ctx, `DELETE FROM auth_psc WHERE id = ? AND account_id = ?`, id, accountID)
}

// link links key (a card fingerprint, a PSC subject) to an account with
// insert, unless owner (which selects the key's account) finds it linked
// already: to this account it does nothing, to another it gives
// ErrLinkedElsewhere. what names the factor in errors.
func (f *Factors) link(ctx context.Context, what string, accountID int64, owner, key, insert string, args ...any) error {
	return f.st.Tx(ctx, func(tx *store.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, owner, key).Scan(&id)
		switch {
		case err == nil && id == accountID:
			return nil
		case err == nil:
			return ErrLinkedElsewhere
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("auth: look %s up: %w", what, err)
		}
		if _, err := tx.Exec(ctx, insert, args...); err != nil {
			return fmt.Errorf("auth: link %s: %w", what, err)
		}
		return nil
	})
}

// linkedAccount returns the account that owner (which selects it by key)
// finds, and records the use with touch (last_used, then key); ErrNotFound
// if the key is linked to none.
func (f *Factors) linkedAccount(ctx context.Context, what, owner, touch, key string) (int64, error) {
	var id int64
	err := f.st.QueryRow(ctx, owner, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("auth: look %s up: %w", what, err)
	}
	if _, err := f.st.Exec(ctx, touch, f.now().UnixMilli(), key); err != nil {
		return 0, fmt.Errorf("auth: %s use: %w", what, err)
	}
	return id, nil
}

func (f *Factors) deleteOwned(ctx context.Context, q string, id, accountID int64) error {
	res, err := f.st.Exec(ctx, q, id, accountID)
	if err != nil {
		return fmt.Errorf("auth: unlink: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// WebSession is a live web session as its owner sees it in the list of
// sessions: where it came from, on what, how it logged in.
type WebSession struct {
	ID        string // the store key (a hash), safe to show in a form
	Created   time.Time
	Seen      time.Time
	Remote    string
	UserAgent string
	Method    string
}

// SetSessionDevice records the browser and login method of a session.
func (f *Factors) SetSessionDevice(ctx context.Context, sessionID, account, userAgent, method string) error {
	if len(userAgent) > 300 {
		userAgent = userAgent[:300]
	}
	_, err := f.st.Exec(ctx, `INSERT INTO auth_session_devices (session_id, account, user_agent, method) VALUES (?, ?, ?, ?)
		ON CONFLICT (session_id) DO UPDATE SET user_agent = excluded.user_agent, method = excluded.method`, sessionID, account, userAgent, method)
	if err != nil {
		return fmt.Errorf("auth: session device: %w", err)
	}
	return nil
}

// Sessions lists the full (not pending) web sessions of an account, the
// most recently used first. Sessions past their timeouts may still be
// listed until Sessions.Purge runs.
func (f *Factors) Sessions(ctx context.Context, account string) ([]WebSession, error) {
	rows, err := f.st.Query(ctx, `SELECT s.id, s.created, s.seen, s.remote, COALESCE(d.user_agent, ''), COALESCE(d.method, '')
		FROM auth_sessions s LEFT JOIN auth_session_devices d ON d.session_id = s.id
		WHERE s.account = ? AND s.pending = 0 ORDER BY s.seen DESC`, account)
	if err != nil {
		return nil, fmt.Errorf("auth: list sessions: %w", err)
	}
	defer rows.Close()
	var out []WebSession
	for rows.Next() {
		var s WebSession
		var created, seen int64
		if err := rows.Scan(&s.ID, &created, &seen, &s.Remote, &s.UserAgent, &s.Method); err != nil {
			return nil, err
		}
		s.Created, s.Seen = time.UnixMilli(created), time.UnixMilli(seen)
		out = append(out, s)
	}
	return out, rows.Err()
}

// EndSession deletes one session of an account by its store key; ErrNotFound
// if the account has no such session.
func (f *Factors) EndSession(ctx context.Context, account, id string) error {
	res, err := f.st.Exec(ctx, `DELETE FROM auth_sessions WHERE id = ? AND account = ?`, id, account)
	if err != nil {
		return fmt.Errorf("auth: end session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	_, err = f.st.Exec(ctx, `DELETE FROM auth_session_devices WHERE session_id = ?`, id)
	return err
}

// PurgeDevices forgets the devices of sessions that no longer exist.
func (f *Factors) PurgeDevices(ctx context.Context) error {
	_, err := f.st.Exec(ctx, `DELETE FROM auth_session_devices WHERE session_id NOT IN (SELECT id FROM auth_sessions)`)
	if err != nil {
		return fmt.Errorf("auth: purge session devices: %w", err)
	}
	return nil
}

func millis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() string {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// RandomToken returns a new unguessable token (256 bits), for flow keys
// kept in cookies.
func RandomToken() string { return randomToken() }
