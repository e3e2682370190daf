package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Query is a directory search. Every criterion given must match.
type Query struct {
	// Text holds names: each of its words must match a word of the last or first
	// name (of the organisation and service, for an organisational mailbox):
	// case and accents ignored, as the word's beginning, or whole with one typo.
	Text       string
	Profession string // profession code, "10" for médecin
	Specialty  string // savoir-faire code, "SM54" for médecine générale
	City       string // city name, case and accents ignored
	Postcode   string // a postcode, or its first digits
	Department string // département code: "69", "2A", "971"
	// Organisation holds words that must each begin a word of the organisation or
	// service.
	Organisation string
	Mailbox      string      // a mailbox address, or its beginning
	Kind         MailboxKind // only mailboxes of this type
	WithMailbox  bool        // only entries with a mailbox, as the compose picker wants
	// AccountID, when set, puts that account's favourites first.
	AccountID int64
	Offset    int // entries to skip, for paging
	Limit     int // entries per page: 0 means DefaultLimit, at most MaxLimit
}

// Paging limits of a search.
const (
	DefaultLimit = 20
	MaxLimit     = 200
	// MaxCandidates is how many matching entries a search ranks; beyond, it tells
	// that more match and asks for more criteria.
	MaxCandidates = 1000
)

// ErrEmptyQuery is returned for a search without any criterion.
var ErrEmptyQuery = errors.New("directory: a search needs at least one criterion")

// ErrBroadQuery is returned for a search whose criteria all match too much to
// be read through an index, such as the type of mailbox alone.
var ErrBroadQuery = errors.New("directory: add a name, a place, a profession, a specialty, an organisation or a mailbox to the search")

// Results is one page of a search.
type Results struct {
	Entries []Entry `json:"entries"`
	// Total is the number of matching entries, or MaxCandidates when Capped.
	Total int `json:"total"`
	// Capped tells that more entries match than were ranked: the query should
	// be narrowed.
	Capped bool `json:"capped"`
}

// Search returns the entries matching q, best first: favourites of q.AccountID,
// then whole-word matches before beginnings before typos, then in alphabetical
// order of last name, first name and city.
func (d *Directory) Search(ctx context.Context, q Query) (Results, error) {
	pq := parseQuery(q)
	if pq.empty() {
		return Results{}, ErrEmptyQuery
	}
	var cands []candidate
	capped := false
	g, err := d.current(ctx)
	if err != nil {
		return Results{}, err
	}
	if g != nil {
		defer g.release()
		cands, capped, err = g.candidates(ctx, pq)
		if err != nil {
			return Results{}, err
		}
	}
	cands, err = d.dropShadowed(ctx, cands)
	if err != nil {
		return Results{}, err
	}
	local, err := d.localCandidates(ctx, pq)
	if err != nil {
		return Results{}, err
	}
	cands = append(cands, local...)
	if q.AccountID != 0 {
		if cands, err = d.withFavourites(ctx, g, q.AccountID, pq, cands); err != nil {
			return Results{}, err
		}
	}
	for i := range cands {
		cands[i].score(pq)
	}
	cands = slices.DeleteFunc(cands, func(c candidate) bool { return c.quality < 0 })
	slices.SortFunc(cands, compareCandidates)
	res := Results{Total: len(cands), Capped: capped || len(cands) > MaxCandidates}
	if res.Capped {
		res.Total = max(res.Total, MaxCandidates)
	}
	from := min(pq.offset, len(cands))
	page := cands[from:min(from+pq.limit, len(cands))]
	res.Entries, err = d.load(ctx, g, page)
	return res, err
}

// parsedQuery is a Query folded and checked.
type parsedQuery struct {
	words      []string // folded words of Text
	orgs       []string // folded words of Organisation
	profession string
	specialty  string
	cityKey    string
	postcode   string // prefix
	department string
	mailbox    string // prefix, lower case
	kind       MailboxKind
	withMail   bool
	offset     int
	limit      int
}

func parseQuery(q Query) parsedQuery {
	pq := parsedQuery{
		words:      words(q.Text),
		orgs:       orgTokens(q.Organisation),
		profession: strings.TrimSpace(q.Profession),
		specialty:  strings.ToUpper(strings.TrimSpace(q.Specialty)),
		cityKey:    fold(q.City),
		postcode:   strings.TrimSpace(q.Postcode),
		department: strings.ToUpper(strings.TrimSpace(q.Department)),
		mailbox:    strings.ToLower(strings.TrimSpace(q.Mailbox)),
		kind:       MailboxKind(strings.ToUpper(string(q.Kind))),
		withMail:   q.WithMailbox,
		offset:     max(q.Offset, 0),
		limit:      q.Limit,
	}
	if len(pq.words) > 8 {
		pq.words = pq.words[:8]
	}
	switch {
	case pq.limit <= 0:
		pq.limit = DefaultLimit
	case pq.limit > MaxLimit:
		pq.limit = MaxLimit
	}
	return pq
}

func (pq *parsedQuery) empty() bool {
	return len(pq.words) == 0 && len(pq.orgs) == 0 && pq.profession == "" && pq.specialty == "" &&
		pq.cityKey == "" && pq.postcode == "" && pq.department == "" && pq.mailbox == "" &&
		pq.kind == ""
}

// candidate is an entry that may match, with what ranking needs.
type candidate struct {
	id        int64  // national entry id; 0 for a local entry
	key       string // the Entry.ID
	sortKey   string
	names     []string // name tokens
	lastNames []string // tokens of the last name alone
	orgs      []string
	mailbox   string
	favourite bool
	quality   int  // sum of the words' match qualities; -1 when a word does not match
	onLast    bool // a word matches the beginning of the last name
}

// score computes how well c matches the query words.
func (c *candidate) score(pq parsedQuery) {
	c.quality, c.onLast = 0, len(pq.words) == 0
	for _, w := range pq.words {
		best := matchNone
		for _, n := range c.names {
			best = min(best, matchWord(w, n))
		}
		if best == matchNone {
			c.quality = -1
			return
		}
		c.quality += best
		if len(c.lastNames) > 0 && matchWord(w, c.lastNames[0]) <= matchPrefix {
			c.onLast = true
		}
	}
	for _, o := range pq.orgs {
		found := false
		for _, n := range c.orgs {
			found = found || matchWord(o, n) <= matchPrefix
		}
		if !found {
			c.quality = -1
			return
		}
	}
}

func compareCandidates(a, b candidate) int {
	if a.favourite != b.favourite {
		if a.favourite {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.quality, b.quality); c != 0 {
		return c
	}
	if a.onLast != b.onLast {
		if a.onLast {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.sortKey, b.sortKey)
}

// condition is one criterion of a search on a table: its SQL and arguments, and
// how it can drive the search through an index.
type condition struct {
	where string
	args  []any
}

// wordCondition returns the SQL matching tagged word w in an entry's tokens (e
// its alias): as a beginning, or whole as one of the exact alternatives, or, when
// patterns is set, whole through the typo patterns.
func wordCondition(tag byte, w string, exact []string, patterns bool) condition {
	c := condition{where: "(e.toks LIKE ?", args: []any{`%"` + string(tag) + w + `%`}}
	for _, x := range exact {
		c.where += " OR e.toks LIKE ?"
		c.args = append(c.args, `%"`+string(tag)+x+`"%`)
	}
	if patterns {
		for _, p := range typoPatterns(w) {
			c.where += " OR e.toks LIKE ?"
			c.args = append(c.args, `%"`+string(tag)+p+`"%`)
		}
	}
	c.where += ")"
	return c
}

// filter is a criterion other than words, with the index that serves it.
type filter struct {
	condition
	indexed bool
	order   string // the index's order, to read it without sorting
	// driveBy, when set, reads the index through another condition than the
	// check: the postcodes of a département.
	driveBy   string
	driveArgs []any
}

// filterConditions returns the criteria other than words, on e.
func filterConditions(pq parsedQuery) []filter {
	var fs []filter
	add := func(order string, where string, args ...any) {
		fs = append(fs, filter{condition: condition{where, args}, indexed: order != "", order: order})
	}
	if pq.profession != "" {
		add("e.rank", "e.profession = ?", pq.profession)
	}
	if pq.specialty != "" {
		add("e.rank", "e.specialty = ?", pq.specialty)
	}
	if pq.cityKey != "" {
		add("e.rank", "e.city_key = ?", pq.cityKey)
	}
	if pq.postcode != "" {
		add("e.postcode, e.rank", "e.postcode >= ? AND e.postcode < ?", pq.postcode, prefixEnd(pq.postcode))
	}
	if pq.department != "" {
		add("", "e.department = ?", pq.department)
		if lo, hi := departmentPostcodes(pq.department); lo != "" {
			f := &fs[len(fs)-1]
			f.indexed, f.order = true, "e.postcode, e.rank"
			f.driveBy, f.driveArgs = "e.postcode >= ? AND e.postcode < ?", []any{lo, hi}
		}
	}
	if pq.mailbox != "" {
		add("e.mailbox", "e.mailbox >= ? AND e.mailbox < ?", pq.mailbox, prefixEnd(pq.mailbox))
	}
	if pq.kind != "" {
		add("", "e.kind = ?", string(pq.kind))
	}
	if pq.withMail {
		add("", "e.mailbox <> ''")
	}
	return fs
}

// departmentPostcodes returns the range of postcodes of a département, "" when
// the code is not one.
func departmentPostcodes(dept string) (lo, hi string) {
	switch {
	case dept == "2A":
		return "20000", "20200"
	case dept == "2B":
		return "20200", "21"
	case len(dept) == 2 && strings.Trim(dept, "0123456789") == "":
		return dept, prefixEnd(dept)
	case len(dept) == 3 && (strings.HasPrefix(dept, "97") || strings.HasPrefix(dept, "98")):
		return dept, prefixEnd(dept)
	}
	return "", ""
}

// prefixEnd returns the smallest string greater than every string starting
// with p, for range scans in bytewise order.
func prefixEnd(p string) string {
	return p + string(utf8.MaxRune)
}

// candidates returns the national entries that may match pq, at most
// MaxCandidates, and whether there were more. It reads through the index of the
// criterion that yields fewest entries and checks the others on each row.
func (g *generation) candidates(ctx context.Context, pq parsedQuery) ([]candidate, bool, error) {
	checks, drivers, err := g.plan(ctx, pq)
	if err != nil {
		return nil, false, err
	}
	best := drivers[0]
	for _, dr := range drivers[1:] {
		if dr.estimate < best.estimate {
			best = dr
		}
	}
	if best.estimate == 0 {
		return nil, false, nil
	}
	where, args := "", []any{}
	for i, c := range checks {
		if i != best.covers {
			where += " AND " + c.where
			args = append(args, c.args...)
		}
	}
	const cols = `e.id, e.key, e.sort_key, e.toks, e.last_name, e.mailbox`
	type query struct {
		sql  string
		args []any
	}
	var queries []query
	if best.filter != "" {
		queries = append(queries, query{`SELECT ` + cols + ` FROM {entry} e WHERE ` + best.filter + where +
			` ORDER BY ` + best.order + ` LIMIT ?`, concat(best.args, args, MaxCandidates+1)})
	} else {
		queries = append(queries, query{`SELECT ` + cols + ` FROM {posting} p CROSS JOIN {entry} e
			WHERE p.token >= ? AND p.token < ? AND e.id = p.entry_id` + where + ` ORDER BY p.token, p.rank, p.entry_id LIMIT ?`,
			concat([]any{best.lo, best.hi}, args, MaxCandidates+1)})
		if len(best.typos) > 0 {
			in, arg := oneOf(g.st.Dialect(), "p.token", best.typos)
			queries = append(queries, query{`SELECT ` + cols + ` FROM {posting} p CROSS JOIN {entry} e
				WHERE ` + in + ` AND e.id = p.entry_id` + where + ` ORDER BY p.rank LIMIT ?`,
				concat([]any{arg}, args, MaxCandidates+1)})
		}
	}
	seen := make(map[int64]bool)
	var out []candidate
	more := false
	for _, q := range queries {
		n, err := g.scanCandidates(ctx, q.sql, q.args, seen, &out)
		if err != nil {
			return nil, false, err
		}
		more = more || n > MaxCandidates
	}
	return out, more, nil
}

// concat returns the arguments of a query made of parts.
func concat(first, then []any, last ...any) []any {
	out := make([]any, 0, len(first)+len(then)+len(last))
	return append(append(append(out, first...), then...), last...)
}

// scanCandidates runs a candidates query, appending the entries not seen yet.
// It returns how many rows the query gave.
func (g *generation) scanCandidates(ctx context.Context, q string, args []any, seen map[int64]bool, out *[]candidate) (int, error) {
	rows, err := g.db.QueryContext(ctx, g.q(q), args...)
	if err != nil {
		return 0, fmt.Errorf("directory search: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var c candidate
		var toks, last string
		if err := rows.Scan(&c.id, &c.key, &c.sortKey, &toks, &last, &c.mailbox); err != nil {
			return 0, fmt.Errorf("directory search: %w", err)
		}
		if seen[c.id] || n > MaxCandidates {
			continue
		}
		seen[c.id] = true
		c.names, c.orgs = parseTokenList(toks)
		c.lastNames = nameTokens(last)
		*out = append(*out, c)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("directory search: %w", err)
	}
	return n, nil
}

// driver is a criterion a search can read through an index, with an estimate
// of how many entries it yields.
type driver struct {
	estimate int
	covers   int // the check it makes needless, -1 for none
	// A word reads the postings between lo and hi, and the typos' tokens.
	lo, hi string
	typos  []string
	// A filter reads the entry table through filter, in order.
	filter string
	order  string
	args   []any
}

// estimateCap bounds the counting of each driver: beyond it, any is as bad.
const estimateCap = MaxCandidates + 1

// plan returns the checks a national entry must pass to match pq, and the
// criteria that can drive the search through an index, with their estimates.
func (g *generation) plan(ctx context.Context, pq parsedQuery) ([]condition, []*driver, error) {
	var checks []condition
	var drivers []*driver
	typos, err := g.typoTokens(ctx, pq.words)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range pq.words {
		dr := &driver{covers: len(checks), lo: string(tagName) + w, hi: prefixEnd(string(tagName) + w)}
		var exact []string
		for _, t := range typos[w] {
			dr.typos = append(dr.typos, string(tagName)+t.token)
			dr.estimate += t.df
			exact = append(exact, t.token)
		}
		checks = append(checks, wordCondition(tagName, w, exact, false))
		drivers = append(drivers, dr)
	}
	for _, o := range pq.orgs {
		drivers = append(drivers, &driver{covers: len(checks), lo: string(tagOrg) + o, hi: prefixEnd(string(tagOrg) + o)})
		checks = append(checks, wordCondition(tagOrg, o, nil, false))
	}
	for _, f := range filterConditions(pq) {
		if f.indexed {
			dr := &driver{covers: len(checks), filter: f.where, order: f.order, args: f.args}
			if f.driveBy != "" {
				dr.covers, dr.filter, dr.args = -1, f.driveBy, f.driveArgs
			}
			drivers = append(drivers, dr)
		}
		checks = append(checks, f.condition)
	}
	if len(drivers) == 0 {
		return nil, nil, ErrBroadQuery
	}
	return checks, drivers, g.estimate(ctx, drivers)
}

// estimate counts, up to estimateCap, the entries each driver reads, in one
// query.
func (g *generation) estimate(ctx context.Context, drivers []*driver) error {
	var counts []string
	var args []any
	for _, dr := range drivers {
		if dr.filter == "" {
			counts = append(counts, `(SELECT count(*) FROM (SELECT 1 FROM {posting} WHERE token >= ? AND token < ? LIMIT ?) t)`)
			args = append(args, dr.lo, dr.hi, estimateCap)
		} else {
			counts = append(counts, `(SELECT count(*) FROM (SELECT 1 FROM {entry} e WHERE `+dr.filter+` LIMIT ?) t)`)
			args = append(concat(args, dr.args), estimateCap)
		}
	}
	n := make([]int, len(drivers))
	dest := make([]any, len(drivers))
	for i := range n {
		dest[i] = &n[i]
	}
	if err := g.db.QueryRowContext(ctx, g.q(`SELECT `+strings.Join(counts, ", ")), args...).Scan(dest...); err != nil {
		return fmt.Errorf("directory search: %w", err)
	}
	for i, dr := range drivers {
		dr.estimate += n[i]
	}
	return nil
}

// typo is an indexed name token one edit away from a query word.
type typo struct {
	token string
	df    int
}

// typoTokens looks up, in one query, which tokens one edit away from each query
// word exist, leaving out those the word begins (the prefix read finds them).
func (g *generation) typoTokens(ctx context.Context, ws []string) (map[string][]typo, error) {
	var variants []string
	for _, w := range ws {
		for _, v := range typoVariants(w) {
			if !strings.HasPrefix(v, w) {
				variants = append(variants, string(tagName)+v)
			}
		}
	}
	out := make(map[string][]typo)
	if len(variants) == 0 {
		return out, nil
	}
	in, arg := oneOf(g.st.Dialect(), "token", variants)
	rows, err := g.db.QueryContext(ctx, g.q(`SELECT token, df FROM {term} WHERE `+in), arg)
	if err != nil {
		return nil, fmt.Errorf("directory search: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t typo
		if err := rows.Scan(&t.token, &t.df); err != nil {
			return nil, fmt.Errorf("directory search: %w", err)
		}
		t.token = t.token[1:]
		for _, w := range ws {
			if len(w) >= minFuzzy && !strings.HasPrefix(t.token, w) && oneEdit(w, t.token) {
				out[w] = append(out[w], t)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory search: %w", err)
	}
	return out, nil
}
