package web

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// outboxLimit is how many messages the dev outbox page shows.
const outboxLimit = 50

// outbox shows the mail the development server kept instead of sending,
// newest first, so that a new user can read their login code. It exists
// only when Options.DevOutboxDir is set, which `caduceus dev` does.
func (a *app) outbox(w http.ResponseWriter, r *http.Request) {
	v := a.baseView(r)
	v.Title = a.t(v, "outbox_title")
	files, err := filepath.Glob(filepath.Join(a.opts.DevOutboxDir, "*.eml"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	type entry struct {
		path string
		mod  time.Time
	}
	var entries []entry
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			entries = append(entries, entry{f, st.ModTime()})
		}
	}
	slices.SortFunc(entries, func(x, y entry) int {
		if c := y.mod.Compare(x.mod); c != 0 {
			return c
		}
		return strings.Compare(y.path, x.path)
	})
	for _, e := range entries[:min(len(entries), outboxLimit)] {
		b, err := os.ReadFile(e.path)
		if err != nil {
			continue
		}
		ov := outboxView{Date: a.longDate(v, e.mod), DateISO: e.mod.Format(time.RFC3339)}
		if p, err := parseMessage(bytes.NewReader(b)); err == nil {
			ov.Subject, ov.Text = p.Subject, p.plainText()
			ov.To = strings.Join(formatAddresses(p.To), ", ")
		} else {
			ov.Text = string(b)
		}
		v.Outbox = append(v.Outbox, ov)
	}
	a.render(w, r, http.StatusOK, "outbox", v)
}
