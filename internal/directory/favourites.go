package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"caduceus/internal/store"
)

// AddFavourite adds the entry with the given id to an account's favourites. It
// returns ErrNotFound when no listed entry has that id.
func (d *Directory) AddFavourite(ctx context.Context, accountID int64, entryID string) error {
	if _, err := d.Entry(ctx, entryID); err != nil {
		return err
	}
	return d.st.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO directory_favourite (account_id, entry_id, created) VALUES (?, ?, ?)
			ON CONFLICT (account_id, entry_id) DO NOTHING`, accountID, entryID, time.Now().Unix())
		if err != nil {
			return fmt.Errorf("directory: add favourite: %w", err)
		}
		return nil
	})
}

// RemoveFavourite removes an entry from an account's favourites.
func (d *Directory) RemoveFavourite(ctx context.Context, accountID int64, entryID string) error {
	return d.st.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM directory_favourite WHERE account_id = ? AND entry_id = ?`, accountID, entryID)
		if err != nil {
			return fmt.Errorf("directory: remove favourite: %w", err)
		}
		return nil
	})
}

// Favourites returns an account's favourite entries in alphabetical order. A
// favourite whose entry left the directory, or went on the red list, is not
// returned but is kept: it comes back with its entry.
func (d *Directory) Favourites(ctx context.Context, accountID int64) ([]Entry, error) {
	g, err := d.current(ctx)
	if err != nil {
		return nil, err
	}
	if g != nil {
		defer g.release()
	}
	ids, err := d.favouriteIDs(ctx, accountID)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	es, err := d.entriesByID(ctx, g, ids, true)
	if err != nil {
		return nil, err
	}
	for i := range es {
		es[i].Favourite = true
	}
	slices.SortFunc(es, func(a, b Entry) int {
		return strings.Compare(sortKey(firstOf(a.LastName, a.Organisation), a.FirstName, a.City, a.ID),
			sortKey(firstOf(b.LastName, b.Organisation), b.FirstName, b.City, b.ID))
	})
	return es, nil
}

func (d *Directory) favouriteIDs(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := d.st.Query(ctx, `SELECT entry_id FROM directory_favourite WHERE account_id = ?`, accountID)
	if err != nil {
		return nil, fmt.Errorf("directory: read favourites: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("directory: read favourites: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// withFavourites marks the candidates that are favourites of the account and
// adds its other favourites that match pq.
func (d *Directory) withFavourites(ctx context.Context, g *generation, accountID int64, pq parsedQuery, cands []candidate) ([]candidate, error) {
	ids, err := d.favouriteIDs(ctx, accountID)
	if err != nil || len(ids) == 0 {
		return cands, err
	}
	es, err := d.entriesByID(ctx, g, ids, true)
	if err != nil {
		return nil, err
	}
	nums, err := d.nationalIDs(ctx, g, es)
	if err != nil {
		return nil, err
	}
	national, local := make(map[int64]bool), make(map[string]bool)
	for _, e := range es {
		if e.Local {
			local[e.ID[2:]] = true
		} else {
			national[nums[e.ID]] = true
		}
	}
	for i := range cands {
		c := &cands[i]
		if c.local != "" && local[c.local] || c.local == "" && national[c.id] {
			c.favourite = true
			delete(local, c.local)
			delete(national, c.id)
		}
	}
	for _, e := range es {
		missing := e.Local && local[e.ID[2:]] || !e.Local && national[nums[e.ID]]
		if !missing || !pq.matchesFilters(&e) {
			continue
		}
		c := candidate{favourite: true, rank: rankOf(firstOf(e.LastName, e.Organisation), e.FirstName)}
		if e.Local {
			c.local = e.ID[2:]
		} else {
			c.id = nums[e.ID]
		}
		c.names, c.orgs = e.tokens()
		cands = append(cands, c)
	}
	return cands, nil
}

// nationalIDs returns the entry table ids of the national entries among es.
func (d *Directory) nationalIDs(ctx context.Context, g *generation, es []Entry) (map[string]int64, error) {
	var keys []string
	for _, e := range es {
		if !e.Local {
			keys = append(keys, e.ID)
		}
	}
	out := make(map[string]int64)
	if len(keys) == 0 {
		return out, nil
	}
	in, arg := oneOf(d.st.Dialect(), "key", keys)
	rows, err := g.db.QueryContext(ctx, g.q(`SELECT key, id FROM {entry} WHERE `+in), arg)
	if err != nil {
		return nil, fmt.Errorf("directory: read favourites: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var id int64
		if err := rows.Scan(&key, &id); err != nil {
			return nil, fmt.Errorf("directory: read favourites: %w", err)
		}
		out[key] = id
	}
	return out, rows.Err()
}

// matchesFilters checks an entry against the criteria other than words, as
// filterConditions does in SQL.
func (pq *parsedQuery) matchesFilters(e *Entry) bool {
	return (pq.profession == "" || e.Profession == pq.profession) &&
		(pq.specialty == "" || e.Specialty == pq.specialty) &&
		(pq.cityKey == "" || cityKey(e.City) == pq.cityKey) &&
		(pq.postcode == "" || strings.HasPrefix(e.Postcode, pq.postcode)) &&
		(pq.department == "" || e.Department == pq.department) &&
		(pq.mailbox == "" || strings.HasPrefix(e.Mailbox, pq.mailbox)) &&
		(pq.kind == "" || e.MailboxKind == pq.kind) &&
		(!pq.withMail || e.Mailbox != "")
}
