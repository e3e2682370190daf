package server

import (
	"context"
	"log/slog"
	"path/filepath"

	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/trust"
)

// OpenTrust loads the trust space cfg names, caching the last good lists in
// data_dir/trust.
func OpenTrust(ctx context.Context, cfg config.Config, logger *slog.Logger) (*trust.Space, error) {
	return trust.Open(ctx, trust.Options{
		CABundle:  cfg.Trust.CABundle,
		CRLs:      cfg.Trust.CRLs,
		Whitelist: cfg.Trust.Whitelist,
		Namespace: cfg.Trust.WhitelistNamespace,
		Refresh:   cfg.Trust.Refresh.Duration,
		CacheDir:  filepath.Join(cfg.DataDir, "trust"),
		Logger:    logger,
	})
}

// trustPolicy lets submissions reach only the whitelisted domains.
type trustPolicy struct{ space *trust.Space }

func (p trustPolicy) AllowRemote(_ context.Context, _ core.Actor, rcpt string) error {
	return p.space.CheckDomain(core.DomainOf(rcpt))
}
