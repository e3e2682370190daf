// Package dkim signs the mail a Caduceus node sends and verifies the mail its
// MX receives, with DomainKeys Identified Mail (RFC 6376) as
// github.com/emersion/go-msgauth implements it.
//
// A signing key belongs to one domain and one selector; its public half is
// published in DNS as a TXT record at SELECTOR._domainkey.DOMAIN (RFC 6376
// §3.6.2), which Record prints. Private keys are kept sealed (AES-256-GCM
// under a secret derived from the node's master key), never in clear in the
// store.
//
// Verification turns the result of every signature into one
// Authentication-Results field (RFC 8601), which the MX puts on top of the
// message it stores.
package dkim

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// KeyBits is the size of the RSA keys Generate makes: 2048, what RFC 8301
// §3.2 recommends and every verifier accepts.
const KeyBits = 2048

// Key is one signing key of a domain.
type Key struct {
	Domain   string
	Selector string
	Signer   crypto.Signer
}

// Generate makes a new RSA key for domain and selector.
func Generate(domain, selector string) (*Key, error) {
	if err := checkName(domain); err != nil {
		return nil, fmt.Errorf("dkim: domain %q: %w", domain, err)
	}
	if err := checkName(selector); err != nil {
		return nil, fmt.Errorf("dkim: selector %q: %w", selector, err)
	}
	k, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, fmt.Errorf("dkim: generate key: %w", err)
	}
	return &Key{Domain: strings.ToLower(domain), Selector: strings.ToLower(selector), Signer: k}, nil
}

// checkName accepts DNS labels separated by dots, as a selector and a domain
// must be (RFC 6376 §3.1).
func checkName(s string) error {
	if s == "" || len(s) > 253 {
		return errors.New("empty or too long")
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("empty or too long label")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("character %q", c)
			}
		}
	}
	return nil
}

// RecordName is the DNS name of the key's TXT record (RFC 6376 §3.6.2.1).
func (k *Key) RecordName() string { return k.Selector + "._domainkey." + k.Domain }

// Record is the value of the key's TXT record (RFC 6376 §3.6.1).
func (k *Key) Record() (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k.Signer.Public())
	if err != nil {
		return "", fmt.Errorf("dkim: public key: %w", err)
	}
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
}

// Seal encrypts the private key with secret (32 bytes), for storage.
func (k *Key) Seal(secret []byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return nil, fmt.Errorf("dkim: marshal key: %w", err)
	}
	aead, err := newAEAD(secret)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, der, k.additional()), nil
}

// Open decrypts a key sealed by Seal for the same domain and selector.
func Open(domain, selector string, secret, sealed []byte) (*Key, error) {
	k := &Key{Domain: domain, Selector: selector}
	aead, err := newAEAD(secret)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("dkim: sealed key too short")
	}
	der, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], k.additional())
	if err != nil {
		return nil, fmt.Errorf("dkim: open key of %s: %w", k.RecordName(), err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("dkim: parse key of %s: %w", k.RecordName(), err)
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("dkim: key of %s cannot sign", k.RecordName())
	}
	k.Signer = s
	return k, nil
}

// additional binds a sealed key to its record name, so that one cannot be
// swapped for another's.
func (k *Key) additional() []byte { return []byte("caduceus dkim " + k.RecordName()) }

func newAEAD(secret []byte) (cipher.AEAD, error) {
	if len(secret) != 32 {
		return nil, errors.New("dkim: the sealing secret must be 32 bytes")
	}
	b, err := aes.NewCipher(secret)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// SignedHeaders are the fields a signature covers when the message has them:
// RFC 6376 §5.4.1's list, the MSSanté headers (Référentiel #2 §3.8) and the
// read-receipt request, so that none can be added or changed on the way.
var SignedHeaders = []string{
	"From", "Sender", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Disposition-Notification-To",
	"X-MSS-NIL", "X-MSS-CODECDA", "X-MSS-INS", "X-MSS-MES",
}

// Sign returns msg with a DKIM-Signature field on top, relaxed/relaxed
// canonicalisation (RFC 6376 §3.4.2, §3.4.4), rsa-sha256.
func Sign(msg []byte, k *Key) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(msg) + 600)
	opts := &msgdkim.SignOptions{
		Domain: k.Domain, Selector: k.Selector, Signer: k.Signer, Hash: crypto.SHA256,
		HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
		BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
		HeaderKeys:             SignedHeaders,
	}
	if err := msgdkim.Sign(&out, bytes.NewReader(msg), opts); err != nil {
		return nil, fmt.Errorf("dkim: sign for %s: %w", k.Domain, err)
	}
	return out.Bytes(), nil
}

// LookupTXT returns the TXT records of a DNS name; net.Resolver.LookupTXT
// is one, tests inject their own.
type LookupTXT func(name string) ([]string, error)

// MaxSignatures bounds the signatures verified per message, so that a
// message cannot make the MX do unbounded DNS lookups.
const MaxSignatures = 5

// Verify checks every DKIM signature of msg and returns the value of an
// Authentication-Results field (RFC 8601 §2.2) naming authservID: one
// dkim= result per signature, or dkim=none when there is none.
func Verify(msg io.Reader, authservID string, lookup LookupTXT) string {
	vs, err := msgdkim.VerifyWithOptions(msg, &msgdkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: MaxSignatures})
	var results []authres.Result
	for _, v := range vs {
		r := &authres.DKIMResult{Value: authres.ResultPass, Domain: v.Domain, Identifier: v.Identifier}
		switch {
		case v.Err == nil:
		case msgdkim.IsTempFail(v.Err):
			r.Value, r.Reason = authres.ResultTempError, reason(v.Err)
		case msgdkim.IsPermFail(v.Err):
			r.Value, r.Reason = authres.ResultPermError, reason(v.Err)
		default:
			r.Value, r.Reason = authres.ResultFail, reason(v.Err)
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		r := &authres.DKIMResult{Value: authres.ResultNone}
		if err != nil && !errors.Is(err, msgdkim.ErrTooManySignatures) {
			r.Value, r.Reason = authres.ResultPermError, reason(err)
		}
		results = append(results, r)
	}
	return strings.TrimSpace(authres.Format(authservID, results))
}

// reason is an error as a short reason= value.
func reason(err error) string {
	s := strings.TrimPrefix(err.Error(), "dkim: ")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// None is the Authentication-Results value for a message that carries no
// DKIM signature (RFC 8601 §2.7.1, dkim=none), without reading it.
func None(authservID string) string {
	return strings.TrimSpace(authres.Format(authservID, []authres.Result{&authres.DKIMResult{Value: authres.ResultNone}}))
}
