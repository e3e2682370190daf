package web

import (
	"fmt"
	"html/template"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"

	"caduceus/internal/core"
)

// folderRoles gives the special folders their place and their name in
// the interface; other folders follow in name order.
var folderRoles = []struct{ use, role string }{
	{"INBOX", "inbox"}, {`\Drafts`, "drafts"}, {`\Sent`, "sent"}, {`\Archive`, "archive"},
	{`\Junk`, "junk"}, {`\Trash`, "trash"},
}

func folderRole(f core.Folder) string {
	if strings.EqualFold(f.Name, "INBOX") {
		return "inbox"
	}
	for _, r := range folderRoles {
		if f.SpecialUse == r.use {
			return r.role
		}
	}
	return "folder"
}

func roleRank(role string) int {
	for i, r := range folderRoles {
		if r.role == role {
			return i
		}
	}
	return len(folderRoles)
}

// sortFolders puts the special folders first, then the others by name.
func sortFolders(fs []core.Folder) []core.Folder {
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(a, b core.Folder) int {
		ra, rb := roleRank(folderRole(a)), roleRank(folderRole(b))
		if ra != rb {
			return ra - rb
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

func (a *app) folderOf(v *view, f core.Folder) folderView {
	role := folderRole(f)
	label := strings.ReplaceAll(f.Name, "/", " › ")
	if role != "folder" {
		label = a.t(v, role)
	}
	return folderView{
		ID: f.ID, Label: label, Role: role, Unread: f.Unseen, Total: f.Messages,
		URL: fmt.Sprintf("/mail/%d/%d", f.MailboxID, f.ID),
	}
}

func meOf(acct core.Account) *meView {
	name := acct.Name
	if name == "" {
		name = acct.Address
	}
	return &meView{Name: name, Address: acct.Address, Initials: initials(name), Notify: orDefault(acct.NotifyEmail, acct.Address)}
}

// initials takes the first letter of the first two words of a name, or the
// first two letters of an address.
func initials(name string) string {
	name = strings.Split(name, "@")[0]
	words := strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) })
	var out []rune
	for _, w := range words {
		out = append(out, unicode.ToUpper([]rune(w)[0]))
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 1 && len([]rune(words[0])) > 1 {
		out = append(out, unicode.ToUpper([]rune(words[0])[1]))
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

// boxOf shows a mailbox the person may open; another person's own mailbox
// is a delegation.
func boxOf(m core.Mailbox, me int64) boxView {
	key := map[core.Kind]string{
		core.KindPersonal: "personal_mailbox", core.KindOrganisational: "organisational_mailbox",
		core.KindApplicative: "applicative_mailbox", core.KindPractice: "organisational_mailbox",
	}[m.Kind]
	if m.Kind == core.KindPersonal && m.OwnerID != me {
		key = "delegated_mailbox"
	}
	return boxView{ID: m.ID, Address: m.Address, Name: m.Name, KindKey: orDefault(key, "delegated_mailbox")}
}

func (a *app) rowOf(v *view, m core.Message) rowView {
	date := m.Date
	if date.IsZero() {
		date = m.InternalDate
	}
	return rowView{
		ID:         m.ID,
		From:       displayName(m.From),
		Subject:    orDefault(displaySubject(m.Subject), a.t(v, "no_subject")),
		Date:       a.shortDate(v, date),
		DateISO:    date.Format(time.RFC3339),
		Unread:     m.Flags&core.FlagSeen == 0,
		Flagged:    m.Flags&core.FlagFlagged != 0,
		Attachment: m.HasAttachments,
	}
}

// displayName shows the name of an address header, or its address.
func displayName(from string) string {
	if addr, err := mail.ParseAddress(from); err == nil {
		return orDefault(addr.Name, addr.Address)
	}
	return from
}

var monthsFR = []string{"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."}

// shortDate is the date of a list row: the time today, the day this year,
// the full date before.
func (a *app) shortDate(v *view, t time.Time) string {
	t = t.Local()
	now := time.Now()
	switch {
	case t.Year() == now.Year() && t.YearDay() == now.YearDay():
		return t.Format("15:04")
	case t.Year() == now.Year() && v.Lang == "fr":
		return fmt.Sprintf("%d %s", t.Day(), monthsFR[t.Month()-1])
	case t.Year() == now.Year():
		return t.Format("Jan 2")
	case v.Lang == "fr":
		return t.Format("02/01/2006")
	default:
		return t.Format("2006-01-02")
	}
}

// longDate is the date of an open message.
func (a *app) longDate(v *view, t time.Time) string {
	t = t.Local()
	if v.Lang == "fr" {
		return fmt.Sprintf("%d %s %d à %s", t.Day(), monthsFR[t.Month()-1], t.Year(), t.Format("15:04"))
	}
	return t.Format("Mon 2 Jan 2006 15:04")
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// safeHTML marks sanitised markup as safe for html/template. Only output
// of Sanitizer.Sanitize may go through it.
func safeHTML(sanitised string) template.HTML {
	return template.HTML(sanitised)
}

// contentDisposition names a download, UTF-8 names included (RFC 6266).
func contentDisposition(name string) string {
	if name == "" {
		name = "attachment"
	}
	return mime.FormatMediaType("attachment", map[string]string{"filename": name})
}
