package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Card is what Caduceus keeps of a CPx card's authentication certificate:
// enough to recognise it again and to show it to its holder.
type Card struct {
	Issuer      string    // issuer DN, such as "CN=AC IGC-SANTE FORT PERSONNES,…"
	Serial      string    // serial number, hex
	Fingerprint string    // SHA-256 of the certificate, hex
	NationalID  string    // idNat from the subject CN: 8 + RPPS, or 0 + ADELI
	NotAfter    time.Time // end of validity
	Holder      string    // given name and surname from the subject, for display
}

// Refusals of a card. Doors show each with its own words, so that the holder
// knows what to do (renew the card, ask for a new one, use another way in).
var (
	ErrCardExpired   = errors.New("auth: card certificate expired or not yet valid")
	ErrCardRevoked   = errors.New("auth: card certificate revoked")
	ErrCardUntrusted = errors.New("auth: card certificate not issued by a configured authority")
	ErrCardNoID      = errors.New("auth: card certificate carries no national identifier of a professional")
	ErrCardUnchecked = errors.New("auth: card revocation status could not be checked")
)

// NationalIDFromCN reads the national identifier of a health professional
// from the CN of a card certificate's subject (see the IGC-Santé templates):
// "8" followed by the 11-digit RPPS number, or "0" followed by the 9
// characters of an ADELI number (legacy GIP-CPS cards). Anything else, such
// as a structure or employee card ("<idNatStruct>/<local id>"), is refused.
func NationalIDFromCN(cn string) (string, error) {
	cn = strings.TrimSpace(cn)
	if rppsID.MatchString(cn) || adeliID.MatchString(cn) {
		return cn, nil
	}
	return "", ErrCardNoID
}

var (
	rppsID  = regexp.MustCompile(`^8[0-9]{11}$`)
	adeliID = regexp.MustCompile(`^0[0-9][0-9AB][0-9A-Z][0-9]{6}$`)
)

// CardOptions configure a CardVerifier.
type CardOptions struct {
	// CABundle is the PEM of the authorities cards may chain to; self-signed
	// ones are roots, the others intermediates.
	CABundle []byte
	// CRLs are files or http(s) URLs of revocation lists (DER or PEM).
	CRLs []string
	// CacheDir keeps the last good copy of each fetched CRL, so that a
	// restart while the publisher is unreachable still checks revocation.
	CacheDir string
	// Client fetches CRLs and asks OCSP responders; a 10-second client when nil.
	Client *http.Client
	// Logger hears of failed refreshes.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// CardVerifier checks card certificates presented to the HTTPS listener:
// the chain up to a configured authority, the validity dates, revocation by
// CRL and, where the certificate names a responder, by OCSP.
type CardVerifier struct {
	opts          CardOptions
	roots, inters *x509.CertPool
	pool          []*x509.Certificate // every authority of the bundle
	client        *http.Client
	log           *slog.Logger

	mu   sync.Mutex
	crls map[string]*x509.RevocationList // source → last good copy
	ocsp map[string]ocspAnswer           // certificate fingerprint → answer
}

type ocspAnswer struct {
	status int
	until  time.Time
}

// NewCardVerifier reads the bundle and loads every CRL once. A CRL that
// cannot be had at start is an error unless a cached copy of it exists.
func NewCardVerifier(ctx context.Context, o CardOptions) (*CardVerifier, error) {
	v := &CardVerifier{opts: o, roots: x509.NewCertPool(), inters: x509.NewCertPool(), client: o.Client, log: o.Logger,
		crls: map[string]*x509.RevocationList{}, ocsp: map[string]ocspAnswer{}}
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	if v.log == nil {
		v.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rest := o.CABundle
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: card CA bundle: %w", err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("auth: card CA bundle: %q is not an authority", c.Subject)
		}
		if bytes.Equal(c.RawIssuer, c.RawSubject) {
			v.roots.AddCert(c)
		} else {
			v.inters.AddCert(c)
		}
		v.pool = append(v.pool, c)
	}
	if len(v.pool) == 0 {
		return nil, errors.New("auth: card CA bundle holds no certificate")
	}
	for _, src := range o.CRLs {
		if err := v.load(ctx, src); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Authorities returns the certificates of the bundle, for the TLS listener
// to name in its certificate request so that browsers offer only cards.
func (v *CardVerifier) Authorities() *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range v.pool {
		p.AddCert(c)
	}
	return p
}

// Refresh fetches every CRL again; a source that fails keeps its last good
// copy, and the failure is logged and returned.
func (v *CardVerifier) Refresh(ctx context.Context) error {
	var errs []error
	for _, src := range v.opts.CRLs {
		if err := v.load(ctx, src); err != nil {
			v.log.Warn("card CRL refresh failed; keeping the last good copy", "source", src, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run refreshes the CRLs every interval until ctx ends.
func (v *CardVerifier) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			v.Refresh(ctx)
		}
	}
}

func (v *CardVerifier) load(ctx context.Context, src string) error {
	raw, err := v.fetch(ctx, src)
	cache := v.cachePath(src)
	if err != nil && cache != "" {
		if b, cerr := os.ReadFile(cache); cerr == nil {
			v.mu.Lock()
			_, have := v.crls[src]
			v.mu.Unlock()
			if !have {
				raw, err = b, nil
			}
		}
	}
	if err != nil {
		return fmt.Errorf("auth: CRL %s: %w", src, err)
	}
	rl, err := parseCRL(raw)
	if err != nil {
		return fmt.Errorf("auth: CRL %s: %w", src, err)
	}
	if err := v.checkCRLSignature(rl); err != nil {
		return fmt.Errorf("auth: CRL %s: %w", src, err)
	}
	v.mu.Lock()
	old := v.crls[src]
	if old == nil || old.Number == nil || rl.Number == nil || rl.Number.Cmp(old.Number) >= 0 {
		v.crls[src] = rl
	}
	v.mu.Unlock()
	if cache != "" {
		if err := os.MkdirAll(filepath.Dir(cache), 0o700); err == nil {
			tmp := cache + ".tmp"
			if os.WriteFile(tmp, raw, 0o600) == nil {
				os.Rename(tmp, cache)
			}
		}
	}
	return nil
}

func (v *CardVerifier) cachePath(src string) string {
	if v.opts.CacheDir == "" || !strings.Contains(src, "://") {
		return ""
	}
	sum := sha256.Sum256([]byte(src))
	return filepath.Join(v.opts.CacheDir, hex.EncodeToString(sum[:8])+".crl")
}

func (v *CardVerifier) fetch(ctx context.Context, src string) ([]byte, error) {
	if !strings.HasPrefix(src, "https://") && !strings.HasPrefix(src, "http://") {
		return os.ReadFile(src)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	res, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", res.Status)
	}
	return io.ReadAll(io.LimitReader(res.Body, 64<<20))
}

func parseCRL(raw []byte) (*x509.RevocationList, error) {
	if b, _ := pem.Decode(raw); b != nil {
		raw = b.Bytes
	}
	return x509.ParseRevocationList(raw)
}

func (v *CardVerifier) checkCRLSignature(rl *x509.RevocationList) error {
	for _, ca := range v.pool {
		if bytes.Equal(ca.RawSubject, rl.RawIssuer) && rl.CheckSignatureFrom(ca) == nil {
			return nil
		}
	}
	return errors.New("not signed by an authority of the bundle")
}

// Verify checks the chain a browser presented (leaf first) and returns the
// card. Its errors are the ErrCard… values, wrapped.
func (v *CardVerifier) Verify(ctx context.Context, chain []*x509.Certificate) (Card, error) {
	if len(chain) == 0 {
		return Card{}, ErrCardUntrusted
	}
	leaf := chain[0]
	now := v.now()
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return Card{}, ErrCardExpired
	}
	inters := v.inters.Clone()
	for _, c := range chain[1:] {
		inters.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inters, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return Card{}, ErrCardExpired
		}
		return Card{}, fmt.Errorf("%w: %v", ErrCardUntrusted, err)
	}
	for _, c := range chains[0][:len(chains[0])-1] {
		if err := v.revoked(ctx, c, chains[0]); err != nil {
			return Card{}, err
		}
	}
	id, err := NationalIDFromCN(leaf.Subject.CommonName)
	if err != nil {
		return Card{}, err
	}
	sum := sha256.Sum256(leaf.Raw)
	holder := holderName(leaf)
	return Card{Issuer: leaf.Issuer.String(), Serial: leaf.SerialNumber.Text(16), Fingerprint: hex.EncodeToString(sum[:]),
		NationalID: id, NotAfter: leaf.NotAfter, Holder: holder}, nil
}

// revoked checks one certificate of a verified chain, by the CRL of its
// issuer and by OCSP when it names a responder. A certificate neither
// source can vouch for is refused: a card stolen and revoked must not open
// the account because a responder was down.
func (v *CardVerifier) revoked(ctx context.Context, c *x509.Certificate, chain []*x509.Certificate) error {
	var issuer *x509.Certificate
	for _, p := range chain {
		if bytes.Equal(p.RawSubject, c.RawIssuer) {
			issuer = p
			break
		}
	}
	covered := false
	v.mu.Lock()
	for _, rl := range v.crls {
		if !bytes.Equal(rl.RawIssuer, c.RawIssuer) || (issuer != nil && rl.CheckSignatureFrom(issuer) != nil) {
			continue
		}
		covered = true
		for _, e := range rl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
				v.mu.Unlock()
				return ErrCardRevoked
			}
		}
	}
	v.mu.Unlock()
	if len(c.OCSPServer) == 0 || issuer == nil {
		return nil
	}
	status, err := v.askOCSP(ctx, c, issuer)
	switch {
	case err != nil && covered:
		v.log.Warn("card OCSP unreachable; the CRL vouches for the card", "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("%w: %v", ErrCardUnchecked, err)
	case status == ocsp.Revoked:
		return ErrCardRevoked
	case status != ocsp.Good && !covered:
		return ErrCardUnchecked
	}
	return nil
}

// askOCSP asks the certificate's responder (RFC 6960 §4.1, over HTTP POST
// as in appendix A.1), keeping each answer until its nextUpdate, five
// minutes at most.
func (v *CardVerifier) askOCSP(ctx context.Context, c, issuer *x509.Certificate) (int, error) {
	sum := sha256.Sum256(c.Raw)
	key := hex.EncodeToString(sum[:])
	now := v.now()
	v.mu.Lock()
	a, ok := v.ocsp[key]
	v.mu.Unlock()
	if ok && now.Before(a.until) {
		return a.status, nil
	}
	reqBody, err := ocsp.CreateRequest(c, issuer, &ocsp.RequestOptions{})
	if err != nil {
		return 0, err
	}
	var lastErr error
	for _, url := range c.OCSPServer {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(reqBody))
		if err != nil {
			lastErr = err
			continue
		}
		req.Header.Set("Content-Type", "application/ocsp-request")
		res, err := v.client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			lastErr = fmt.Errorf("OCSP %s: HTTP %d %v", url, res.StatusCode, err)
			continue
		}
		r, err := ocsp.ParseResponseForCert(body, c, issuer)
		if err != nil {
			lastErr = err
			continue
		}
		until := now.Add(5 * time.Minute)
		if !r.NextUpdate.IsZero() && r.NextUpdate.Before(until) {
			until = r.NextUpdate
		}
		v.mu.Lock()
		v.ocsp[key] = ocspAnswer{status: r.Status, until: until}
		v.mu.Unlock()
		return r.Status, nil
	}
	return 0, lastErr
}

func (v *CardVerifier) now() time.Time {
	if v.opts.Now != nil {
		return v.opts.Now()
	}
	return time.Now()
}

// holderName joins the given name and surname of a card's subject (the
// GN and SN of its multi-valued RDN).
func holderName(c *x509.Certificate) string {
	var given, sur string
	for _, n := range c.Subject.Names {
		s, _ := n.Value.(string)
		switch {
		case n.Type.Equal(oidGivenName):
			given = s
		case n.Type.Equal(oidSurname):
			sur = s
		}
	}
	return strings.TrimSpace(given + " " + sur)
}

var (
	oidGivenName = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSurname   = asn1.ObjectIdentifier{2, 5, 4, 4}
)
