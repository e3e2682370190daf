package web

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/core"
)

// accountPage is "Gérer votre compte" (F9): who I am, the language, and
// the guide's sections, each its own page, with the mailboxes I can open
// and logging out everywhere.
func (a *app) accountPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	v := a.settingsBase(r, "account_title")
	boxes, err := a.svc.Mailboxes(ctx, u.actor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, b := range boxes {
		v.Boxes = append(v.Boxes, boxOf(b.Mailbox, u.account.ID))
	}
	managed, err := a.svc.ManagedDomains(ctx, u.actor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v.Manages = len(managed) > 0
	a.render(w, r, http.StatusOK, "account", v)
}

// saveSignature adds a signature, or changes the one the form names: its
// HTML, when given, is sanitised and gives the text/plain form.
func (a *app) saveSignature(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	box, err := strconv.ParseInt(r.FormValue("box"), 10, 64)
	if err != nil {
		box = 0
	}
	sig := core.Signature{
		ID:        r.FormValue("id"),
		Name:      strings.TrimSpace(r.FormValue("name")),
		Text:      strings.TrimSpace(strings.ReplaceAll(r.FormValue("text"), "\r\n", "\n")),
		HTML:      a.sanitizer.SanitizeSignature(r.FormValue("html")),
		MailboxID: box,
		Default:   r.FormValue("default") != "",
	}
	if sig.HTML != "" {
		sig.Text = signatureText(sig.HTML)
	}
	done := "signature_added"
	if sig.ID != "" {
		done = "signature_saved"
	}
	_, err = a.svc.SaveSignature(r.Context(), u.actor, u.account.ID, sig)
	a.settingsDone(w, r, "/account/messaging#sig-h", done, "signature", err)
}

// defaultSignature makes a signature the default of its mailbox, or with
// off=1 leaves that mailbox with none.
func (a *app) defaultSignature(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	err := a.svc.SetDefaultSignature(r.Context(), u.actor, u.account.ID, r.PathValue("id"), r.FormValue("off") == "")
	a.settingsDone(w, r, "/account/messaging#sig-h", "signature_default", "signature", err)
}

func (a *app) deleteSignature(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	err := a.svc.DeleteSignature(r.Context(), u.actor, u.account.ID, r.PathValue("id"))
	a.settingsDone(w, r, "/account/messaging#sig-h", "signature_deleted", "signature", err)
}

// saveNotify sets how the person is told of new mail in one mailbox: each
// message, a digest every N minutes, or not at all.
func (a *app) saveNotify(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	box, err := strconv.ParseInt(r.FormValue("box"), 10, 64)
	if err != nil {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	p := core.NotifyPrefs{Mode: core.NotifyMode(r.FormValue("mode"))}
	if p.Mode == core.NotifyDigest {
		minutes, err := strconv.Atoi(r.FormValue("every"))
		if err != nil {
			minutes = 0
		}
		p.Every = time.Duration(minutes) * time.Minute
	}
	err = a.svc.SetNotifyPrefs(r.Context(), u.actor, box, p)
	a.settingsDone(w, r, "/account/messaging#notify-h", "saved", "notify", err)
}

// signatureOf is how the pages show a signature: its HTML sanitised again,
// whatever was kept.
func (a *app) signatureOf(s core.Signature) signatureView {
	return signatureView{
		ID: s.ID, Name: s.Name, Text: s.Text, Source: s.HTML, MailboxID: s.MailboxID, Default: s.Default,
		HTML: template.HTML(a.sanitizer.SanitizeSignature(s.HTML)),
	}
}
