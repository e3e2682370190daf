package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/directory"
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

// person is one recipient suggestion. From tells where it was found:
// "favourite", "directory" or "local".
type person struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	From    string `json:"from"`
}

// suggest returns people whose name or address matches the query, for the
// recipient fields: the person's favourites first, then the directory,
// then local accounts.
func (a *app) suggest(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	out := []person{}
	if len([]rune(q)) < 2 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	seen := make(map[string]bool)
	add := func(p person) bool {
		if p.Address != "" && !seen[p.Address] {
			seen[p.Address] = true
			out = append(out, p)
		}
		return len(out) < suggestLimit
	}
	if a.opts.Directory != nil {
		people, err := a.suggestDirectory(r.Context(), currentUser(r).account.ID, q)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, p := range people {
			if !add(p) {
				break
			}
		}
	}
	users, err := a.svc.Users(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	lower := strings.ToLower(q)
	for _, acct := range users {
		if len(out) == suggestLimit {
			break
		}
		if !acct.Disabled && (strings.Contains(strings.ToLower(acct.Name), lower) || strings.Contains(acct.Address, lower)) {
			add(person{Name: acct.Name, Address: acct.Address, From: "local"})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// suggestDirectory returns the favourites whose name or mailbox match q,
// then the directory's entries with a mailbox that match it.
func (a *app) suggestDirectory(ctx context.Context, account int64, q string) ([]person, error) {
	var out []person
	favs, err := a.opts.Directory.Favourites(ctx, account)
	if err != nil {
		return nil, err
	}
	fq := directory.Fold(q)
	for _, e := range favs {
		if e.Mailbox != "" && (strings.Contains(directory.Fold(e.DisplayName()), fq) || strings.Contains(e.Mailbox, strings.ToLower(q))) {
			out = append(out, person{Name: e.DisplayName(), Address: e.Mailbox, From: "favourite"})
		}
	}
	dq := directory.Query{Text: q, WithMailbox: true, AccountID: account, Limit: suggestLimit}
	if strings.Contains(q, "@") {
		dq = directory.Query{Mailbox: q, WithMailbox: true, AccountID: account, Limit: suggestLimit}
	}
	res, err := a.opts.Directory.Search(ctx, dq)
	if queryError(err) != "" {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range res.Entries {
		from := "directory"
		if e.Favourite {
			from = "favourite"
		}
		out = append(out, person{Name: e.DisplayName(), Address: e.Mailbox, From: from})
	}
	return out, nil
}
