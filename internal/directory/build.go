package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"caduceus/internal/store"
)

// builder fills a new generation: staging tables first, then the entries and the
// index built from them in SQL. On SQLite the generation is a new file and the
// staging tables live in a second, attached file deleted at the end, so the
// generation's file holds nothing else.
type builder struct {
	d    *Directory
	g    *generation
	conn *sql.Conn // every build statement runs on this one connection
	work string    // SQLite: the attached staging file

	tx        *sql.Tx   // SQLite: the open loading transaction
	insRow    *sql.Stmt // one row
	insRows   *sql.Stmt // rowsPerInsert rows
	insSkill  *sql.Stmt
	insSkills *sql.Stmt
	inTx      int
	timings   []Timing
	stepStart time.Time
}

// Timing is how long one step of an import took.
type Timing struct {
	Step     string        `json:"step"`
	Duration time.Duration `json:"duration"`
}

// stageColumns are the staging table's columns, in loading order.
var stageColumns = []string{"src", "rank", "origin", "key", "national_id", "civility", "last_name",
	"first_name", "profession", "profession_label", "specialty", "specialty_label",
	"organisation", "service", "address", "postcode", "city", "department", "mailbox", "kind",
	"demat", "city_key", "toks", "names"}

var skillColumns = []string{"src", "national_id", "kind", "code", "label"}

func (r *stageRow) values() []any {
	return append([]any{r.src, r.rank, string(r.origin), r.e.ID}, append(entryArgs(&r.e), r.cityKey, r.toks, r.names)...)
}

func (s *skillRow) values() []any {
	return []any{s.src, s.idnat, s.kind, s.code, s.label}
}

// newBuilder creates the empty tables of generation n.
func (d *Directory) newBuilder(ctx context.Context, n int64) (*builder, error) {
	b := &builder{d: d, stepStart: time.Now()}
	if d.st.Dialect() == store.Postgres {
		b.g = newGeneration(d.st, n, d.st.DB(), false)
	} else {
		if err := os.MkdirAll(d.generationDir(), 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d.generationDir(), err)
		}
		// Nothing is durable before the final sync: a crash leaves a file the next
		// import deletes.
		db, err := sql.Open("sqlite", "file:"+d.generationPath(n)+"?_pragma=journal_mode(OFF)"+
			"&_pragma=synchronous(OFF)&_pragma=cache_size(-32768)&_pragma=temp_store(FILE)")
		if err != nil {
			return nil, fmt.Errorf("create directory generation %d: %w", n, err)
		}
		db.SetMaxOpenConns(1)
		b.g = newGeneration(d.st, n, db, true)
		b.work = d.workPath(n)
	}
	conn, err := b.g.db.Conn(ctx)
	if err != nil {
		b.g.close()
		return nil, fmt.Errorf("directory generation %d: %w", n, err)
	}
	b.conn = conn
	if err := b.exec(ctx, b.schema()...); err != nil {
		b.abort()
		return nil, err
	}
	return b, nil
}

// schema returns the statements creating the staging tables and the entry table.
func (b *builder) schema() []string {
	entryText := textColumns("national_id", "civility", "last_name", "first_name", "profession",
		"profession_label", "specialty", "specialty_label", "organisation", "service", "address",
		"postcode", "city", "department", "mailbox", "kind")
	tail := "demat INTEGER NOT NULL, " + textColumns("city_key", "toks", "names")
	var stmts []string
	if b.work != "" {
		stmts = append(stmts,
			`ATTACH DATABASE '`+b.work+`' AS work`,
			`PRAGMA work.journal_mode = OFF`,
			`PRAGMA work.synchronous = OFF`)
	}
	unlogged := ""
	// Entries take the src of their row as id, so both tables fill in id order.
	entryID := "id INTEGER PRIMARY KEY, rank BIGINT NOT NULL"
	src := "src INTEGER PRIMARY KEY, rank BIGINT NOT NULL"
	if b.g.postgres() {
		unlogged = "UNLOGGED "
		entryID = "id BIGINT NOT NULL, rank BIGINT NOT NULL" // keys come once the table is full
		src = "src BIGINT NOT NULL, rank BIGINT NOT NULL"
	}
	return append(stmts,
		`CREATE `+unlogged+`TABLE {stage} (`+src+`, origin TEXT NOT NULL, `+textColumns("key")+`, `+
			entryText+`, `+tail+`)`,
		`CREATE `+unlogged+`TABLE {skill} (src BIGINT NOT NULL, `+textColumns("national_id", "kind", "code", "label")+`)`,
		`CREATE TABLE {entry} (`+entryID+`, `+textColumns("key")+`, `+entryText+`, `+tail+`)`,
	)
}

// exec runs statements on the build connection, in order.
func (b *builder) exec(ctx context.Context, stmts ...string) error {
	for _, s := range stmts {
		if _, err := b.conn.ExecContext(ctx, b.g.q(s)); err != nil {
			return fmt.Errorf("directory build: %s: %w", firstLine(s), err)
		}
	}
	return nil
}

// step records the time since the previous step under name.
func (b *builder) step(name string) {
	now := time.Now()
	b.timings = append(b.timings, Timing{Step: name, Duration: now.Sub(b.stepStart)})
	b.stepStart = now
}

// load writes a batch of read rows into the staging tables.
func (b *builder) load(ctx context.Context, rows []stageRow, skills []skillRow) error {
	if b.g.postgres() {
		return b.copyPostgres(ctx, rows, skills)
	}
	if b.tx == nil {
		tx, err := b.conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("directory build: %w", err)
		}
		b.tx = tx
		for _, st := range []struct {
			stmt  **sql.Stmt
			table string
			cols  []string
			rows  int
		}{
			{&b.insRow, "work.stage", stageColumns, 1},
			{&b.insRows, "work.stage", stageColumns, rowsPerInsert},
			{&b.insSkill, "work.skill", skillColumns, 1},
			{&b.insSkills, "work.skill", skillColumns, rowsPerInsert},
		} {
			if *st.stmt, err = tx.PrepareContext(ctx, insertStatement(st.table, st.cols, st.rows)); err != nil {
				return fmt.Errorf("directory build: %w", err)
			}
		}
	}
	err := insertChunks(ctx, b.insRows, b.insRow, len(rows), func(i int, args []any) []any {
		return append(args, rows[i].values()...)
	})
	if err != nil {
		return fmt.Errorf("directory build: stage rows: %w", err)
	}
	err = insertChunks(ctx, b.insSkills, b.insSkill, len(skills), func(i int, args []any) []any {
		return append(args, skills[i].values()...)
	})
	if err != nil {
		return fmt.Errorf("directory build: stage skills: %w", err)
	}
	b.inTx += len(rows) + len(skills)
	if b.inTx >= 200_000 {
		return b.commitLoad()
	}
	return nil
}

// rowsPerInsert is how many rows one SQLite INSERT carries while loading: far
// fewer statement executions than one per row.
const rowsPerInsert = 25

// insertChunks inserts n rows, rowsPerInsert at a time through many, the rest
// one by one through one; args appends row i's values.
func insertChunks(ctx context.Context, many, one *sql.Stmt, n int, args func(i int, args []any) []any) error {
	var buf []any
	i := 0
	for ; i+rowsPerInsert <= n; i += rowsPerInsert {
		buf = buf[:0]
		for k := i; k < i+rowsPerInsert; k++ {
			buf = args(k, buf)
		}
		if _, err := many.ExecContext(ctx, buf...); err != nil {
			return err
		}
	}
	for ; i < n; i++ {
		if _, err := one.ExecContext(ctx, args(i, buf[:0])...); err != nil {
			return err
		}
	}
	return nil
}

// commitLoad ends the SQLite loading transaction, if one is open.
func (b *builder) commitLoad() error {
	if b.tx == nil {
		return nil
	}
	for _, st := range []*sql.Stmt{b.insRow, b.insRows, b.insSkill, b.insSkills} {
		st.Close()
	}
	err := b.tx.Commit()
	b.tx, b.inTx = nil, 0
	if err != nil {
		return fmt.Errorf("directory build: commit staged rows: %w", err)
	}
	return nil
}

// insertStatement returns an INSERT of rows rows into table.
func insertStatement(table string, cols []string, rows int) string {
	tuple := "(" + strings.Repeat("?, ", len(cols)-1) + "?)"
	return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
		strings.Repeat(tuple+", ", rows-1) + tuple
}

// copyPostgres loads a batch with COPY, much faster than INSERT.
func (b *builder) copyPostgres(ctx context.Context, rows []stageRow, skills []skillRow) error {
	return b.conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("directory build: PostgreSQL driver is %T, not pgx", dc)
		}
		c := sc.Conn()
		if len(rows) > 0 {
			_, err := c.CopyFrom(ctx, pgx.Identifier{b.g.names.Replace("{stage}")}, stageColumns,
				pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return rows[i].values(), nil }))
			if err != nil {
				return fmt.Errorf("directory build: copy rows: %w", err)
			}
		}
		if len(skills) > 0 {
			_, err := c.CopyFrom(ctx, pgx.Identifier{b.g.names.Replace("{skill}")}, skillColumns,
				pgx.CopyFromSlice(len(skills), func(i int) ([]any, error) { return skills[i].values(), nil }))
			if err != nil {
				return fmt.Errorf("directory build: copy skills: %w", err)
			}
		}
		return nil
	})
}

// index returns the statement creating an index on a generation's table.
func (b *builder) index(name, table, cols string) string {
	ix := b.g.names.Replace("{"+table+"}") + "_" + name
	tbl := "{" + table + "}"
	if !b.g.postgres() {
		ix, tbl = table+"_"+name, table
		if b.isWork(table) {
			ix = "work." + ix
		}
	}
	unique := ""
	if name == "key" && table == "entry" {
		unique = "UNIQUE "
	}
	return "CREATE " + unique + "INDEX " + ix + " ON " + tbl + " (" + cols + ")"
}

// filterIndex returns the statement creating the index a search reads the
// entries with a value of col through, in rank order; it carries the names, so
// that the words of the search are checked without reading the entries.
func (b *builder) filterIndex(name, col string) string {
	if b.g.postgres() {
		return b.index(name, "entry", col+", rank") + " INCLUDE (names, id)"
	}
	return b.index(name, "entry", col+", rank, names")
}

func (b *builder) isWork(table string) bool {
	switch table {
	case "stage", "skill", "best":
		return true
	}
	return false
}

// duplicateMailboxes returns, for each mailbox address found on several rows, the
// rows after the first.
func (b *builder) duplicateMailboxes(ctx context.Context, fn func(src, first int64) error) error {
	rows, err := b.conn.QueryContext(ctx, b.g.q(`SELECT s.src, f.first FROM {stage} s JOIN
		(SELECT key, min(src) AS first FROM {stage} WHERE origin = 'm' GROUP BY key HAVING count(*) > 1) f
		ON f.key = s.key WHERE s.src <> f.first ORDER BY s.src`))
	if err != nil {
		return fmt.Errorf("directory build: find duplicate mailboxes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var src, first int64
		if err := rows.Scan(&src, &first); err != nil {
			return err
		}
		if err := fn(src, first); err != nil {
			return err
		}
	}
	return rows.Err()
}

// build turns the staged rows into entries, their index and statistics.
func (b *builder) build(ctx context.Context, progress func(string)) error {
	if err := b.commitLoad(); err != nil {
		return err
	}
	progress("building entries")
	if err := b.exec(ctx, b.entryStatements()...); err != nil {
		return err
	}
	b.step("build entries")
	progress("indexing entries")
	stmts := []string{}
	if b.g.postgres() {
		stmts = append(stmts, `ALTER TABLE {entry} ADD PRIMARY KEY (id)`)
	}
	stmts = append(stmts,
		b.index("key", "entry", "key"),
		b.filterIndex("profession", "profession"),
		b.filterIndex("specialty", "specialty"),
		b.filterIndex("city", "city_key"),
		b.filterIndex("postcode", "postcode"),
		b.index("mailbox", "entry", "mailbox"),
	)
	if err := b.exec(ctx, stmts...); err != nil {
		return err
	}
	b.step("index entries")
	progress("indexing names")
	// Postings carry the entry's names, profession, place and mailbox type, so
	// that a search checks its other criteria on them without reading entries.
	// Terms and statistics carry cumulated counts, for a search to estimate any
	// range in two reads.
	stat := `INSERT INTO {stat} (key, n, cum) SELECT key, n, sum(n) OVER (ORDER BY key) FROM (
			SELECT 'p:' || profession AS key, count(*) AS n FROM {entry} GROUP BY profession
			UNION ALL SELECT 's:' || specialty, count(*) FROM {entry} GROUP BY specialty
			UNION ALL SELECT 'c:' || city_key, count(*) FROM {entry} GROUP BY city_key
			UNION ALL SELECT 'z:' || postcode, count(*) FROM {entry} GROUP BY postcode
			UNION ALL SELECT '*', count(*) FROM {entry}) t`
	term := `INSERT INTO {term} (token, df, cum)
			SELECT token, n, sum(n) OVER (ORDER BY token) FROM (SELECT token, count(*) AS n FROM {posting} GROUP BY token) t`
	if b.g.postgres() {
		stmts = []string{
			`CREATE TABLE {posting} (token TEXT COLLATE "C" NOT NULL, rank BIGINT NOT NULL,
				entry_id BIGINT NOT NULL, ` + textColumns(strings.Split(postingCheckColumns, ", ")...) + `)`,
			`INSERT INTO {posting} (token, rank, entry_id, ` + postingCheckColumns + `)
				SELECT t.value, e.rank, e.id, ` + prefixed("e.", postingCheckColumns) + `
				FROM {entry} e, jsonb_array_elements_text(e.toks::jsonb) t(value)`,
			`ALTER TABLE {posting} ADD PRIMARY KEY (token, rank, entry_id) INCLUDE (` + postingCheckColumns + `)`,
			`CREATE TABLE {term} (token TEXT COLLATE "C" NOT NULL, df BIGINT NOT NULL, cum BIGINT NOT NULL)`,
			term,
			`ALTER TABLE {term} ADD PRIMARY KEY (token)`,
			`CREATE TABLE {stat} (key TEXT COLLATE "C" NOT NULL, n BIGINT NOT NULL, cum BIGINT NOT NULL)`,
			stat,
			`ALTER TABLE {stat} ADD PRIMARY KEY (key)`,
		}
	} else {
		stmts = []string{
			`CREATE TABLE {posting} (token TEXT NOT NULL, rank INTEGER NOT NULL, entry_id INTEGER NOT NULL,
				` + textColumns(strings.Split(postingCheckColumns, ", ")...) + `,
				PRIMARY KEY (token, rank, entry_id)) WITHOUT ROWID`,
			`INSERT INTO {posting} (token, rank, entry_id, ` + postingCheckColumns + `)
				SELECT j.value, e.rank, e.id, ` + prefixed("e.", postingCheckColumns) + `
				FROM {entry} e, json_each(e.toks) j ORDER BY 1, 2, 3`,
			`CREATE TABLE {term} (token TEXT NOT NULL PRIMARY KEY, df INTEGER NOT NULL, cum INTEGER NOT NULL) WITHOUT ROWID`,
			term,
			`CREATE TABLE {stat} (key TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL, cum INTEGER NOT NULL) WITHOUT ROWID`,
			stat,
		}
	}
	if err := b.exec(ctx, stmts...); err != nil {
		return err
	}
	b.step("index names")
	return nil
}

// entryStatements return the statements that fill the entry table from the
// staged rows: one entry per key, the first row read; a missing specialty
// comes from the SavoirFaire file. An entry keeps its row's src as id
// and rank (see rankOf), so nothing is sorted here.
func (b *builder) entryStatements() []string {
	first := `CREATE TABLE {best} AS SELECT national_id, code, label FROM (
			SELECT national_id, code, label, row_number() OVER (PARTITION BY national_id
				ORDER BY CASE WHEN kind = 'S' THEN 0 ELSE 1 END, src) AS rn FROM {skill}) t
			WHERE rn = 1`
	values := `s.key, s.national_id, s.civility, s.last_name, s.first_name, s.profession,
			s.profession_label,
			CASE WHEN s.specialty = '' AND k.code IS NOT NULL THEN k.code ELSE s.specialty END,
			CASE WHEN s.specialty = '' AND k.code IS NOT NULL THEN k.label ELSE s.specialty_label END,
			s.organisation, s.service, s.address, s.postcode, s.city, s.department, s.mailbox,
			s.kind, s.demat, s.city_key, s.toks, s.names`
	insert := `INSERT INTO {entry} (id, rank, key, ` + entryColumns + `, city_key, toks, names) `
	if b.g.postgres() {
		return []string{
			first,
			insert + `SELECT s.src, s.rank, ` + values + `
			FROM (SELECT *, row_number() OVER (PARTITION BY key ORDER BY src) AS nth FROM {stage}) s
			LEFT JOIN {best} k ON k.national_id = s.national_id
			WHERE s.nth = 1`,
		}
	}
	return []string{
		`PRAGMA threads = 2`,
		b.index("key", "stage", "key"),
		first,
		b.index("nat", "best", "national_id"),
		insert + `SELECT s.src, s.rank, ` + values + `
			FROM {stage} s LEFT JOIN {best} k ON k.national_id = s.national_id
			WHERE NOT EXISTS (SELECT 1 FROM {stage} d WHERE d.key = s.key AND d.src < s.src)
			ORDER BY s.src`,
	}
}

// postingCheckColumns are the entry columns postings carry (see condition).
const postingCheckColumns = "names, profession, specialty, city_key, postcode, department, kind"

// prefixed returns a list of columns ("a, b") with each one prefixed ("e.a, e.b").
func prefixed(prefix, cols string) string {
	return prefix + strings.ReplaceAll(cols, ", ", ", "+prefix)
}

// textColumns declares text columns; those compared by range are bytewise.
func textColumns(cols ...string) string {
	var s []string
	for _, c := range cols {
		switch c {
		case "key", "postcode", "mailbox":
			s = append(s, c+" TEXT{C} NOT NULL")
		default:
			s = append(s, c+" TEXT NOT NULL")
		}
	}
	return strings.Join(s, ", ")
}

// compare counts how the new entries differ from generation old's.
func (b *builder) compare(ctx context.Context, old int64, sum *Summary) error {
	if err := b.conn.QueryRowContext(ctx, b.g.q(`SELECT count(*) FROM {entry}`)).Scan(&sum.Entries); err != nil {
		return fmt.Errorf("directory build: count entries: %w", err)
	}
	sum.Added = sum.Entries
	if old == 0 {
		return nil
	}
	oldEntry := fmt.Sprintf("directory_g%d_entry", old)
	if !b.g.postgres() {
		if err := b.exec(ctx, `ATTACH DATABASE '`+b.d.generationPath(old)+`' AS old`); err != nil {
			return err
		}
		defer b.exec(context.WithoutCancel(ctx), `DETACH DATABASE old`)
		oldEntry = "old.entry"
	}
	var differs []string
	for _, c := range strings.Split(entryColumns, ",") {
		c = strings.TrimSpace(c)
		differs = append(differs, "n."+c+" <> o."+c)
	}
	var total, matched, updated int
	err := b.conn.QueryRowContext(ctx, b.g.q(`SELECT (SELECT count(*) FROM `+oldEntry+`), count(*),
		coalesce(sum(CASE WHEN `+strings.Join(differs, " OR ")+` THEN 1 ELSE 0 END), 0)
		FROM {entry} n JOIN `+oldEntry+` o ON o.key = n.key`)).Scan(&total, &matched, &updated)
	if err != nil {
		return fmt.Errorf("directory build: compare with generation %d: %w", old, err)
	}
	sum.Added = sum.Entries - matched
	sum.Updated = updated
	sum.Unchanged = matched - updated
	sum.Removed = total - matched
	return nil
}

// finish drops the staging tables, gathers planner statistics and makes the
// generation durable. The generation is then complete but not yet current.
func (b *builder) finish(ctx context.Context) error {
	if b.g.postgres() {
		err := b.exec(ctx, `DROP TABLE {stage}`, `DROP TABLE {skill}`, `DROP TABLE {best}`,
			`VACUUM ANALYZE {entry}`, `VACUUM ANALYZE {posting}`, `VACUUM ANALYZE {term}`, `ANALYZE {stat}`)
		b.conn.Close()
		return err
	}
	err := b.exec(ctx, `DETACH DATABASE work`, `PRAGMA analysis_limit = 1000`, `ANALYZE`)
	err = errors.Join(err, b.conn.Close(), b.g.db.Close(), os.Remove(b.work))
	if err != nil {
		return err
	}
	return syncFile(b.d.generationPath(b.g.n), b.d.generationDir())
}

// abort abandons the build; the caller drops the generation.
func (b *builder) abort() {
	if b.tx != nil {
		b.tx.Rollback()
	}
	b.conn.Close()
	if b.g.own {
		b.g.db.Close()
		os.Remove(b.work)
	}
}

// syncFile flushes a file and its directory to disk.
func syncFile(path, dir string) error {
	for _, p := range []string{path, dir} {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
	}
	return nil
}
