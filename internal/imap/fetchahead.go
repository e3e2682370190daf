package imap

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"caduceus/internal/core"
)

// The core opens each message on its own (it checks the rights, finds the
// blob and derives its key), so a FETCH of a hundred headers asks it a
// hundred times, one after the other. prepare does that work ahead of the
// writer on a few goroutines: while one response goes out, the next
// messages are being opened. Only the header and the structure are loaded
// ahead; bodies are still streamed by the writer, one message at a time.

const (
	prepareWorkers = 4  // goroutines opening messages for one FETCH
	prepareAhead   = 16 // messages opened and not yet written, at most
)

// prepare yields the contents in order, each loaded as items need.
func (c *conn) prepare(list []*content, items []FetchItem) iter.Seq[*content] {
	header, structure := contentNeeds(items)
	if !header && !structure {
		return slices.Values(list)
	}
	if len(list) < 2 {
		return func(yield func(*content) bool) {
			for _, ct := range list {
				ct.load(c.ctx, header, structure)
				if !yield(ct) {
					return
				}
			}
		}
	}
	return func(yield func(*content) bool) {
		ctx, cancel := context.WithCancel(c.ctx)
		ready := make([]chan struct{}, len(list))
		for i := range ready {
			ready[i] = make(chan struct{})
		}
		next := make(chan int)
		slots := make(chan struct{}, prepareAhead)
		var wg sync.WaitGroup
		defer func() {
			cancel()
			wg.Wait()
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(next)
			for i := range list {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				select {
				case next <- i:
				case <-ctx.Done():
					return
				}
			}
		}()
		for range min(prepareWorkers, len(list)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					list[i].load(ctx, header, structure)
					close(ready[i])
				}
			}()
		}
		for i, ct := range list {
			<-ready[i]
			if !yield(ct) {
				return
			}
			<-slots
		}
	}
}

// contentNeeds tells whether the items read the message header, or its
// structure (which reads the whole message).
func contentNeeds(items []FetchItem) (header, structure bool) {
	for _, it := range items {
		switch it.Name {
		case "ENVELOPE", "RFC822.HEADER":
			header = true
		case "BODYSTRUCTURE", "RFC822", "RFC822.TEXT", "BINARY", "BINARY.SIZE":
			structure = true
		case "BODY":
			if it.Section != nil && len(it.Section.Part) == 0 && strings.HasPrefix(it.Section.Specifier, "HEADER") {
				header = true
			} else {
				structure = true
			}
		}
	}
	return header, structure
}

// load opens the message and reads what the items need; a failure is
// kept in ct.err for the writer to report.
func (ct *content) load(ctx context.Context, header, structure bool) {
	rd, err := ct.c.srv.svc.Open(ctx, ct.c.actor, ct.m.ID)
	if err != nil {
		ct.err = ct.vanished(ctx, err)
		return
	}
	ct.rd = rd
	if header {
		_, ct.err = ct.headerBytes()
	}
	if ct.err == nil && structure {
		_, ct.err = ct.structure()
	}
}

// vanished turns an error opening the message into core.ErrNotFound when
// the message no longer exists: an expunge that commits while the core
// opens a message can fail the opening with another error (NEEDS.md).
func (ct *content) vanished(ctx context.Context, err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return err
	}
	msgs, lerr := ct.c.srv.svc.Messages(ctx, ct.c.actor, ct.m.FolderID, core.MessageQuery{UIDs: []core.UIDRange{{Lo: ct.m.UID, Hi: ct.m.UID}}})
	if lerr == nil && len(msgs) == 0 {
		return fmt.Errorf("message %d: %w", ct.m.UID, core.ErrNotFound)
	}
	return err
}
