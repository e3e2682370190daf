package web

import (
	"bytes"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"caduceus/internal/queue"
)

// outboxLimit is how many messages the dev outbox page shows.
const outboxLimit = 50

// outbox shows the mail the development server kept instead of sending,
// newest first, so that a new user can read their login code. It exists
// only when Options.DevOutboxDir is set, which `caduceus dev` does.
func (a *app) outbox(w http.ResponseWriter, r *http.Request) {
	v := a.baseView(r)
	v.Title = a.t(v, "outbox_title")
	msgs, err := queue.ReadOutbox(a.opts.DevOutboxDir)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	slices.Reverse(msgs)
	for _, m := range msgs[:min(len(msgs), outboxLimit)] {
		ov := outboxView{To: strings.Join(m.To, ", "), Subject: m.Subject, Date: a.longDate(v, m.Time), DateISO: m.Time.Format(time.RFC3339)}
		data, err := os.ReadFile(m.Path)
		if err != nil {
			continue
		}
		p, err := parseMessage(bytes.NewReader(data))
		if err != nil {
			continue
		}
		ov.Text = p.plainText()
		if ov.To == "" {
			ov.To = strings.Join(formatAddresses(p.To), ", ")
		}
		v.Outbox = append(v.Outbox, ov)
	}
	a.render(w, r, http.StatusOK, "outbox", v)
}
