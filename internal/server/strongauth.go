package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"caduceus/internal/auth"
)

// strongAuth builds what the web app needs for the strong ways in: the
// factors over the store, the card verifier of [auth.card] and the Pro Santé
// Connect relying party of [auth.psc]. A card bundle or CRL that cannot be
// read stops the start (a card login that checks nothing must not run); a
// PSC provider unreachable at start only turns PSC login off, with a log
// line, so that an outage at ANS does not keep the node down.
func (s *Server) strongAuth(ctx context.Context) (*auth.Factors, *auth.CardVerifier, *auth.PSC, error) {
	factors, err := auth.NewFactors(s.Store, s.Secret("auth factors"))
	if err != nil {
		return nil, nil, nil, err
	}
	var cards *auth.CardVerifier
	if c := s.Config.Auth.Card; c.CABundle != "" {
		bundle, err := os.ReadFile(c.CABundle)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("auth.card.ca_bundle: %w", err)
		}
		cards, err = auth.NewCardVerifier(ctx, auth.CardOptions{CABundle: bundle, CRLs: c.CRLs,
			CacheDir: filepath.Join(s.Config.DataDir, "crl-cache"), Logger: s.log.With("task", "card CRLs")})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("auth.card: %w", err)
		}
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			cards.Run(ctx, c.CRLRefresh.Duration)
		}()
	}
	var psc *auth.PSC
	if p := s.Config.Auth.PSC; p.Issuer != "" {
		secret, err := os.ReadFile(p.ClientSecretFile)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("auth.psc.client_secret_file: %w", err)
		}
		psc, err = auth.NewPSC(ctx, auth.PSCOptions{Issuer: p.Issuer, ClientID: p.ClientID,
			ClientSecret: strings.TrimSpace(string(secret)), RedirectURL: p.RedirectURL})
		if err != nil {
			s.log.Error("Pro Santé Connect unreachable at start: PSC login is off until the next start", "err", err)
			psc = nil
		}
	}
	if cards != nil {
		s.cardCAs = cards
	}
	return factors, cards, psc, nil
}

// requestCards makes the HTTPS listener ask for a client certificate
// without requiring one, naming the card authorities so that browsers
// offer only cards. The chain is checked by the web app (auth.CardVerifier)
// rather than in the handshake, so that an expired, revoked or foreign card
// gets a page that says so in words instead of a bare TLS alert.
func (s *Server) requestCards(c *tls.Config) {
	if s.cardCAs == nil {
		return
	}
	c.ClientAuth = tls.RequestClientCert
	c.ClientCAs = s.cardCAs.Authorities()
}
