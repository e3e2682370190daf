package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

// DeviceTokenPrefix starts every device credential, so that a door can tell
// one from an account password without a database look-up, and a leaked one
// is easy to recognise (secret scanners, logs).
const DeviceTokenPrefix = "cdc-"

// deviceTokenBytes is the randomness of a device credential: 256 bits, which
// no online guessing can exhaust, so a keyed SHA-256 is enough to store it
// (argon2id is for passwords, which people choose).
const deviceTokenBytes = 32

var deviceEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewDeviceToken draws a device credential: the prefix and 52 base32 letters.
func NewDeviceToken() (string, error) {
	var b [deviceTokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return DeviceTokenPrefix + strings.ToLower(deviceEncoding.EncodeToString(b[:])), nil
}

// IsDeviceToken tells whether s has the shape of a device credential.
func IsDeviceToken(s string) bool {
	rest, ok := strings.CutPrefix(s, DeviceTokenPrefix)
	if !ok || len(rest) != deviceEncoding.EncodedLen(deviceTokenBytes) {
		return false
	}
	_, err := deviceEncoding.DecodeString(strings.ToUpper(rest))
	return err == nil
}

// DeviceTokenHash is what is stored of a device credential: the hex
// HMAC-SHA256 of the token under key, a secret shared by every node. The
// table alone gives no usable credential, and the hash is a unique index, so
// a login is one indexed look-up.
func DeviceTokenHash(key []byte, token string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// CertFingerprint is the SHA-256 of a certificate's DER bytes in lower-case
// hex, the way client certificates are pinned to a mailbox.
func CertFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}
