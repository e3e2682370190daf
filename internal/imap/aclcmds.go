package imap

import (
	"errors"
	"strings"

	"caduceus/internal/core"
)

// ACLs are kept by the core per mailbox (a BAL), not per folder: the
// rights shown and changed on any folder of a mailbox are the mailbox's,
// and a change takes effect for every door at once.

// cmdACL answers GETACL, SETACL, DELETEACL, LISTRIGHTS and MYRIGHTS
// (RFC 4314 §3). The core checks the admin right.
func (c *conn) cmdACL(cmd *Command) {
	var name, ident, rights string
	switch a := cmd.Args.(type) {
	case *MailboxArgs:
		name = a.Mailbox
	case *ACLArgs:
		name, ident, rights = a.Mailbox, a.Identifier, a.Rights
	}
	pl, _, err := c.folder(name)
	if err == nil {
		pl.access, err = c.current(pl)
	}
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	svc := c.srv.svc
	switch cmd.Name {
	case "MYRIGHTS": // RFC 4314 §3.5
		c.w.Untagged()
		c.w.Atom("MYRIGHTS ")
		c.w.Mailbox(name)
		c.w.SP()
		c.w.String(pl.access.Rights.String())
		c.w.CRLF()
	case "GETACL": // RFC 4314 §3.3
		grants, err := svc.ACL(c.ctx, c.actor, pl.access.ID)
		if err != nil {
			c.fail(cmd.Tag, err)
			return
		}
		c.w.Untagged()
		c.w.Atom("ACL ")
		c.w.Mailbox(name)
		for _, g := range grants {
			c.w.SP()
			c.w.String(g.Address)
			c.w.SP()
			c.w.String(g.Rights.String())
		}
		c.w.CRLF()
	case "LISTRIGHTS": // RFC 4314 §3.4: nothing is always granted; each right alone
		c.w.Untagged()
		c.w.Atom("LISTRIGHTS ")
		c.w.Mailbox(name)
		c.w.SP()
		c.w.String(ident)
		c.w.Atom(` ""`)
		for _, r := range core.AllRights.String() {
			c.w.SP()
			c.w.Atom(string(r))
		}
		c.w.CRLF()
	case "SETACL", "DELETEACL": // RFC 4314 §3.1, §3.2
		next := core.Rights(0)
		if cmd.Name == "SETACL" {
			next, err = c.newRights(pl, ident, rights)
			if err != nil {
				c.w.Tagged(cmd.Tag, "BAD", "", "bad rights")
				return
			}
		}
		if err := svc.SetRights(c.ctx, c.actor, pl.access.ID, ident, next); err != nil {
			c.fail(cmd.Tag, err)
			return
		}
	}
	c.ok(cmd.Tag, "", cmd.Name+" done")
}

// newRights applies a SETACL modification ("+lr", "-w", "lrs") to the
// identifier's current rights. RFC 4314 §2.1.1: the obsolete c and d
// stand for kx and xte.
func (c *conn) newRights(pl place, ident, mod string) (core.Rights, error) {
	op := byte('=')
	if mod != "" && (mod[0] == '+' || mod[0] == '-') {
		op, mod = mod[0], mod[1:]
	}
	mod = strings.NewReplacer("c", "kx", "d", "xte").Replace(mod)
	var r core.Rights
	if mod != "" {
		var err error
		if r, err = core.ParseRights(mod); err != nil {
			return 0, err
		}
	}
	if op == '=' {
		return r, nil
	}
	grants, err := c.srv.svc.ACL(c.ctx, c.actor, pl.access.ID)
	if err != nil {
		return 0, err
	}
	var cur core.Rights
	for _, g := range grants {
		if strings.EqualFold(g.Address, ident) {
			cur = g.Rights
		}
	}
	if op == '+' {
		return cur | r, nil
	}
	return cur &^ r, nil
}

// cmdQuota answers GETQUOTAROOT and GETQUOTA (RFC 9208 §4.2, §4.3): each
// mailbox (BAL) is one quota root, named by its address, with a STORAGE
// resource in KiB. SETQUOTA is for operators, through the CLI.
func (c *conn) cmdQuota(cmd *Command) {
	switch cmd.Name {
	case "SETQUOTA":
		c.w.Tagged(cmd.Tag, "NO", "NOPERM", "quotas are set by operators")
		return
	case "GETQUOTAROOT":
		name := cmd.Args.(*MailboxArgs).Mailbox
		pl, _, err := c.folder(name)
		if err == nil {
			pl.access, err = c.current(pl)
		}
		if err != nil {
			c.fail(cmd.Tag, err)
			return
		}
		c.w.Untagged()
		c.w.Atom("QUOTAROOT ")
		c.w.Mailbox(name)
		c.w.SP()
		c.w.String(pl.access.Address)
		c.w.CRLF()
		c.writeQuota(pl.access)
	case "GETQUOTA":
		acc, err := c.srv.svc.MailboxByAddress(c.ctx, c.actor, cmd.Args.(*QuotaArgs).Root)
		if errors.Is(err, core.ErrNotFound) {
			c.w.Tagged(cmd.Tag, "NO", "NONEXISTENT", "no such quota root")
			return
		}
		if err != nil {
			c.fail(cmd.Tag, err)
			return
		}
		c.writeQuota(acc)
	}
	c.ok(cmd.Tag, "", cmd.Name+" done")
}

func (c *conn) writeQuota(acc core.Access) {
	c.w.Untagged()
	c.w.Atom("QUOTA ")
	c.w.String(acc.Address)
	if acc.QuotaBytes <= 0 {
		c.w.Atom(" ()\r\n")
		return
	}
	c.w.Atom(" (STORAGE ")
	c.w.Number64(uint64(acc.UsedBytes+1023) / 1024)
	c.w.SP()
	c.w.Number64(uint64(acc.QuotaBytes) / 1024)
	c.w.Atom(")\r\n")
}
