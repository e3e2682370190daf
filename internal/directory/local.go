package directory

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"caduceus/internal/store"
)

// LocalEntry is an account or an organisational mailbox of this server, in the
// directory as its owner set it.
type LocalEntry struct {
	// Key identifies the entry among local ones; the caller chooses it, the
	// mailbox address for instance. The entry's ID is "l:" + Key.
	Key string
	// Listed is false for an entry on the red list (liste rouge): nobody finds
	// it, nor the national entry of the same mailbox.
	Listed bool
	Entry
}

// UpsertLocal creates or replaces a local entry.
func (d *Directory) UpsertLocal(ctx context.Context, le LocalEntry) error {
	if le.Key == "" {
		return errors.New("directory: a local entry needs a key")
	}
	e := le.Entry
	e.ID = "l:" + le.Key
	e.Mailbox = strings.ToLower(strings.TrimSpace(e.Mailbox))
	if e.MailboxKind != KindNone && !validKind(e.MailboxKind) {
		return fmt.Errorf("directory: unknown mailbox type %q", e.MailboxKind)
	}
	if e.Department == "" {
		e.Department = department(e.Postcode)
	}
	row := finish(0, e)
	listed := 0
	if le.Listed {
		listed = 1
	}
	cols := "key, listed, " + entryColumns + ", city_key, toks, sort_key, updated"
	args := append(append([]any{le.Key, listed}, entryArgs(&e)...), row.cityKey, row.toks, row.sortKey, time.Now().Unix())
	var set []string
	for _, c := range strings.Split(cols, ",")[1:] {
		c = strings.TrimSpace(c)
		set = append(set, c+" = excluded."+c)
	}
	q := `INSERT INTO directory_local (` + cols + `) VALUES (?` + strings.Repeat(", ?", len(args)-1) +
		`) ON CONFLICT (key) DO UPDATE SET ` + strings.Join(set, ", ")
	return d.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("directory: save local entry: %w", err)
		}
		return nil
	})
}

// RemoveLocal deletes a local entry; deleting one that does not exist is not an
// error.
func (d *Directory) RemoveLocal(ctx context.Context, key string) error {
	return d.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM directory_local WHERE key = ?`, key); err != nil {
			return fmt.Errorf("directory: remove local entry: %w", err)
		}
		return nil
	})
}

// Entry returns the listed entry with the given id, or ErrNotFound.
func (d *Directory) Entry(ctx context.Context, id string) (Entry, error) {
	g, err := d.current(ctx)
	if err != nil {
		return Entry{}, err
	}
	if g != nil {
		defer g.release()
	}
	es, err := d.entriesByID(ctx, g, []string{id}, true)
	if err != nil {
		return Entry{}, err
	}
	if len(es) == 0 {
		return Entry{}, ErrNotFound
	}
	return es[0], nil
}

// entriesByID returns the listed entries among ids, leaving out those not found
// and, when shadow is set, national ones a local entry shadows.
func (d *Directory) entriesByID(ctx context.Context, g *generation, ids []string, shadow bool) ([]Entry, error) {
	var national, local []string
	for _, id := range ids {
		switch {
		case strings.HasPrefix(id, "l:"):
			local = append(local, id[2:])
		case g != nil && (strings.HasPrefix(id, "m:") || strings.HasPrefix(id, "p:")):
			national = append(national, id)
		}
	}
	found := make(map[string]Entry)
	if len(national) > 0 {
		in, arg := oneOf(d.st.Dialect(), "key", national)
		rows, err := g.db.QueryContext(ctx, g.q(`SELECT `+entryColumns+`, key FROM {entry} WHERE `+in), arg)
		if err != nil {
			return nil, fmt.Errorf("directory: read entries: %w", err)
		}
		if err := scanEntries(rows, found, ""); err != nil {
			return nil, err
		}
	}
	if shadow && len(found) > 0 {
		var mailboxes []string
		for _, e := range found {
			mailboxes = append(mailboxes, e.Mailbox)
		}
		shadowed, err := d.localMailboxes(ctx, mailboxes)
		if err != nil {
			return nil, err
		}
		for id, e := range found {
			if shadowed[e.Mailbox] {
				delete(found, id)
			}
		}
	}
	if len(local) > 0 {
		in, arg := oneOf(d.st.Dialect(), "key", local)
		rows, err := d.st.Query(ctx, `SELECT `+entryColumns+`, key FROM directory_local WHERE listed = 1 AND `+in, arg)
		if err != nil {
			return nil, fmt.Errorf("directory: read local entries: %w", err)
		}
		if err := scanEntries(rows, found, "l:"); err != nil {
			return nil, err
		}
	}
	var out []Entry
	for _, id := range ids {
		if e, ok := found[id]; ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// scanEntries reads (entryColumns, key) rows into found, by id.
func scanEntries(rows *sql.Rows, found map[string]Entry, idPrefix string) error {
	defer rows.Close()
	for rows.Next() {
		var e Entry
		var key string
		if err := scanEntry(rows, &e, &key); err != nil {
			return fmt.Errorf("directory: read entries: %w", err)
		}
		e.ID, e.Local = idPrefix+key, idPrefix != ""
		found[e.ID] = e
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("directory: read entries: %w", err)
	}
	return nil
}

// oneOf returns SQL testing that col is one of values, with its one argument:
// an array on PostgreSQL, a JSON array on SQLite. The statement's text does not
// depend on the number of values, so the engine prepares it once.
func oneOf(d store.Dialect, col string, values []string) (string, any) {
	if d == store.Postgres {
		return col + " = ANY(?)", values
	}
	b, err := json.Marshal(values)
	if err != nil {
		panic(err) // strings always encode
	}
	return col + " IN (SELECT value FROM json_each(?))", string(b)
}

// localMailboxes returns which of the mailboxes a local entry has, listed or
// not: the national entries with those mailboxes are shadowed.
func (d *Directory) localMailboxes(ctx context.Context, mailboxes []string) (map[string]bool, error) {
	out := make(map[string]bool)
	var list []string
	for _, m := range mailboxes {
		if m != "" {
			list = append(list, m)
		}
	}
	if len(list) == 0 {
		return out, nil
	}
	in, arg := oneOf(d.st.Dialect(), "mailbox", list)
	rows, err := d.st.Query(ctx, `SELECT mailbox FROM directory_local WHERE `+in, arg)
	if err != nil {
		return nil, fmt.Errorf("directory: read local mailboxes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("directory: read local mailboxes: %w", err)
		}
		out[m] = true
	}
	return out, rows.Err()
}

// dropShadowed removes the national candidates whose mailbox a local entry has.
func (d *Directory) dropShadowed(ctx context.Context, cands []candidate) ([]candidate, error) {
	var mailboxes []string
	for _, c := range cands {
		if c.mailbox != "" {
			mailboxes = append(mailboxes, c.mailbox)
		}
	}
	if len(mailboxes) == 0 {
		return cands, nil
	}
	shadowed, err := d.localMailboxes(ctx, mailboxes)
	if err != nil || len(shadowed) == 0 {
		return cands, err
	}
	out := cands[:0]
	for _, c := range cands {
		if !shadowed[c.mailbox] {
			out = append(out, c)
		}
	}
	return out, nil
}

// localCandidates returns the listed local entries that may match pq.
func (d *Directory) localCandidates(ctx context.Context, pq parsedQuery) ([]candidate, error) {
	where, args := "e.listed = 1", []any{}
	for _, w := range pq.words {
		c := wordCondition(tagName, w, nil, true)
		where += " AND " + c.where
		args = append(args, c.args...)
	}
	for _, o := range pq.orgs {
		c := wordCondition(tagOrg, o, nil, false)
		where += " AND " + c.where
		args = append(args, c.args...)
	}
	for _, f := range filterConditions(pq) {
		where += " AND " + f.where
		args = append(args, f.args...)
	}
	rows, err := d.st.Query(ctx, `SELECT e.key, e.sort_key, e.toks, e.last_name, e.mailbox
		FROM directory_local e WHERE `+where+` LIMIT ?`, append(args, MaxCandidates+1)...)
	if err != nil {
		return nil, fmt.Errorf("directory search: local entries: %w", err)
	}
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		var toks, last string
		if err := rows.Scan(&c.key, &c.sortKey, &toks, &last, &c.mailbox); err != nil {
			return nil, fmt.Errorf("directory search: local entries: %w", err)
		}
		c.key = "l:" + c.key
		c.names, c.orgs = parseTokenList(toks)
		c.lastNames = nameTokens(last)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory search: local entries: %w", err)
	}
	return out, nil
}

// load returns the entries of a page of candidates, in order.
func (d *Directory) load(ctx context.Context, g *generation, page []candidate) ([]Entry, error) {
	ids := make([]string, len(page))
	for i, c := range page {
		ids[i] = c.key
	}
	// Search already left out the shadowed entries.
	es, err := d.entriesByID(ctx, g, ids, false)
	if err != nil {
		return nil, err
	}
	fav := make(map[string]bool)
	for _, c := range page {
		fav[c.key] = c.favourite
	}
	for i := range es {
		es[i].Favourite = fav[es[i].ID]
	}
	return es, nil
}
