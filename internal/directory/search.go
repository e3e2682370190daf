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
	// Total is the number of matching entries found; when Capped, more match.
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
		if cands, capped, err = g.candidates(ctx, pq); err != nil {
			return Results{}, err
		}
		if cands, err = d.dropShadowed(ctx, g, cands); err != nil {
			return Results{}, err
		}
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
	res.Entries, err = d.load(ctx, g, cands[from:min(from+pq.limit, len(cands))])
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
		cityKey:    cityKey(q.City),
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

// candidate is an entry that may match, with what ranking needs: what the
// postings carry, so that only the entries of the page are read.
type candidate struct {
	id        int64  // national entry id; 0 for a local entry
	local     string // local entry key; "" for a national entry
	rank      int64
	names     []string // name tokens, the last name's first
	orgs      []string // organisation tokens, read only when the query has some
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
		if len(c.names) > 0 && matchWord(w, c.names[0]) <= matchPrefix {
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

// compareCandidates orders candidates best first: favourites, better matches,
// words that begin the last name, then alphabetically.
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
	if c := cmp.Compare(a.rank, b.rank); c != 0 {
		return c
	}
	if c := cmp.Compare(a.local, b.local); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// condition is one criterion of a search, as SQL. Most read columns that both
// the entry and its postings carry, on the alias written {a}: checked on the
// postings, they spare reading entries that do not match. The others
// (onPosting false) read the entry e.
type condition struct {
	where     string
	args      []any
	onPosting bool
}

// on returns the condition's SQL for the table alias a.
func (c condition) on(a string) string { return strings.ReplaceAll(c.where, "{a}", a) }

// nameCondition matches query word w against the names column: as the beginning
// of a name word, or whole as one of the exact alternatives, or, when patterns
// is set, whole through the typo patterns.
func nameCondition(w string, exact []string, patterns bool) condition {
	c := condition{where: "({a}.names LIKE ?", args: []any{"% " + w + "%"}, onPosting: true}
	alternatives := exact
	if patterns {
		alternatives = append(slices.Clone(exact), typoPatterns(w)...)
	}
	for _, x := range alternatives {
		c.where += " OR {a}.names LIKE ?"
		c.args = append(c.args, "% "+x+" %")
	}
	c.where += ")"
	return c
}

// orgCondition matches query word w as the beginning of a word of the entry's
// organisation or service.
func orgCondition(w string) condition {
	return condition{where: "e.toks LIKE ?", args: []any{`%"` + string(tagOrg) + w + `%`}}
}

// filter is a criterion other than words, with the index that serves it and
// how to estimate how many entries match it.
type filter struct {
	condition
	indexed bool
	order   string // the index's order, to read it without sorting
	// driveBy, when set, reads the index through another condition than the
	// check: the postcodes of a département.
	driveBy   string
	driveArgs []any
	estimate  func(*estimates) int // nil when unknown
}

// filterConditions returns the criteria other than words, on e.
func filterConditions(pq parsedQuery) []filter {
	var fs []filter
	add := func(order string, estimate func(*estimates) int, where string, args ...any) {
		fs = append(fs, filter{condition: condition{where: where, args: args, onPosting: strings.HasPrefix(where, "{a}")},
			indexed: order != "", order: order, estimate: estimate})
	}
	point := func(key string) func(*estimates) int {
		return func(e *estimates) int { return e.statPoint(key) }
	}
	postcodes := func(lo, hi string) func(*estimates) int {
		return func(e *estimates) int { return e.cumRange("{stat}", "key", "z:"+lo, "z:"+hi) }
	}
	if pq.profession != "" {
		add("e.rank", point("p:"+pq.profession), "{a}.profession = ?", pq.profession)
	}
	if pq.specialty != "" {
		add("e.rank", point("s:"+pq.specialty), "{a}.specialty = ?", pq.specialty)
	}
	if pq.cityKey != "" {
		add("e.rank", point("c:"+pq.cityKey), "{a}.city_key = ?", pq.cityKey)
	}
	if pq.postcode != "" {
		add("e.postcode, e.rank", postcodes(pq.postcode, prefixEnd(pq.postcode)),
			"{a}.postcode >= ? AND {a}.postcode < ?", pq.postcode, prefixEnd(pq.postcode))
	}
	if pq.department != "" {
		add("", nil, "{a}.department = ?", pq.department)
		if lo, hi := departmentPostcodes(pq.department); lo != "" {
			f := &fs[len(fs)-1]
			f.indexed, f.order, f.estimate = true, "e.postcode, e.rank", postcodes(lo, hi)
			f.driveBy, f.driveArgs = "{a}.postcode >= ? AND {a}.postcode < ?", []any{lo, hi}
		}
	}
	if pq.mailbox != "" {
		add("e.mailbox", func(e *estimates) int {
			return e.add(`(SELECT count(*) FROM (SELECT 1 FROM {entry} e WHERE e.mailbox >= ? AND e.mailbox < ? LIMIT ?) t)`,
				pq.mailbox, prefixEnd(pq.mailbox), MaxCandidates+1)
		}, "e.mailbox >= ? AND e.mailbox < ?", pq.mailbox, prefixEnd(pq.mailbox))
	}
	if pq.kind != "" {
		add("", nil, "{a}.kind = ?", string(pq.kind))
	}
	if pq.withMail {
		add("", nil, "{a}.kind <> ''")
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
// criterion expected to yield the candidates after reading fewest rows, and
// checks the others on each row.
func (g *generation) candidates(ctx context.Context, pq parsedQuery) ([]candidate, bool, error) {
	checks, drivers, err := g.plan(ctx, pq)
	if err != nil || drivers == nil {
		return nil, false, err
	}
	best := drivers[0]
	for _, dr := range drivers[1:] {
		if dr.cost < best.cost {
			best = dr
		}
	}
	var onPosting, onEntry []condition
	for i, c := range checks {
		switch {
		case i == best.covers:
		case c.onPosting && best.filter == "":
			onPosting = append(onPosting, c)
		default:
			onEntry = append(onEntry, c)
		}
	}
	where := func(alias string, cs []condition) (string, []any) {
		var sql string
		var args []any
		for _, c := range cs {
			sql += " AND " + c.on(alias)
			args = append(args, c.args...)
		}
		return sql, args
	}
	toks := "''"
	if len(pq.orgs) > 0 {
		toks = "e.toks"
	}
	type query struct {
		sql  string
		args []any
	}
	var queries []query
	if best.filter != "" {
		w, args := where("e", onEntry)
		queries = append(queries, query{`SELECT e.id, e.rank, e.names, ` + toks + ` FROM {entry} e WHERE ` +
			strings.ReplaceAll(best.filter, "{a}", "e") + w + ` ORDER BY ` + best.order + ` LIMIT ?`,
			concat(best.args, args, MaxCandidates+1)})
	} else {
		// Entries are read only for the criteria postings do not carry.
		pw, pargs := where("p", onPosting)
		from, ew, eargs := `{posting} p`, "", []any(nil)
		if len(onEntry) > 0 || len(pq.orgs) > 0 {
			ew, eargs = where("e", onEntry)
			from, ew = `{posting} p CROSS JOIN {entry} e`, ` AND e.id = p.entry_id`+ew
		}
		cols := `p.entry_id, p.rank, p.names, ` + toks
		queries = append(queries, query{`SELECT ` + cols + ` FROM ` + from + `
			WHERE p.token >= ? AND p.token < ?` + pw + ew + ` ORDER BY p.token, p.rank, p.entry_id LIMIT ?`,
			concat(concat([]any{best.lo, best.hi}, pargs), eargs, MaxCandidates+1)})
		if len(best.typos) > 0 {
			in, arg := oneOf(g.st.Dialect(), "p.token", best.typos)
			queries = append(queries, query{`SELECT ` + cols + ` FROM ` + from + `
				WHERE ` + in + pw + ew + ` ORDER BY p.token, p.rank, p.entry_id LIMIT ?`,
				concat(concat([]any{arg}, pargs), eargs, MaxCandidates+1)})
		}
	}
	seen := make(map[int64]bool)
	var out []candidate
	more := false
	for _, q := range queries {
		if more {
			// Typos rank after beginnings: with enough of those, they cannot
			// make the page.
			break
		}
		n, err := g.scanCandidates(ctx, q.sql, q.args, seen, &out)
		if err != nil {
			return nil, false, err
		}
		more = n > MaxCandidates
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
		var names, toks string
		if err := rows.Scan(&c.id, &c.rank, &names, &toks); err != nil {
			return 0, fmt.Errorf("directory search: %w", err)
		}
		if seen[c.id] || n > MaxCandidates {
			continue
		}
		seen[c.id] = true
		c.names = strings.Fields(names)
		_, c.orgs = parseTokenList(toks)
		*out = append(*out, c)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("directory search: %w", err)
	}
	return n, nil
}

// driver is a criterion a search can read through an index.
type driver struct {
	covers int     // the check it makes needless, -1 for none
	sized  int     // the check whose estimate is its size
	size   float64 // entries it yields, as estimated
	cost   float64 // rows it would read to find the candidates
	// A word reads the postings between lo and hi, and the typos' tokens.
	lo, hi string
	typos  []string
	// A filter reads the entry table through filter, in order.
	filter string
	order  string
	args   []any
}

// plan returns the checks a national entry must pass to match pq, and the
// criteria that can drive the search through an index, with their costs; nil
// drivers when some criterion matches nothing.
func (g *generation) plan(ctx context.Context, pq parsedQuery) ([]condition, []*driver, error) {
	typos, err := g.typoTokens(ctx, pq.words)
	if err != nil {
		return nil, nil, err
	}
	var checks []condition
	var drivers []*driver
	var est estimates
	sizes := make(map[int]int) // check → estimate
	for _, w := range pq.words {
		lo, hi := string(tagName)+w, prefixEnd(string(tagName)+w)
		dr := &driver{covers: len(checks), sized: len(checks), lo: lo, hi: hi}
		var exact []string
		for _, t := range typos[w] {
			dr.typos = append(dr.typos, string(tagName)+t.token)
			dr.size += float64(t.df)
			exact = append(exact, t.token)
		}
		sizes[len(checks)] = est.cumRange("{term}", "token", lo, hi)
		checks = append(checks, nameCondition(w, exact, false))
		drivers = append(drivers, dr)
	}
	for _, o := range pq.orgs {
		lo, hi := string(tagOrg)+o, prefixEnd(string(tagOrg)+o)
		sizes[len(checks)] = est.cumRange("{term}", "token", lo, hi)
		drivers = append(drivers, &driver{covers: len(checks), sized: len(checks), lo: lo, hi: hi})
		checks = append(checks, orgCondition(o))
	}
	for _, f := range filterConditions(pq) {
		check := len(checks)
		if f.estimate != nil {
			sizes[check] = f.estimate(&est)
		}
		if f.indexed {
			dr := &driver{covers: check, sized: check, filter: f.where, order: f.order, args: f.args}
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
	total := est.statPoint("*")
	n, err := est.run(ctx, g)
	if err != nil {
		return nil, nil, err
	}
	all := float64(max(n[total], 1))
	sel := make(map[int]float64)
	for check, i := range sizes {
		if n[i] == 0 && (check >= len(pq.words) || len(typos[pq.words[check]]) == 0) {
			return checks, nil, nil // a criterion matches nothing
		}
		sel[check] = min(1, float64(n[i])/all)
	}
	for _, dr := range drivers {
		dr.size += float64(n[sizes[dr.sized]])
		others := 1.0
		for check, s := range sel {
			if check != dr.sized {
				others *= s
			}
		}
		dr.cost = dr.size
		if others > 0 {
			dr.cost = min(dr.size, MaxCandidates/others)
		}
		if dr.filter != "" {
			dr.cost *= 1.5 // entry rows are read where postings suffice
		}
	}
	return checks, drivers, nil
}

// estimates gathers the counts a plan needs into one query.
type estimates struct {
	exprs []string
	args  []any
}

// add appends a count expression and returns its position.
func (e *estimates) add(expr string, args ...any) int {
	e.exprs = append(e.exprs, expr)
	e.args = append(e.args, args...)
	return len(e.exprs) - 1
}

// cumRange counts the rows of a table with cumulated counts whose key is in
// [lo, hi).
func (e *estimates) cumRange(table, key, lo, hi string) int {
	before := `coalesce((SELECT cum FROM ` + table + ` WHERE ` + key + ` < ? ORDER BY ` + key + ` DESC LIMIT 1), 0)`
	return e.add(`(`+before+` - `+before+`)`, hi, lo)
}

// statPoint counts the entries with one value, as counted at import.
func (e *estimates) statPoint(key string) int {
	return e.add(`coalesce((SELECT n FROM {stat} WHERE key = ?), 0)`, key)
}

func (e *estimates) run(ctx context.Context, g *generation) ([]int64, error) {
	n := make([]int64, len(e.exprs))
	dest := make([]any, len(n))
	for i := range n {
		dest[i] = &n[i]
	}
	if err := g.db.QueryRowContext(ctx, g.q(`SELECT `+strings.Join(e.exprs, ", ")), e.args...).Scan(dest...); err != nil {
		return nil, fmt.Errorf("directory search: estimate: %w", err)
	}
	return n, nil
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
