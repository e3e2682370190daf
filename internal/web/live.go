package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/core"
)

// events streams the changes of a mailbox to the page as server-sent
// events, so that new mail shows without a reload. An event says only what
// kind of change happened; the page then asks for the lists again.
func (a *app) events(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	boxID, err := strconv.ParseInt(r.PathValue("box"), 10, 64)
	if err != nil {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	acc, err := a.svc.Mailbox(r.Context(), u.actor, boxID)
	if err != nil || !acc.Rights.Has(core.RightLookup) {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	watcher := a.svc.Watch(boxID)
	defer watcher.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	fmt.Fprint(w, "retry: 5000\n\n")
	flusher.Flush()
	beat := time.NewTicker(25 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-watcher.C:
			if !ok {
				return
			}
			kind := map[core.EventKind]string{core.EventNew: "new", core.EventFlags: "flags", core.EventExpunge: "expunge",
				core.EventFolders: "folders", core.EventRights: "rights"}[ev.Kind]
			if watcher.Overflowed() {
				kind = "all"
			}
			fmt.Fprintf(w, "event: change\ndata: %s\n\n", orDefault(kind, "all"))
			flusher.Flush()
		case <-beat.C:
			// A session that ended stops its stream at the next beat.
			if _, err := a.sessions.Get(r.Context(), u.token); err != nil {
				return
			}
			fmt.Fprint(w, ": beat\n\n")
			flusher.Flush()
		}
	}
}

// suggestLimit is how many people the recipient suggestions show.
const suggestLimit = 10

// suggest returns people whose name or address contains the query, for
// the recipient fields and the directory picker.
func (a *app) suggest(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	type person struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	}
	out := []person{}
	if len([]rune(q)) >= 2 {
		users, err := a.svc.Users(r.Context())
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, acct := range users {
			if acct.Disabled {
				continue
			}
			if strings.Contains(strings.ToLower(acct.Name), q) || strings.Contains(acct.Address, q) {
				out = append(out, person{Name: acct.Name, Address: acct.Address})
				if len(out) == suggestLimit {
					break
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}
