package imap

import (
	"iter"
	"slices"
	"sort"
)

// Tracker is one client's view of its selected mailbox: the UIDs it knows,
// in the order of their sequence numbers (RFC 9051 §2.3.1.2), and the
// changes made since by anyone that it has not been told about yet.
//
// Changes are queued as they happen and announced by Flush at the points
// where the protocol allows it. Sequence numbers only change when an
// expunge is announced, so they stay right for the client however many
// changes arrive meanwhile. UIDs are held as runs of consecutive numbers:
// a mailbox of 100,000 messages with few gaps costs a few hundred bytes.
//
// A Tracker is not safe for concurrent use; the session that owns it
// feeds it the core's events from its own goroutine.
type Tracker struct {
	runs []uidRun

	newUIDs  []uint32 // arrived, not yet announced; ascending, above every known UID
	expunged []uint32 // gone, not yet announced; unordered
	flags    map[uint32]FlagUpdate
}

// uidRun is a run of consecutive UIDs; before counts the messages of the
// runs ahead of it, so the sequence number of first is before+1.
type uidRun struct {
	first, last uint32
	before      uint32
}

// FlagUpdate is the state of a message's flags after a change.
type FlagUpdate struct {
	Flags  []string
	ModSeq uint64
}

// FlushOptions tell Flush what the client may be told now.
type FlushOptions struct {
	// Expunge allows announcing expunges: false while a FETCH, STORE or
	// SEARCH runs (RFC 9051 §7.5.1).
	Expunge bool
	// Vanished announces expunges as VANISHED UID sets, for clients that
	// enabled QRESYNC (RFC 7162 §3.2.10), instead of EXPUNGE.
	Vanished bool
	// ModSeq adds MODSEQ to flag updates, for clients that enabled
	// CONDSTORE (RFC 7162 §3.1.4).
	ModSeq bool
}

// NewTracker returns the view of a mailbox holding uids, ascending.
func NewTracker(uids []uint32) *Tracker {
	t := &Tracker{}
	for _, u := range uids {
		t.add(u)
	}
	return t
}

// Len returns the number of messages the client knows of.
func (t *Tracker) Len() uint32 {
	if len(t.runs) == 0 {
		return 0
	}
	r := t.runs[len(t.runs)-1]
	return r.before + r.last - r.first + 1
}

// MaxUID returns the largest UID the client knows of, or 0.
func (t *Tracker) MaxUID() uint32 {
	if len(t.runs) == 0 {
		return 0
	}
	return t.runs[len(t.runs)-1].last
}

// UID returns the UID of sequence number seq.
func (t *Tracker) UID(seq uint32) (uint32, bool) {
	if seq == 0 || seq > t.Len() {
		return 0, false
	}
	i := sort.Search(len(t.runs), func(i int) bool { return t.runs[i].before >= seq }) - 1
	r := t.runs[i]
	return r.first + (seq - r.before - 1), true
}

// Seq returns the sequence number of uid, if the client knows it.
func (t *Tracker) Seq(uid uint32) (uint32, bool) {
	i := sort.Search(len(t.runs), func(i int) bool { return t.runs[i].last >= uid })
	if i == len(t.runs) || uid < t.runs[i].first {
		return 0, false
	}
	r := t.runs[i]
	return r.before + uid - r.first + 1, true
}

// Seqs yields the sequence numbers and UIDs of the messages whose
// sequence numbers fall in ranges, which must be resolved (NumSet.Resolve
// with Len).
func (t *Tracker) Seqs(ranges []NumRange) iter.Seq2[uint32, uint32] {
	return func(yield func(seq, uid uint32) bool) {
		for _, rg := range ranges {
			for seq := rg.Start; seq <= min(rg.Stop, t.Len()) && seq != 0; seq++ {
				uid, _ := t.UID(seq)
				if !yield(seq, uid) {
					return
				}
			}
		}
	}
}

// UIDs yields the sequence numbers and UIDs of the known messages whose
// UIDs fall in ranges, which must be resolved (NumSet.Resolve with MaxUID).
func (t *Tracker) UIDs(ranges []NumRange) iter.Seq2[uint32, uint32] {
	return func(yield func(seq, uid uint32) bool) {
		for _, rg := range ranges {
			i := sort.Search(len(t.runs), func(i int) bool { return t.runs[i].last >= rg.Start })
			for ; i < len(t.runs) && t.runs[i].first <= rg.Stop; i++ {
				r := t.runs[i]
				for uid := max(r.first, rg.Start); uid <= min(r.last, rg.Stop); uid++ {
					if !yield(r.before+uid-r.first+1, uid) {
						return
					}
					if uid == ^uint32(0) {
						break
					}
				}
			}
		}
	}
}

// All returns every known UID in sequence order.
func (t *Tracker) All() []uint32 {
	out := make([]uint32, 0, t.Len())
	for _, r := range t.runs {
		for u := r.first; u <= r.last && u != 0; u++ {
			out = append(out, u)
			if u == ^uint32(0) {
				break
			}
		}
	}
	return out
}

// Added queues the arrival of a message. UIDs are only ever assigned
// upwards (RFC 9051 §2.3.1.1); an arrival the tracker already knows, or
// below what it knows, is ignored.
func (t *Tracker) Added(uid uint32) {
	last := t.MaxUID()
	if n := len(t.newUIDs); n > 0 {
		last = t.newUIDs[n-1]
	}
	if uid > last {
		t.newUIDs = append(t.newUIDs, uid)
	}
}

// Expunged queues the removal of a message.
func (t *Tracker) Expunged(uid uint32) {
	if i, ok := slices.BinarySearch(t.newUIDs, uid); ok {
		t.newUIDs = slices.Delete(t.newUIDs, i, i+1)
		return
	}
	if _, ok := t.Seq(uid); ok {
		t.expunged = append(t.expunged, uid)
		delete(t.flags, uid)
	}
}

// FlagsChanged queues a change of a message's flags; only the latest
// state of each message is kept.
func (t *Tracker) FlagsChanged(uid uint32, u FlagUpdate) {
	if t.flags == nil {
		t.flags = map[uint32]FlagUpdate{}
	}
	if old, ok := t.flags[uid]; ok && old.ModSeq > u.ModSeq {
		return
	}
	t.flags[uid] = u
}

// PendingFlags yields the flags of the queued flag changes, so that the
// keywords among them can be announced before Flush names them.
func (t *Tracker) PendingFlags() iter.Seq[[]string] {
	return func(yield func([]string) bool) {
		for _, u := range t.flags {
			if !yield(u.Flags) {
				return
			}
		}
	}
}

// Pending reports whether changes wait to be announced.
func (t *Tracker) Pending() bool {
	return len(t.newUIDs) > 0 || len(t.expunged) > 0 || len(t.flags) > 0
}

// Flush writes the queued changes the options allow as untagged
// responses and applies them to the view: expunges first (RFC 9051
// §7.5.1 EXPUNGE, RFC 7162 §3.2.10 VANISHED), then the new message count
// (§7.4.1 EXISTS), then flag changes (§7.5.2 FETCH).
func (t *Tracker) Flush(w *Writer, opts FlushOptions) {
	if opts.Expunge && len(t.expunged) > 0 {
		gone := t.expunged
		t.expunged = nil
		if opts.Vanished {
			w.Untagged()
			w.Atom("VANISHED ")
			w.Atom(NumSetOf(gone).String())
			w.CRLF()
			t.remove(gone)
		} else {
			for _, seq := range t.remove(gone) {
				w.Untagged()
				w.Number(seq)
				w.Atom(" EXPUNGE")
				w.CRLF()
			}
		}
	}
	if len(t.newUIDs) > 0 {
		for _, u := range t.newUIDs {
			t.add(u)
		}
		t.newUIDs = t.newUIDs[:0]
		w.Untagged()
		w.Number(t.Len())
		w.Atom(" EXISTS")
		w.CRLF()
	}
	if len(t.flags) == 0 {
		return
	}
	uids := make([]uint32, 0, len(t.flags))
	for u := range t.flags {
		uids = append(uids, u)
	}
	slices.Sort(uids)
	for _, uid := range uids {
		seq, ok := t.Seq(uid)
		if !ok || slices.Contains(t.expunged, uid) {
			continue
		}
		u := t.flags[uid]
		w.Untagged()
		w.Number(seq)
		w.Atom(" FETCH (UID ")
		w.Number(uid)
		w.Atom(" FLAGS ")
		w.Flags(u.Flags)
		if opts.ModSeq {
			w.Atom(" MODSEQ (")
			w.Number64(u.ModSeq)
			w.Close()
		}
		w.Close()
		w.CRLF()
	}
	clear(t.flags)
}

// Remove takes uids out of the view at once, for an expunge the client
// itself asked for and is told about by the command's own responses. It
// returns the sequence numbers to announce, in the order to send them:
// highest first, so that no announcement shifts the next one.
func (t *Tracker) Remove(uids []uint32) []uint32 {
	t.expunged = slices.DeleteFunc(t.expunged, func(u uint32) bool { return slices.Contains(uids, u) })
	return t.remove(uids)
}

// add appends uid, which is above every known UID, to the view.
func (t *Tracker) add(uid uint32) {
	if n := len(t.runs); n > 0 {
		r := &t.runs[n-1]
		if uid <= r.last {
			return
		}
		if uid == r.last+1 {
			r.last = uid
			return
		}
	}
	t.runs = append(t.runs, uidRun{first: uid, last: uid, before: t.Len()})
}

// remove takes uids out of the view and returns their former sequence
// numbers, highest first.
func (t *Tracker) remove(uids []uint32) []uint32 {
	sorted := slices.Clone(uids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	seqs := make([]uint32, 0, len(sorted))
	for i := len(sorted) - 1; i >= 0; i-- {
		if seq, ok := t.Seq(sorted[i]); ok {
			seqs = append(seqs, seq)
		}
	}
	if len(seqs) == 0 {
		return seqs
	}
	runs := make([]uidRun, 0, len(t.runs)+len(seqs))
	j := 0
	var count uint32
	for _, r := range t.runs {
		for j < len(sorted) && sorted[j] < r.first {
			j++
		}
		start := r.first
		for ; j < len(sorted) && sorted[j] <= r.last; j++ {
			if sorted[j] > start {
				runs = append(runs, uidRun{first: start, last: sorted[j] - 1, before: count})
				count += sorted[j] - start
			}
			start = sorted[j] + 1
		}
		if start <= r.last && start != 0 {
			runs = append(runs, uidRun{first: start, last: r.last, before: count})
			count += r.last - start + 1
		}
	}
	t.runs = runs
	return seqs
}
