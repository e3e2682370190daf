package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"

	"caduceus/internal/directory"
	"caduceus/internal/server"
)

// withDirectory takes --config out of args, opens the node's directory and
// hands the rest of the arguments to fn, which parses its own flags.
func withDirectory(ctx context.Context, e env, name string, args []string, fn func(d *directory.Directory, rest []string) error) error {
	cfgPath, rest := splitConfig(args)
	f := newFlags(e, name, name, -1)
	f.FlagSet.Set("config", cfgPath)
	cfg, err := f.loadConfig()
	if err != nil {
		return err
	}
	n, err := server.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer n.Close()
	d, err := directory.Open(ctx, n.Store, cfg.DataDir)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(d, rest)
}

// splitConfig removes "--config FILE" (or "--config=FILE", with one or two
// dashes) from args.
func splitConfig(args []string) (string, []string) {
	var path string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--config" || a == "-config":
			if i+1 < len(args) {
				path = args[i+1]
				i++
			}
		case len(a) > 9 && a[:9] == "--config=":
			path = a[9:]
		case len(a) > 8 && a[:8] == "-config=":
			path = a[8:]
		default:
			rest = append(rest, a)
		}
	}
	return path, rest
}

func cmdDirectoryImport(ctx context.Context, e env, args []string) error {
	if wantsHelp(args) {
		return helpShown(directory.RunImport(ctx, nil, args, e.stdout, e.stderr))
	}
	return withDirectory(ctx, e, "directory import", args, func(d *directory.Directory, rest []string) error {
		return directory.RunImport(ctx, d, rest, e.stdout, e.stderr)
	})
}

func cmdDirectorySearch(ctx context.Context, e env, args []string) error {
	if wantsHelp(args) {
		return helpShown(directory.RunSearch(ctx, nil, args, e.stdout, e.stderr))
	}
	return withDirectory(ctx, e, "directory search", args, func(d *directory.Directory, rest []string) error {
		return directory.RunSearch(ctx, d, rest, e.stdout, e.stderr)
	})
}

func cmdDirectorySynth(ctx context.Context, e env, args []string) error {
	_, rest := splitConfig(args)
	return helpShown(directory.RunSynth(ctx, rest, e.stdout, e.stderr))
}

// helpShown turns the flag package's "help requested" into errHelp, so that
// --help exits 0.
func helpShown(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	return err
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}
