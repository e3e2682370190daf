package imap

import (
	"slices"
	"strings"
	"time"

	"caduceus/internal/core"
)

// threadMsg is what THREAD=REFERENCES reads of a message (RFC 5256 §3).
type threadMsg struct {
	num   uint32 // sequence number, or UID for UID THREAD
	id    string // its Message-ID, or "" when it has none
	refs  []string
	date  time.Time // the sent date (RFC 5256 §2.2)
	base  string    // the base subject (RFC 5256 §2.1)
	reply bool      // a reply or forward
}

// newThreadMsg reads a message's threading fields: its references are
// the msg-ids of References or, when there are none, the first of
// In-Reply-To.
func newThreadMsg(num uint32, m core.Message) *threadMsg {
	refs := msgIDs(m.References)
	if len(refs) == 0 {
		if ids := msgIDs(m.InReplyTo); len(ids) > 0 {
			refs = ids[:1]
		}
	}
	var id string
	if ids := msgIDs(m.MessageID); len(ids) > 0 {
		id = ids[0]
	}
	base, reply := baseSubject(m.Subject)
	return &threadMsg{num: num, id: id, refs: refs, date: sentOrArrival(m), base: base, reply: reply}
}

// msgIDs returns the "<...>" message identifiers of a header value, in
// order.
func msgIDs(v string) []string {
	var ids []string
	for {
		open := strings.IndexByte(v, '<')
		if open < 0 {
			return ids
		}
		end := strings.IndexByte(v[open:], '>')
		if end < 0 {
			return ids
		}
		if id := v[open : open+end+1]; len(id) > 2 {
			ids = append(ids, id)
		}
		v = v[open+end+1:]
	}
}

// threadNode is a container of the algorithm: a message, or a dummy that
// stands for a message referred to but absent.
type threadNode struct {
	msg      *threadMsg // nil for a dummy
	parent   *threadNode
	children []*threadNode
}

// descendsFrom tells whether ancestor is n or above it.
func (n *threadNode) descendsFrom(ancestor *threadNode) bool {
	for p := n; p != nil; p = p.parent {
		if p == ancestor {
			return true
		}
	}
	return false
}

func (n *threadNode) adopt(child *threadNode) {
	child.parent = n
	n.children = append(n.children, child)
}

func (n *threadNode) leave() {
	if p := n.parent; p != nil {
		p.children = slices.DeleteFunc(p.children, func(c *threadNode) bool { return c == n })
		n.parent = nil
	}
}

// first is the message a node is dated and named by: its own, or for a
// dummy its first child's.
func (n *threadNode) first() *threadMsg {
	for n.msg == nil {
		n = n.children[0]
	}
	return n.msg
}

// threadReferences groups messages into threads with the REFERENCES
// algorithm of RFC 5256 §3 and returns the threads in order.
func threadReferences(msgs []*threadMsg) []*threadNode {
	byID := map[string]*threadNode{}
	var all []*threadNode
	find := func(id string) *threadNode {
		n := byID[id]
		if n == nil {
			n = &threadNode{}
			byID[id] = n
			all = append(all, n)
		}
		return n
	}
	for _, m := range msgs {
		// Step 1.A: the message's container; a duplicate or missing
		// Message-ID gets a container of its own.
		var c *threadNode
		if n, ok := byID[m.id]; m.id != "" && (!ok || n.msg == nil) {
			c = find(m.id)
		} else {
			c = &threadNode{}
			all = append(all, c)
		}
		c.msg = m
		// Step 1.B: link the references parent to child, keeping
		// links already made and never making a loop.
		var prev *threadNode
		for _, id := range m.refs {
			n := find(id)
			if prev != nil && n.parent == nil && !prev.descendsFrom(n) {
				prev.adopt(n)
			}
			prev = n
		}
		// Step 1.C: the last reference is the message's parent.
		c.leave()
		if prev != nil && !prev.descendsFrom(c) {
			prev.adopt(c)
		}
	}
	// Step 2: the root set.
	var roots []*threadNode
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	// Steps 3 and 4.
	roots = pruneDummies(nil, roots)
	sortThreads(roots, false)
	return mergeBySubject(roots)
}

// pruneDummies removes dummies without children and puts the children of
// the others in their place, except at the root where a dummy keeps two
// or more children together (RFC 5256 §3 step 3).
func pruneDummies(parent *threadNode, nodes []*threadNode) []*threadNode {
	var out []*threadNode
	for _, n := range nodes {
		n.children = pruneDummies(n, n.children)
		switch {
		case n.msg != nil, parent == nil && len(n.children) > 1:
			out = append(out, n)
		default:
			for _, c := range n.children {
				c.parent = parent
			}
			out = append(out, n.children...)
		}
	}
	return out
}

// sortThreads orders siblings by sent date, then by number, a dummy by
// its first child (RFC 5256 §3 steps 4 and 6). With deep, every level is
// sorted, the lowest first; without, the top level and the children of
// its dummies.
func sortThreads(nodes []*threadNode, deep bool) {
	for _, n := range nodes {
		if deep || n.msg == nil {
			sortThreads(n.children, deep)
		}
	}
	slices.SortStableFunc(nodes, func(a, b *threadNode) int {
		ma, mb := a.first(), b.first()
		if c := ma.date.Compare(mb.date); c != 0 {
			return c
		}
		return int(int64(ma.num) - int64(mb.num))
	})
}

// mergeBySubject gathers the threads whose first messages have the same
// base subject (RFC 5256 §3 step 5), then sorts every level (step 6).
func mergeBySubject(roots []*threadNode) []*threadNode {
	table := map[string]*threadNode{}
	for _, n := range roots {
		subj := n.first().base
		if subj == "" {
			continue
		}
		old, ok := table[subj]
		if !ok || old.msg != nil && (n.msg == nil || old.msg.reply && !n.msg.reply) {
			table[subj] = n
		}
	}
	gone := map[*threadNode]bool{}
	var added []*threadNode
	for _, n := range roots {
		subj := n.first().base
		t := table[subj]
		if subj == "" || t == n {
			continue
		}
		gone[n] = true
		switch {
		case t.msg == nil && n.msg == nil:
			for _, c := range n.children {
				t.adopt(c)
			}
		case t.msg == nil, n.msg.reply && !t.msg.reply:
			t.adopt(n)
		default:
			d := &threadNode{}
			gone[t] = true
			d.adopt(t)
			d.adopt(n)
			table[subj] = d
			added = append(added, d)
		}
	}
	var out []*threadNode
	for _, n := range append(roots, added...) {
		if !gone[n] {
			out = append(out, n)
		}
	}
	sortThreads(out, true)
	return out
}

// writeThreads writes the threads of a THREAD response (RFC 5256 §4):
// a parent and its only child continue one list; two or more children
// open a list each.
func writeThreads(w *Writer, threads []*threadNode) {
	for _, n := range threads {
		w.Open()
		writeThread(w, n)
		w.Close()
	}
}

func writeThread(w *Writer, n *threadNode) {
	if n.msg != nil {
		w.Number(n.msg.num)
		for len(n.children) == 1 {
			n = n.children[0]
			w.SP()
			w.Number(n.msg.num)
		}
		if len(n.children) == 0 {
			return
		}
		w.SP()
	}
	writeThreads(w, n.children)
}
