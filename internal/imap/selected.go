package imap

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"caduceus/internal/core"
)

// selection is the selected mailbox of a connection (RFC 9051 §3.3).
type selection struct {
	place    place
	folder   core.Folder
	readOnly bool
	tracker  *Tracker
	watcher  *core.Watcher
	modseq   uint64            // changes up to here are known to the tracker
	own      map[uint32]uint64 // flag changes this connection made: UID to MODSEQ
	saved    []uint32          // the saved search result "$" (RFC 5182), as UIDs
	changed  bool              // an event came in since the last sync
	keywords []string          // keywords announced in FLAGS, in order
	kwSeen   map[string]bool   // the same, lower-cased
	recent   []NumRange        // UIDs \Recent in this session (RFC 3501 §2.3.2)
	recentN  uint32            // the RECENT count last told to the client
	updates  []*searchUpdate   // live searches (RFC 5267 §4.2), oldest first
}

// withRecent reports whether the session tells of \Recent: IMAP4rev1
// clients only, as IMAP4rev2 removed it (RFC 9051 Appendix E).
func (c *conn) withRecent() bool { return !c.enabled["IMAP4REV2"] }

// isRecent reports whether uid is \Recent in this session.
func (sel *selection) isRecent(uid uint32) bool {
	for _, r := range sel.recent {
		if uid >= r.Start && uid <= r.Stop {
			return true
		}
	}
	return false
}

// recentCount counts the messages the client knows that are \Recent in
// this session.
func (sel *selection) recentCount() uint32 {
	var n uint32
	for range sel.tracker.UIDs(sel.recent) {
		n++
	}
	return n
}

// claimRecent takes, for this read-write session, the messages of the
// folder that no session has seen as \Recent yet (RFC 3501 §2.3.2: the
// first session notified of a message sees it as recent).
func (c *conn) claimRecent() {
	sel := c.sel
	if sel.readOnly || !c.withRecent() {
		return
	}
	from, to, err := c.srv.svc.ClaimRecent(c.ctx, c.actor, sel.folder.ID)
	if err != nil || to <= from {
		return
	}
	if n := len(sel.recent); n > 0 && sel.recent[n-1].Stop == from {
		sel.recent[n-1].Stop = to
		return
	}
	sel.recent = append(sel.recent, NumRange{Start: from + 1, Stop: to})
}

// flagNames returns a message's flags and keywords as this session shows
// them: with \Recent when the message is recent here.
func (c *conn) flagNames(m core.Message) []string {
	names := flagNames(m)
	if c.sel != nil && c.withRecent() && c.sel.isRecent(m.UID) {
		names = append(names, `\Recent`)
	}
	return names
}

// writeRecent tells an IMAP4rev1 client the number of recent messages
// when it changed (RFC 3501 §7.3.2).
func (c *conn) writeRecent(force bool) {
	sel := c.sel
	if !c.withRecent() {
		return
	}
	n := sel.recentCount()
	if n == sel.recentN && !force {
		return
	}
	sel.recentN = n
	c.w.Untagged()
	c.w.Number(n)
	c.w.Atom(" RECENT\r\n")
}

// systemFlags are the flags every mailbox supports (RFC 9051 §2.3.2).
const systemFlags = `\Answered \Flagged \Deleted \Seen \Draft`

// announceKeywords tells the client of the keywords among flags it was
// not told of yet, before a FETCH response names them: an untagged FLAGS
// with every keyword announced so far and the PERMANENTFLAGS that go with
// it. A client may reject a keyword it never saw in FLAGS (RFC 9051
// §7.3.5: FLAGS lists the flags applicable to the mailbox; §2.3.2).
func (c *conn) announceKeywords(flags []string) {
	sel := c.sel
	fresh := false
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			continue
		}
		k := strings.ToLower(f)
		if sel.kwSeen[k] {
			continue
		}
		if sel.kwSeen == nil {
			sel.kwSeen = map[string]bool{}
		}
		sel.kwSeen[k] = true
		sel.keywords = append(sel.keywords, f)
		fresh = true
	}
	if fresh {
		c.writeFlags()
	}
}

// writeFlags writes the FLAGS and PERMANENTFLAGS responses of the
// selected mailbox (RFC 9051 §7.3.5, §7.1).
func (c *conn) writeFlags() {
	sel, w := c.sel, c.w
	kws := ""
	for _, k := range sel.keywords {
		kws += " " + k
	}
	w.Untagged()
	w.Atom("FLAGS (" + systemFlags + kws + ")\r\n")
	w.Untagged()
	if sel.readOnly {
		w.Atom("OK [PERMANENTFLAGS ()] read-only\r\n")
	} else {
		w.Atom("OK [PERMANENTFLAGS (" + systemFlags + kws + ` \*)] flags allowed` + "\r\n")
	}
}

// A change this connection made whose MODSEQ is exactly one above what
// the tracker knows leaves nothing unknown in between: the core draws each
// change's MODSEQ from the folder's row inside the writing transaction, so
// nothing can fall between the two. Such a change needs no reading back.

// enableCondstore turns CONDSTORE on for a command that uses it (RFC 7162
// §3.1: FETCH MODSEQ or CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ).
// Turned on with a mailbox selected, it tells the mailbox's highest
// mod-sequence the session knows, in an untagged OK, as §3.1.2.1 asks.
func (c *conn) enableCondstore() {
	if c.cond {
		return
	}
	c.cond = true
	if c.sel != nil {
		c.w.Untagged()
		c.w.Atom("OK [HIGHESTMODSEQ ")
		c.w.Number64(c.sel.modseq)
		c.w.Atom("] CONDSTORE on\r\n")
	}
}

// ownChange records that this connection made the change of modseq, which
// it tells the client itself; it reports whether the change followed
// directly on what the tracker knew, so nothing needs reading back.
func (sel *selection) ownChange(modseq uint64) bool {
	if modseq != sel.modseq+1 {
		return false
	}
	sel.modseq = modseq
	return true
}

// cmdSelect opens a folder read-write (SELECT) or read-only (EXAMINE)
// (RFC 9051 §6.3.2, §6.3.3), with CONDSTORE and QRESYNC (RFC 7162).
func (c *conn) cmdSelect(cmd *Command) {
	a := cmd.Args.(*SelectArgs)
	if c.sel != nil {
		c.unselect()
		if c.enabled["QRESYNC"] || c.enabled["IMAP4REV2"] {
			c.w.Untagged()
			c.w.Atom("OK [CLOSED] previous mailbox closed\r\n")
		}
	}
	if a.QResync != nil && !c.enabled["QRESYNC"] {
		c.w.Tagged(cmd.Tag, "BAD", "", "QRESYNC is not enabled")
		return
	}
	pl, f, err := c.folder(a.Mailbox)
	if err == nil {
		pl.access, err = c.current(pl)
	}
	if err == nil && !pl.access.Owned {
		err = c.traceOpen(pl.access, cmd.Name)
	}
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	uids, err := c.srv.svc.UIDs(c.ctx, c.actor, f.ID)
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	if a.CondStore || a.QResync != nil {
		c.cond = true
	}
	writable := pl.access.Rights&(core.RightSeen|core.RightWrite|core.RightDeleteMessages|core.RightExpunge|core.RightInsert) != 0
	sel := &selection{
		place: pl, folder: f, tracker: NewTracker(uids),
		readOnly: cmd.Name == "EXAMINE" || !writable,
		watcher:  c.srv.svc.Watch(pl.access.ID),
		modseq:   f.HighestModSeq,
		own:      map[uint32]uint64{},
	}
	c.sel, c.state = sel, stateSelected
	if sel.readOnly && c.withRecent() {
		// EXAMINE shows what is recent without taking it from the
		// session that will SELECT (RFC 3501 §6.3.2).
		if r, err := c.srv.svc.RecentUID(c.ctx, c.actor, f.ID); err == nil && r < sel.tracker.MaxUID() {
			sel.recent = []NumRange{{Start: r + 1, Stop: sel.tracker.MaxUID()}}
		}
	} else {
		c.claimRecent()
	}
	w := c.w
	c.writeFlags()
	w.Untagged()
	w.Number(sel.tracker.Len())
	w.Atom(" EXISTS\r\n")
	c.writeRecent(true)
	if c.withRecent() && f.Unseen > 0 {
		// RFC 3501 §6.3.1: the first unseen message (IMAP4rev2 dropped it).
		if uid, err := c.srv.svc.FirstUnseen(c.ctx, c.actor, f.ID); err == nil && uid != 0 {
			if seq, ok := sel.tracker.Seq(uid); ok {
				w.Untagged()
				w.Atom("OK [UNSEEN ")
				w.Number(seq)
				w.Atom("] first unseen\r\n")
			}
		}
	}
	w.Untagged()
	w.Atom("OK [UIDVALIDITY ")
	w.Number(f.UIDValidity)
	w.Atom("] UIDs valid\r\n")
	w.Untagged()
	w.Atom("OK [UIDNEXT ")
	w.Number(f.UIDNext)
	w.Atom("] predicted next UID\r\n")
	w.Untagged()
	w.Atom("OK [HIGHESTMODSEQ ")
	w.Number64(f.HighestModSeq)
	w.Atom("] highest\r\n")
	if q := a.QResync; q != nil && q.UIDValidity == f.UIDValidity {
		c.qresync(q)
	}
	if sel.readOnly {
		c.ok(cmd.Tag, "READ-ONLY", cmd.Name+" done")
	} else {
		c.ok(cmd.Tag, "READ-WRITE", cmd.Name+" done")
	}
}

// qresync tells a client what changed since the MODSEQ it knew
// (RFC 7162 §3.2.5.2): VANISHED (EARLIER), then FETCH of changed flags.
func (c *conn) qresync(q *QResyncArgs) {
	sel := c.sel
	msgs, vanished, _, err := c.srv.svc.Changes(c.ctx, c.actor, sel.folder.ID, q.ModSeq)
	if err != nil {
		return
	}
	if !q.KnownUIDs.IsEmpty() {
		vanished = slices.DeleteFunc(vanished, func(u uint32) bool { return !q.KnownUIDs.Contains(u, ^uint32(0)) })
	}
	if len(vanished) > 0 {
		c.w.Untagged()
		c.w.Atom("VANISHED (EARLIER) ")
		c.w.Atom(NumSetOf(vanished).String())
		c.w.CRLF()
	}
	for _, m := range msgs {
		seq, ok := sel.tracker.Seq(m.UID)
		if !ok {
			continue
		}
		c.announceKeywords(m.Keywords)
		c.w.Untagged()
		c.w.Number(seq)
		c.w.Atom(" FETCH (UID ")
		c.w.Number(m.UID)
		c.w.Atom(" FLAGS ")
		c.w.Flags(c.flagNames(m))
		c.w.Atom(" MODSEQ (")
		c.w.Number64(m.ModSeq)
		c.w.Atom("))\r\n")
	}
}

// unselect leaves the selected state without expunging.
func (c *conn) unselect() {
	if c.sel == nil {
		return
	}
	c.sel.watcher.Close()
	c.sel = nil
	if c.state == stateSelected {
		c.state = stateAuth
	}
}

// cmdClose answers CLOSE, which expunges silently when writable, and
// UNSELECT (RFC 9051 §6.4.1, §6.4.2).
func (c *conn) cmdClose(cmd *Command) {
	if cmd.Name == "CLOSE" && !c.sel.readOnly && c.sel.place.access.Rights.Has(core.RightExpunge) {
		if _, err := c.srv.svc.Expunge(c.ctx, c.actor, c.sel.folder.ID, nil); err != nil && !errors.Is(err, core.ErrPermission) {
			c.fail(cmd.Tag, err)
			return
		}
	}
	c.unselect()
	c.ok(cmd.Tag, "", cmd.Name+" done")
}

// cmdExpunge removes messages flagged \Deleted (RFC 9051 §6.4.3), only
// those of a UID set for UID EXPUNGE (§6.4.9, RFC 4315).
func (c *conn) cmdExpunge(cmd *Command) {
	sel := c.sel
	if sel.readOnly {
		c.w.Tagged(cmd.Tag, "NO", "READ-ONLY", "mailbox is read-only")
		return
	}
	var uids []uint32
	if cmd.UID {
		set := cmd.Args.(*ExpungeArgs).Set
		for _, u := range c.targets(set, true) {
			uids = append(uids, u.uid)
		}
		if len(uids) == 0 {
			c.ok(cmd.Tag, "", "EXPUNGE done")
			return
		}
	}
	removed, err := c.srv.svc.Expunge(c.ctx, c.actor, sel.folder.ID, uids)
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	c.announceRemoved(removed)
	c.sync(true)
	c.ok(cmd.Tag, "", "EXPUNGE done")
}

// announceRemoved takes messages this connection removed out of its view
// and tells the client, as EXPUNGE or, with QRESYNC, VANISHED.
func (c *conn) announceRemoved(uids []uint32) {
	if len(uids) == 0 {
		return
	}
	c.sel.searchesGone(uids)
	c.tellSearches()
	seqs := c.sel.tracker.Remove(uids)
	if c.enabled["QRESYNC"] {
		c.w.Untagged()
		c.w.Atom("VANISHED ")
		c.w.Atom(NumSetOf(uids).String())
		c.w.CRLF()
		return
	}
	for _, s := range seqs {
		c.w.Untagged()
		c.w.Number(s)
		c.w.Atom(" EXPUNGE\r\n")
	}
}

// sync reads the changes other doors and connections made to the selected
// folder since the last sync, when an event says there are some, and
// tells the client what it may be told now (RFC 9051 §7.5.1: no EXPUNGE
// during FETCH, STORE or SEARCH by sequence number).
func (c *conn) sync(expungeOK bool) {
	sel := c.sel
	if sel == nil {
		return
	}
	for drained := false; !drained; {
		select {
		case ev, ok := <-sel.watcher.C:
			if ok {
				sel.hear(ev)
			}
		default:
			drained = true
		}
	}
	if sel.watcher.Overflowed() {
		sel.changed = true
	}
	if sel.changed {
		sel.changed = false
		c.readChanges()
	}
	for flags := range sel.tracker.PendingFlags() {
		c.announceKeywords(flags)
	}
	arrived := slices.Clone(sel.tracker.newUIDs)
	if expungeOK {
		// REMOVEFROM goes before the EXPUNGE, in the numbers the client
		// still uses (RFC 5267 §4.3).
		sel.searchesGone(sel.tracker.expunged)
	}
	c.tellSearches()
	sel.tracker.Flush(c.w, FlushOptions{Expunge: expungeOK, Vanished: c.enabled["QRESYNC"], ModSeq: c.cond})
	if len(arrived) > 0 {
		// RECENT goes with the EXISTS of new messages (RFC 3501 §7.3.2);
		// an expunge lowers the count without one.
		c.writeRecent(false)
		c.notifyNew(arrived)
		// ADDTO of new messages goes after their EXISTS.
		c.searchesArrived(arrived)
		c.tellSearches()
	}
}

// traceOpen records, once per connection, that the person opened a
// mailbox that is not theirs (an organisational mailbox, a delegation):
// the trail must tell who opened a shared mailbox. The mailbox does not
// open if the trail cannot say so.
func (c *conn) traceOpen(acc core.Access, how string) error {
	if c.opened[acc.ID] {
		return nil
	}
	if err := c.srv.svc.Trace(c.ctx, c.actor, "open", "mailbox "+acc.Address, "imap "+strings.ToLower(how)); err != nil {
		return fmt.Errorf("trace opening of mailbox %d: %w", acc.ID, err)
	}
	if c.opened == nil {
		c.opened = map[int64]bool{}
	}
	c.opened[acc.ID] = true
	return nil
}

// hear notes an event: a change of the selected folder that the tracker
// does not know yet must be read.
func (sel *selection) hear(ev core.Event) {
	if ev.FolderID == sel.folder.ID && (ev.ModSeq == 0 || ev.ModSeq > sel.modseq) {
		sel.changed = true
	}
}

// readChanges queues into the tracker what changed since sel.modseq, read
// from one snapshot of the folder.
func (c *conn) readChanges() {
	sel := c.sel
	msgs, gone, highest, err := c.srv.svc.Changes(c.ctx, c.actor, sel.folder.ID, sel.modseq)
	if err != nil {
		return
	}
	added := false
	for _, m := range msgs {
		if _, known := sel.tracker.Seq(m.UID); !known {
			sel.tracker.Added(m.UID)
			added = true
			continue
		}
		if sel.own[m.UID] == m.ModSeq {
			continue
		}
		sel.tracker.FlagsChanged(m.UID, FlagUpdate{Flags: c.flagNames(m), ModSeq: m.ModSeq})
	}
	if added {
		c.claimRecent()
	}
	c.searchesChanged(msgs)
	for _, u := range gone {
		sel.tracker.Expunged(u)
	}
	clear(sel.own)
	sel.modseq = max(sel.modseq, highest)
}

// cmdIdle waits for changes and tells them at once until DONE
// (RFC 2177, RFC 9051 §6.3.13).
func (c *conn) cmdIdle(cmd *Command) error {
	c.w.Continue("idling")
	c.sync(true)
	c.notifyFlush()
	if err := c.w.Flush(); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.IdleMax))
	done := make(chan error, 1)
	var line string
	go func() {
		var err error
		line, err = c.p.ReadLine()
		done <- err
	}()
	var events <-chan core.Event
	if c.sel != nil {
		events = c.sel.watcher.C
	}
	wake := c.notifyWake()
	for {
		select {
		case err := <-done:
			if err != nil {
				var pe *ParseError
				if errors.As(err, &pe) {
					c.w.Tagged(cmd.Tag, "BAD", "", pe.Msg)
					return nil
				}
				var ne net.Error
				switch {
				case c.closing.Load():
					c.bye(c.closingText())
				case errors.As(err, &ne) && ne.Timeout():
					c.bye("IDLE for too long")
				}
				return err
			}
			if !strings.EqualFold(line, "DONE") {
				c.w.Tagged(cmd.Tag, "BAD", "", "expected DONE")
				return nil
			}
			c.sync(true)
			c.ok(cmd.Tag, "", "IDLE done")
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Kind == core.EventRights && c.lostRead() {
				c.bye("[NOPERM] your access to this mailbox was withdrawn")
				return errAccessWithdrawn
			}
			c.sel.hear(ev)
			if !c.notify.pushSelected() {
				continue // told at the next command (RFC 5465 §6.1: NONE)
			}
			c.sync(true)
			if err := c.w.Flush(); err != nil {
				return err
			}
		case <-wake:
			c.notifyFlush()
			if err := c.w.Flush(); err != nil {
				return err
			}
		}
	}
}

// errAccessWithdrawn ends an IDLE connection whose person lost the right
// to read the selected mailbox.
var errAccessWithdrawn = errors.New("imap: read right on the selected mailbox withdrawn")

// lostRead reports whether the person may no longer read the selected
// mailbox, as the core says now: a delegate or an org member whose rights
// were taken back is told at once, not at their next command.
func (c *conn) lostRead() bool {
	acc, err := c.srv.svc.Mailbox(c.ctx, c.actor, c.sel.place.access.ID)
	return err != nil || !acc.Rights.Has(core.RightRead)
}

// flagNames returns a message's flags and keywords as IMAP flags.
func flagNames(m core.Message) []string {
	names := m.Flags.Names()
	return append(names, m.Keywords...)
}
