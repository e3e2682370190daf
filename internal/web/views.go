package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"caduceus/internal/core"
)

// view is what every template receives; each page fills the parts it shows.
type view struct {
	Lang    string
	Title   string
	Path    string // the current path, for the language switch
	Flash   string
	Error   string
	Me      *meView
	Box     *boxView
	Boxes   []boxView
	Folders []folderView
	Folder  *folderView
	List    listView
	Msg     *msgView
	Query   string

	Compose    *composeView
	Signatures []signatureView
	Notify     []notifyView
	Outbox     []outboxView

	// HasDirectory shows the "Annuaires" link and the directory parts of
	// compose and the account page.
	HasDirectory bool
	Dir          *dirView
	Profile      *profileView
	Admin        *adminView
	// Manages shows the link to the managers' console.
	Manages bool
	// Settings is what the pages of "Gérer votre compte" show.
	Settings *settingsView

	// "Appareils mobiles": the enrolled devices, and the one just enrolled.
	Devices   []deviceView
	NewDevice *newDeviceView

	// Login pages.
	Email string
	Next  string
	// Auth is what the login, linking and security pages show of the
	// strong ways in.
	Auth *authView

	// External is the page of an external recipient's link.
	External *externalView
}

type meView struct {
	Name, Address, Initials, Notify string
}

// notifyView is one mailbox's new-mail notification setting, on the account page.
type notifyView struct {
	BoxID   int64
	Address string
	Mode    string // each, digest or none
	Every   int    // minutes, for digest
}

type boxView struct {
	ID      int64
	Address string
	Name    string
	KindKey string
	Current bool
	// OnBehalf is set when the person sends from the mailbox on behalf of
	// it: the message goes From: the mailbox, Sender: the person.
	OnBehalf bool
}

type folderView struct {
	ID      int64
	Label   string
	Role    string // inbox, drafts, sent, trash, junk, archive or folder
	Unread  int
	Total   int
	URL     string
	Current bool
}

type listView struct {
	Rows         []rowView
	Older, Newer string
}

type rowView struct {
	ID         int64
	URL        string
	From       string
	Subject    string
	Date       string
	DateISO    string
	Unread     bool
	Flagged    bool
	Attachment bool
	Selected   bool
	Handled    string // in a shared mailbox: who last handled the message
}

type msgView struct {
	ID                                int64
	Subject, From, Date, DateISO      string
	To, CC                            []string
	Unread, Flagged, InTrash          bool
	Attachments                       []attachmentView
	BodyURL, ImagesURL                string
	Text                              string
	HTML                              template.HTML // print view only
	Blocked                           int
	ListURL, ActionURL, PrintURL      string
	ReplyURL, ReplyAllURL, ForwardURL string
	MoveTargets                       []folderView
	// MSSanté: the documents of XDM archives, the receipts of a message
	// sent, the read receipt asked for.
	Documents          []documentView
	XDMError           bool
	Receipts           []receiptView
	MDNPrompt, MDNSent bool
	MDNTo              string
}

type attachmentView struct {
	Name, Size, URL, Ref string
	Bytes                int64
}

type composeView struct {
	Title                      string
	To, CC, Bcc, Subject, Body string
	InReplyTo, References      string
	DraftID                    int64
	Signatures                 []signatureView
	// Quote is the first line of the quoted message of a reply or forward,
	// before which the script puts a signature picked later.
	Quote         string
	Kept          []attachmentView
	Limit, TooBig string
	LimitBytes    int64
	// ReadReceipt, BlockReplies and External are the MSSanté options.
	ReadReceipt, BlockReplies, External bool
}

type signatureView struct {
	ID, Name, Text string
	// HTML is the signature's sanitised HTML, empty for a plain-text one.
	HTML template.HTML
	// Source is the HTML as kept, for the edit form.
	Source    string
	MailboxID int64
	// Scope names the mailbox the signature is for, or says "every one".
	Scope             string
	Default, Selected bool
}

// profileView is the "Informations personnelles" form.
type profileView struct {
	core.Profile
	Professions []optionView
}

type outboxView struct {
	To, Subject, Date, DateISO, Text string
}

// views holds the templates parsed once per language, so that the t
// function is bound to its language without per-request work.
type views struct {
	texts catalog
	sets  map[string]*template.Template
}

func loadViews(static *staticFiles) (*views, error) {
	texts, err := loadCatalog(embedded)
	if err != nil {
		return nil, err
	}
	v := &views{texts: texts, sets: make(map[string]*template.Template)}
	for _, lang := range languages {
		funcs := template.FuncMap{
			"t":     func(key string, args ...any) string { return texts.text(lang, key, args...) },
			"asset": static.url,
			"join":  func(s []string) string { return strings.Join(s, ", ") },
			// minuteChoices are the digest periods the account page offers.
			"minuteChoices": func() []int { return []int{15, 30, 60, 120, 240, 1440} },
			// delegateLevels are the keys of the levels one delegates.
			"delegateLevels": func() []string {
				keys := make([]string, len(delegateAccess))
				for i, l := range delegateAccess {
					keys[i] = l.key
				}
				return keys
			},
			// within and parentOf place folders in the settings' tree.
			"within":   folderWithin,
			"parentOf": parentOf,
			// professions lists the professions one can search by.
			"professions": func() []optionView { return professionOptions("") },
		}
		set, err := template.New("").Funcs(funcs).ParseFS(embedded, "templates/*.html")
		if err != nil {
			return nil, fmt.Errorf("web: parse templates: %w", err)
		}
		v.sets[lang] = set
	}
	return v, nil
}

// render writes a whole page.
func (a *app) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	var buf bytes.Buffer
	if err := a.views.sets[v.Lang].ExecuteTemplate(&buf, name, v); err != nil {
		a.log.Error("web: render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fragment renders one named template to a string, for JSON replies.
func (a *app) fragment(name string, v *view) (string, error) {
	var buf bytes.Buffer
	if err := a.views.sets[v.Lang].ExecuteTemplate(&buf, name, v); err != nil {
		return "", fmt.Errorf("web: render %s: %w", name, err)
	}
	return buf.String(), nil
}

// writeJSON sends v as JSON, never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// t returns a text in the view's language.
func (a *app) t(v *view, key string, args ...any) string {
	return a.views.texts.text(v.Lang, key, args...)
}
