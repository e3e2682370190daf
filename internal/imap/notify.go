package imap

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"caduceus/internal/core"
)

// NOTIFY (RFC 5465) tells a client of changes in mailboxes other than the
// selected one without its polling them: a STATUS when messages arrive,
// leave or change flags, a LIST when a folder is created, renamed,
// deleted or (un)subscribed. The connection watches every core mailbox
// its event groups may match; a goroutine per watcher notes each event in
// a set of folders to report (a folder changed a thousand times is
// reported once), and the connection reports them whenever it may write:
// at once during IDLE, and before the tagged response of any command.
// Which group a folder falls in is decided when its change is reported,
// so a folder created under a watched subtree is watched from then on.
// The selected mailbox keeps its EXISTS, EXPUNGE and FETCH responses.

// supportedEvents are the events NOTIFY offers, as BADEVENT lists them
// (RFC 5465 §3.1). AnnotationChange and the METADATA events need
// extensions this server lacks.
const supportedEvents = "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange"

// maxNotifyMailboxes bounds the core mailboxes (the person's own and those
// shared with them) one connection watches; beyond it NOTIFY SET is
// refused with NOTIFICATIONOVERFLOW (RFC 5465 §5.8).
const maxNotifyMailboxes = 100

// notifier is the NOTIFY SET in force on a connection.
type notifier struct {
	groups   []NotifyGroup // Mailboxes decoded
	watchers []*core.Watcher
	wake     chan struct{} // has room for one: something was noted

	mu      sync.Mutex
	pending map[int64]pendingFolder // by folder ID
	relist  map[int64]bool          // mailboxes to list again; true: after dropped events

	// Only the connection's goroutine uses these.
	boxes map[int64]*watchedBox // by mailbox ID
	told  map[int64]string      // folder ID: the values of the last STATUS told
}

// pendingFolder is a folder with changes to report: the kinds of event
// heard, one bit per core.EventKind.
type pendingFolder struct {
	mailbox int64
	kinds   uint8
}

// messageKinds are the kinds of change a STATUS reports.
const messageKinds = 1<<core.EventNew | 1<<core.EventFlags | 1<<core.EventExpunge

// watchedBox is a watched core mailbox and its folders as last listed, to
// tell which were created, renamed, deleted or (un)subscribed.
type watchedBox struct {
	access  core.Access
	folders map[int64]core.Folder
}

// note records an event; it is called by the watchers' goroutines.
func (n *notifier) note(ev core.Event, overflowed bool) {
	n.mu.Lock()
	switch {
	case overflowed || ev.Kind == core.EventFolders || ev.Kind == core.EventRights:
		n.relist[ev.MailboxID] = n.relist[ev.MailboxID] || overflowed
	case ev.FolderID != 0:
		p := n.pending[ev.FolderID]
		p.mailbox = ev.MailboxID
		p.kinds |= 1 << ev.Kind
		n.pending[ev.FolderID] = p
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// has reports whether the group asks for the event.
func has(g *NotifyGroup, event string) bool { return slices.Contains(g.Events, event) }

// wants reports whether the group asks for one of the kinds of change.
func wants(g *NotifyGroup, kinds uint8) bool {
	return kinds&(1<<core.EventNew) != 0 && has(g, "MessageNew") ||
		kinds&(1<<core.EventExpunge) != 0 && has(g, "MessageExpunge") ||
		kinds&(1<<core.EventFlags) != 0 && has(g, "FlagChange")
}

// selectedGroup returns the event group of the selected mailbox, nil when
// NOTIFY named none.
func (n *notifier) selectedGroup() *NotifyGroup {
	if n == nil {
		return nil
	}
	for i := range n.groups {
		if strings.HasPrefix(n.groups[i].Filter, "SELECTED") {
			return &n.groups[i]
		}
	}
	return nil
}

// pushSelected reports whether changes of the selected mailbox are told
// as they happen (during IDLE): unless its event group is NONE.
func (n *notifier) pushSelected() bool {
	g := n.selectedGroup()
	return g == nil || len(g.Events) > 0
}

// notifyMatch returns the first event group other than the selected filters
// that matches folder f of mailbox acc, named name, or nil (RFC 5465 §6).
func (c *conn) notifyMatch(acc core.Access, f core.Folder, name string) *NotifyGroup {
	for i := range c.notify.groups {
		g := &c.notify.groups[i]
		ok := false
		switch g.Filter {
		case "PERSONAL":
			ok = acc.ID == c.home.ID
		case "INBOXES":
			ok = acc.ID == c.home.ID && f.Name == "INBOX"
		case "SUBSCRIBED":
			ok = f.Subscribed
		case "MAILBOXES":
			ok = slices.Contains(g.Mailboxes, name)
		case "SUBTREE":
			ok = slices.ContainsFunc(g.Mailboxes, func(m string) bool {
				return name == m || strings.HasPrefix(name, m+core.Delimiter)
			})
		}
		if ok {
			return g
		}
	}
	return nil
}

// mayMatch reports whether a folder of mailbox acc, existing or to come,
// may match one of the event groups: whether to watch the mailbox.
func (n *notifier) mayMatch(acc core.Access, own bool) bool {
	root := ""
	if !own {
		root = strings.ToLower(sharedRoot + core.Delimiter + acc.Address)
	}
	for _, g := range n.groups {
		switch g.Filter {
		case "PERSONAL", "INBOXES":
			if own {
				return true
			}
		case "SUBSCRIBED":
			return true
		case "SUBTREE", "MAILBOXES":
			for _, m := range g.Mailboxes {
				m = strings.ToLower(m)
				inShared := m == strings.ToLower(sharedRoot) || strings.HasPrefix(m, strings.ToLower(sharedRoot+core.Delimiter))
				switch {
				case own && !inShared:
					return true
				case !own && strings.HasPrefix(m, root+core.Delimiter):
					return true
				case !own && g.Filter == "SUBTREE" && (m == root || strings.HasPrefix(root, m+core.Delimiter)):
					return true
				}
			}
		}
	}
	return false
}

// cmdNotify answers NOTIFY (RFC 5465 §3). A NOTIFY that fails leaves the
// one in force before it.
func (c *conn) cmdNotify(cmd *Command) {
	a := cmd.Args.(*NotifyArgs)
	if a.None {
		c.notifyStop()
		c.ok(cmd.Tag, "", "NOTIFY done")
		return
	}
	groups := make([]NotifyGroup, len(a.Groups))
	for i, g := range a.Groups {
		for _, ev := range g.Events {
			if !slices.Contains(strings.Fields(supportedEvents), ev) {
				c.w.Tagged(cmd.Tag, "NO", "BADEVENT ("+supportedEvents+")", "event "+ev+" is not supported")
				return
			}
		}
		g.Mailboxes = slices.Clone(g.Mailboxes)
		for j, raw := range g.Mailboxes {
			name, err := DecodeMailbox(raw, c.w.UTF8)
			if err != nil {
				c.w.Tagged(cmd.Tag, "BAD", "", "bad mailbox name")
				return
			}
			if strings.EqualFold(name, "INBOX") {
				name = "INBOX"
			}
			g.Mailboxes[j] = name
		}
		groups[i] = g
	}
	n, err := c.notifyStart(groups)
	if n == nil && err == nil {
		c.w.Tagged(cmd.Tag, "NO", "NOTIFICATIONOVERFLOW", "too many mailboxes to watch")
		return
	}
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	c.notifyStop()
	c.notify = n
	if a.Status {
		c.notifyInitialStatus()
	}
	c.ok(cmd.Tag, "", "NOTIFY done")
}

// notifyStart watches the mailboxes the groups may match, then lists
// their folders (in this order, so that no change falls in between). It
// returns nil and no error when there are more than maxNotifyMailboxes.
func (c *conn) notifyStart(groups []NotifyGroup) (*notifier, error) {
	n := &notifier{
		groups: groups, wake: make(chan struct{}, 1),
		pending: map[int64]pendingFolder{}, relist: map[int64]bool{},
		boxes: map[int64]*watchedBox{}, told: map[int64]string{},
	}
	own, err := c.personal()
	if err != nil {
		return nil, err
	}
	accs, err := c.srv.svc.Mailboxes(c.ctx, c.actor)
	if err != nil {
		return nil, err
	}
	var watch []core.Access
	for _, acc := range accs {
		if acc.Rights.Has(core.RightLookup) && n.mayMatch(acc, acc.ID == own.ID) {
			watch = append(watch, acc)
		}
	}
	if len(watch) > maxNotifyMailboxes {
		return nil, nil
	}
	for _, acc := range watch {
		w := c.srv.svc.Watch(acc.ID)
		n.watchers = append(n.watchers, w)
		go func() {
			for ev := range w.C {
				n.note(ev, w.Overflowed())
			}
		}()
	}
	for _, acc := range watch {
		folders, err := c.srv.svc.Folders(c.ctx, c.actor, acc.ID)
		if errors.Is(err, core.ErrPermission) || errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			n.stop()
			return nil, fmt.Errorf("list folders of mailbox %d: %w", acc.ID, err)
		}
		box := &watchedBox{access: acc, folders: map[int64]core.Folder{}}
		for _, f := range folders {
			box.folders[f.ID] = f
		}
		n.boxes[acc.ID] = box
	}
	return n, nil
}

// stop ends the watchers; their goroutines end with them.
func (n *notifier) stop() {
	for _, w := range n.watchers {
		w.Close()
	}
}

// notifyStop ends the NOTIFY in force, if any.
func (c *conn) notifyStop() {
	if c.notify != nil {
		c.notify.stop()
		c.notify = nil
	}
}

// notifyWake returns the channel that says something was noted, nil
// without NOTIFY.
func (c *conn) notifyWake() <-chan struct{} {
	if c.notify == nil {
		return nil
	}
	return c.notify.wake
}

// sortedBoxes returns the watched mailboxes in a stable order.
func (n *notifier) sortedBoxes() []*watchedBox {
	return slices.SortedFunc(maps.Values(n.boxes), func(a, b *watchedBox) int { return cmp.Compare(a.access.ID, b.access.ID) })
}

// sortedFolders returns a mailbox's folders by name.
func (b *watchedBox) sortedFolders() []core.Folder {
	return slices.SortedFunc(maps.Values(b.folders), func(x, y core.Folder) int { return strings.Compare(x.Name, y.Name) })
}

// notifyInitialStatus tells the STATUS of every mailbox with message
// events other than the selected one, for NOTIFY SET STATUS (RFC 5465
// §3.1): MESSAGES, UIDNEXT and UIDVALIDITY, and HIGHESTMODSEQ with
// FlagChange (§5.1: CONDSTORE is offered).
func (c *conn) notifyInitialStatus() {
	for _, box := range c.notify.sortedBoxes() {
		for _, f := range box.sortedFolders() {
			c.notifyStatus(box.access, f, messageKinds, true)
		}
	}
}

// notifyStatus tells the STATUS of folder f after changes of kinds, when
// its event group asks for them and the values changed since last told.
// A change made afterwards shows as UNSEEN too.
func (c *conn) notifyStatus(acc core.Access, f core.Folder, kinds uint8, initial bool) {
	if c.sel != nil && c.sel.folder.ID == f.ID {
		return
	}
	name := c.imapName(acc, f.Name)
	g := c.notifyMatch(acc, f, name)
	if g == nil || !wants(g, kinds) {
		return
	}
	items := []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY"}
	if !initial {
		items = append(items, "UNSEEN")
	}
	if has(g, "FlagChange") {
		items = append(items, "HIGHESTMODSEQ")
	}
	told := fmt.Sprint(f.Messages, f.UIDNext, f.UIDValidity, f.Unseen, f.HighestModSeq)
	if !initial && c.notify.told[f.ID] == told {
		return
	}
	c.notify.told[f.ID] = told
	c.writeStatus(name, f, acc, items)
}

// notifyFlush tells what was noted since the last time. It runs before
// every tagged response, so it never writes one itself.
func (c *conn) notifyFlush() {
	n := c.notify
	if n == nil {
		return
	}
	n.mu.Lock()
	pending, relist := n.pending, n.relist
	if len(pending) == 0 && len(relist) == 0 {
		n.mu.Unlock()
		return
	}
	n.pending, n.relist = map[int64]pendingFolder{}, map[int64]bool{}
	n.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(relist)) {
		if box := n.boxes[id]; box != nil {
			c.notifyRelist(box, relist[id], pending)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(pending)) {
		p := pending[id]
		box := n.boxes[p.mailbox]
		if box == nil {
			continue
		}
		f, err := c.srv.svc.Folder(c.ctx, c.actor, id)
		if err != nil {
			continue // deleted since: its LIST said so
		}
		c.notifyStatus(box.access, f, p.kinds, false)
	}
}

// notifyRelist lists a mailbox's folders again and tells, as LIST (RFC
// 5465 §5.4, §5.5), those created, renamed, deleted or (un)subscribed.
// After dropped events (all), every folder may have changed.
func (c *conn) notifyRelist(box *watchedBox, all bool, pending map[int64]pendingFolder) {
	folders, err := c.srv.svc.Folders(c.ctx, c.actor, box.access.ID)
	if errors.Is(err, core.ErrPermission) || errors.Is(err, core.ErrNotFound) {
		folders, err = nil, nil // the person lost the mailbox (§5.9): its folders are gone
	}
	if err != nil {
		return
	}
	fresh := make(map[int64]core.Folder, len(folders))
	for _, f := range folders {
		fresh[f.ID] = f
		if all {
			pending[f.ID] = pendingFolder{mailbox: box.access.ID, kinds: messageKinds}
		}
		old, had := box.folders[f.ID]
		name := c.imapName(box.access, f.Name)
		g := c.notifyMatch(box.access, f, name)
		switch {
		case !had:
			if g != nil && has(g, "MailboxName") {
				c.writeNotifyList(f, name, "")
			}
		case old.Name != f.Name:
			oldName := c.imapName(box.access, old.Name)
			if g == nil {
				g = c.notifyMatch(box.access, old, oldName)
			}
			if g != nil && has(g, "MailboxName") {
				c.writeNotifyList(f, name, oldName)
			}
		case old.Subscribed != f.Subscribed:
			if g == nil {
				g = c.notifyMatch(box.access, old, name)
			}
			if g != nil && has(g, "SubscriptionChange") {
				c.writeNotifyList(f, name, "")
			}
		}
	}
	for _, old := range box.sortedFolders() {
		if _, ok := fresh[old.ID]; ok {
			continue
		}
		name := c.imapName(box.access, old.Name)
		if g := c.notifyMatch(box.access, old, name); g != nil && has(g, "MailboxName") {
			c.w.Untagged()
			c.w.Atom(`LIST (\NonExistent) "/" `)
			c.w.Mailbox(name)
			c.w.CRLF()
		}
		delete(c.notify.told, old.ID)
	}
	box.folders = fresh
}

// writeNotifyList writes the LIST of a folder created, renamed (with its
// OLDNAME, RFC 5465 §5.4) or (un)subscribed (§5.5).
func (c *conn) writeNotifyList(f core.Folder, name, oldName string) {
	var attrs []string
	if f.Subscribed {
		attrs = append(attrs, `\Subscribed`)
	}
	c.w.Untagged()
	c.w.Atom("LIST ")
	c.w.Flags(attrs)
	c.w.Atom(` "/" `)
	c.w.Mailbox(name)
	if oldName != "" {
		c.w.Atom(` ("OLDNAME" (`)
		c.w.Mailbox(oldName)
		c.w.Atom("))")
	}
	c.w.CRLF()
}

// notifyNew sends, for messages just announced in the selected mailbox,
// the FETCH the selected event group's MessageNew asked for (RFC 5465
// §5.2). It never sets \Seen.
func (c *conn) notifyNew(uids []uint32) {
	g := c.notify.selectedGroup()
	if g == nil || len(g.Fetch) == 0 || len(uids) == 0 {
		return
	}
	msgs, err := c.srv.svc.Messages(c.ctx, c.actor, c.sel.folder.ID, core.MessageQuery{UIDs: []core.UIDRange{{Lo: uids[0], Hi: uids[len(uids)-1]}}})
	if err != nil {
		return
	}
	for _, m := range msgs {
		seq, ok := c.sel.tracker.Seq(m.UID)
		if !ok {
			continue
		}
		if err := c.fetchOne(&content{c: c, seq: seq, m: m}, g.Fetch); err != nil && c.w.Err() != nil {
			return
		}
	}
}
