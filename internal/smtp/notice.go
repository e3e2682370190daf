package smtp

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"caduceus/internal/core"
)

// notifyDelivered sends the sender a "delivered" notice for the local
// recipients that asked for one with NOTIFY=SUCCESS (RFC 3461 §4.1), through
// the core, which delivers it here or queues it with a null reverse-path.
// The message is already committed: a failure here is logged, not replied.
// messageID is the message's Message-ID with its angle brackets.
func (ss *session) notifyDelivered(data []byte, messageID string) {
	if ss.from == "" {
		return // a notice about a notice would loop (RFC 3461 §4.1)
	}
	now := time.Now()
	var rcpts []ReportRecipient
	for _, r := range ss.rcpts {
		if !r.local || !slices.ContainsFunc(r.notify, func(n string) bool { return strings.EqualFold(n, "SUCCESS") }) {
			continue
		}
		rcpts = append(rcpts, ReportRecipient{
			Original:    r.original,
			Final:       r.addr,
			Action:      ActionDelivered,
			Status:      [3]int{2, 0, 0},
			LastAttempt: now,
		})
	}
	if len(rcpts) == 0 {
		return
	}
	report := Report{
		Hostname:   ss.srv.opts.Hostname,
		To:         ss.from,
		EnvelopeID: ss.opts.EnvelopeID,
		Arrival:    now,
		Date:       now,
		Recipients: rcpts,
		Header:     data,
		MessageID:  messageID,
		UTF8:       ss.opts.UTF8,
	}
	var buf bytes.Buffer
	if _, err := report.WriteTo(&buf); err != nil {
		ss.srv.log.Error("delivered notice", "session", ss.id, "err", err)
		return
	}
	actor := core.System(ss.srv.opts.Mode.String())
	if err := ss.srv.svc.SendNotice(ss.ctx(), actor, ss.from, "dsn", buf.Bytes()); err != nil {
		ss.srv.log.Error("delivered notice", "session", ss.id, "err", err)
	}
}
