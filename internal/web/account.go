package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/core"
)

// accountPage is "Gérer votre compte" (F9): who I am, the mailboxes I can
// open, my signatures, the language, what the directory says of me, and
// logging out everywhere.
func (a *app) accountPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	v := a.baseView(r)
	v.Title = a.t(v, "account_title")
	v.Me = meOf(u.account)
	boxes, err := a.svc.Mailboxes(ctx, u.actor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, b := range boxes {
		v.Boxes = append(v.Boxes, boxOf(b.Mailbox, u.account.ID))
		if !b.Rights.Has(core.RightRead) {
			continue
		}
		p, err := a.svc.NotifyPrefs(ctx, u.actor, b.ID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		nv := notifyView{BoxID: b.ID, Address: b.Address, Mode: string(p.Mode), Every: int(p.Every / time.Minute)}
		if p.Mode != core.NotifyDigest {
			nv.Every = 60
		}
		v.Notify = append(v.Notify, nv)
	}
	sigs, err := a.svc.Signatures(ctx, u.actor, u.account.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, s := range sigs {
		v.Signatures = append(v.Signatures, signatureView{ID: s.ID, Name: s.Name, Text: s.Text})
	}
	if a.opts.Directory != nil {
		pr, err := a.svc.Profile(ctx, u.actor, u.account.ID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		v.Profile = &profileView{Profile: pr, Professions: professionOptions(pr.Profession)}
	}
	managed, err := a.svc.ManagedDomains(ctx, u.actor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v.Manages = len(managed) > 0
	if r.URL.Query().Get("saved") != "" {
		v.Flash = a.t(v, "saved")
	}
	a.render(w, r, http.StatusOK, "account", v)
}

func (a *app) addSignature(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	name := strings.TrimSpace(r.FormValue("name"))
	text := strings.TrimSpace(strings.ReplaceAll(r.FormValue("text"), "\r\n", "\n"))
	_, err := a.svc.AddSignature(r.Context(), u.actor, u.account.ID, name, text)
	if errors.Is(err, core.ErrInvalid) {
		// The form's own limits say the same; nothing is kept.
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?saved=1", http.StatusSeeOther)
}

func (a *app) deleteSignature(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	if err := a.svc.DeleteSignature(r.Context(), u.actor, u.account.ID, r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?saved=1", http.StatusSeeOther)
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
	if errors.Is(err, core.ErrInvalid) {
		// The form offers only valid choices; a hand-made request changes nothing.
		http.Redirect(w, r, "/account#notify-h", http.StatusSeeOther)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?saved=1#notify-h", http.StatusSeeOther)
}
