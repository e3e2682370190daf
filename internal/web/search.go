package web

import (
	"fmt"
	"net/http"
	"strings"

	"caduceus/internal/core"
)

// searchHits is how many results a search shows.
const searchHits = 50

// searchBatch is how many messages a search reads from a folder at a time.
const searchBatch = 2000

// search finds messages of the open mailbox whose subject, addresses or
// attachment names contain every word of the query, newest first, folder
// by folder. Bodies wait for the core's full-text index (NEEDS.md §1).
func (a *app) search(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	v, m, err := a.openBox(r, u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v.Query = strings.TrimSpace(r.URL.Query().Get("q"))
	a.showFolders(v, m, 0)
	v.Title = a.t(v, "search_results")
	words := strings.Fields(strings.ToLower(v.Query))
	if len(words) > 0 {
		for _, f := range m.folders {
			for offset := 0; len(v.List.Rows) < searchHits; offset += searchBatch {
				msgs, err := a.svc.Messages(ctx, u.actor, f.ID, core.MessageQuery{Order: core.ByDateDesc, Limit: searchBatch, Offset: offset})
				if err != nil {
					a.fail(w, r, err)
					return
				}
				for _, msg := range msgs {
					if matches(msg, words) && len(v.List.Rows) < searchHits {
						row := a.rowOf(v, msg)
						row.URL = fmt.Sprintf("/mail/%d/%d/%d", f.MailboxID, f.ID, msg.ID)
						v.List.Rows = append(v.List.Rows, row)
					}
				}
				if len(msgs) < searchBatch {
					break
				}
			}
		}
	}
	a.respondPanes(w, r, v, "")
}

// matches tells whether every word is in the message's searchable fields.
func matches(m core.Message, words []string) bool {
	hay := strings.ToLower(strings.Join(append([]string{m.Subject, m.From, m.To, m.Cc}, m.Attachments...), "\n"))
	for _, w := range words {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}
