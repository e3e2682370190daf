package main

import (
	"context"
	"fmt"
	"time"

	"caduceus/internal/server"
)

func cmdDKIMAdd(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "dkim add", "dkim add DOMAIN [--selector NAME]", 1)
	selector := f.String("selector", "", `DNS selector of the key (default "cYYYYMM")`)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		k, err := n.Core.AddDKIMKey(ctx, cli, pos[0], *selector)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "DKIM key %s added for %s; it signs the domain's outgoing mail from now on.\n", k.Selector, k.Domain)
		fmt.Fprintf(e.stdout, "Publish this TXT record in DNS:\n\n%s. IN TXT %s\n", k.RecordName, txtStrings(k.Record))
		return nil
	})
}

func cmdDKIMList(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "dkim list", "dkim list", 0)
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		keys, err := n.Core.DKIMKeys(ctx, cli)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			fmt.Fprintln(e.stdout, "no DKIM key: outgoing mail is not signed")
		}
		for _, k := range keys {
			fmt.Fprintf(e.stdout, "%s  %s  added %s\n%s. IN TXT %s\n\n", k.Domain, k.Selector, k.Created.UTC().Format(time.DateTime), k.RecordName, txtStrings(k.Record))
		}
		return nil
	})
}

// txtStrings writes a record value as quoted strings of at most 255 octets
// each, as a zone file needs for a 2048-bit key (RFC 1035 §3.3.14).
func txtStrings(v string) string {
	out := ""
	for len(v) > 0 {
		n := min(len(v), 255)
		if out != "" {
			out += " "
		}
		out += `"` + v[:n] + `"`
		v = v[n:]
	}
	return out
}

func cmdMailboxReceipts(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "mailbox receipts", "mailbox receipts ADDR ask|always|never", 2)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		mb, err := n.Core.MailboxByAddress(ctx, cli, pos[0])
		if err != nil {
			return err
		}
		if err := n.Core.SetReadReceiptPolicy(ctx, cli, mb.ID, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "read receipts of %s: %s\n", mb.Address, pos[1])
		return nil
	})
}
