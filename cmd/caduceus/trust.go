package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"caduceus/internal/certs"
	"caduceus/internal/server"
	"caduceus/internal/smtp"
)

// cmdTrustShow prints the trust space in force: the whitelist, its age and
// origin, the CA subjects and the CRLs.
func cmdTrustShow(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "trust show", "trust show [--domains]", 0)
	domains := f.Bool("domains", true, "list every whitelisted domain")
	if _, err := f.parse(args); err != nil {
		return err
	}
	cfg, err := f.loadConfig()
	if err != nil {
		return err
	}
	if !cfg.Trust.Enabled {
		fmt.Fprintln(e.stdout, "trust mode: off ([trust] enabled = false)")
	}
	if cfg.Trust.CABundle == "" || cfg.Trust.Whitelist == "" {
		return errors.New("[trust] ca_bundle and whitelist are not set")
	}
	sp, err := server.OpenTrust(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	if err := sp.Refresh(ctx); err != nil {
		fmt.Fprintf(e.stdout, "warning: %v\n", err)
	}
	snap := sp.Snapshot()
	now := time.Now()
	signed := "not signed"
	if snap.Signed {
		signed = "signed by " + snap.Signer
	}
	fmt.Fprintf(e.stdout, "whitelist: %s\n  %d domains, %s, fetched %s (%s ago, from %s), refreshed every %s\n",
		snap.Whitelist, len(snap.Domains), signed, snap.WhitelistAt.Format(time.RFC3339), now.Sub(snap.WhitelistAt).Round(time.Second), snap.WhitelistFrom, snap.RefreshInterval)
	fmt.Fprintf(e.stdout, "certification authorities (%s):\n", cfg.Trust.CABundle)
	for _, s := range snap.CASubjects {
		fmt.Fprintf(e.stdout, "  %s\n", s)
	}
	if len(snap.CRLs) > 0 {
		fmt.Fprintln(e.stdout, "revocation lists:")
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		for _, c := range snap.CRLs {
			if c.Issuer == "" {
				fmt.Fprintf(tw, "  %s\tUNAVAILABLE\n", c.Source)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d revoked\tnext update %s\tfetched %s ago\n", c.Source, c.Issuer, c.Revoked, c.NextUpdate.Format(time.RFC3339), now.Sub(c.FetchedAt).Round(time.Second))
		}
		tw.Flush()
	}
	if *domains {
		fmt.Fprintln(e.stdout, "domains:")
		for _, d := range snap.Domains {
			fmt.Fprintf(e.stdout, "  %s\n", d)
		}
	}
	return nil
}

// cmdTrustCheck connects to a peer as delivery would and prints what passes
// and what fails.
func cmdTrustCheck(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "trust check", "trust check HOST:PORT [--name NAME] [--domain DOMAIN] [--from ADDR]", 1)
	name := f.String("name", "", "name the peer's certificate must be valid for (default: HOST)")
	domain := f.String("domain", "", "a peer domain to look up on the whitelist")
	from := f.String("from", "", "reverse-path of the test MAIL command (default: postmaster@ the domain of hostname)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	cfg, err := f.loadConfig()
	if err != nil {
		return err
	}
	sp, err := server.OpenTrust(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	var cert tls.Certificate
	if cfg.Trust.ClientCert != "" {
		cert, err = tls.LoadX509KeyPair(cfg.Trust.ClientCert, cfg.Trust.ClientKey)
	} else {
		cert, err = certs.Load(cfg.TLS.Cert, cfg.TLS.Key, cfg.DataDir, cfg.Hostname)
	}
	if err != nil {
		return fmt.Errorf("our certificate: %w", err)
	}
	sender := *from
	if sender == "" {
		d := cfg.Hostname
		if _, rest, ok := strings.Cut(d, "."); ok && strings.Contains(rest, ".") {
			d = rest
		}
		sender = "postmaster@" + d
	}
	steps := smtp.CheckPeer(ctx, smtp.CheckOptions{
		Addr: pos[0], Name: *name, Hostname: cfg.Hostname, Space: sp, ClientCert: &cert, From: sender, Domain: *domain,
	})
	for _, s := range steps {
		verdict := "PASS"
		if !s.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(e.stdout, "%s  %-20s %s\n", verdict, s.Rule, s.Detail)
	}
	if !smtp.CheckPassed(steps) {
		return errors.New("the peer does not pass every rule of the trust space")
	}
	fmt.Fprintln(e.stdout, "the peer passes every rule of the trust space")
	return nil
}
