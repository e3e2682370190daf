package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"caduceus/internal/auth"
	"caduceus/internal/config"
	"caduceus/internal/store"
)

// pscBearer checks the Pro Santé Connect tokens of mail clients
// (OAUTHBEARER, XOAUTH2) against the [auth.psc] provider. It discovers the
// provider on first use, not at start, so that operator commands never wait
// for it and a provider down at start is retried at the next login.
type pscBearer struct {
	cfg     config.PSC
	factors *auth.Factors

	mu  sync.Mutex
	psc *auth.PSC
}

// newPSCBearer returns the verifier of cfg's provider, or nil when
// [auth.psc] names none.
func newPSCBearer(cfg config.PSC, st *store.Store, key []byte) (*pscBearer, error) {
	if cfg.Issuer == "" {
		return nil, nil
	}
	f, err := auth.NewFactors(st, key)
	if err != nil {
		return nil, err
	}
	return &pscBearer{cfg: cfg, factors: f}, nil
}

// VerifyBearer returns the account linked to the token's professional.
func (b *pscBearer) VerifyBearer(ctx context.Context, token string) (int64, error) {
	psc, err := b.provider(ctx)
	if err != nil {
		return 0, err
	}
	return auth.PSCBearer{PSC: psc, Factors: b.factors}.VerifyBearer(ctx, token)
}

func (b *pscBearer) provider(ctx context.Context) (*auth.PSC, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.psc != nil {
		return b.psc, nil
	}
	secret, err := os.ReadFile(b.cfg.ClientSecretFile)
	if err != nil {
		return nil, fmt.Errorf("auth.psc.client_secret_file: %w", err)
	}
	psc, err := auth.NewPSC(ctx, auth.PSCOptions{Issuer: b.cfg.Issuer, ClientID: b.cfg.ClientID,
		ClientSecret: strings.TrimSpace(string(secret)), RedirectURL: b.cfg.RedirectURL})
	if err != nil {
		return nil, errors.Join(errors.New("pro santé connect unreachable"), err)
	}
	b.psc = psc
	return psc, nil
}
