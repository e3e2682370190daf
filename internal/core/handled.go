package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"caduceus/internal/message"
	"caduceus/internal/store"
)

// Ways a member handles a message of a shared mailbox.
const (
	HandledReplied   = "replied"
	HandledForwarded = "forwarded"
	HandledMoved     = "moved"
)

// Handling is who last handled a message of a shared mailbox, and how:
// replied to it or forwarded it from the mailbox (HandledReplied,
// HandledForwarded), or moved it (HandledMoved, Detail the folder it went
// to).
type Handling struct {
	Actor  string // the member's address
	Action string
	Detail string
	At     time.Time
}

// recordHandled notes that a person handled the messages msgIDs of a
// shared mailbox, in tx; it does nothing for a personal mailbox, for the
// system or for messages without a Message-ID.
func (s *Service) recordHandled(ctx context.Context, tx *store.Tx, actor Actor, mb Mailbox, action, detail string, msgIDs ...string) error {
	if actor.IsSystem() || mb.Kind == KindPersonal {
		return nil
	}
	for _, id := range msgIDs {
		if id == "" {
			continue
		}
		if _, err := tx.Exec(ctx, `INSERT INTO handled (mailbox_id, message_id, actor, action, detail, at) VALUES (?, ?, ?, ?, ?, ?)`,
			mb.ID, id, actor.Address, action, detail, s.nowMillis()); err != nil {
			return fmt.Errorf("record handling: %w", err)
		}
	}
	return nil
}

// answered returns how a message sent with header h handles another: a
// reply to the message its In-Reply-To names, or a forward of the last
// one its References name; "" when it is neither.
func answered(h message.Header) (action, msgID string) {
	if ids := strings.Fields(h.InReplyTo); len(ids) > 0 {
		return HandledReplied, ids[0]
	}
	if ids := strings.Fields(h.References); len(ids) > 0 {
		return HandledForwarded, ids[len(ids)-1]
	}
	return "", ""
}

// Handlings returns who last handled each of the messages msgIDs (their
// Message-IDs) of the shared mailbox mailboxID, for an actor who may read
// it; messages nobody handled are absent.
func (s *Service) Handlings(ctx context.Context, actor Actor, mailboxID int64, msgIDs []string) (map[string]Handling, error) {
	if _, err := s.require(ctx, actor, mailboxID, RightRead); err != nil {
		return nil, err
	}
	out := map[string]Handling{}
	var ids []any
	for _, id := range msgIDs {
		if id != "" {
			ids = append(ids, id)
		}
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), 200)]
		ids = ids[len(batch):]
		rows, err := s.st.Query(ctx, `SELECT message_id, actor, action, detail, at FROM handled WHERE mailbox_id = ? AND message_id IN (?`+
			strings.Repeat(", ?", len(batch)-1)+`) ORDER BY id`, append([]any{mailboxID}, batch...)...)
		if err != nil {
			return nil, fmt.Errorf("handlings: %w", err)
		}
		for rows.Next() {
			var id string
			var h Handling
			var at int64
			if err := rows.Scan(&id, &h.Actor, &h.Action, &h.Detail, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("handlings: %w", err)
			}
			h.At = time.UnixMilli(at)
			out[id] = h // the last one wins
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("handlings: %w", err)
		}
	}
	return out, nil
}
