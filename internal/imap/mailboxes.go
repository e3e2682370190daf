package imap

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"caduceus/internal/core"
)

// Names: the folders of the person's own mailbox make the personal
// namespace, under their own names ("INBOX", "Sent", "Projets/2026").
// Every other mailbox the core lets them look up (an organisation's, a
// delegator's) appears in the shared namespace as
// "Shared/<address>/<folder>" (RFC 2342), with exactly the rights the
// core grants on it.
const sharedRoot = "Shared"

// place is where an IMAP mailbox name leads. The access of the person's
// own mailbox is remembered for the connection (cached is set): its ID and
// address do not change, but commands that show rights or quota read it
// afresh with current.
type place struct {
	access core.Access
	folder string // folder name in the core mailbox
	cached bool
}

// personal returns the person's own mailbox, looked up once per
// connection. The core still checks the person's rights on every call
// that names it.
func (c *conn) personal() (core.Access, error) {
	if c.home.ID != 0 {
		return c.home, nil
	}
	acc, err := c.srv.svc.MailboxByAddress(c.ctx, c.actor, c.actor.Address)
	if err != nil {
		return core.Access{}, err
	}
	c.home = acc
	return acc, nil
}

// current returns the mailbox of pl with the rights and quota the core
// grants now.
func (c *conn) current(pl place) (core.Access, error) {
	if !pl.cached {
		return pl.access, nil
	}
	return c.srv.svc.Mailbox(c.ctx, c.actor, pl.access.ID)
}

// resolve maps a client's mailbox name to a core mailbox and folder.
func (c *conn) resolve(raw string) (place, error) {
	name, err := DecodeMailbox(raw, c.w.UTF8)
	if err != nil {
		return place{}, fmt.Errorf("mailbox name: %w", core.ErrInvalid)
	}
	if rest, ok := strings.CutPrefix(name, sharedRoot+core.Delimiter); ok {
		addr, folder, _ := strings.Cut(rest, core.Delimiter)
		if folder == "" {
			return place{}, core.ErrNotFound
		}
		acc, err := c.srv.svc.MailboxByAddress(c.ctx, c.actor, addr)
		if err != nil {
			return place{}, err
		}
		if strings.EqualFold(folder, "INBOX") {
			folder = "INBOX"
		}
		return place{access: acc, folder: folder}, nil
	}
	acc, err := c.personal()
	if err != nil {
		return place{}, err
	}
	if strings.EqualFold(name, "INBOX") {
		name = "INBOX"
	}
	return place{access: acc, folder: name, cached: true}, nil
}

// folder resolves a name to an existing folder.
func (c *conn) folder(raw string) (place, core.Folder, error) {
	pl, err := c.resolve(raw)
	if err != nil {
		return place{}, core.Folder{}, err
	}
	f, err := c.srv.svc.FolderByName(c.ctx, c.actor, pl.access.ID, pl.folder)
	return pl, f, err
}

// imapName is the client's name of a folder of a mailbox.
func (c *conn) imapName(acc core.Access, folder string) string {
	if acc.Address == c.actor.Address {
		return folder
	}
	return sharedRoot + core.Delimiter + acc.Address + core.Delimiter + folder
}

// listEntry is one mailbox a LIST may return.
type listEntry struct {
	name   string
	folder *core.Folder // nil for a \Noselect container
	access core.Access
}

// entries lists every mailbox name the person can see, in order.
func (c *conn) entries() ([]listEntry, error) {
	accs, err := c.srv.svc.Mailboxes(c.ctx, c.actor)
	if err != nil {
		return nil, err
	}
	var out []listEntry
	sharedSeen := false
	for _, acc := range accs {
		if !acc.Rights.Has(core.RightLookup) {
			continue
		}
		folders, err := c.srv.svc.Folders(c.ctx, c.actor, acc.ID)
		if errors.Is(err, core.ErrPermission) || errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if acc.Address != c.actor.Address {
			if !sharedSeen {
				out = append(out, listEntry{name: sharedRoot})
				sharedSeen = true
			}
			out = append(out, listEntry{name: sharedRoot + core.Delimiter + acc.Address, access: acc})
		}
		for i := range folders {
			out = append(out, listEntry{name: c.imapName(acc, folders[i].Name), folder: &folders[i], access: acc})
		}
	}
	return out, nil
}

// cmdNamespace answers NAMESPACE (RFC 2342, RFC 9051 §6.3.10).
func (c *conn) cmdNamespace(cmd *Command) {
	c.w.Untagged()
	c.w.Atom(`NAMESPACE (("" "/")) NIL (("`)
	c.w.Atom(sharedRoot + core.Delimiter)
	c.w.Atom(`" "/"))`)
	c.w.CRLF()
	c.ok(cmd.Tag, "", "NAMESPACE done")
}

// cmdList answers LIST and LSUB (RFC 9051 §6.3.9, RFC 5258, RFC 5819,
// RFC 6154, RFC 3348 CHILDREN).
func (c *conn) cmdList(cmd *Command) {
	a := cmd.Args.(*ListArgs)
	lsub := cmd.Name == "LSUB"
	if len(a.Patterns) == 1 && a.Patterns[0] == "" && !a.Extended {
		// RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
		c.w.Untagged()
		c.w.Atom(cmd.Name)
		c.w.Atom(` (\Noselect) "/" ""`)
		c.w.CRLF()
		c.ok(cmd.Tag, "", cmd.Name+" done")
		return
	}
	entries, err := c.entries()
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.name] = true
	}
	ref, err := DecodeMailbox(a.Reference, c.w.UTF8)
	if err != nil {
		c.w.Tagged(cmd.Tag, "BAD", "", "bad reference name")
		return
	}
	var patterns []string
	for _, p := range a.Patterns {
		p, err := DecodeMailbox(p, c.w.UTF8)
		if err != nil {
			c.w.Tagged(cmd.Tag, "BAD", "", "bad mailbox pattern")
			return
		}
		patterns = append(patterns, ref+p)
	}
	for _, e := range entries {
		if !slices.ContainsFunc(patterns, func(p string) bool { return matchPattern(p, e.name) }) {
			continue
		}
		// RFC 5258 §3.5: with RECURSIVEMATCH, a mailbox whose descendants
		// meet the selection options is listed with CHILDINFO, even when
		// it does not meet them itself.
		var childInfo []string
		if a.RecursiveMatch {
			childInfo = descendantsMatch(a, entries, e.name)
		}
		// RFC 3501 §6.3.9: LSUB with "%" returns an unsubscribed parent
		// of subscribed mailboxes, flagged \Noselect.
		lsubParent := false
		if !a.selects(e, lsub) && len(childInfo) == 0 {
			if !lsub || !slices.ContainsFunc(patterns, func(p string) bool { return strings.Contains(p, "%") }) ||
				!subscribedBelow(entries, e.name) {
				continue
			}
			lsubParent = true
		}
		subscribed := e.folder != nil && e.folder.Subscribed
		var attrs []string
		if e.folder == nil || lsubParent {
			attrs = append(attrs, `\Noselect`)
		}
		if hasChildren(names, e.name) {
			attrs = append(attrs, `\HasChildren`)
		} else {
			attrs = append(attrs, `\HasNoChildren`)
		}
		if subscribed && !lsub && (a.Subscribed || a.ReturnSubscribe) {
			attrs = append(attrs, `\Subscribed`)
		}
		if e.folder != nil && e.folder.SpecialUse != "" && !lsub {
			attrs = append(attrs, e.folder.SpecialUse)
		}
		c.w.Untagged()
		c.w.Atom(cmd.Name)
		c.w.SP()
		c.w.Flags(attrs)
		c.w.Atom(` "/" `)
		c.w.Mailbox(e.name)
		if len(childInfo) > 0 {
			c.w.Atom(` ("CHILDINFO" (`)
			for i, ci := range childInfo {
				if i > 0 {
					c.w.SP()
				}
				c.w.String(ci)
			}
			c.w.Atom("))")
		}
		c.w.CRLF()
		if len(a.ReturnStatus) > 0 && e.folder != nil {
			c.writeStatus(e.name, *e.folder, e.access, a.ReturnStatus)
		}
	}
	c.ok(cmd.Tag, "", cmd.Name+" done")
}

// subscribedBelow reports whether a mailbox under name is subscribed.
func subscribedBelow(entries []listEntry, name string) bool {
	prefix := name + core.Delimiter
	return slices.ContainsFunc(entries, func(d listEntry) bool {
		return strings.HasPrefix(d.name, prefix) && d.folder != nil && d.folder.Subscribed
	})
}

// selects tells whether a mailbox meets the selection options of a LIST
// (RFC 5258 §3.1, RFC 6154 §5.1), or is subscribed for LSUB.
func (a *ListArgs) selects(e listEntry, lsub bool) bool {
	if (a.Subscribed || lsub) && (e.folder == nil || !e.folder.Subscribed) {
		return false
	}
	return !a.SpecialUseOnly || e.folder != nil && e.folder.SpecialUse != ""
}

// descendantsMatch returns the selection options that a descendant of
// name meets, for CHILDINFO (RFC 5258 §3.5), or nil when none meets them.
func descendantsMatch(a *ListArgs, entries []listEntry, name string) []string {
	prefix := name + core.Delimiter
	for _, d := range entries {
		if !strings.HasPrefix(d.name, prefix) || !a.selects(d, false) {
			continue
		}
		var criteria []string
		if a.Subscribed {
			criteria = append(criteria, "SUBSCRIBED")
		}
		if a.SpecialUseOnly {
			criteria = append(criteria, "SPECIAL-USE")
		}
		return criteria
	}
	return nil
}

func hasChildren(names map[string]bool, name string) bool {
	prefix := name + core.Delimiter
	for n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// matchPattern matches a LIST pattern: "*" matches anything, "%" anything
// but the delimiter (RFC 9051 §6.3.9). INBOX matches in any case.
func matchPattern(pattern, name string) bool {
	if strings.EqualFold(name, "INBOX") && strings.EqualFold(pattern, "INBOX") {
		return true
	}
	var match func(p, n string, depth int) bool
	match = func(p, n string, depth int) bool {
		if depth > 100 {
			return false
		}
		for len(p) > 0 {
			switch p[0] {
			case '*', '%':
				for i := 0; i <= len(n); i++ {
					if match(p[1:], n[i:], depth+1) {
						return true
					}
					if i < len(n) && p[0] == '%' && n[i] == '/' {
						return false
					}
				}
				return false
			default:
				if len(n) == 0 || n[0] != p[0] {
					return false
				}
				p, n = p[1:], n[1:]
			}
		}
		return len(n) == 0
	}
	return match(pattern, name, 0)
}

// cmdStatus answers STATUS (RFC 9051 §6.3.11).
func (c *conn) cmdStatus(cmd *Command) {
	a := cmd.Args.(*StatusArgs)
	pl, f, err := c.folder(a.Mailbox)
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	name, _ := DecodeMailbox(a.Mailbox, c.w.UTF8)
	c.writeStatus(name, f, pl.access, a.Items)
	c.ok(cmd.Tag, "", "STATUS done")
}

func (c *conn) writeStatus(name string, f core.Folder, acc core.Access, items []string) {
	c.w.Untagged()
	c.w.Atom("STATUS ")
	c.w.Mailbox(name)
	c.w.Atom(" (")
	for i, it := range items {
		if i > 0 {
			c.w.SP()
		}
		c.w.Atom(it)
		c.w.SP()
		switch it {
		case "MESSAGES":
			c.w.Number(uint32(f.Messages))
		case "UIDNEXT":
			c.w.Number(f.UIDNext)
		case "UIDVALIDITY":
			c.w.Number(f.UIDValidity)
		case "UNSEEN":
			c.w.Number(uint32(f.Unseen))
		case "DELETED":
			c.w.Number(uint32(f.Deleted))
		case "SIZE": // RFC 8438
			c.w.Number64(uint64(f.Bytes))
		case "RECENT": // RFC 3501 §6.3.10: not yet claimed by a session
			n, _ := c.srv.svc.RecentCount(c.ctx, c.actor, f.ID)
			c.w.Number(uint32(n))
		case "HIGHESTMODSEQ":
			c.w.Number64(f.HighestModSeq)
		case "APPENDLIMIT": // RFC 7889 §3.2
			c.w.Number64(uint64(c.srv.opts.Limits.MaxMessage))
		}
	}
	c.w.Close()
	c.w.CRLF()
}

// cmdCreate creates a folder (RFC 9051 §6.3.4, RFC 6154 §3).
func (c *conn) cmdCreate(cmd *Command) {
	a := cmd.Args.(*CreateArgs)
	pl, err := c.resolve(strings.TrimSuffix(a.Mailbox, core.Delimiter))
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	if pl.folder == "INBOX" {
		c.w.Tagged(cmd.Tag, "NO", "ALREADYEXISTS", "INBOX always exists")
		return
	}
	if len(a.SpecialUse) > 1 {
		c.w.Tagged(cmd.Tag, "NO", "USEATTR", "one special use at a time")
		return
	}
	use := ""
	if len(a.SpecialUse) == 1 {
		use = a.SpecialUse[0]
		switch strings.ToLower(use) {
		case `\all`, `\archive`, `\drafts`, `\flagged`, `\junk`, `\sent`, `\trash`:
		default:
			c.w.Tagged(cmd.Tag, "NO", "USEATTR", "unknown special use")
			return
		}
	}
	if _, err := c.srv.svc.CreateFolderUnsubscribed(c.ctx, c.actor, pl.access.ID, pl.folder, use); err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	c.ok(cmd.Tag, "", "CREATE done")
}

// cmdDelete deletes a folder (RFC 9051 §6.3.5).
func (c *conn) cmdDelete(cmd *Command) {
	_, f, err := c.folder(cmd.Args.(*MailboxArgs).Mailbox)
	if err == nil {
		err = c.srv.svc.DeleteFolder(c.ctx, c.actor, f.ID)
	}
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	c.ok(cmd.Tag, "", "DELETE done")
}

// cmdRename renames a folder within its mailbox (RFC 9051 §6.3.6).
func (c *conn) cmdRename(cmd *Command) {
	a := cmd.Args.(*RenameArgs)
	from, f, err := c.folder(a.From)
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	to, err := c.resolve(a.To)
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	if to.access.ID != from.access.ID {
		c.w.Tagged(cmd.Tag, "NO", "CANNOT", "cannot move a folder to another mailbox")
		return
	}
	if err := c.srv.svc.RenameFolder(c.ctx, c.actor, f.ID, to.folder); err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	c.ok(cmd.Tag, "", "RENAME done")
}

// cmdSubscribe answers SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.7).
func (c *conn) cmdSubscribe(cmd *Command) {
	_, f, err := c.folder(cmd.Args.(*MailboxArgs).Mailbox)
	if err == nil {
		err = c.srv.svc.Subscribe(c.ctx, c.actor, f.ID, cmd.Name == "SUBSCRIBE")
	}
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	c.ok(cmd.Tag, "", cmd.Name+" done")
}
