package web

import (
	"fmt"
	"net/http"
	"strings"
)

// searchHits is how many results a search shows.
const searchHits = 50

// search finds messages of the open mailbox whose subject, addresses,
// attachment names or text contain every word of the query, newest first,
// through the core's full-text index.
func (a *app) search(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	v, m, err := a.openBox(r, u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v.Query = strings.TrimSpace(r.URL.Query().Get("q"))
	a.showFolders(v, m, 0)
	v.Title = a.t(v, "search_results")
	if v.Query != "" {
		msgs, err := a.svc.Search(r.Context(), u.actor, m.access.ID, v.Query, searchHits)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, msg := range msgs {
			row := a.rowOf(v, msg)
			row.URL = fmt.Sprintf("/mail/%d/%d/%d", m.access.ID, msg.FolderID, msg.ID)
			v.List.Rows = append(v.List.Rows, row)
		}
	}
	a.respondPanes(w, r, v, "")
}
