package core

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"caduceus/internal/sieve"
	"caduceus/internal/store"
)

// Sieve filters: each mailbox keeps named scripts, at most one of them
// active (RFC 5804 §1.4); ManageSieve and the web app edit them here. The
// auto-reply the web page sets is kept apart and runs, as a vacation
// script (RFC 5230), after the active script. Delivery runs both (see
// sieveplan.go).

// SieveScript is one of a mailbox's Sieve scripts.
type SieveScript struct {
	Name    string
	Content string // empty in a listing
	Active  bool
	Updated time.Time
}

// Limits of a mailbox's Sieve scripts.
const (
	// MaxSieveScripts bounds the scripts of one mailbox.
	MaxSieveScripts = 20
	// MaxSieveName bounds a script's name, in characters.
	MaxSieveName = 128
)

// ErrSieveActive: the active script cannot be deleted (RFC 5804 §2.10).
var ErrSieveActive = errors.New("script is active")

// CheckSieveScript parses a script as delivery would: nil, or an error
// wrapping ErrInvalid that says, with line and column, what is wrong.
func CheckSieveScript(content string) error {
	if _, err := sieve.Parse([]byte(content)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// SieveExtensions lists the Sieve extensions scripts may require.
func SieveExtensions() []string { return sieve.Extensions() }

// MaxSieveSize is the largest script, in bytes.
const MaxSieveSize = 64 << 10

// checkSieveName refuses names RFC 5804 §1.6 forbids: empty, too long,
// not UTF-8, or holding control characters or line separators.
func checkSieveName(name string) error {
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxSieveName ||
		strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) {
		return fmt.Errorf("%w: script name %q", ErrInvalid, name)
	}
	return nil
}

// sieveAccess checks that the actor may manage a mailbox's filters: its
// owner, or whoever holds the admin right on it.
func (s *Service) sieveAccess(ctx context.Context, actor Actor, mailboxID int64) (Access, error) {
	return s.require(ctx, actor, mailboxID, RightAdmin)
}

// SieveScripts lists a mailbox's scripts by name, without their content.
func (s *Service) SieveScripts(ctx context.Context, actor Actor, mailboxID int64) ([]SieveScript, error) {
	if _, err := s.sieveAccess(ctx, actor, mailboxID); err != nil {
		return nil, err
	}
	rows, err := s.st.Query(ctx, `SELECT name, active, updated FROM sieve_scripts WHERE mailbox_id = ? ORDER BY name`, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("list sieve scripts: %w", err)
	}
	defer rows.Close()
	var out []SieveScript
	for rows.Next() {
		var sc SieveScript
		var updated int64
		if err := rows.Scan(&sc.Name, &sc.Active, &updated); err != nil {
			return nil, fmt.Errorf("read sieve script: %w", err)
		}
		sc.Updated = time.UnixMilli(updated)
		out = append(out, sc)
	}
	return out, rows.Err()
}

// SieveScript returns one script with its content.
func (s *Service) SieveScript(ctx context.Context, actor Actor, mailboxID int64, name string) (SieveScript, error) {
	if _, err := s.sieveAccess(ctx, actor, mailboxID); err != nil {
		return SieveScript{}, err
	}
	sc := SieveScript{Name: name}
	var updated int64
	err := s.st.QueryRow(ctx, `SELECT content, active, updated FROM sieve_scripts WHERE mailbox_id = ? AND name = ?`, mailboxID, name).
		Scan(&sc.Content, &sc.Active, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return SieveScript{}, fmt.Errorf("script %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return SieveScript{}, fmt.Errorf("load script %q: %w", name, err)
	}
	sc.Updated = time.UnixMilli(updated)
	return sc, nil
}

// SieveSpace tells whether a script of size bytes could be stored under
// name (RFC 5804 §2.5): nil, or an error wrapping ErrQuota or ErrInvalid.
func (s *Service) SieveSpace(ctx context.Context, actor Actor, mailboxID int64, name string, size int64) error {
	if _, err := s.sieveAccess(ctx, actor, mailboxID); err != nil {
		return err
	}
	if err := checkSieveName(name); err != nil {
		return err
	}
	return s.sieveRoom(ctx, s.st, mailboxID, name, size)
}

type queryRower interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

func (s *Service) sieveRoom(ctx context.Context, q queryRower, mailboxID int64, name string, size int64) error {
	if size > MaxSieveSize {
		return fmt.Errorf("%w: a script may hold %d bytes", ErrQuota, MaxSieveSize)
	}
	var n, same int
	if err := q.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN name = ? THEN 1 ELSE 0 END), 0) FROM sieve_scripts WHERE mailbox_id = ?`, name, mailboxID).Scan(&n, &same); err != nil {
		return fmt.Errorf("count sieve scripts: %w", err)
	}
	if same == 0 && n >= MaxSieveScripts {
		return fmt.Errorf("%w: a mailbox may keep %d scripts", ErrQuota, MaxSieveScripts)
	}
	return nil
}

// PutSieveScript stores a script under name, replacing one of that name
// (and keeping it active if it was). The script must parse
// (CheckSieveScript).
func (s *Service) PutSieveScript(ctx context.Context, actor Actor, mailboxID int64, name, content string) error {
	a, err := s.sieveAccess(ctx, actor, mailboxID)
	if err != nil {
		return err
	}
	if err := checkSieveName(name); err != nil {
		return err
	}
	if len(content) > MaxSieveSize {
		return fmt.Errorf("%w: a script may hold %d bytes", ErrQuota, MaxSieveSize)
	}
	if err := CheckSieveScript(content); err != nil {
		return err
	}
	now := s.nowMillis()
	return s.write(ctx, func(tx *store.Tx) error {
		if err := s.sieveRoom(ctx, tx, mailboxID, name, int64(len(content))); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sieve_scripts (mailbox_id, name, content, active, updated) VALUES (?, ?, ?, 0, ?)
			ON CONFLICT (mailbox_id, name) DO UPDATE SET content = excluded.content, updated = excluded.updated`, mailboxID, name, content, now); err != nil {
			return fmt.Errorf("store script: %w", err)
		}
		return s.audit.Record(ctx, tx, actor.audit("sieve-put", a.Address, nil, ""))
	}, noEvents)
}

// DeleteSieveScript removes a script; the active one cannot be
// (ErrSieveActive).
func (s *Service) DeleteSieveScript(ctx context.Context, actor Actor, mailboxID int64, name string) error {
	a, err := s.sieveAccess(ctx, actor, mailboxID)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *store.Tx) error {
		var active bool
		err := tx.QueryRow(ctx, `SELECT active FROM sieve_scripts WHERE mailbox_id = ? AND name = ?`, mailboxID, name).Scan(&active)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("script %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("load script: %w", err)
		}
		if active {
			return fmt.Errorf("script %q: %w", name, ErrSieveActive)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sieve_scripts WHERE mailbox_id = ? AND name = ?`, mailboxID, name); err != nil {
			return fmt.Errorf("delete script: %w", err)
		}
		return s.audit.Record(ctx, tx, actor.audit("sieve-delete", a.Address, nil, ""))
	}, noEvents)
}

// RenameSieveScript renames a script, keeping whether it is active
// (RFC 5804 §2.11.1); ErrExists when the new name is taken.
func (s *Service) RenameSieveScript(ctx context.Context, actor Actor, mailboxID int64, oldName, newName string) error {
	a, err := s.sieveAccess(ctx, actor, mailboxID)
	if err != nil {
		return err
	}
	if err := checkSieveName(newName); err != nil {
		return err
	}
	return s.write(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM sieve_scripts WHERE mailbox_id = ? AND name = ?`, mailboxID, newName).Scan(&n); err != nil {
			return fmt.Errorf("rename script: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("script %q: %w", newName, ErrExists)
		}
		res, err := tx.Exec(ctx, `UPDATE sieve_scripts SET name = ?, updated = ? WHERE mailbox_id = ? AND name = ?`, newName, s.nowMillis(), mailboxID, oldName)
		if err != nil {
			return fmt.Errorf("rename script: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("script %q: %w", oldName, ErrNotFound)
		}
		return s.audit.Record(ctx, tx, actor.audit("sieve-rename", a.Address, nil, ""))
	}, noEvents)
}

// ActivateSieveScript makes name the active script, the others inactive;
// an empty name leaves none active (RFC 5804 §2.8).
func (s *Service) ActivateSieveScript(ctx context.Context, actor Actor, mailboxID int64, name string) error {
	a, err := s.sieveAccess(ctx, actor, mailboxID)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *store.Tx) error {
		if name != "" {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM sieve_scripts WHERE mailbox_id = ? AND name = ?`, mailboxID, name).Scan(&n); err != nil {
				return fmt.Errorf("activate script: %w", err)
			}
			if n == 0 {
				return fmt.Errorf("script %q: %w", name, ErrNotFound)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE sieve_scripts SET active = CASE WHEN name = ? THEN 1 ELSE 0 END WHERE mailbox_id = ?`, name, mailboxID); err != nil {
			return fmt.Errorf("activate script: %w", err)
		}
		action := "sieve-activate"
		if name == "" {
			action = "sieve-deactivate"
		}
		return s.audit.Record(ctx, tx, actor.audit(action, a.Address, nil, ""))
	}, noEvents)
}

// VacationSettings is the automatic reply of a mailbox (user guide F14),
// as the web page shows and edits it.
type VacationSettings struct {
	Enabled bool
	// Start and End bound when it answers; a zero time is no bound.
	Start, End time.Time
	Subject    string
	Text       string
	// Days is how often one sender is answered, at most once per Days
	// days; 0 means sieve.DefaultVacationDays.
	Days int
}

// Limits of the automatic reply, in characters.
const (
	MaxVacationSubject = 200
	MaxVacationText    = 8000
)

// Vacation returns a mailbox's automatic reply; disabled when never set.
func (s *Service) Vacation(ctx context.Context, actor Actor, mailboxID int64) (VacationSettings, error) {
	if _, err := s.sieveAccess(ctx, actor, mailboxID); err != nil {
		return VacationSettings{}, err
	}
	v, err := s.vacation(ctx, mailboxID, false)
	if errors.Is(err, ErrNotFound) {
		return VacationSettings{Days: sieve.DefaultVacationDays}, nil
	}
	return v, err
}

func (s *Service) vacation(ctx context.Context, mailboxID int64, enabledOnly bool) (VacationSettings, error) {
	var v VacationSettings
	var start, end int64
	q := `SELECT enabled, starts, ends, subject, body, days FROM sieve_vacation WHERE mailbox_id = ?`
	if enabledOnly {
		q += ` AND enabled = 1`
	}
	err := s.st.QueryRow(ctx, q, mailboxID).Scan(&v.Enabled, &start, &end, &v.Subject, &v.Text, &v.Days)
	if errors.Is(err, sql.ErrNoRows) {
		return VacationSettings{}, ErrNotFound
	}
	if err != nil {
		return VacationSettings{}, fmt.Errorf("load vacation: %w", err)
	}
	if start != 0 {
		v.Start = time.UnixMilli(start)
	}
	if end != 0 {
		v.End = time.UnixMilli(end)
	}
	return v, nil
}

// SetVacation sets a mailbox's automatic reply. An enabled reply needs a
// text; the end, when set, must follow the start.
func (s *Service) SetVacation(ctx context.Context, actor Actor, mailboxID int64, v VacationSettings) error {
	a, err := s.sieveAccess(ctx, actor, mailboxID)
	if err != nil {
		return err
	}
	if v.Days == 0 {
		v.Days = sieve.DefaultVacationDays
	}
	switch {
	case v.Days < sieve.MinVacationDays || v.Days > sieve.MaxVacationDays:
		return fmt.Errorf("%w: days must be between %d and %d", ErrInvalid, sieve.MinVacationDays, sieve.MaxVacationDays)
	case v.Enabled && strings.TrimSpace(v.Text) == "":
		return fmt.Errorf("%w: the reply needs a text", ErrInvalid)
	case utf8.RuneCountInString(v.Subject) > MaxVacationSubject || utf8.RuneCountInString(v.Text) > MaxVacationText:
		return fmt.Errorf("%w: subject or text too long", ErrInvalid)
	case !utf8.ValidString(v.Subject) || !utf8.ValidString(v.Text):
		return fmt.Errorf("%w: subject or text is not UTF-8", ErrInvalid)
	case !v.Start.IsZero() && !v.End.IsZero() && !v.End.After(v.Start):
		return fmt.Errorf("%w: the end must come after the start", ErrInvalid)
	}
	millis := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	return s.write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sieve_vacation (mailbox_id, enabled, starts, ends, subject, body, days, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (mailbox_id) DO UPDATE SET enabled = excluded.enabled, starts = excluded.starts, ends = excluded.ends,
			subject = excluded.subject, body = excluded.body, days = excluded.days, updated = excluded.updated`,
			mailboxID, boolInt(v.Enabled), millis(v.Start), millis(v.End), v.Subject, v.Text, v.Days, s.nowMillis()); err != nil {
			return fmt.Errorf("store vacation: %w", err)
		}
		detail := "off"
		if v.Enabled {
			detail = "on"
		}
		return s.audit.Record(ctx, tx, actor.audit("vacation", a.Address, nil, detail))
	}, noEvents)
}

// VacationScript is the Sieve script an automatic reply runs as
// (RFC 5230); its dates are checked by the core before it runs.
func VacationScript(v VacationSettings) string {
	days := v.Days
	if days == 0 {
		days = sieve.DefaultVacationDays
	}
	var b strings.Builder
	b.WriteString("require \"vacation\";\r\n")
	fmt.Fprintf(&b, "vacation :days %d", days)
	if v.Subject != "" {
		fmt.Fprintf(&b, " :subject %s", sieveQuote(v.Subject))
	}
	b.WriteString(" text:\r\n")
	for _, line := range strings.Split(strings.ReplaceAll(v.Text, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(line, ".") {
			line = "." + line
		}
		b.WriteString(line + "\r\n")
	}
	b.WriteString(".\r\n;\r\n")
	return b.String()
}

// sieveQuote writes s as a quoted Sieve string (RFC 5228 §2.4.2).
func sieveQuote(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
