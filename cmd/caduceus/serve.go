package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"caduceus/internal/blob"
	"caduceus/internal/config"
	"caduceus/internal/server"
)

func cmdServe(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "serve", "serve --config FILE", 0)
	if _, err := f.parse(args); err != nil {
		return err
	}
	cfg, err := f.loadConfig()
	if err != nil {
		return err
	}
	return serve(ctx, e, cfg, nil)
}

// serve runs a node until ctx ends (SIGINT, SIGTERM), then shuts it down
// gracefully: listeners stop accepting, work in flight gets 30 seconds.
// ready, when set, is called once every listener is up.
func serve(ctx context.Context, e env, cfg config.Config, ready func(*server.Server)) error {
	logger := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if isTerminal(e.stderr) {
		logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	srv, err := server.Start(ctx, cfg, logger)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(srv)
	}
	blobs := "files in data_dir"
	if cfg.Blobs.Store != "" {
		blobs = blob.RedactS3URL(cfg.Blobs.Store)
	}
	logger.Info("caduceus started", "hostname", cfg.Hostname, "data_dir", cfg.DataDir, "blobs", blobs)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-srv.Errors():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return runErr
}
