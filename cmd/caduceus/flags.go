package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"caduceus/internal/config"
	"caduceus/internal/server"
)

// flags is a command's flag set with the --config flag every command takes.
type flags struct {
	*flag.FlagSet
	configPath *string
	usage      string
	nargs      int
}

// newFlags starts a command's flags; usage is its synopsis line and nargs the
// number of positional arguments it wants (-1: any).
func newFlags(e env, name, usage string, nargs int) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	f := &flags{FlagSet: fs, usage: usage, nargs: nargs}
	f.configPath = fs.String("config", "", "configuration file")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: caduceus %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return f
}

// parse reads flags placed before, between or after the positional arguments.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, err
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if f.nargs >= 0 && len(pos) != f.nargs {
		f.Usage()
		return nil, fmt.Errorf("want %d argument(s), have %d (usage: caduceus %s)", f.nargs, len(pos), f.usage)
	}
	return pos, nil
}

// loadConfig reads the configuration the command was pointed at.
func (f *flags) loadConfig() (config.Config, error) {
	path := *f.configPath
	if path == "" {
		path = defaultConfigPath()
	}
	return config.Load(path)
}

// open opens the node (store, blobs, core) without listeners.
func (f *flags) open(ctx context.Context) (*server.Node, error) {
	cfg, err := f.loadConfig()
	if err != nil {
		return nil, err
	}
	return server.Open(ctx, cfg, slog.New(slog.DiscardHandler))
}

func defaultConfigPath() string {
	if p := os.Getenv("CADUCEUS_CONFIG"); p != "" {
		return p
	}
	dev := filepath.Join(devDirDefault, "caduceus.toml")
	if _, err := os.Stat(dev); err == nil {
		return dev
	}
	return "/etc/caduceus/caduceus.toml"
}

// readSecret reads a password from stdin: the first line, without its newline.
func readSecret(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	s := strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
	if s == "" {
		return "", errors.New("empty password on stdin")
	}
	return s, nil
}

// isTerminal tells whether w is a terminal, where progress lines are welcome.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
