package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"caduceus/internal/audit"
	"caduceus/internal/core"
	"caduceus/internal/server"
)

// cli is the actor of every operator command.
var cli = core.System("cli")

// withNode parses flags, opens the node, runs f and closes the node.
func withNode(ctx context.Context, f *flags, args []string, fn func(n *server.Node, pos []string) error) error {
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	n, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	return fn(n, pos)
}

func cmdDomainAdd(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "domain add", "domain add NAME", 1)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		if err := n.Core.AddDomain(ctx, cli, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "domain %s added\n", pos[0])
		return nil
	})
}

func cmdDomainManager(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "domain manager", "domain manager DOMAIN [--name NAME --address ADDR --phone PHONE | --clear]", 1)
	name := f.String("name", "", "the manager's name, as the people of the domain see it")
	address := f.String("address", "", "the manager's e-mail address, where \"Vos informations Gestionnaire\" writes")
	phone := f.String("phone", "", "the manager's phone number")
	clear := f.Bool("clear", false, "remove the domain's manager contact")
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		if *name != "" || *address != "" || *phone != "" || *clear {
			c := core.ManagerContact{Domain: pos[0], Name: *name, Address: *address, Phone: *phone}
			if *clear {
				c = core.ManagerContact{Domain: pos[0]}
			} else if *name == "" || *address == "" {
				return errors.New("--name and --address are required (or --clear)")
			}
			if err := n.Core.SetManagerContact(ctx, cli, c); err != nil {
				return err
			}
		}
		c, err := n.Core.DomainManager(ctx, cli, pos[0])
		if err != nil {
			return err
		}
		if c.Name == "" && c.Address == "" {
			fmt.Fprintf(e.stdout, "%s: no manager contact\n", c.Domain)
			return nil
		}
		fmt.Fprintf(e.stdout, "%s: %s <%s> %s\n", c.Domain, c.Name, c.Address, c.Phone)
		return nil
	})
}

func cmdDomainList(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "domain list", "domain list", 0)
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		ds, err := n.Core.Domains(ctx)
		for _, d := range ds {
			fmt.Fprintln(e.stdout, d)
		}
		return err
	})
}

func cmdDomainRemove(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "domain remove", "domain remove NAME", 1)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		if err := n.Core.RemoveDomain(ctx, cli, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "domain %s removed\n", pos[0])
		return nil
	})
}

func cmdUserAdd(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "user add", `user add ADDR --name "NAME" [--password-stdin] [--notify-email ADDR] [--national-id ID]`, 1)
	name := f.String("name", "", "display name (required)")
	pwStdin := f.Bool("password-stdin", false, "read the password from the first line of stdin")
	notify := f.String("notify-email", "", "address for notifications and login codes")
	natID := f.String("national-id", "", "national identifier (idNatPS, 8+RPPS) for card and Pro Santé Connect login")
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		u := core.NewUser{Address: pos[0], Name: *name, NotifyEmail: *notify, NationalID: *natID}
		if *pwStdin {
			pw, err := readSecret(e.stdin)
			if err != nil {
				return err
			}
			u.Password = pw
		}
		a, err := n.Core.AddUser(ctx, cli, u)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "user %s added with a personal mailbox\n", a.Address)
		return nil
	})
}

func cmdUserList(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "user list", "user list", 0)
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		users, err := n.Core.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tNAME\tNOTIFY\tSTATE")
		for _, u := range users {
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Address, u.Name, u.NotifyEmail, state)
		}
		return tw.Flush()
	})
}

func cmdUserPasswd(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "user passwd", "user passwd ADDR --password-stdin", 1)
	f.Bool("password-stdin", true, "read the new password from the first line of stdin (always on)")
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		pw, err := readSecret(e.stdin)
		if err != nil {
			return err
		}
		if err := n.Core.SetPassword(ctx, cli, pos[0], pw); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "password of %s changed\n", pos[0])
		return nil
	})
}

func cmdUserDisable(ctx context.Context, e env, args []string) error {
	return setDisabled(ctx, e, args, true)
}

func cmdUserRole(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "user role", "user role ADDR manager|none --domain DOMAIN", 2)
	domain := f.String("domain", "", "the domain the role is for (required)")
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		if *domain == "" {
			return errors.New("--domain is required: a manager manages one domain")
		}
		if err := n.Core.SetRole(ctx, cli, pos[0], *domain, core.Role(pos[1])); err != nil {
			return err
		}
		if core.Role(pos[1]) == core.RoleManager {
			fmt.Fprintf(e.stdout, "%s manages %s: the managers' console is at /admin\n", pos[0], *domain)
		} else {
			fmt.Fprintf(e.stdout, "%s no longer manages %s\n", pos[0], *domain)
		}
		return nil
	})
}

func cmdUserEnable(ctx context.Context, e env, args []string) error {
	return setDisabled(ctx, e, args, false)
}

func setDisabled(ctx context.Context, e env, args []string, disabled bool) error {
	word := "enable"
	if disabled {
		word = "disable"
	}
	f := newFlags(e, "user "+word, "user "+word+" ADDR", 1)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		if err := n.Core.SetDisabled(ctx, cli, pos[0], disabled); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "user %s %sd\n", pos[0], word)
		return nil
	})
}

func cmdUserRemove(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "user remove", "user remove ADDR", 1)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		if err := n.Core.RemoveUser(ctx, cli, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "user %s and their personal mailbox removed\n", pos[0])
		return nil
	})
}

func cmdMailboxAdd(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "mailbox add", `mailbox add ADDR --kind org|app|cab --name "NAME" [--owner USER]`, 1)
	kind := f.String("kind", "org", "org (organisational), app (applicative) or cab (practice)")
	name := f.String("name", "", "display name (required)")
	owner := f.String("owner", "", "owning account, if any")
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		k, err := core.ParseKind(*kind)
		if err != nil {
			return err
		}
		if k == core.KindPersonal {
			return fmt.Errorf("personal mailboxes come with their user: caduceus user add")
		}
		mb, err := n.Core.AddMailbox(ctx, cli, pos[0], k, *name, *owner)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "mailbox %s (%s) added\n", mb.Address, mb.Kind)
		return nil
	})
}

func cmdMailboxList(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "mailbox list", "mailbox list", 0)
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		mbs, err := n.Core.Mailboxes(ctx, cli)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tKIND\tNAME\tUSED\tQUOTA")
		for _, m := range mbs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", m.Address, m.Kind, m.Name, m.UsedBytes, m.QuotaBytes)
		}
		return tw.Flush()
	})
}

func cmdMailboxGrant(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "mailbox grant", "mailbox grant ADDR USER RIGHTS   (RIGHTS: letters lrswipkxtea12, names read,seen,send-as…, or all, read-only, member)", 3)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		r, err := core.ParseRights(pos[2])
		if err != nil {
			return err
		}
		mb, err := n.Core.MailboxByAddress(ctx, cli, pos[0])
		if err != nil {
			return err
		}
		if err := n.Core.SetRights(ctx, cli, mb.ID, pos[1], r); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s now holds %s (%s) on %s\n", pos[1], r, r.Names(), mb.Address)
		return nil
	})
}

func cmdMailboxRevoke(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "mailbox revoke", "mailbox revoke ADDR USER", 2)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		mb, err := n.Core.MailboxByAddress(ctx, cli, pos[0])
		if err != nil {
			return err
		}
		if err := n.Core.SetRights(ctx, cli, mb.ID, pos[1], 0); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s holds no rights on %s any more\n", pos[1], mb.Address)
		return nil
	})
}

func cmdMailboxACL(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "mailbox acl", "mailbox acl ADDR", 1)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		mb, err := n.Core.MailboxByAddress(ctx, cli, pos[0])
		if err != nil {
			return err
		}
		grants, err := n.Core.ACL(ctx, cli, mb.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tRIGHTS\tNAMES")
		for _, g := range grants {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Address, g.Rights, g.Rights.Names())
		}
		return tw.Flush()
	})
}

func cmdMailboxStats(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "mailbox stats", "mailbox stats ADDR [--json]", 1)
	asJSON := f.Bool("json", false, `print [{"folder":…,"messages":…,"unseen":…,"bytes":…}]`)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		mb, err := n.Core.MailboxByAddress(ctx, cli, pos[0])
		if err != nil {
			return err
		}
		stats, err := n.Core.Stats(ctx, cli, mb.ID)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			return enc.Encode(stats)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "FOLDER\tMESSAGES\tUNSEEN\tBYTES\t")
		for _, s := range stats {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", s.Folder, s.Messages, s.Unseen, s.Bytes)
		}
		return tw.Flush()
	})
}

func cmdQueueList(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "queue list", "queue list", 0)
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		q, err := n.Core.OutboundList(ctx, cli)
		if err != nil {
			return err
		}
		if len(q) == 0 {
			fmt.Fprintln(e.stdout, "queue empty")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tFROM\tTO\tSIZE\tATTEMPTS\tNEXT\tLAST ERROR")
		for _, o := range q {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\n", o.ID, o.MailFrom, o.Rcpt, o.Size, o.Attempts, o.NextAttempt.Format(time.DateTime), o.LastError)
		}
		return tw.Flush()
	})
}

func cmdQueueRetry(ctx context.Context, e env, args []string) error {
	return queueOp(ctx, e, args, "retry", func(n *server.Node, id int64) error { return n.Core.RetryOutboundNow(ctx, cli, id) })
}

func cmdQueueDrop(ctx context.Context, e env, args []string) error {
	return queueOp(ctx, e, args, "drop", func(n *server.Node, id int64) error { return n.Core.DropOutbound(ctx, cli, id) })
}

func queueOp(ctx context.Context, e env, args []string, word string, op func(*server.Node, int64) error) error {
	f := newFlags(e, "queue "+word, "queue "+word+" ID", 1)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil {
			return fmt.Errorf("queue id %q: want a number from queue list", pos[0])
		}
		if err := op(n, id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "queue entry %d: %s done\n", id, word)
		return nil
	})
}

func cmdAuditList(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "audit list", "audit list [--actor ADDR] [--action NAME] [--limit N]", 0)
	actor := f.String("actor", "", "only this actor")
	action := f.String("action", "", "only this action (login, send, deliver, rights.set…)")
	limit := f.Int("limit", 50, "at most this many entries, newest first")
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		entries, err := n.Core.Audit().List(ctx, audit.Query{Actor: *actor, Action: *action, Limit: *limit})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tACTOR\tDOOR\tREMOTE\tACTION\tTARGET\tRESULT\tDETAIL")
		for _, en := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", en.At.Format(time.DateTime), en.Actor, en.Door, en.Remote, en.Action, en.Target, en.Result, en.Detail)
		}
		return tw.Flush()
	})
}

func cmdAuditPrune(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "audit prune", "audit prune [--older-than DURATION]", 0)
	older := f.Duration("older-than", audit.MinRetention, "remove the entries older than this; a year at the least")
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		before := time.Now().Add(-*older)
		removed, err := n.Core.Audit().Prune(ctx, audit.Entry{Actor: "system", Door: "cli"}, before)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d audit entries from before %s removed; the chain goes on from the last of them\n", removed, before.Format(time.DateOnly))
		return nil
	})
}

func cmdAuditVerify(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "audit verify", "audit verify", 0)
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		var progress func(int64)
		if isTerminal(e.stderr) {
			progress = func(done int64) { fmt.Fprintf(e.stderr, "\rverifying the audit chain: %d entries", done) }
		}
		start := time.Now()
		v, err := n.Core.Audit().Verify(ctx, progress)
		if progress != nil {
			fmt.Fprintln(e.stderr)
		}
		if err != nil {
			return err
		}
		if b := v.Break; b != nil {
			fmt.Fprintf(e.stdout, "audit trail broken at entry %d (%s): %s; the %d entries before it verify\n",
				b.ID, b.At.UTC().Format(time.DateTime), b.Reason, v.Entries)
			return fmt.Errorf("audit trail broken at entry %d", b.ID)
		}
		fmt.Fprintf(e.stdout, "audit trail intact: %d entries verified in %v\n", v.Entries, time.Since(start).Round(time.Millisecond))
		return nil
	})
}

func cmdAuditExport(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "audit export", "audit export [--since DATE] [--until DATE] [--actor ADDR] [--action NAME] > FILE.csv", 0)
	since := f.String("since", "", "only entries at or after DATE (2026-11-01 or RFC 3339, UTC)")
	until := f.String("until", "", "only entries before DATE (2026-12-01 or RFC 3339, UTC)")
	actor := f.String("actor", "", "only this actor")
	action := f.String("action", "", "only this action (login, send, deliver, rights.set…)")
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		q := audit.Query{Actor: *actor, Action: *action}
		var err error
		if q.Since, err = parseWhen("since", *since); err != nil {
			return err
		}
		if q.Until, err = parseWhen("until", *until); err != nil {
			return err
		}
		w := bufio.NewWriter(e.stdout)
		count, err := n.Core.Audit().Export(ctx, w, q)
		if err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		fmt.Fprintf(e.stderr, "%d audit entries exported\n", count)
		return nil
	})
}

// parseWhen reads a --since or --until value: a date (midnight UTC) or an RFC
// 3339 time; empty means no bound.
func parseWhen(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: want a date (2026-11-01) or an RFC 3339 time (2026-11-01T08:00:00Z)", flag, v)
	}
	return t, nil
}

func cmdCheck(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "check", "check [--mailboxes]", 0)
	mailboxes := f.Bool("mailboxes", false, "print each mailbox's folders, messages, bytes and content hash (compare two copies)")
	return withNode(ctx, f, args, func(n *server.Node, _ []string) error {
		if err := runCheck(ctx, e, n, "checking blobs"); err != nil {
			return err
		}
		if *mailboxes {
			ds, err := n.Core.Digests(ctx)
			if err != nil {
				return err
			}
			for _, d := range ds {
				fmt.Fprintf(e.stdout, "%s\t%d folders\t%d messages\t%d bytes\tsha256 %s\n", d.Address, d.Folders, d.Messages, d.Bytes, d.Hash)
			}
		}
		fmt.Fprintln(e.stdout, "store ok")
		return nil
	})
}
