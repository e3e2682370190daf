package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"caduceus/internal/store"
)

// Nodes sharing a PostgreSQL store tell each other of mailbox changes through
// LISTEN/NOTIFY on this channel, so that an IMAP IDLE or a web page on one node
// hears of a delivery made on another.
const eventChannel = "caduceus_events"

// publish tells this node's watchers of events and, on PostgreSQL, every other
// node's, for changes committed outside the group committer.
func (s *Service) publish(events ...Event) {
	if len(events) == 0 {
		return
	}
	s.publishLocal(events...)
	if s.st.Dialect() != store.Postgres {
		return
	}
	for _, payload := range encodeEvents(s.node, events) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := s.st.Exec(ctx, `SELECT pg_notify(?, ?)`, eventChannel, payload); err != nil {
			s.log.Warn("notify other nodes", "err", err)
		}
		cancel()
	}
}

// publishLocal tells this node's watchers of events.
func (s *Service) publishLocal(events ...Event) {
	for _, e := range events {
		s.events.publish(e)
	}
}

// notifyNodes tells the other nodes of events, on PostgreSQL, from inside the
// transaction that makes the changes: PostgreSQL delivers the notifications
// when, and only if, it commits, and sending them costs no commit of their own.
func (s *Service) notifyNodes(ctx context.Context, tx *store.Tx, events []Event) error {
	if tx.Dialect() != store.Postgres {
		return nil
	}
	for _, payload := range encodeEvents(s.node, events) {
		if _, err := tx.Exec(ctx, `SELECT pg_notify(?, ?)`, eventChannel, payload); err != nil {
			return fmt.Errorf("notify other nodes: %w", err)
		}
	}
	return nil
}

// relayEvents listens for other nodes' events until ctx ends, reconnecting
// queueChannel tells the other nodes of a cluster that mail was queued, so
// that their queues need not wait for their next poll to send it.
const queueChannel = "caduceus_queue"

// after errors.
func (s *Service) relayEvents(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("cluster events: reconnecting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Service) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.st.DSN())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range []string{eventChannel, revokedChannel, queueChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	s.listening.Store(true)
	defer s.listening.Store(false)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == revokedChannel {
			s.hearRevoked(n.Payload)
			continue
		}
		if n.Channel == queueChannel {
			if n.Payload != s.node {
				s.wakeQueue()
			}
			continue
		}
		origin, events := decodeEvents(n.Payload)
		if origin == s.node {
			continue
		}
		for _, e := range events {
			s.events.publish(e)
		}
	}
}

// encodeEvents writes events as "node|mailbox,folder,kind,modseq;…", split so
// that each payload stays under PostgreSQL's 8000-byte NOTIFY limit.
func encodeEvents(node string, events []Event) []string {
	var out []string
	var b strings.Builder
	for _, e := range events {
		if b.Len() == 0 {
			b.WriteString(node)
			b.WriteByte('|')
		} else {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, "%d,%d,%d,%d", e.MailboxID, e.FolderID, e.Kind, e.ModSeq)
		if b.Len() > 7000 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

func decodeEvents(payload string) (string, []Event) {
	node, list, ok := strings.Cut(payload, "|")
	if !ok {
		return "", nil
	}
	var out []Event
	for _, item := range strings.Split(list, ";") {
		f := strings.Split(item, ",")
		if len(f) != 4 {
			continue
		}
		mb, err1 := strconv.ParseInt(f[0], 10, 64)
		folder, err2 := strconv.ParseInt(f[1], 10, 64)
		kind, err3 := strconv.Atoi(f[2])
		modseq, err4 := strconv.ParseUint(f[3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue
		}
		out = append(out, Event{MailboxID: mb, FolderID: folder, Kind: EventKind(kind), ModSeq: modseq})
	}
	return node, out
}

func newNodeID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}
