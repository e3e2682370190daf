package core

import "sync"

// EventKind says what changed.
type EventKind int

// The kinds of change watchers hear of.
const (
	EventNew     EventKind = iota + 1 // messages added to a folder
	EventFlags                        // flags or keywords changed
	EventExpunge                      // messages removed from a folder
	EventFolders                      // folders created, renamed, deleted or (un)subscribed
	EventRights                       // someone's rights on the mailbox changed
)

// Event tells a watcher that a mailbox changed. It is a hint, published after the
// commit: a watcher reads what changed from the core (Changes, Vanished) since the
// MODSEQ it last saw, so a missed or merged event loses nothing.
type Event struct {
	MailboxID int64
	FolderID  int64
	Kind      EventKind
	ModSeq    uint64
	// Delivered is, for a message that arrived (a delivery or a local
	// submission, not an APPEND, copy or move), the new message's id. It
	// stays on the node that stored the message: other nodes hear 0.
	Delivered int64
}

// Arrival is a message just delivered to a mailbox, for the new-mail
// notifications.
type Arrival struct {
	MailboxID, FolderID, MessageID int64
}

// OnArrival registers f to be called, on this node, after the commit of each
// message delivered to a mailbox. f must return at once (record and go): it
// runs on the group committer's path.
func (s *Service) OnArrival(f func(Arrival)) {
	s.arrivalsMu.Lock()
	defer s.arrivalsMu.Unlock()
	s.arrivals = append(s.arrivals, f)
}

// announceArrivals calls the OnArrival functions for the deliveries among events.
func (s *Service) announceArrivals(events []Event) {
	s.arrivalsMu.Lock()
	fs := s.arrivals
	s.arrivalsMu.Unlock()
	if len(fs) == 0 {
		return
	}
	for _, e := range events {
		if e.Delivered == 0 {
			continue
		}
		for _, f := range fs {
			f(Arrival{MailboxID: e.MailboxID, FolderID: e.FolderID, MessageID: e.Delivered})
		}
	}
}

// Watcher receives the events of one mailbox on C until Close.
type Watcher struct {
	// C has room for a burst of events; when it is full, further events of the
	// burst are dropped and Overflowed reports true until it is reset.
	C      <-chan Event
	c      chan Event
	b      *broker
	id     int64
	mu     sync.Mutex
	over   bool
	closed bool
}

// Overflowed reports, and resets, whether events were dropped because C was full:
// the watcher should then resynchronise everything it shows.
func (w *Watcher) Overflowed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	o := w.over
	w.over = false
	return o
}

// Close stops the events; C is closed.
func (w *Watcher) Close() {
	w.b.remove(w)
}

// Watch returns a watcher of every change to the mailbox, through any door. The
// caller must hold the lookup right; doors check it when they open the mailbox.
func (s *Service) Watch(mailboxID int64) *Watcher { return s.events.add(mailboxID) }

type broker struct {
	mu       sync.Mutex
	watchers map[int64]map[*Watcher]struct{}
}

func newBroker() *broker { return &broker{watchers: map[int64]map[*Watcher]struct{}{}} }

func (b *broker) add(mailboxID int64) *Watcher {
	c := make(chan Event, 64)
	w := &Watcher{C: c, c: c, b: b, id: mailboxID}
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.watchers[mailboxID]
	if m == nil {
		m = map[*Watcher]struct{}{}
		b.watchers[mailboxID] = m
	}
	m[w] = struct{}{}
	return w
}

func (b *broker) remove(w *Watcher) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m := b.watchers[w.id]; m != nil {
		delete(m, w)
		if len(m) == 0 {
			delete(b.watchers, w.id)
		}
	}
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.c)
	}
	w.mu.Unlock()
}

func (b *broker) publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for w := range b.watchers[e.MailboxID] {
		select {
		case w.c <- e:
		default:
			w.mu.Lock()
			w.over = true
			w.mu.Unlock()
		}
	}
}
