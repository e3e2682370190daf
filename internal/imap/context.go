package imap

import (
	"slices"

	"caduceus/internal/core"
)

// CONTEXT=SEARCH (RFC 5267 §4) keeps a search live: after SEARCH RETURN
// (UPDATE …) the connection tells the client, as ESEARCH ADDTO and
// REMOVEFROM, which messages enter and leave the result, until
// CANCELUPDATE or until the mailbox is closed. Only the messages that
// changed are evaluated again: those whose flags this session stored,
// those the changes of other sessions name, those that arrived; an
// expunged message simply leaves. A message's text does not change, so
// the full-text answers of BODY and TEXT keys are asked again only when
// messages arrive.
//
// The updates are written where sync writes the mailbox's changes:
// REMOVEFROM of expunged messages before their EXPUNGE (or VANISHED), in
// the numbers the client still uses, ADDTO of new messages after their
// EXISTS (RFC 5267 §4.3). Positions are 0: a SEARCH result has no order
// of its own to place messages in.

// maxSearchUpdates bounds the searches one connection keeps live; another
// is answered without updates, with NOUPDATE (RFC 5267 §4.2).
const maxSearchUpdates = 10

// searchUpdate is one live search.
type searchUpdate struct {
	tag    string
	uid    bool // UID SEARCH: updates name UIDs, else sequence numbers
	key    *SearchKey
	run    *searchRun
	result map[uint32]bool // UIDs in the result, as the client will know it once told
	add    map[uint32]bool // UIDs entered, not told yet
	remove map[uint32]bool // UIDs left, not told yet
}

// keepSearch makes the search of cmd live with its result uids, or tells
// the client it will not be (RFC 5267 §4.2 NOUPDATE): past the limit, for
// a PARTIAL result, and for keys on sequence numbers or "$", which change
// meaning while the result lives.
func (c *conn) keepSearch(cmd *Command, a *SearchArgs, run *searchRun, uids []uint32) {
	sel := c.sel
	why := ""
	switch {
	case len(sel.updates) >= maxSearchUpdates:
		why = "too many live searches"
	case a.Partial != nil:
		why = "no updates of a PARTIAL result"
	case usesNumbers(a.Key):
		why = "no updates of a search on sequence numbers or $"
	}
	if why != "" {
		c.w.Untagged()
		c.w.Atom(`NO [NOUPDATE "`)
		c.w.Atom(cmd.Tag)
		c.w.Atom(`"] ` + why + "\r\n")
		return
	}
	u := &searchUpdate{
		tag: cmd.Tag, uid: cmd.UID, key: a.Key, run: run,
		result: make(map[uint32]bool, len(uids)), add: map[uint32]bool{}, remove: map[uint32]bool{},
	}
	for _, uid := range uids {
		u.result[uid] = true
	}
	sel.updates = append(sel.updates, u)
}

// usesNumbers reports whether k names messages by sequence number or by
// the saved result "$".
func usesNumbers(k *SearchKey) bool {
	if k.Op == "SEQSET" || k.Op == "UID" && k.Set.SearchRes {
		return true
	}
	return slices.ContainsFunc(k.Keys, usesNumbers)
}

// liveSearch returns the live search of tag, or nil.
func (sel *selection) liveSearch(tag string) *searchUpdate {
	for _, u := range sel.updates {
		if u.tag == tag {
			return u
		}
	}
	return nil
}

// cmdCancelUpdate ends the updates of live searches (RFC 5267 §4.3): BAD
// when a tag names none, and then none ends.
func (c *conn) cmdCancelUpdate(cmd *Command) {
	a := cmd.Args.(*CancelUpdateArgs)
	sel := c.sel
	for _, tag := range a.Tags {
		if sel.liveSearch(tag) == nil {
			c.w.Tagged(cmd.Tag, "BAD", "", "no live search has the tag "+tag)
			return
		}
	}
	sel.updates = slices.DeleteFunc(sel.updates, func(u *searchUpdate) bool { return slices.Contains(a.Tags, u.tag) })
	c.sync(true)
	c.ok(cmd.Tag, "", "CANCELUPDATE done")
}

// enter records that message uid now matches, or no longer does.
func (u *searchUpdate) enter(uid uint32, match bool) {
	switch {
	case match && !u.result[uid]:
		u.result[uid] = true
		if u.remove[uid] {
			delete(u.remove, uid) // the client was never told it left
		} else {
			u.add[uid] = true
		}
	case !match && u.result[uid]:
		delete(u.result, uid)
		if u.add[uid] {
			delete(u.add, uid) // the client was never told it entered
		} else {
			u.remove[uid] = true
		}
	}
}

// searchesChanged evaluates the live searches again on messages whose
// flags changed; messages the client does not know yet wait for
// searchesArrived.
func (c *conn) searchesChanged(msgs []core.Message) {
	sel := c.sel
	if len(sel.updates) == 0 {
		return
	}
	for _, m := range msgs {
		seq, ok := sel.tracker.Seq(m.UID)
		if !ok {
			continue
		}
		ct := &content{c: c, seq: seq, m: m}
		for _, u := range sel.updates {
			u.enter(m.UID, u.run.match(u.key, seq, m, ct))
		}
	}
}

// searchesArrived evaluates the live searches on messages just announced
// by EXISTS, asking the full-text search again for their BODY and TEXT
// keys.
func (c *conn) searchesArrived(uids []uint32) {
	sel := c.sel
	if len(sel.updates) == 0 || len(uids) == 0 {
		return
	}
	var ranges []core.UIDRange
	for _, r := range NumSetOf(uids).Ranges {
		ranges = append(ranges, core.UIDRange{Lo: r.Start, Hi: r.Stop})
	}
	msgs, err := c.srv.svc.Messages(c.ctx, c.actor, sel.folder.ID, core.MessageQuery{UIDs: ranges})
	if err != nil {
		return
	}
	for _, u := range sel.updates {
		if err := u.run.searchText(u.key); err != nil {
			continue
		}
		for _, m := range msgs {
			if seq, ok := sel.tracker.Seq(m.UID); ok {
				u.enter(m.UID, u.run.match(u.key, seq, m, &content{c: c, seq: seq, m: m}))
			}
		}
	}
}

// searchesGone takes messages about to be announced as expunged out of
// the live results.
func (sel *selection) searchesGone(uids []uint32) {
	for _, u := range sel.updates {
		for _, uid := range uids {
			u.enter(uid, false)
		}
	}
}

// tellSearches writes the pending updates of the live searches: one
// ESEARCH per search with REMOVEFROM and ADDTO (RFC 5267 §4.3), in the
// numbers of the client's current view.
func (c *conn) tellSearches() {
	sel := c.sel
	for _, u := range sel.updates {
		if len(u.add) == 0 && len(u.remove) == 0 {
			continue
		}
		removed, added := u.numbers(sel.tracker, u.remove), u.numbers(sel.tracker, u.add)
		clear(u.add)
		clear(u.remove)
		if len(removed) == 0 && len(added) == 0 {
			continue
		}
		c.w.Untagged()
		c.w.Atom(`ESEARCH (TAG "`)
		c.w.Atom(u.tag)
		c.w.Atom(`")`)
		if u.uid {
			c.w.Atom(" UID")
		}
		if len(removed) > 0 {
			c.w.Atom(" REMOVEFROM (0 ")
			c.w.Atom(NumSetOf(removed).String())
			c.w.Close()
		}
		if len(added) > 0 {
			c.w.Atom(" ADDTO (0 ")
			c.w.Atom(NumSetOf(added).String())
			c.w.Close()
		}
		c.w.CRLF()
	}
}

// numbers returns the UIDs of set, or their sequence numbers for a
// search by sequence number; a message the client does not know is left
// out.
func (u *searchUpdate) numbers(t *Tracker, set map[uint32]bool) []uint32 {
	out := make([]uint32, 0, len(set))
	for uid := range set {
		seq, ok := t.Seq(uid)
		switch {
		case !ok:
		case u.uid:
			out = append(out, uid)
		default:
			out = append(out, seq)
		}
	}
	return out
}
