package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"caduceus/internal/backup"
	"caduceus/internal/blob"
	"caduceus/internal/config"
	"caduceus/internal/server"
)

func cmdBackup(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "backup", "backup DIR", 1)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		if n.Config.Database != "" {
			return errors.New("this node keeps its metadata in PostgreSQL: back it up with pg_dump or a base backup, and the blobs with the storage's own tools (docs/backup.md)")
		}
		if n.Config.Blobs.Store != "" {
			return errors.New("this node keeps its blobs in an S3 bucket: back the bucket up with its versioning or replication, not with this command (docs/scaling.md)")
		}
		dir := pos[0]
		verify := func(dir string) error {
			cfg := n.Config
			cfg.DataDir, cfg.KeyFile = dir, server.KeyFile(n.Config)
			return checkNode(ctx, e, cfg, "checking the backup")
		}
		src := backup.Source{Store: n.Store, Blobs: n.Blobs, Hostname: n.Config.Hostname, KeyID: n.KeyID()}
		m, err := backup.Create(ctx, src, dir, verify, progressLine(e, "copying blobs"))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "backup in %s: %d files, %s, checked: store ok\n", dir, len(m.Files), mib(m.Size()))
		fmt.Fprintf(e.stdout, "the blobs stay encrypted: keep the key file %s (key id %s) safe and apart from the backup\n", server.KeyFile(n.Config), m.KeyID)
		return nil
	})
}

func cmdRestore(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "restore", "restore DIR", 1)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	cfg, err := f.loadConfig()
	if err != nil {
		return err
	}
	if cfg.Database != "" {
		return errors.New("restore puts a backup back on an embedded node; this one names a PostgreSQL database (use pg_restore, docs/backup.md)")
	}
	if cfg.Blobs.Store != "" {
		return errors.New("restore puts a backup back on an embedded node; this one keeps its blobs in an S3 bucket (restore the bucket's versions, docs/scaling.md)")
	}
	keyFile := server.KeyFile(cfg)
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return fmt.Errorf("read the blob key %s (the backed-up node's key file must be in place first): %w", keyFile, err)
	}
	if len(key) != blob.KeySize {
		return fmt.Errorf("blob key %s: want %d bytes, have %d", keyFile, blob.KeySize, len(key))
	}
	m, err := backup.Restore(ctx, pos[0], cfg.DataDir, server.KeyID(key), progressLine(e, "restoring"))
	if err != nil {
		return err
	}
	if err := checkNode(ctx, e, cfg, "checking the restored node"); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backup of %s from %s restored into %s (%s), checked: store ok\n",
		m.Hostname, m.Created.Format("2006-01-02 15:04 MST"), cfg.DataDir, mib(m.Size()))
	return nil
}

// checkNode opens the node cfg names and runs the store check on it.
func checkNode(ctx context.Context, e env, cfg config.Config, what string) error {
	n, err := server.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer n.Close()
	return runCheck(ctx, e, n, what)
}

// runCheck runs the store check on n, printing what it finds, with a
// progress line on a terminal; any problem fails it.
func runCheck(ctx context.Context, e env, n *server.Node, what string) error {
	var progress func(done, total int)
	if isTerminal(e.stderr) {
		progress = func(done, total int) {
			fmt.Fprintf(e.stderr, "\r%s: %d/%d blobs", what, done, total)
			if done == total {
				fmt.Fprintln(e.stderr)
			}
		}
	}
	problems, err := n.Core.Check(ctx, progress)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(e.stdout, p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problem(s) found", len(problems))
	}
	return nil
}

// progressLine returns a progress function that rewrites one line on a
// terminal, or nil elsewhere.
func progressLine(e env, what string) backup.Progress {
	if !isTerminal(e.stderr) {
		return nil
	}
	return func(done, total int64) {
		fmt.Fprintf(e.stderr, "\r%s: %s of %s", what, mib(done), mib(total))
		if done == total {
			fmt.Fprintln(e.stderr)
		}
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
