package core

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"caduceus/internal/store"
)

// searchText is what the index keeps of one blob, already folded (lower case,
// no diacritics) so that both engines match "resultats" with "Résultats".
type searchText struct {
	subject, addrs, attachments, body string
	// head and full are the header and the text whole, folded, for the
	// substring index (blob_grams) that IMAP SEARCH uses.
	head, full string
}

// newSearchText takes the index's text from a message's model.
func newSearchText(md *model) *searchText {
	h := md.Header
	return &searchText{
		subject:     indexWords(h.Subject),
		addrs:       indexWords(h.From + " " + h.To + " " + h.Cc),
		attachments: indexWords(strings.Join(md.attachments, " ")),
		body:        indexWords(md.Text),
		head:        foldSpace(md.HeaderText),
		full:        foldSpace(md.Text),
	}
}

// index writes the search row of a blob.
func (t *searchText) index(ctx context.Context, tx *store.Tx, blobID int64) error {
	var err error
	if tx.Dialect() == store.Postgres {
		_, err = tx.Exec(ctx, `INSERT INTO blob_text (blob_id, tsv) VALUES (?, `+tsvector+`)`, append([]any{blobID}, t.weighted()...)...)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO blob_text (rowid, subject, addrs, attachments, body) VALUES (?, ?, ?, ?, ?)`, blobID, t.subject, t.addrs, t.attachments, t.body)
	}
	if err != nil {
		return fmt.Errorf("index message: %w", err)
	}
	return t.indexGrams(ctx, tx, blobID)
}

// indexGrams writes the substring index row of a blob.
func (t *searchText) indexGrams(ctx context.Context, tx *store.Tx, blobID int64) error {
	key := "rowid"
	if tx.Dialect() == store.Postgres {
		key = "blob_id"
	}
	if _, err := tx.Exec(ctx, `INSERT INTO blob_grams (`+key+`, head, body) VALUES (?, ?, ?)`, blobID, t.head, t.full); err != nil {
		return fmt.Errorf("index message substrings: %w", err)
	}
	return nil
}

// reindex replaces the search rows of a blob whose model is computed again
// (MigrateModels): one stored before the substring index existed, or one
// copied by caduceus migrate, which leaves the engine's own indexes behind.
func (t *searchText) reindex(ctx context.Context, tx *store.Tx, blobID int64) error {
	key := "rowid"
	if tx.Dialect() == store.Postgres {
		key = "blob_id"
	}
	for _, table := range []string{"blob_text", "blob_grams"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE `+key+` = ?`, blobID); err != nil {
			return fmt.Errorf("drop the search rows of a message: %w", err)
		}
	}
	return t.index(ctx, tx, blobID)
}

// tsvector is, on PostgreSQL, the index of a blob's text made of the two
// arguments weighted returns. Weight D marks the body, so that a body-only
// search can ask for it.
const tsvector = `setweight(to_tsvector('simple', ?), 'A') || setweight(to_tsvector('simple', ?), 'D')`

func (t *searchText) weighted() []any {
	return []any{t.subject + " " + t.addrs + " " + t.attachments, t.body}
}

// Search finds the messages of a mailbox whose subject, addresses, attachment
// names or text contain every word of query (as word prefixes, accents and case
// ignored), newest first, in the folders the actor may read.
func (s *Service) Search(ctx context.Context, actor Actor, mailboxID int64, query string, limit int) ([]Message, error) {
	if _, err := s.require(ctx, actor, mailboxID, RightRead); err != nil {
		return nil, err
	}
	words := searchWords(query)
	if len(words) == 0 {
		return nil, nil
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	match, sub := s.matchQuery(words)
	cols := "m." + strings.ReplaceAll(messageColumns, ", ", ", m.")
	rows, err := s.st.Query(ctx, `SELECT `+cols+` FROM messages m JOIN folders f ON f.id = m.folder_id
		WHERE f.mailbox_id = ? AND m.blob_id IN (`+sub+`) ORDER BY m.internal_date DESC, m.id DESC LIMIT ?`, mailboxID, match, limit)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	return scanMessages(rows)
}

// indexWords folds text and keeps only its words, separated by spaces, so that
// both engines cut "house@plainsboro.example" into "house plainsboro example".
func indexWords(s string) string {
	return strings.Join(strings.FieldsFunc(fold(s), notWord), " ")
}

func notWord(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// SearchFolder returns, in ascending order, the UIDs of a folder's messages
// whose header or text contains query as a substring, case, accents and runs
// of white space ignored: IMAP SEARCH TEXT (RFC 9051 §6.4.4). An empty query
// matches every message.
func (s *Service) SearchFolder(ctx context.Context, actor Actor, folderID int64, query string) ([]uint32, error) {
	return s.searchFolder(ctx, actor, folderID, query, false)
}

// SearchFolderBody is SearchFolder on the text of the message alone, without
// its header: IMAP SEARCH BODY (RFC 9051 §6.4.4).
func (s *Service) SearchFolderBody(ctx context.Context, actor Actor, folderID int64, query string) ([]uint32, error) {
	return s.searchFolder(ctx, actor, folderID, query, true)
}

func (s *Service) searchFolder(ctx context.Context, actor Actor, folderID int64, query string, bodyOnly bool) ([]uint32, error) {
	if _, err := s.folderRights(ctx, actor, folderID, RightRead); err != nil {
		return nil, err
	}
	q := foldSpace(query)
	if q == "" {
		rows, err := s.st.Query(ctx, `SELECT uid FROM messages WHERE folder_id = ? ORDER BY uid`, folderID)
		if err != nil {
			return nil, fmt.Errorf("search folder: %w", err)
		}
		return scanUIDs(rows)
	}
	sub, args := s.substringQuery(q, bodyOnly)
	rows, err := s.st.Query(ctx, `SELECT uid FROM messages WHERE folder_id = ? AND blob_id IN (`+sub+`) ORDER BY uid`, append([]any{folderID}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("search folder: %w", err)
	}
	return scanUIDs(rows)
}

// substringQuery returns the sub-query selecting the blobs whose folded
// header or text (text alone when bodyOnly) contains q, and its arguments.
// SQLite's trigram index cannot find a string of fewer than three
// characters: such a string is looked for at the start of the words of the
// word index instead, a limit docs/imap-conformance.md names.
func (s *Service) substringQuery(q string, bodyOnly bool) (sub string, args []any) {
	if s.st.Dialect() == store.Postgres {
		like := `%` + likeEscaper.Replace(q) + `%`
		if bodyOnly {
			return `SELECT blob_id FROM blob_grams WHERE body LIKE ?`, []any{like}
		}
		return `SELECT blob_id FROM blob_grams WHERE head LIKE ? OR body LIKE ?`, []any{like, like}
	}
	if utf8.RuneCountInString(q) < 3 {
		words := searchWords(q)
		if len(words) == 0 {
			return `SELECT rowid FROM blob_grams WHERE 0`, nil
		}
		match, sub := s.matchQueryIn(words, bodyOnly)
		return sub, []any{match}
	}
	cols := "{head body}"
	if bodyOnly {
		cols = "body"
	}
	return `SELECT rowid FROM blob_grams WHERE blob_grams MATCH ?`, []any{cols + ` : "` + strings.ReplaceAll(q, `"`, `""`) + `"`}
}

// likeEscaper escapes LIKE's wild cards (PostgreSQL's default escape is \).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// foldSpace folds s as fold does and turns every run of white space into
// one space, trimmed.
func foldSpace(s string) string {
	return strings.Join(strings.Fields(fold(s)), " ")
}

// matchQuery returns the engine's match expression for words and the
// sub-query selecting the matching blob ids.
func (s *Service) matchQuery(words []string) (match, sub string) { return s.matchQueryIn(words, false) }

// matchQueryIn is matchQuery, limited to the body when bodyOnly is set.
func (s *Service) matchQueryIn(words []string, bodyOnly bool) (match, sub string) {
	parts := make([]string, len(words))
	if s.st.Dialect() == store.Postgres {
		suffix := ":*"
		if bodyOnly {
			suffix = ":*D"
		}
		for i, w := range words {
			parts[i] = w + suffix
		}
		return strings.Join(parts, " & "), `SELECT blob_id FROM blob_text WHERE tsv @@ to_tsquery('simple', ?)`
	}
	prefix := ""
	if bodyOnly {
		prefix = "body : "
	}
	for i, w := range words {
		parts[i] = prefix + `"` + w + `"*`
	}
	return strings.Join(parts, " AND "), `SELECT rowid FROM blob_text WHERE blob_text MATCH ?`
}

// searchWords folds a query into index words: letters and digits only, so no
// query syntax of either engine can be injected.
func searchWords(q string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(fold(q), notWord) {
		if len(out) == 8 {
			break
		}
		out = append(out, w)
	}
	return out
}

// fold lower-cases and strips diacritics.
func fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, strings.ToLower(s))
	if err != nil {
		return strings.ToLower(s)
	}
	return out
}
