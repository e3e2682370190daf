package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/core"
)

// The pages of "Gérer votre compte" (user guide F9), one per section of the
// guide. Every change is a POST under the cross-origin protection of the
// forms, decided by the core, and answered by a redirect to its page with
// ?done=KEY or ?error=KEY, which the page shows as the texts set_done_KEY
// and set_error_KEY.

// settingsView is what the settings pages show beside the common view.
type settingsView struct {
	// PushKey is the installation's VAPID public key the browser
	// subscribes to Web Push with; empty when Web Push is off.
	PushKey string
	// Receipts: the read-receipt policy of each mailbox one may set it on.
	Receipts []receiptPolicyView
	// Folders are the person's own folders, as a tree in name order;
	// Parents are where a folder may be made or moved ("" is the top).
	Folders []settingsFolderView
	Parents []settingsFolderView
	// Confirm is the folder whose deletion is being confirmed.
	Confirm *settingsFolderView
	// Correspondance is "Votre correspondance MSSanté".
	Correspondance *correspondanceView
	// Vacation is "Votre réponse automatique".
	Vacation *vacationView
	// Manager is "Vos informations Gestionnaire".
	Manager *core.ManagerInfo
	// Write is the message to the manager being written again after an
	// error.
	Write *managerWriteView
	// Delegates hold rights on the person's own mailbox; People are the
	// local accounts one may pick as a delegate.
	Delegates []delegateView
	People    []person
	// SendFrom are the mailboxes one may send from, which a signature
	// may be for.
	SendFrom []receiptPolicyView
}

type delegateView struct {
	Address, Name, Access string
}

// delegateAccess are the levels a person hands out on their own mailbox
// (F12): read; read and write; read, write and send on behalf.
var delegateAccess = memberAccess[:3]

type receiptPolicyView struct {
	BoxID   int64
	Address string
	Policy  string
}

type settingsFolderView struct {
	ID       int64
	Name     string // full name, as the core keeps it
	Leaf     string // the last level
	Label    string // the levels joined by " › "
	Depth    int
	Messages int
}

type correspondanceView struct {
	Address string
	Listed  bool
	// Published tells whether the node publishes its directory at all.
	Published bool
}

type vacationView struct {
	Address         string
	Enabled         bool
	Start, End      string // datetime-local values, in the server's zone
	Subject, Text   string
	Days            int
	MinDays, MaxDay int
}

type managerWriteView struct {
	To, Subject, Text string
}

// settingsBase is the view of one settings page: who, the page's title and
// the outcome of the form that led here.
func (a *app) settingsBase(r *http.Request, title string) *view {
	u := currentUser(r)
	v := a.baseView(r)
	v.Title = a.t(v, title)
	v.Me = meOf(u.account)
	v.Settings = &settingsView{}
	q := r.URL.Query()
	if k := q.Get("done"); k != "" && a.hasText(v, "set_done_"+k) {
		v.Flash = a.t(v, "set_done_"+k)
	}
	if k := q.Get("error"); k != "" && a.hasText(v, "set_error_"+k) {
		v.Error = a.t(v, "set_error_"+k)
	}
	return v
}

// hasText tells whether key is a text of the interface.
func (a *app) hasText(v *view, key string) bool {
	_, ok := a.views.texts[v.Lang][key]
	return ok
}

// settingsDone answers a settings form: back to page with the outcome of
// err. Input the core refuses and names already taken are said on the page
// (invalid is the text of the first); a missing or forbidden mailbox or
// folder is the error page.
func (a *app) settingsDone(w http.ResponseWriter, r *http.Request, page, done, invalid string, err error) {
	path, frag, _ := strings.Cut(page, "#")
	if frag != "" {
		frag = "#" + frag
	}
	switch {
	case err == nil:
		http.Redirect(w, r, path+"?done="+done+frag, http.StatusSeeOther)
	case errors.Is(err, core.ErrHasChildren):
		http.Redirect(w, r, path+"?error=has_children"+frag, http.StatusSeeOther)
	case errors.Is(err, core.ErrInvalid):
		http.Redirect(w, r, path+"?error="+invalid+frag, http.StatusSeeOther)
	case errors.Is(err, core.ErrExists):
		http.Redirect(w, r, path+"?error=exists"+frag, http.StatusSeeOther)
	default:
		a.fail(w, r, err)
	}
}

// ownBox is the person's own mailbox, whose folders, automatic reply and
// correspondence the settings pages show.
func (a *app) ownBox(r *http.Request) (core.Access, error) {
	u := currentUser(r)
	return a.svc.MailboxByAddress(r.Context(), u.actor, u.account.Address)
}

// messagingPage is "Vos paramètres de messagerie" (F12): notifications,
// read receipts, sub-folders and signatures.
func (a *app) messagingPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	v := a.settingsBase(r, "set_messaging")
	boxes, err := a.svc.Mailboxes(ctx, u.actor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, b := range boxes {
		if b.Rights.Has(core.RightRead) {
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
		if b.Owned || b.Rights.Has(core.RightSendAs) || b.Rights.Has(core.RightSendOnBehalf) {
			v.Settings.SendFrom = append(v.Settings.SendFrom, receiptPolicyView{BoxID: b.ID, Address: b.Address})
		}
		if b.Owned || b.Rights.Has(core.RightAdmin) {
			policy, err := a.svc.ReadReceiptPolicy(ctx, u.actor, b.ID)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			v.Settings.Receipts = append(v.Settings.Receipts, receiptPolicyView{BoxID: b.ID, Address: b.Address, Policy: policy})
		}
	}
	if keys, err := a.svc.VAPIDKeys(ctx); err != nil {
		a.log.Warn("web: no Web Push", "err", err)
	} else {
		v.Settings.PushKey = keys.Public
	}
	if err := a.loadFolders(r, v); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.loadDelegates(r, v); err != nil {
		a.fail(w, r, err)
		return
	}
	sigs, err := a.svc.Signatures(ctx, u.actor, u.account.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, s := range sigs {
		sv := a.signatureOf(s)
		sv.Scope = a.t(v, "signature_every_box")
		if s.MailboxID != 0 {
			sv.Scope = a.t(v, "signature_box_gone")
		}
		for _, b := range v.Settings.SendFrom {
			if b.BoxID == s.MailboxID {
				sv.Scope = b.Address
			}
		}
		v.Signatures = append(v.Signatures, sv)
	}
	a.render(w, r, http.StatusOK, "messaging", v)
}

// loadFolders fills the person's own folders, and where one may go: the
// top, or under any of them (the template leaves out a folder itself and
// those under it).
func (a *app) loadFolders(r *http.Request, v *view) error {
	box, err := a.ownBox(r)
	if err != nil {
		return err
	}
	fs, err := a.svc.Folders(r.Context(), currentUser(r).actor, box.ID)
	if err != nil {
		return err
	}
	v.Settings.Parents = []settingsFolderView{{Label: a.t(v, "set_folder_top")}}
	for _, f := range fs {
		if folderRole(f) != "folder" {
			continue
		}
		levels := strings.Split(f.Name, core.Delimiter)
		fv := settingsFolderView{ID: f.ID, Name: f.Name, Leaf: levels[len(levels)-1], Label: strings.Join(levels, " › "),
			Depth: min(len(levels)-1, 5), Messages: f.Messages}
		v.Settings.Folders = append(v.Settings.Folders, fv)
		v.Settings.Parents = append(v.Settings.Parents, fv)
	}
	return nil
}

// loadDelegates fills who holds rights on the person's own mailbox, and
// the local accounts one may choose from.
func (a *app) loadDelegates(r *http.Request, v *view) error {
	ctx := r.Context()
	u := currentUser(r)
	box, err := a.ownBox(r)
	if err != nil {
		return err
	}
	grants, err := a.svc.ACL(ctx, u.actor, box.ID)
	if err != nil {
		return err
	}
	for _, g := range grants {
		if g.AccountID == u.account.ID {
			continue
		}
		v.Settings.Delegates = append(v.Settings.Delegates, delegateView{Address: g.Address, Name: g.Name, Access: accessKey(v, a, g.Rights)})
	}
	users, err := a.svc.Users(ctx)
	if err != nil {
		return err
	}
	for _, acct := range users {
		if len(v.Settings.People) == suggestLimit*20 {
			break
		}
		if !acct.Disabled && acct.ID != u.account.ID {
			v.Settings.People = append(v.Settings.People, person{Name: acct.Name, Address: acct.Address, From: "local"})
		}
	}
	return nil
}

// saveDelegate gives a local account one of the delegation levels on the
// person's own mailbox, or takes it back; every door sees it at once.
func (a *app) saveDelegate(w http.ResponseWriter, r *http.Request) {
	const page = "/account/messaging#deleg-h"
	box, err := a.ownBox(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var rights core.Rights
	done := "delegate_revoked"
	if r.PathValue("action") == "grant" {
		i := slices.IndexFunc(delegateAccess, func(l accessLevel) bool { return l.key == r.PostFormValue("access") })
		if i < 0 {
			a.settingsDone(w, r, page, "", "delegate", core.ErrInvalid)
			return
		}
		rights, done = delegateAccess[i].rights, "delegate_granted"
	}
	err = a.svc.SetRights(r.Context(), currentUser(r).actor, box.ID, strings.TrimSpace(r.PostFormValue("person")), rights)
	if errors.Is(err, core.ErrNotFound) {
		// Nobody has that address here: said on the page, like a bad level.
		err = fmt.Errorf("web: delegate: %w", core.ErrInvalid)
	}
	a.settingsDone(w, r, page, done, "delegate", err)
}

// folderWithin tells whether the folder name is top or under it.
func folderWithin(name, top string) bool {
	return name == top || strings.HasPrefix(name, top+core.Delimiter)
}

// parentOf is the full name of a folder's parent, "" at the top.
func parentOf(name string) string {
	i := strings.LastIndex(name, core.Delimiter)
	if i < 0 {
		return ""
	}
	return name[:i]
}

// folderName joins a parent and a last level, after checking that the
// level is one level.
func folderName(parent, leaf string) (string, bool) {
	leaf = strings.TrimSpace(leaf)
	if leaf == "" || strings.Contains(leaf, core.Delimiter) {
		return "", false
	}
	if parent == "" {
		return leaf, true
	}
	return parent + core.Delimiter + leaf, true
}

// parentName is the full name of the folder chosen as parent, "" for the
// top; the core checks the id belongs to the mailbox through its rights.
func (a *app) parentName(r *http.Request) (string, error) {
	id, _ := strconv.ParseInt(r.PostFormValue("parent"), 10, 64)
	if id == 0 {
		return "", nil
	}
	f, err := a.svc.Folder(r.Context(), currentUser(r).actor, id)
	if err != nil {
		return "", err
	}
	box, err := a.ownBox(r)
	if err != nil {
		return "", err
	}
	if f.MailboxID != box.ID {
		return "", fmt.Errorf("web: parent folder %d: %w", id, core.ErrNotFound)
	}
	return f.Name, nil
}

const foldersPage = "/account/messaging#folders-h"

func (a *app) createFolder(w http.ResponseWriter, r *http.Request) {
	parent, err := a.parentName(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	name, ok := folderName(parent, r.PostFormValue("name"))
	if !ok {
		a.settingsDone(w, r, foldersPage, "", "folder_name", core.ErrInvalid)
		return
	}
	box, err := a.ownBox(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	_, err = a.svc.CreateFolder(r.Context(), currentUser(r).actor, box.ID, name, "")
	a.settingsDone(w, r, foldersPage, "folder_created", "folder_name", err)
}

// renameFolder renames a folder, moves it under another, or both.
func (a *app) renameFolder(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	parent, err := a.parentName(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	name, ok := folderName(parent, r.PostFormValue("name"))
	if !ok {
		a.settingsDone(w, r, foldersPage, "", "folder_name", core.ErrInvalid)
		return
	}
	u := currentUser(r)
	f, err := a.svc.Folder(r.Context(), u.actor, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if name == f.Name {
		a.settingsDone(w, r, foldersPage, "saved", "", nil)
		return
	}
	if strings.HasPrefix(name, f.Name+core.Delimiter) {
		a.settingsDone(w, r, foldersPage, "", "folder_into_itself", core.ErrInvalid)
		return
	}
	a.settingsDone(w, r, foldersPage, "folder_renamed", "folder_name", a.svc.RenameFolder(r.Context(), u.actor, id, name))
}

// deleteFolderPage asks to confirm a folder's deletion: its messages go to
// the Trash.
func (a *app) deleteFolderPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	v := a.settingsBase(r, "set_folder_delete_title")
	if err := a.loadFolders(r, v); err != nil {
		a.fail(w, r, err)
		return
	}
	for i := range v.Settings.Folders {
		if v.Settings.Folders[i].ID == id {
			v.Settings.Confirm = &v.Settings.Folders[i]
		}
	}
	if v.Settings.Confirm == nil {
		a.fail(w, r, fmt.Errorf("web: folder %d: %w", id, core.ErrNotFound))
		return
	}
	a.render(w, r, http.StatusOK, "folder-delete", v)
}

func (a *app) deleteFolder(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	if r.PostFormValue("confirm") != "1" {
		http.Redirect(w, r, fmt.Sprintf("/account/folders/%d/delete", id), http.StatusSeeOther)
		return
	}
	_, err = a.svc.TrashFolder(r.Context(), currentUser(r).actor, id)
	a.settingsDone(w, r, foldersPage, "folder_deleted", "folder_delete", err)
}

// saveReceipts sets how a mailbox answers the read receipts asked of it.
func (a *app) saveReceipts(w http.ResponseWriter, r *http.Request) {
	box, err := strconv.ParseInt(r.PostFormValue("box"), 10, 64)
	if err != nil {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	err = a.svc.SetReadReceiptPolicy(r.Context(), currentUser(r).actor, box, r.PostFormValue("policy"))
	a.settingsDone(w, r, "/account/messaging#receipts-h", "saved", "receipts", err)
}

// profilePage is "Vos informations personnelles" (F11): what the directory
// says of the person.
func (a *app) profilePage(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	v := a.settingsBase(r, "set_profile")
	pr, err := a.svc.Profile(r.Context(), u.actor, u.account.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v.Profile = &profileView{Profile: pr, Professions: professionOptions(pr.Profession)}
	a.render(w, r, http.StatusOK, "profile", v)
}

// correspondancePage is "Votre correspondance MSSanté" (F13): the address
// of the mailbox in the trust space and whether the national directory
// publishes it.
func (a *app) correspondancePage(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	v := a.settingsBase(r, "set_correspondance")
	pr, err := a.svc.Profile(r.Context(), u.actor, u.account.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v.Settings.Correspondance = &correspondanceView{Address: u.account.Address, Listed: pr.Listed, Published: a.opts.Directory != nil}
	a.render(w, r, http.StatusOK, "correspondance", v)
}

// saveListed puts the person on the red list or takes them off it, and
// publishes the change in the directory at once.
func (a *app) saveListed(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	listed := r.PostFormValue("listed")
	if listed != "0" && listed != "1" {
		a.settingsDone(w, r, "/account/correspondance", "", "listed", core.ErrInvalid)
		return
	}
	if err := a.svc.SetListed(r.Context(), u.actor, u.account.ID, listed == "1"); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.opts.Directory != nil {
		if err := a.publish(r.Context(), u.account); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	done := "listed"
	if listed == "0" {
		done = "unlisted"
	}
	a.settingsDone(w, r, "/account/correspondance", done, "", nil)
}

// dateTimeLocal is the layout of an <input type="datetime-local">.
const dateTimeLocal = "2006-01-02T15:04"

// vacationPage is "Votre réponse automatique" (F14).
func (a *app) vacationPage(w http.ResponseWriter, r *http.Request) {
	box, err := a.ownBox(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	vs, err := a.svc.Vacation(r.Context(), currentUser(r).actor, box.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v := a.settingsBase(r, "set_vacation")
	vv := &vacationView{Address: box.Address, Enabled: vs.Enabled, Subject: vs.Subject, Text: vs.Text, Days: vs.Days,
		MinDays: 1, MaxDay: 365}
	if !vs.Start.IsZero() {
		vv.Start = vs.Start.In(time.Local).Format(dateTimeLocal)
	}
	if !vs.End.IsZero() {
		vv.End = vs.End.In(time.Local).Format(dateTimeLocal)
	}
	v.Settings.Vacation = vv
	a.render(w, r, http.StatusOK, "vacation", v)
}

func (a *app) saveVacation(w http.ResponseWriter, r *http.Request) {
	box, err := a.ownBox(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	vs := core.VacationSettings{
		Enabled: r.PostFormValue("enabled") == "1",
		Subject: strings.TrimSpace(r.PostFormValue("subject")),
		Text:    strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("text"), "\r\n", "\n")),
	}
	for _, d := range []struct {
		field string
		to    *time.Time
	}{{"start", &vs.Start}, {"end", &vs.End}} {
		s := strings.TrimSpace(r.PostFormValue(d.field))
		if s == "" {
			continue
		}
		t, err := time.ParseInLocation(dateTimeLocal, s, time.Local)
		if err != nil {
			a.settingsDone(w, r, "/account/vacation", "", "vacation_date", core.ErrInvalid)
			return
		}
		*d.to = t
	}
	if s := strings.TrimSpace(r.PostFormValue("days")); s != "" {
		if vs.Days, err = strconv.Atoi(s); err != nil {
			a.settingsDone(w, r, "/account/vacation", "", "vacation", core.ErrInvalid)
			return
		}
	}
	err = a.svc.SetVacation(r.Context(), currentUser(r).actor, box.ID, vs)
	done := "vacation_off"
	if vs.Enabled {
		done = "vacation_on"
	}
	a.settingsDone(w, r, "/account/vacation", done, "vacation", err)
}

// managerPage is "Vos informations Gestionnaire" (F15): who manages the
// account, and a form to write to them or to the support.
func (a *app) managerPage(w http.ResponseWriter, r *http.Request) {
	info, err := a.svc.ManagerOf(r.Context(), currentUser(r).actor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v := a.settingsBase(r, "set_manager")
	v.Settings.Manager = &info
	a.render(w, r, http.StatusOK, "manager", v)
}

func (a *app) writeManager(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	wv := managerWriteView{To: r.PostFormValue("to"), Subject: r.PostFormValue("subject"),
		Text: strings.ReplaceAll(r.PostFormValue("text"), "\r\n", "\n")}
	err := a.svc.WriteToManager(r.Context(), u.actor, wv.To, wv.Subject, wv.Text)
	if err == nil {
		http.Redirect(w, r, "/account/manager?done=manager_sent", http.StatusSeeOther)
		return
	}
	// The message is shown again with what went wrong, so that nothing
	// written is lost.
	info, ierr := a.svc.ManagerOf(r.Context(), u.actor)
	if ierr != nil {
		a.fail(w, r, ierr)
		return
	}
	v := a.settingsBase(r, "set_manager")
	v.Settings.Manager, v.Settings.Write = &info, &wv
	status := http.StatusUnprocessableEntity
	switch {
	case errors.Is(err, core.ErrInvalid):
		v.Error = a.t(v, "set_error_manager_message")
	case errors.Is(err, core.ErrNotFound):
		v.Error = a.t(v, "set_error_manager_nobody")
	case errors.Is(err, core.ErrUntrusted), errors.Is(err, core.ErrNoSuchRecipient), errors.Is(err, core.ErrQuota):
		v.Error = a.t(v, "set_error_manager_refused")
	default:
		a.fail(w, r, err)
		return
	}
	a.render(w, r, status, "manager", v)
}
