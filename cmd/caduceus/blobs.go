package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"caduceus/internal/blob"
	"caduceus/internal/core"
	"caduceus/internal/server"
)

func cmdBlobsCompact(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "blobs compact", "blobs compact [--threshold SHARE] [--grace DURATION]", 0)
	f.FlagSet.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: caduceus blobs compact [--threshold SHARE] [--grace DURATION]

Gives back the disk space of expunged messages. Closed blob segments whose
share of dead bytes reaches the threshold have their live messages moved, still
encrypted, into the current segment; segments compacted at least the grace
period ago are then removed. The server does this itself every
[blobs] compact_interval; run it by hand to reclaim space now. It is safe while
the server runs, and after an interruption at any point.

Flags:
`)
		f.FlagSet.PrintDefaults()
	}
	threshold := f.Float64("threshold", 0, "share of dead bytes from which a segment is compacted (default: [blobs] compact_threshold)")
	grace := f.Duration("grace", -1, "how long compacted segments stay on disk before removal (default: [blobs] compact_grace); 0 removes them now: only when no server runs")
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		opts := core.CompactOptions{Threshold: n.Config.Blobs.CompactThreshold, Grace: n.Config.Blobs.CompactGrace.Duration}
		if *threshold != 0 {
			if *threshold < 0 || *threshold > 1 {
				return fmt.Errorf("--threshold %v: want a share above 0 and at most 1", *threshold)
			}
			opts.Threshold = *threshold
		}
		if *grace >= 0 {
			opts.Grace = *grace
		}
		var last time.Time
		if isTerminal(e.stderr) {
			opts.Progress = func(done, total int64) {
				if time.Since(last) < 200*time.Millisecond && done < total {
					return
				}
				last = time.Now()
				fmt.Fprintf(e.stderr, "\rmoving live blobs: %s of %s ", size(done), size(total))
			}
		}
		res, err := n.Core.CompactBlobs(ctx, cli, opts)
		if !last.IsZero() {
			fmt.Fprintln(e.stderr)
		}
		if errors.Is(err, blob.ErrBusy) {
			return fmt.Errorf("%w: try again when it ends", err)
		}
		fmt.Fprintf(e.stdout, "%d segment(s) compacted: %d live blob(s) moved (%s), %d dead blob(s) dropped\n",
			res.Compacted, res.Moved, size(res.MovedBytes), res.DeadRows)
		fmt.Fprintf(e.stdout, "%d segment(s) removed: %s reclaimed in %v\n", res.Removed, size(res.Reclaimed), res.Duration.Round(time.Millisecond))
		if res.Compacted > 0 && opts.Grace > 0 {
			fmt.Fprintf(e.stdout, "segments compacted now are removed by a run %v from now or later\n", opts.Grace)
		}
		return err
	})
}

func cmdBlobsStats(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "blobs stats", "blobs stats [--json]", 0)
	asJSON := f.Bool("json", false, "print JSON")
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		stats, err := n.Core.BlobStats(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if stats == nil {
				stats = []core.SegmentStats{}
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(stats)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "SEGMENT\tSTATE\tSIZE\tLIVE BLOBS\tLIVE\tDEAD\t")
		var disk, live int64
		for _, s := range stats {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t\n", s.Number, s.State, size(s.Size), s.LiveBlobs, size(s.LiveBytes), share(s.Size-s.LiveBytes, s.Size))
			disk += s.Size
			live += s.LiveBytes
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d segment(s), %s on disk, %s live, %s dead\n", len(stats), size(disk), size(live), share(disk-live, disk))
		return nil
	})
}

// size writes a byte count for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

// share writes part of whole as a percentage.
func share(part, whole int64) string {
	if whole == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(part)/float64(whole))
}
