package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"caduceus/internal/directory"
	"caduceus/internal/directory/synth"
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
		return helpShown(runDirectoryImport(ctx, nil, args, e.stdout, e.stderr))
	}
	return withDirectory(ctx, e, "directory import", args, func(d *directory.Directory, rest []string) error {
		return runDirectoryImport(ctx, d, rest, e.stdout, e.stderr)
	})
}

func cmdDirectorySearch(ctx context.Context, e env, args []string) error {
	if wantsHelp(args) {
		return helpShown(runDirectorySearch(ctx, nil, args, e.stdout, e.stderr))
	}
	return withDirectory(ctx, e, "directory search", args, func(d *directory.Directory, rest []string) error {
		return runDirectorySearch(ctx, d, rest, e.stdout, e.stderr)
	})
}

func cmdDirectorySynth(ctx context.Context, e env, args []string) error {
	_, rest := splitConfig(args)
	return helpShown(runDirectorySynth(ctx, rest, e.stdout, e.stderr))
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

// runDirectoryImport is the body of "caduceus directory import FILE...": it imports the
// files, shows progress on stderr and prints the summary on stdout.
func runDirectoryImport(ctx context.Context, d *directory.Directory, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("directory import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caduceus directory import FILE...")
		fmt.Fprintln(stderr, "Imports PS_LibreAcces_Personne_activite, PS_LibreAcces_SavoirFaire and")
		fmt.Fprintln(stderr, "Extraction_Correspondance_MSSante (.txt, or the .zip as published), all together:")
		fmt.Fprintln(stderr, "entries missing from them leave the directory.")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("directory import: no file given")
	}
	sum, err := d.Import(ctx, fs.Args(), stderr)
	if err != nil {
		return err
	}
	return writeSummary(stdout, sum)
}

// writeSummary prints what an import did, for a person.
func writeSummary(w io.Writer, s directory.Summary) error {
	ew := &errWriter{w: w}
	ew.printf("Imported in %s: generation %d now answers searches.\n", s.Duration.Round(time.Second), s.Generation)
	tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
	for _, f := range s.Files {
		state := fmt.Sprintf("%s rows\t%s", count(f.Rows), f.Encoding)
		if f.Skipped {
			state = "not used\t"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Name, f.Kind, state)
	}
	tw.Flush()
	ew.printf("Entries: %s (added %s, updated %s, unchanged %s, removed %s)\n",
		count(s.Entries), count(s.Added), count(s.Updated), count(s.Unchanged), count(s.Removed))
	ew.printf("Rows read: %s, of which %s skills, %s folded into another entry, %s rejected\n",
		count(s.Rows), count(s.Skills), count(s.Folded), count(s.Rejected))
	for _, r := range s.Rejections {
		ew.printf("  %s\n", r)
	}
	if more := s.Rejected - len(s.Rejections); more > 0 {
		ew.printf("  and %s more rejected lines\n", count(more))
	}
	return ew.err
}

// errWriter keeps the first write error, so that printing goes on unchecked.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }

// count writes n with thin groups of thousands: 2,200,000.
func count(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// runDirectorySearch is the body of "caduceus directory search QUERY [--profession CODE]
// [--city NAME] [--limit N] [--json]" and a few more criteria. With --json it
// prints an array of entries.
func runDirectorySearch(ctx context.Context, d *directory.Directory, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("directory search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var q directory.Query
	var kind string
	var asJSON bool
	fs.StringVar(&q.Profession, "profession", "", "profession `code` (10 médecin, 21 pharmacien, 60 infirmier…)")
	fs.StringVar(&q.Specialty, "specialty", "", "specialty `code` (SM54 médecine générale…)")
	fs.StringVar(&q.City, "city", "", "city `name`")
	fs.StringVar(&q.Postcode, "postcode", "", "postcode, or its first digits")
	fs.StringVar(&q.Department, "department", "", "département `code` (69, 2A, 971)")
	fs.StringVar(&q.Organisation, "organisation", "", "words of the organisation or service")
	fs.StringVar(&kind, "kind", "", "mailbox type: PER, ORG, APP or CAB")
	fs.IntVar(&q.Limit, "limit", directory.DefaultLimit, "most entries to print")
	fs.BoolVar(&asJSON, "json", false, "print a JSON array")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caduceus directory search [QUERY] [flags]")
		fs.PrintDefaults()
	}
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	q.Text = strings.Join(words, " ")
	q.Kind = directory.MailboxKind(kind)
	res, err := d.Search(ctx, q)
	if err != nil {
		return err
	}
	if asJSON {
		entries := res.Entries
		if entries == nil {
			entries = []directory.Entry{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	ew := &errWriter{w: stdout}
	tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
	for _, e := range res.Entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\n", e.DisplayName(), cmp.Or(e.ProfessionLabel, e.Profession),
			cmp.Or(e.SpecialtyLabel, e.Specialty), e.Postcode, e.City, e.Mailbox)
	}
	tw.Flush()
	switch {
	case res.Capped:
		ew.printf("More than %s entries match: add criteria.\n", count(res.Total))
	case res.Total > len(res.Entries):
		ew.printf("%s of %s entries shown.\n", count(len(res.Entries)), count(res.Total))
	default:
		ew.printf("%s entries.\n", count(res.Total))
	}
	return ew.err
}

// parseInterleaved parses flags placed before, between or after positional
// arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// runDirectorySynth is the body of "caduceus directory synth --rows N [--dir DIR]
// [--seed N] [--zip]": it writes synthetic extraction files and prints their
// paths.
func runDirectorySynth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("directory synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", 0, "data lines of PS_LibreAcces_Personne_activite (the MSSanté file gets about a quarter as many)")
	dir := fs.String("dir", ".", "directory to write the files into")
	seed := fs.Int64("seed", 1, "seed: the same one gives the same files")
	zipped := fs.Bool("zip", false, "pack the files into their zips, as published")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rows < 1 || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("directory synth: --rows N is required")
	}
	paths, err := synth.Write(ctx, *dir, *rows, *seed)
	if err != nil {
		return err
	}
	if *zipped {
		if paths, err = synth.Zip(paths); err != nil {
			return err
		}
	}
	for _, p := range paths {
		if _, err := fmt.Fprintln(stdout, p); err != nil {
			return err
		}
	}
	return nil
}
