package directory

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	switch {
	case e.MailboxKind != KindNone && !validKind(e.MailboxKind):
		return fmt.Errorf("directory: unknown mailbox type %q", e.MailboxKind)
	case e.MailboxKind == KindNone && e.Mailbox != "":
		e.MailboxKind = KindPersonal
	}
	if e.Department == "" {
		e.Department = Department(e.Postcode)
	}
	row := finish(0, e)
	listed := 0
	if le.Listed {
		listed = 1
	}
	cols := "key, listed, " + entryColumns + ", city_key, toks, names, updated"
	args := append(append([]any{le.Key, listed}, entryArgs(&e)...), row.cityKey, row.toks, row.names, time.Now().Unix())
	var set []string
	for _, c := range strings.Split(cols, ",")[1:] {
		c = strings.TrimSpace(c)
		set = append(set, c+" = excluded."+c)
	}
	q := `INSERT INTO directory_local (` + cols + `) VALUES (?` + strings.Repeat(", ?", len(args)-1) +
		`) ON CONFLICT (key) DO UPDATE SET ` + strings.Join(set, ", ")
	return d.changeLocal(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("directory: save local entry: %w", err)
		}
		return nil
	})
}

// changeLocal runs fn, a change of local entries, in a transaction that also
// records the change: every process then recomputes which national entries the
// local ones shadow, this one at once.
func (d *Directory) changeLocal(ctx context.Context, fn func(tx *store.Tx) error) error {
	err := d.st.Tx(ctx, func(tx *store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE directory_state SET local_version = local_version + 1 WHERE id = 1`); err != nil {
			return fmt.Errorf("directory: record local change: %w", err)
		}
		return nil
	})
	if err == nil {
		d.mu.Lock()
		d.checked = time.Time{}
		d.mu.Unlock()
	}
	return err
}

// RemoveLocal deletes a local entry; deleting one that does not exist is not an
// error.
func (d *Directory) RemoveLocal(ctx context.Context, key string) error {
	return d.changeLocal(ctx, func(tx *store.Tx) error {
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
func oneOf[T string | int64](d store.Dialect, col string, values []T) (string, any) {
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

// dropShadowed removes the national candidates whose mailbox a local entry
// has, listed or not.
func (d *Directory) dropShadowed(ctx context.Context, g *generation, cands []candidate) ([]candidate, error) {
	shadowed, err := d.shadowed(ctx, g)
	if err != nil || len(shadowed) == 0 {
		return cands, err
	}
	return slices.DeleteFunc(cands, func(c candidate) bool { return shadowed[c.id] }), nil
}

// shadowed returns the ids of the national entries of g whose mailbox a local
// entry has. The set is kept with g until the local entries change.
func (d *Directory) shadowed(ctx context.Context, g *generation) (map[int64]bool, error) {
	d.mu.Lock()
	version := d.localVersion
	if g.shadow != nil && g.shadowVersion == version {
		s := g.shadow
		d.mu.Unlock()
		return s, nil
	}
	d.mu.Unlock()
	rows, err := d.st.Query(ctx, `SELECT mailbox FROM directory_local WHERE mailbox <> ''`)
	if err != nil {
		return nil, fmt.Errorf("directory: read local mailboxes: %w", err)
	}
	var mailboxes []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return nil, fmt.Errorf("directory: read local mailboxes: %w", err)
		}
		mailboxes = append(mailboxes, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory: read local mailboxes: %w", err)
	}
	ids := make(map[int64]bool)
	if len(mailboxes) > 0 {
		in, arg := oneOf(d.st.Dialect(), "mailbox", mailboxes)
		rows, err := g.db.QueryContext(ctx, g.q(`SELECT id FROM {entry} WHERE `+in), arg)
		if err != nil {
			return nil, fmt.Errorf("directory: find shadowed entries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, fmt.Errorf("directory: find shadowed entries: %w", err)
			}
			ids[id] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("directory: find shadowed entries: %w", err)
		}
	}
	d.mu.Lock()
	g.shadow, g.shadowVersion = ids, version
	d.mu.Unlock()
	return ids, nil
}

// localCandidates returns the listed local entries that may match pq.
func (d *Directory) localCandidates(ctx context.Context, pq parsedQuery) ([]candidate, error) {
	where, args := "e.listed = 1", []any{}
	for _, w := range pq.words {
		c := nameCondition(w, nil, true)
		where += " AND " + c.on("e")
		args = append(args, c.args...)
	}
	for _, o := range pq.orgs {
		c := orgCondition(o)
		where += " AND " + c.where
		args = append(args, c.args...)
	}
	for _, f := range filterConditions(pq) {
		where += " AND " + f.on("e")
		args = append(args, f.args...)
	}
	rows, err := d.st.Query(ctx, `SELECT e.key, e.names, e.toks, e.last_name, e.first_name, e.organisation
		FROM directory_local e WHERE `+where+` LIMIT ?`, append(args, MaxCandidates+1)...)
	if err != nil {
		return nil, fmt.Errorf("directory search: local entries: %w", err)
	}
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		var names, toks, last, first, org string
		if err := rows.Scan(&c.local, &names, &toks, &last, &first, &org); err != nil {
			return nil, fmt.Errorf("directory search: local entries: %w", err)
		}
		c.rank = rankOf(firstOf(last, org), first)
		c.names = strings.Fields(names)
		_, c.orgs = parseTokenList(toks)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory search: local entries: %w", err)
	}
	return out, nil
}

// load returns the entries of a page of candidates, in order.
func (d *Directory) load(ctx context.Context, g *generation, page []candidate) ([]Entry, error) {
	var ids []int64
	var keys []string
	for _, c := range page {
		if c.local != "" {
			keys = append(keys, "l:"+c.local)
		} else {
			ids = append(ids, c.id)
		}
	}
	national := make(map[int64]Entry)
	if len(ids) > 0 {
		in, arg := oneOf(d.st.Dialect(), "id", ids)
		rows, err := g.db.QueryContext(ctx, g.q(`SELECT `+entryColumns+`, key, id FROM {entry} WHERE `+in), arg)
		if err != nil {
			return nil, fmt.Errorf("directory: read entries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e Entry
			var id int64
			if err := scanEntry(rows, &e, &e.ID, &id); err != nil {
				return nil, fmt.Errorf("directory: read entries: %w", err)
			}
			national[id] = e
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("directory: read entries: %w", err)
		}
	}
	local, err := d.entriesByID(ctx, nil, keys, false)
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]Entry, len(local))
	for _, e := range local {
		byKey[e.ID] = e
	}
	out := make([]Entry, 0, len(page))
	for _, c := range page {
		e, ok := national[c.id]
		if c.local != "" {
			e, ok = byKey["l:"+c.local]
		}
		if ok {
			e.Favourite = c.favourite
			out = append(out, e)
		}
	}
	return out, nil
}
