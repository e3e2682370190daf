package core

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/textproto"

	"caduceus/internal/dkim"
	"caduceus/internal/store"
)

// DKIMKey describes one DKIM signing key of a local domain and the DNS
// record that publishes it (RFC 6376 §3.6.2).
type DKIMKey struct {
	Domain   string
	Selector string
	// RecordName and Record are the TXT record to publish.
	RecordName string
	Record     string
	Created    time.Time
}

// dkimCacheTTL bounds how long a node signs with a key it read, so that a
// key added on another node of a cluster is used within a minute.
const dkimCacheTTL = time.Minute

// dkimKeys caches the newest signing key of each domain (nil when none).
type dkimKeys struct {
	mu   sync.Mutex
	keys map[string]dkimEntry
}

type dkimEntry struct {
	key    *dkim.Key
	loaded time.Time
}

// AddDKIMKey makes a new signing key for a local domain; from then on it
// signs the domain's outgoing mail. An empty selector becomes "cYYYYMM".
// Operators only. The private key is stored sealed, never in clear.
func (s *Service) AddDKIMKey(ctx context.Context, actor Actor, domain, selector string) (DKIMKey, error) {
	if !actor.IsSystem() {
		return DKIMKey{}, ErrPermission
	}
	if len(s.opts.DKIMSecret) != 32 {
		return DKIMKey{}, errors.New("add dkim key: no sealing secret configured")
	}
	domain = strings.ToLower(strings.TrimSpace(domain))
	local, err := s.IsLocalDomain(ctx, domain)
	if err != nil {
		return DKIMKey{}, err
	}
	if !local {
		return DKIMKey{}, fmt.Errorf("%w: %s is not a local domain", ErrNotFound, domain)
	}
	if selector == "" {
		selector = "c" + s.now().UTC().Format("200601")
	}
	k, err := dkim.Generate(domain, selector)
	if err != nil {
		return DKIMKey{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	sealed, err := k.Seal(s.opts.DKIMSecret)
	if err != nil {
		return DKIMKey{}, err
	}
	rec, err := k.Record()
	if err != nil {
		return DKIMKey{}, err
	}
	now := s.now()
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO dkim_keys (domain, selector, sealed, created) VALUES (?, ?, ?, ?)`, k.Domain, k.Selector, sealed, now.UnixMilli()); err != nil {
			if isUnique(err) {
				return fmt.Errorf("selector %s of %s: %w", k.Selector, k.Domain, ErrExists)
			}
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("dkim.add", k.RecordName(), nil, ""))
	})
	if err != nil {
		return DKIMKey{}, fmt.Errorf("add dkim key: %w", err)
	}
	s.dkim.mu.Lock()
	delete(s.dkim.keys, k.Domain)
	s.dkim.mu.Unlock()
	return DKIMKey{Domain: k.Domain, Selector: k.Selector, RecordName: k.RecordName(), Record: rec, Created: now}, nil
}

// DKIMKeys lists the signing keys with their DNS records, by domain, newest
// first. Operators only.
func (s *Service) DKIMKeys(ctx context.Context, actor Actor) ([]DKIMKey, error) {
	if !actor.IsSystem() {
		return nil, ErrPermission
	}
	rows, err := s.st.Query(ctx, `SELECT domain, selector, sealed, created FROM dkim_keys ORDER BY domain, created DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list dkim keys: %w", err)
	}
	defer rows.Close()
	var out []DKIMKey
	for rows.Next() {
		var d DKIMKey
		var sealed []byte
		var created int64
		if err := rows.Scan(&d.Domain, &d.Selector, &sealed, &created); err != nil {
			return nil, err
		}
		k, err := dkim.Open(d.Domain, d.Selector, s.opts.DKIMSecret, sealed)
		if err != nil {
			return nil, err
		}
		d.RecordName = k.RecordName()
		if d.Record, err = k.Record(); err != nil {
			return nil, err
		}
		d.Created = time.UnixMilli(created)
		out = append(out, d)
	}
	return out, rows.Err()
}

// signingKey returns the newest key of domain, or nil when it has none.
func (s *Service) signingKey(ctx context.Context, domain string) (*dkim.Key, error) {
	s.dkim.mu.Lock()
	e, ok := s.dkim.keys[domain]
	s.dkim.mu.Unlock()
	if ok && s.now().Sub(e.loaded) < dkimCacheTTL {
		return e.key, nil
	}
	var selector string
	var sealed []byte
	err := s.st.QueryRow(ctx, `SELECT selector, sealed FROM dkim_keys WHERE domain = ? ORDER BY created DESC, id DESC LIMIT 1`, domain).Scan(&selector, &sealed)
	var k *dkim.Key
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("dkim key of %s: %w", domain, err)
	default:
		if k, err = dkim.Open(domain, selector, s.opts.DKIMSecret, sealed); err != nil {
			return nil, err
		}
	}
	s.dkim.mu.Lock()
	if s.dkim.keys == nil {
		s.dkim.keys = map[string]dkimEntry{}
	}
	s.dkim.keys[domain] = dkimEntry{key: k, loaded: s.now()}
	s.dkim.mu.Unlock()
	return k, nil
}

// dkimSign signs a message leaving the node with the key of its From:
// domain (RFC 6376 §5); a message whose domain has no key goes unsigned.
func (s *Service) dkimSign(ctx context.Context, data []byte) ([]byte, error) {
	if len(s.opts.DKIMSecret) != 32 {
		return data, nil
	}
	domain := fromDomain(data)
	if domain == "" {
		return data, nil
	}
	k, err := s.signingKey(ctx, domain)
	if err != nil || k == nil {
		return data, err
	}
	return dkim.Sign(data, k)
}

// fromDomain returns the domain of the first From: address, lower case, or
// "" when there is none.
func fromDomain(data []byte) string {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return ""
	}
	list, err := mail.ParseAddressList(h.Get("From"))
	if err != nil || len(list) == 0 {
		return ""
	}
	return DomainOf(strings.ToLower(list[0].Address))
}
