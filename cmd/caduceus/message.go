package main

import (
	"context"
	"fmt"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/server"
)

func cmdMessageReindex(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "message reindex", "message reindex [--all] [--batch N]", 0)
	f.FlagSet.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: caduceus message reindex [--all] [--batch N]

Computes the message model (the MIME structure IMAP and the web app read) of
the messages stored before models were kept with them. A running server does
this itself in the background after start; run it by hand to finish now.
--all computes every model again (after an upgrade that says so). It is safe
while the server runs, and resumes where it stopped.

Flags:
`)
		f.FlagSet.PrintDefaults()
	}
	batch := f.Int("batch", 200, "messages per committed batch")
	all := f.Bool("all", false, "compute every model again, not only the missing ones")
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		if *all {
			if err := n.Core.ResetModels(ctx, cli); err != nil {
				return err
			}
		}
		start := time.Now()
		var last time.Time
		p, err := n.Core.MigrateModels(ctx, *batch, func(p core.ModelProgress) {
			if time.Since(last) < 200*time.Millisecond && p.Done+p.Failed < p.Total {
				return
			}
			last = time.Now()
			fmt.Fprintf(e.stderr, "\rmessage models: %d of %d", p.Done, p.Total)
		})
		if !last.IsZero() {
			fmt.Fprintln(e.stderr)
		}
		fmt.Fprintf(e.stdout, "%d message model(s) computed, %d unreadable, in %v\n", p.Done, p.Failed, time.Since(start).Round(time.Millisecond))
		return err
	})
}
