package imap

import (
	"errors"
	"io"
	"strings"

	"caduceus/internal/core"
)

// coreFlags splits IMAP flags into the core's system flags and keywords.
// \Recent is ignored (RFC 9051 removed it); another unknown system flag
// is refused.
func coreFlags(flags []string) (core.Flags, []string, bool) {
	var f core.Flags
	var kws []string
	for _, name := range flags {
		if sys, ok := core.ParseFlag(name); ok {
			f |= sys
			continue
		}
		if strings.EqualFold(name, `\Recent`) {
			continue
		}
		if strings.HasPrefix(name, `\`) {
			return 0, nil, false
		}
		kws = append(kws, name)
	}
	return f, kws, true
}

// cmdStore changes flags (RFC 9051 §6.4.6) with UNCHANGEDSINCE
// (RFC 7162 §3.1.3).
func (c *conn) cmdStore(cmd *Command) {
	a := cmd.Args.(*StoreArgs)
	sel := c.sel
	if sel.readOnly {
		c.w.Tagged(cmd.Tag, "NO", "READ-ONLY", "mailbox is read-only")
		return
	}
	flags, kws, ok := coreFlags(a.Flags)
	if !ok {
		c.w.Tagged(cmd.Tag, "BAD", "", "unknown system flag")
		return
	}
	if a.HasUnchanged {
		c.enableCondstore()
	}
	ts := c.targets(a.Set, cmd.UID)
	uids := make([]uint32, len(ts))
	for i, t := range ts {
		uids[i] = t.uid
	}
	op := map[byte]core.FlagOp{'+': core.FlagsAdd, '-': core.FlagsRemove, '=': core.FlagsReplace}[a.Op]
	ch := core.FlagChange{Op: op, Flags: flags, Keywords: kws, UnchangedSince: a.UnchangedSince}
	if a.HasUnchanged && a.UnchangedSince == 0 {
		ch.UnchangedSince = 0
	}
	var after []core.Message
	var failed []uint32
	var err error
	if len(uids) > 0 {
		after, failed, err = c.srv.svc.StoreFlags(c.ctx, c.actor, sel.folder.ID, uids, ch)
		if err != nil {
			c.fail(cmd.Tag, err)
			return
		}
	}
	if len(after) > 0 && !sel.ownChange(after[0].ModSeq) {
		for _, m := range after {
			sel.own[m.UID] = m.ModSeq
		}
	}
	for _, m := range after {
		seq, ok := sel.tracker.Seq(m.UID)
		if !ok || a.Silent {
			continue
		}
		c.announceKeywords(m.Keywords)
		c.w.Untagged()
		c.w.Number(seq)
		c.w.Atom(" FETCH (FLAGS ")
		c.w.Flags(c.flagNames(m))
		if cmd.UID {
			c.w.Atom(" UID ")
			c.w.Number(m.UID)
		}
		if c.cond {
			c.w.Atom(" MODSEQ (")
			c.w.Number64(m.ModSeq)
			c.w.Close()
		}
		c.w.Close()
		c.w.CRLF()
	}
	c.searchesChanged(after)
	c.sync(cmd.UID)
	if len(failed) > 0 {
		nums := failed
		if !cmd.UID {
			nums = nil
			for _, u := range failed {
				if seq, ok := sel.tracker.Seq(u); ok {
					nums = append(nums, seq)
				}
			}
		}
		c.ok(cmd.Tag, "MODIFIED "+NumSetOf(nums).String(), "some messages were changed meanwhile")
		return
	}
	c.ok(cmd.Tag, "", "STORE done")
}

// cmdCopy copies or moves messages (RFC 9051 §6.4.7, RFC 6851) and
// reports their new UIDs (RFC 4315 COPYUID).
func (c *conn) cmdCopy(cmd *Command) {
	a := cmd.Args.(*CopyArgs)
	sel := c.sel
	_, dst, err := c.folder(a.Mailbox)
	if errors.Is(err, core.ErrNotFound) {
		c.w.Tagged(cmd.Tag, "NO", "TRYCREATE", "no such mailbox")
		return
	}
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	ts := c.targets(a.Set, cmd.UID)
	if len(ts) == 0 {
		c.ok(cmd.Tag, "", cmd.Name+" done")
		return
	}
	uids := make([]uint32, len(ts))
	for i, t := range ts {
		uids[i] = t.uid
	}
	move := cmd.Name == "MOVE"
	if move && sel.readOnly {
		c.w.Tagged(cmd.Tag, "NO", "READ-ONLY", "mailbox is read-only")
		return
	}
	var pairs []core.UIDPair
	if move {
		pairs, err = c.srv.svc.Move(c.ctx, c.actor, sel.folder.ID, uids, dst.ID)
	} else {
		pairs, err = c.srv.svc.Copy(c.ctx, c.actor, sel.folder.ID, uids, dst.ID)
	}
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	var src, dstUIDs []uint32
	for _, p := range pairs {
		src = append(src, p.Src)
		dstUIDs = append(dstUIDs, p.Dst)
	}
	code := "COPYUID " + itoa(dst.UIDValidity) + " " + NumSetOf(src).String() + " " + NumSetOf(dstUIDs).String()
	if len(pairs) == 0 {
		code = ""
	}
	if !move {
		c.sync(cmd.UID)
		c.ok(cmd.Tag, code, "COPY done")
		return
	}
	// RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
	if code != "" {
		c.w.Untagged()
		c.w.Atom("OK [" + code + "] moved\r\n")
	}
	c.announceRemoved(src)
	c.sync(true)
	c.ok(cmd.Tag, "", "MOVE done")
}

func itoa(n uint32) string {
	return NumSet{Ranges: []NumRange{{n, n}}}.String()
}

// literalErr keeps the error, other than io.EOF, of reading a literal.
type literalErr struct {
	r   io.Reader
	err error
}

func (l *literalErr) Read(b []byte) (int, error) {
	n, err := l.r.Read(b)
	if err != nil && err != io.EOF && l.err == nil {
		l.err = err
	}
	return n, err
}

// cmdAppend stores the messages of an APPEND (RFC 9051 §6.3.12), all or
// none when there are several (MULTIAPPEND, RFC 3502), each a literal or
// put together from parts (CATENATE, RFC 4469), and reports their UIDs
// (RFC 4315 APPENDUID). A message is read only once the folder is known to
// exist, and the core commits them only once the whole command is read.
func (c *conn) cmdAppend(cmd *Command) error {
	a := cmd.Args.(*AppendArgs)
	_, f, err := c.folder(a.Mailbox)
	if errors.Is(err, core.ErrNotFound) {
		c.w.Tagged(cmd.Tag, "NO", "TRYCREATE", "no such mailbox")
		return nil
	}
	if err != nil {
		c.fail(cmd.Tag, err)
		return nil
	}
	// What went wrong reading the command is the connection's or the
	// client's (a *ParseError, an *appendRefusal), not the core's.
	var clientErr error
	var lits []*literalErr
	m := a.First
	next := func() (*core.AppendItem, error) {
		if m == nil {
			var err error
			if m, err = c.p.NextAppend(); err != nil || m == nil {
				clientErr = err
				return nil, err
			}
		}
		it, err := c.appendItem(m)
		m = nil
		if err != nil {
			clientErr = err
			return nil, err
		}
		if l, ok := it.R.(*literalErr); ok {
			lits = append(lits, l)
		}
		return it, nil
	}
	msgs, err := c.srv.svc.AppendAll(c.ctx, c.actor, f.ID, next)
	for _, l := range lits {
		if l.err != nil && clientErr == nil {
			clientErr = l.err
		}
	}
	var pe *ParseError
	var refusal *appendRefusal
	switch {
	case errors.As(clientErr, &pe):
		c.w.Tagged(cmd.Tag, pe.Status, pe.Code, pe.Msg)
		return nil
	case errors.As(clientErr, &refusal):
		c.w.Tagged(cmd.Tag, "NO", refusal.code, refusal.text)
		return nil
	case clientErr != nil:
		return clientErr
	case err != nil:
		c.fail(cmd.Tag, err)
		return nil
	}
	if sel := c.sel; sel != nil && sel.folder.ID == f.ID {
		for _, m := range msgs {
			if sel.ownChange(m.ModSeq) {
				sel.tracker.Added(m.UID)
			} else {
				sel.changed = true
			}
		}
	}
	c.sync(true)
	uids := itoa(msgs[0].UID)
	if n := len(msgs); n > 1 {
		uids += ":" + itoa(msgs[n-1].UID)
	}
	c.ok(cmd.Tag, "APPENDUID "+itoa(f.UIDValidity)+" "+uids, "APPEND done")
	return nil
}

// appendRefusal is an APPEND refused for what the client asked (a bad
// CATENATE URL, an unknown flag), answered NO with its code.
type appendRefusal struct{ code, text string }

func (r *appendRefusal) Error() string { return "imap: append refused: " + r.text }

// appendItem turns one APPEND message into what the core appends: its
// literal, read as the core reads it, or its CATENATE parts.
func (c *conn) appendItem(m *AppendMessage) (*core.AppendItem, error) {
	flags, kws, ok := coreFlags(m.Flags)
	if !ok {
		return nil, &ParseError{Status: "BAD", Msg: "unknown system flag"}
	}
	it := &core.AppendItem{Flags: flags, Keywords: kws, Date: m.Date}
	if m.Catenate {
		r, size, err := c.catenate()
		if err != nil {
			return nil, err
		}
		it.R, it.Size = r, size
		return it, nil
	}
	it.R, it.Size = &literalErr{r: m.Message}, m.Message.Size
	return it, nil
}
