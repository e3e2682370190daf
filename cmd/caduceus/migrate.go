package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"

	"caduceus/internal/audit"
	"caduceus/internal/blob"
	"caduceus/internal/config"
	"caduceus/internal/migrate"
	"caduceus/internal/server"
	"caduceus/internal/store"
)

func cmdMigrate(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "migrate", "migrate --from OLD.toml --to NEW.toml [--batch N]", 0)
	from := f.String("from", "", "configuration of the installation to copy (only read)")
	to := f.String("to", "", "configuration of the new installation (empty database and blobs)")
	batch := f.Int("batch", 500, "rows copied and committed at a time")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		f.Usage()
		return errors.New("--from and --to are required")
	}
	src, err := config.Load(*from)
	if err != nil {
		return err
	}
	dst, err := config.Load(*to)
	if err != nil {
		return err
	}
	if src.Database == dst.Database && src.Blobs.Store == dst.Blobs.Store && sameDir(src.DataDir, dst.DataDir) {
		return errors.New("--from and --to name the same installation")
	}
	key, err := os.ReadFile(server.KeyFile(src))
	if err != nil {
		return fmt.Errorf("read the source's blob key: %w", err)
	}
	if len(key) != blob.KeySize {
		return fmt.Errorf("blob key %s: want %d bytes, have %d", server.KeyFile(src), blob.KeySize, len(key))
	}
	if err := placeKey(e, server.KeyFile(dst), key); err != nil {
		return err
	}
	start := time.Now()
	res, err := copyInstallation(ctx, e, src, dst, key, migrate.Options{Batch: *batch})
	if err != nil {
		return err
	}
	took := time.Since(start)
	start = time.Now()
	var record *audit.Entry
	if !res.AlreadyDone {
		record = &audit.Entry{Actor: "system", Door: "cli", Action: "migrate", Target: dst.Hostname, Result: "ok",
			Detail: fmt.Sprintf("from %s, %d rows, %d segments", engines(src), res.Rows, res.Segments+res.SegmentsPresent)}
	}
	msgs, err := checkMigrated(ctx, e, dst, record)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "copied %d segments (%s; %d already there), %d tables, %d rows (%d messages) in %s",
		res.Segments, mib(res.Bytes), res.SegmentsPresent, res.Tables, res.Rows, msgs, took.Round(time.Millisecond))
	if s := took.Seconds(); s > 0 {
		fmt.Fprintf(e.stdout, ", %.0f messages/s", float64(msgs)/s)
	}
	fmt.Fprintln(e.stdout)
	fmt.Fprintf(e.stdout, "target checked (every blob read) and its search index built in %s: store ok, same rows and mailbox digests as the source\n",
		time.Since(start).Round(time.Millisecond))
	if res.DirectoryReset {
		fmt.Fprintln(e.stdout, "the national directory is not copied: run `caduceus directory import` on the target")
	}
	return nil
}

// placeKey puts the source's blob key where the target's configuration
// looks for it, or checks that the key there is the same.
func placeKey(e env, path string, key []byte) error {
	have, err := os.ReadFile(path)
	switch {
	case err == nil:
		if !bytes.Equal(have, key) {
			return fmt.Errorf("the target's key file %s holds another key: the blobs are copied sealed, the target needs the source's key", path)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("read the target's blob key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create the target's key folder: %w", err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return fmt.Errorf("write the target's blob key: %w", err)
	}
	fmt.Fprintf(e.stderr, "the source's blob key copied to %s\n", path)
	return nil
}

// copyInstallation opens the source read-only and the target as a node
// would, copies, and compares the two. opts.Progress is set here.
func copyInstallation(ctx context.Context, e env, srcCfg, dstCfg config.Config, key []byte, opts migrate.Options) (migrate.Result, error) {
	var res migrate.Result
	srcStore, err := store.OpenReadOnly(ctx, srcCfg.Database, srcCfg.DataDir)
	if err != nil {
		return res, fmt.Errorf("source: %w", err)
	}
	defer srcStore.Close()
	if srcCfg.Database == "" {
		if fi, err := os.Stat(filepath.Join(srcCfg.DataDir, "caduceus.db-wal")); err == nil && fi.Size() > 0 {
			fmt.Fprintln(e.stderr, "warning: the source database has a write-ahead log: its node is running or did not stop cleanly; stop it, or what it writes meanwhile is not copied")
		}
	}
	var srcBlobs *blob.Store
	if srcCfg.Blobs.Store == "" {
		srcBlobs, err = blob.OpenReadOnly(filepath.Join(srcCfg.DataDir, "blobs"), key)
	} else {
		srcBlobs, err = server.OpenBlobs(ctx, srcCfg, key)
	}
	if err != nil {
		return res, fmt.Errorf("source: %w", err)
	}
	defer srcBlobs.Close()
	dstStore, err := store.Open(ctx, dstCfg.Database, dstCfg.DataDir)
	if err != nil {
		return res, fmt.Errorf("target: %w", err)
	}
	defer dstStore.Close()
	dstBlobs, err := server.OpenBlobs(ctx, dstCfg, key)
	if err != nil {
		return res, fmt.Errorf("target: %w", err)
	}
	defer dstBlobs.Close()

	bar := newMigrateBar(e)
	opts.Progress = bar.show
	id := server.KeyID(key)
	res, err = migrate.Run(ctx, migrate.Side{Store: srcStore, Blobs: srcBlobs, KeyID: id},
		migrate.Side{Store: dstStore, Blobs: dstBlobs, KeyID: id}, opts)
	bar.finish()
	if err != nil {
		return res, err
	}
	for _, t := range res.Skipped {
		fmt.Fprintf(e.stderr, "not copied: %s\n", t)
	}
	diffs, err := migrate.Verify(ctx, srcStore, dstStore)
	if err != nil {
		return res, err
	}
	for _, d := range diffs {
		fmt.Fprintln(e.stdout, d)
	}
	if len(diffs) > 0 {
		return res, fmt.Errorf("the target differs from the source in %d way(s); was the source node running?", len(diffs))
	}
	return res, nil
}

// checkMigrated opens the target as a node, checks it (every blob read and
// decrypted, counters, audit chain) and computes the message models, which
// fill its search indexes; then it writes record, when set, to the target's
// audit trail. It returns the number of messages.
func checkMigrated(ctx context.Context, e env, cfg config.Config, record *audit.Entry) (int64, error) {
	n, err := server.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	defer n.Close()
	if err := runCheck(ctx, e, n, "checking the target"); err != nil {
		return 0, err
	}
	p, err := n.Core.MigrateModels(ctx, 0, nil)
	if err != nil {
		return 0, fmt.Errorf("index the target's messages: %w", err)
	}
	if p.Failed > 0 {
		return 0, fmt.Errorf("index the target's messages: %d blob(s) unreadable", p.Failed)
	}
	var msgs int64
	if err := n.Store.QueryRow(ctx, `SELECT COUNT(*) FROM messages`).Scan(&msgs); err != nil {
		return 0, fmt.Errorf("count messages: %w", err)
	}
	if record != nil {
		if err := n.Core.Audit().Write(ctx, *record); err != nil {
			return 0, fmt.Errorf("audit the migration: %w", err)
		}
	}
	return msgs, nil
}

// engines names the stores of an installation, as the audit trail says where
// it came from.
func engines(cfg config.Config) string {
	db, blobs := "sqlite", "files"
	if cfg.Database != "" {
		db = "postgres"
	}
	if cfg.Blobs.Store != "" {
		blobs = "s3"
	}
	return db + "+" + blobs
}

// migrateBar shows a migration's progress: a bar per phase on a terminal,
// a line every few seconds elsewhere (a log).
type migrateBar struct {
	e     env
	on    bool
	phase string
	bar   *progressbar.ProgressBar
	shown time.Time // when the last line was written, off a terminal
	done  int64     // what it said
}

// migrateLineEvery is how often a line is written off a terminal.
const migrateLineEvery = 5 * time.Second

func newMigrateBar(e env) *migrateBar { return &migrateBar{e: e, on: isTerminal(e.stderr)} }

func (b *migrateBar) show(p migrate.Progress) {
	if !b.on {
		if p.Phase == b.phase && (p.Done == b.done || time.Since(b.shown) < migrateLineEvery && p.Done < p.Total) {
			return
		}
		b.phase, b.done, b.shown = p.Phase, p.Done, time.Now()
		if p.Phase == "blobs" {
			fmt.Fprintf(b.e.stderr, "migrate: blobs %s of %s\n", mib(p.Done), mib(p.Total))
		} else {
			fmt.Fprintf(b.e.stderr, "migrate: rows %d of %d (%s)\n", p.Done, p.Total, p.Table)
		}
		return
	}
	if p.Phase != b.phase {
		b.finish()
		b.phase = p.Phase
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(b.e.stderr),
			progressbar.OptionSetDescription(p.Phase),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionShowCount(),
		}
		if p.Phase == "blobs" {
			opts = append(opts, progressbar.OptionShowBytes(true))
		}
		b.bar = progressbar.NewOptions64(p.Total, opts...)
	}
	if p.Table != "" {
		b.bar.Describe("rows: " + p.Table)
	}
	b.bar.Set64(p.Done)
}

func (b *migrateBar) finish() {
	if b.bar != nil {
		b.bar.Finish()
		fmt.Fprintln(b.e.stderr)
		b.bar = nil
	}
}

// sameDir tells whether two data folders are one.
func sameDir(a, b string) bool {
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	if err1 != nil || err2 != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(ai, bi)
}
