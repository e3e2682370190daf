package core

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"caduceus/internal/store"
)

// MaxPushSubscriptions bounds the browsers one account may have told of
// new mail; past it, the oldest is dropped.
const MaxPushSubscriptions = 20

// PushSubscription is one browser that asked to be told of new mail by Web
// Push (RFC 8030): its push service endpoint and the keys the notification
// is encrypted to (RFC 8291), as the browser's PushSubscription gives them.
type PushSubscription struct {
	ID        int64
	AccountID int64
	Endpoint  string
	P256dh    string // the browser's P-256 public key, base64url
	Auth      string // the authentication secret, base64url
	Lang      string // "fr" or "en": the language of the notification
	Created   time.Time
}

// VAPIDKeys are the installation's application server keys (RFC 8292), in
// base64url without padding: the public key the web app subscribes with,
// the private key that signs each push request.
type VAPIDKeys struct {
	Public, Private string
}

// pushSealAD binds the sealed VAPID key to its use.
const pushSealAD = "caduceus web push vapid key"

// VAPIDKeys returns the installation's VAPID key pair, made on first use and
// kept in the store (the private key sealed), the same for every node.
func (s *Service) VAPIDKeys(ctx context.Context) (VAPIDKeys, error) {
	if len(s.opts.PushSecret) != 32 {
		return VAPIDKeys{}, errors.New("vapid keys: no sealing secret configured")
	}
	k, err := s.readVAPID(ctx)
	if !errors.Is(err, sql.ErrNoRows) {
		return k, err
	}
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return VAPIDKeys{}, fmt.Errorf("vapid keys: %w", err)
	}
	sealed, err := s.sealPush(priv.Bytes())
	if err != nil {
		return VAPIDKeys{}, err
	}
	pub := base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes())
	// Two nodes starting together: the first insert wins, both read it.
	if _, err := s.st.Exec(ctx, `INSERT INTO push_vapid (id, public_key, sealed, created) VALUES (1, ?, ?, ?) ON CONFLICT DO NOTHING`,
		pub, sealed, s.now().UnixMilli()); err != nil {
		return VAPIDKeys{}, fmt.Errorf("vapid keys: store: %w", err)
	}
	return s.readVAPID(ctx)
}

func (s *Service) readVAPID(ctx context.Context) (VAPIDKeys, error) {
	var k VAPIDKeys
	var sealed []byte
	err := s.st.QueryRow(ctx, `SELECT public_key, sealed FROM push_vapid WHERE id = 1`).Scan(&k.Public, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return k, err
	}
	if err != nil {
		return k, fmt.Errorf("vapid keys: read: %w", err)
	}
	aead, err := s.pushAEAD()
	if err != nil {
		return VAPIDKeys{}, err
	}
	if len(sealed) < aead.NonceSize() {
		return VAPIDKeys{}, errors.New("vapid keys: sealed key too short")
	}
	priv, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(pushSealAD))
	if err != nil {
		return VAPIDKeys{}, fmt.Errorf("vapid keys: open: %w", err)
	}
	k.Private = base64.RawURLEncoding.EncodeToString(priv)
	return k, nil
}

func (s *Service) sealPush(plain []byte) ([]byte, error) {
	aead, err := s.pushAEAD()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("vapid keys: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, []byte(pushSealAD)), nil
}

func (s *Service) pushAEAD() (cipher.AEAD, error) {
	block, err := aes.NewCipher(s.opts.PushSecret)
	if err != nil {
		return nil, fmt.Errorf("vapid keys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vapid keys: %w", err)
	}
	return aead, nil
}

// AddPushSubscription records that the actor's browser wants Web Push
// notifications of new mail. The endpoint must be an https URL and the keys
// a P-256 point and a 16-byte secret; an endpoint already known is taken
// over by the actor with its new keys.
func (s *Service) AddPushSubscription(ctx context.Context, actor Actor, sub PushSubscription) error {
	if actor.IsSystem() {
		return ErrPermission
	}
	if err := checkPushSubscription(sub); err != nil {
		return err
	}
	lang := "fr"
	if sub.Lang == "en" {
		lang = "en"
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM push_subscriptions WHERE endpoint = ?`, sub.Endpoint); err != nil {
			return fmt.Errorf("add push subscription: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM push_subscriptions WHERE account_id = ? AND id NOT IN
			(SELECT id FROM push_subscriptions WHERE account_id = ? ORDER BY id DESC LIMIT ?)`,
			actor.AccountID, actor.AccountID, MaxPushSubscriptions-1); err != nil {
			return fmt.Errorf("add push subscription: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO push_subscriptions (account_id, endpoint, p256dh, auth, lang, created) VALUES (?, ?, ?, ?, ?, ?)`,
			actor.AccountID, sub.Endpoint, sub.P256dh, sub.Auth, lang, s.now().UnixMilli()); err != nil {
			return fmt.Errorf("add push subscription: %w", err)
		}
		return s.audit.Record(ctx, tx, actor.audit("push.subscribe", actor.Address, nil, endpointHost(sub.Endpoint)))
	})
}

// RemovePushSubscription forgets one of the actor's browsers, by endpoint.
// Forgetting one that is not there is no error.
func (s *Service) RemovePushSubscription(ctx context.Context, actor Actor, endpoint string) error {
	if actor.IsSystem() {
		return ErrPermission
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM push_subscriptions WHERE account_id = ? AND endpoint = ?`, actor.AccountID, endpoint)
		if err != nil {
			return fmt.Errorf("remove push subscription: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("push.unsubscribe", actor.Address, nil, endpointHost(endpoint)))
	})
}

// PushSubscriptions lists the browsers of an account that asked for Web
// Push, oldest first.
func (s *Service) PushSubscriptions(ctx context.Context, accountID int64) ([]PushSubscription, error) {
	rows, err := s.st.Query(ctx, `SELECT id, account_id, endpoint, p256dh, auth, lang, created FROM push_subscriptions WHERE account_id = ? ORDER BY id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("push subscriptions: %w", err)
	}
	defer rows.Close()
	var out []PushSubscription
	for rows.Next() {
		var p PushSubscription
		var created int64
		if err := rows.Scan(&p.ID, &p.AccountID, &p.Endpoint, &p.P256dh, &p.Auth, &p.Lang, &created); err != nil {
			return nil, fmt.Errorf("push subscriptions: %w", err)
		}
		p.Created = time.UnixMilli(created)
		out = append(out, p)
	}
	return out, rows.Err()
}

// DropPushSubscription deletes a subscription the push service says is
// gone (404 or 410, RFC 8030 §7.3).
func (s *Service) DropPushSubscription(ctx context.Context, id int64) error {
	if _, err := s.st.Exec(ctx, `DELETE FROM push_subscriptions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("drop push subscription: %w", err)
	}
	return nil
}

func checkPushSubscription(sub PushSubscription) error {
	u, err := url.Parse(sub.Endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || len(sub.Endpoint) > 1024 {
		return fmt.Errorf("push endpoint: want an https URL: %w", ErrInvalid)
	}
	p, err := decodePushKey(sub.P256dh)
	if err == nil {
		_, err = ecdh.P256().NewPublicKey(p)
	}
	if err != nil {
		return fmt.Errorf("push key p256dh: %w", ErrInvalid)
	}
	if a, err := decodePushKey(sub.Auth); err != nil || len(a) != 16 {
		return fmt.Errorf("push key auth: want 16 bytes: %w", ErrInvalid)
	}
	return nil
}

// decodePushKey reads a key as browsers give it: base64url, padded or not.
func decodePushKey(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// endpointHost is what the audit trail keeps of an endpoint: its push
// service, not the capability URL itself.
func endpointHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	return u.Host
}
