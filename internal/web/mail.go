package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/core"
)

// pageSize is how many messages a list page shows. The list is read newest
// first with a limit, so a folder of any size opens as fast as a small one.
const pageSize = 50

// mailbox is what a mail page knows of the open mailbox.
type mailbox struct {
	access  core.Access
	folders []core.Folder
}

func (m *mailbox) folder(id int64) (core.Folder, bool) {
	for _, f := range m.folders {
		if f.ID == id {
			return f, true
		}
	}
	return core.Folder{}, false
}

func (m *mailbox) byUse(use string) (core.Folder, bool) {
	for _, f := range m.folders {
		if f.SpecialUse == use || (use == "INBOX" && strings.EqualFold(f.Name, "INBOX")) {
			return f, true
		}
	}
	return core.Folder{}, false
}

// openBox reads the mailbox of the URL and its folders, and starts the
// view with the person, the mailboxes they may switch to and the folders.
func (a *app) openBox(r *http.Request, u *user) (*view, *mailbox, error) {
	ctx := r.Context()
	boxID, err := strconv.ParseInt(r.PathValue("box"), 10, 64)
	if err != nil {
		return nil, nil, core.ErrNotFound
	}
	acc, err := a.svc.Mailbox(ctx, u.actor, boxID)
	if err != nil {
		return nil, nil, err
	}
	folders, err := a.svc.Folders(ctx, u.actor, boxID)
	if err != nil {
		return nil, nil, err
	}
	boxes, err := a.svc.Mailboxes(ctx, u.actor)
	if err != nil {
		return nil, nil, err
	}
	m := &mailbox{access: acc, folders: sortFolders(folders)}
	v := a.baseView(r)
	v.Me = meOf(u.account)
	for _, b := range boxes {
		bv := boxOf(b.Mailbox, u.account.ID)
		bv.Current = b.ID == boxID
		v.Boxes = append(v.Boxes, bv)
	}
	bv := boxOf(acc.Mailbox, u.account.ID)
	bv.OnBehalf = !acc.Owned && !acc.Rights.Has(core.RightSendAs)
	v.Box = &bv
	return v, m, nil
}

// showFolders fills the folder list of the view, current being selected.
func (a *app) showFolders(v *view, m *mailbox, current int64) {
	v.Folders = v.Folders[:0]
	for _, f := range m.folders {
		fv := a.folderOf(v, f)
		fv.Current = f.ID == current
		v.Folders = append(v.Folders, fv)
		if fv.Current {
			v.Folder = &fv
		}
	}
}

// home opens the person's own mailbox.
func (a *app) home(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	acc, err := a.svc.MailboxByAddress(r.Context(), u.actor, u.account.Address)
	if err != nil {
		boxes, lerr := a.svc.Mailboxes(r.Context(), u.actor)
		if lerr != nil || len(boxes) == 0 {
			a.fail(w, r, err)
			return
		}
		acc = boxes[0]
	}
	http.Redirect(w, r, fmt.Sprintf("/mail/%d", acc.ID), http.StatusSeeOther)
}

// boxHome opens a mailbox at its inbox.
func (a *app) boxHome(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	_, m, err := a.openBox(r, u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f, ok := m.byUse("INBOX")
	if !ok && len(m.folders) > 0 {
		f = m.folders[0]
	}
	http.Redirect(w, r, fmt.Sprintf("/mail/%d/%d", m.access.ID, f.ID), http.StatusSeeOther)
}

func (a *app) folderPage(w http.ResponseWriter, r *http.Request) {
	a.mailPage(w, r, 0)
}

func (a *app) messagePage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("msg"), 10, 64)
	if err != nil {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	a.mailPage(w, r, id)
}

// mailPage shows a folder's list and, when msgID is not zero, a message in
// the reading pane, marking it read.
func (a *app) mailPage(w http.ResponseWriter, r *http.Request, msgID int64) {
	ctx := r.Context()
	u := currentUser(r)
	v, m, err := a.openBox(r, u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	folderID, _ := strconv.ParseInt(r.PathValue("folder"), 10, 64)
	f, ok := m.folder(folderID)
	if !ok {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	if msgID != 0 {
		msg, err := a.svc.Message(ctx, u.actor, msgID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if msg.FolderID != f.ID {
			a.fail(w, r, core.ErrNotFound)
			return
		}
		if msg.Flags&core.FlagSeen == 0 && m.access.Rights.Has(core.RightSeen) {
			if _, _, err := a.svc.StoreFlags(ctx, u.actor, f.ID, []uint32{msg.UID}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagSeen}); err != nil {
				a.fail(w, r, err)
				return
			}
			msg.Flags |= core.FlagSeen
			f.Unseen = max(0, f.Unseen-1)
			for i := range m.folders {
				if m.folders[i].ID == f.ID {
					m.folders[i].Unseen = f.Unseen
				}
			}
		}
		mv, err := a.readMessage(r, u, v, m, f, msg)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		v.Msg = mv
	}
	a.showFolders(v, m, f.ID)
	page, _ := strconv.Atoi(r.URL.Query().Get("p"))
	if err := a.fillList(r, u, v, m, f, max(page, 0), msgID); err != nil {
		a.fail(w, r, err)
		return
	}
	v.Title = v.Folder.Label
	if v.Msg != nil {
		v.Title = v.Msg.Subject
	}
	flash := ""
	if r.URL.Query().Get("flash") == "sent" {
		flash = a.t(v, "sent_ok")
	}
	a.respondPanes(w, r, v, flash)
}

// fillList reads one page of a folder of m, newest first; in a shared
// mailbox each row says who last handled its message.
func (a *app) fillList(r *http.Request, u *user, v *view, m *mailbox, f core.Folder, page int, selected int64) error {
	msgs, err := a.svc.Messages(r.Context(), u.actor, f.ID, core.MessageQuery{Order: core.ByDateDesc, Limit: pageSize + 1, Offset: page * pageSize})
	if err != nil {
		return err
	}
	base := fmt.Sprintf("/mail/%d/%d", f.MailboxID, f.ID)
	if len(msgs) > pageSize {
		msgs = msgs[:pageSize]
		v.List.Older = fmt.Sprintf("%s?p=%d", base, page+1)
	}
	if page > 0 {
		v.List.Newer = fmt.Sprintf("%s?p=%d", base, page-1)
	}
	suffix := ""
	if page > 0 {
		suffix = fmt.Sprintf("?p=%d", page)
	}
	v.List.Rows = make([]rowView, 0, len(msgs))
	drafts := f.SpecialUse == `\Drafts`
	for _, msg := range msgs {
		row := a.rowOf(v, msg)
		row.URL = fmt.Sprintf("%s/%d%s", base, msg.ID, suffix)
		if drafts {
			// A draft opens in the compose form, to finish and send.
			row.URL = fmt.Sprintf("/mail/%d/compose?draft=%d", f.MailboxID, msg.ID)
		}
		row.Selected = msg.ID == selected
		v.List.Rows = append(v.List.Rows, row)
	}
	if m.access.Kind == core.KindPersonal || len(msgs) == 0 {
		return nil
	}
	ids := make([]string, len(msgs))
	for i, msg := range msgs {
		ids[i] = msg.MessageID
	}
	handled, err := a.svc.Handlings(r.Context(), u.actor, f.MailboxID, ids)
	if err != nil {
		return err
	}
	for i, msg := range msgs {
		if h, ok := handled[msg.MessageID]; ok {
			v.List.Rows[i].Handled = a.handledText(v, h)
		}
	}
	return nil
}

// handledText says who handled a message of a shared mailbox, how and when.
func (a *app) handledText(v *view, h core.Handling) string {
	when := a.shortDate(v, h.At)
	if h.Action == core.HandledMoved {
		return a.t(v, "handled_moved", h.Actor, h.Detail, when)
	}
	return a.t(v, "handled_"+h.Action, h.Actor, when)
}

// respondPanes writes the whole page, or for the page's own script the
// panes as JSON: "panes" for navigation, "lists" for live refreshes.
func (a *app) respondPanes(w http.ResponseWriter, r *http.Request, v *view, flash string) {
	switch r.Header.Get("X-Partial") {
	case "panes", "lists":
		out := map[string]any{"title": v.Title + " · " + a.t(v, "app_name"), "url": r.URL.RequestURI(), "flash": flash}
		for name, key := range map[string]string{"folder-items": "folders", "list": "list", "reader": "reader"} {
			if key == "reader" && r.Header.Get("X-Partial") == "lists" {
				continue
			}
			html, err := a.fragment(name, v)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			out[key] = html
		}
		out["hasMessage"] = v.Msg != nil
		out["newMail"] = a.t(v, "new_mail")
		writeJSON(w, http.StatusOK, out)
	default:
		v.Flash = flash
		a.render(w, r, http.StatusOK, "mail", v)
	}
}

// readMessage opens a message and builds its reading pane.
func (a *app) readMessage(r *http.Request, u *user, v *view, m *mailbox, f core.Folder, msg core.Message) (*msgView, error) {
	ctx := r.Context()
	p, err := a.openParsed(r, u, msg.ID)
	if err != nil {
		return nil, err
	}
	if err := a.svc.Trace(ctx, u.actor, "read", fmt.Sprintf("mailbox %d message %d", m.access.ID, msg.ID), ""); err != nil {
		return nil, err
	}
	base := fmt.Sprintf("/mail/%d/%d/%d", m.access.ID, f.ID, msg.ID)
	mv := &msgView{
		ID:          msg.ID,
		Subject:     orDefault(p.Subject, a.t(v, "no_subject")),
		To:          formatAddresses(p.To),
		CC:          formatAddresses(p.CC),
		Unread:      msg.Flags&core.FlagSeen == 0,
		Flagged:     msg.Flags&core.FlagFlagged != 0,
		InTrash:     f.SpecialUse == `\Trash`,
		ListURL:     fmt.Sprintf("/mail/%d/%d", m.access.ID, f.ID),
		ActionURL:   base + "/act",
		PrintURL:    base + "/print",
		ReplyURL:    fmt.Sprintf("/mail/%d/compose?reply=%d", m.access.ID, msg.ID),
		ReplyAllURL: fmt.Sprintf("/mail/%d/compose?all=%d", m.access.ID, msg.ID),
		ForwardURL:  fmt.Sprintf("/mail/%d/compose?forward=%d", m.access.ID, msg.ID),
	}
	if len(p.From) > 0 {
		mv.From = formatAddress(p.From[0])
	}
	date := p.Date
	if date.IsZero() {
		date = msg.InternalDate
	}
	mv.Date, mv.DateISO = a.longDate(v, date), date.Format(time.RFC3339)
	for _, pt := range p.attachments() {
		mv.Attachments = append(mv.Attachments, attachmentView{
			Name: pt.Name, Size: a.views.texts.humanSize(v.Lang, pt.Size),
			URL: fmt.Sprintf("%s/part/%d", base, pt.Index),
		})
	}
	if p.HTML != "" {
		mv.BodyURL = base + "/body"
		images := r.URL.Query().Get("images") == "1"
		if images {
			mv.BodyURL += "?images=1"
		} else {
			mv.Blocked = a.sanitizer.Sanitize(p.HTML, SanitizeOptions{}).BlockedImages
			mv.ImagesURL = base + "?images=1"
		}
	} else {
		mv.Text = p.plainText()
	}
	for _, t := range m.folders {
		if t.ID != f.ID {
			mv.MoveTargets = append(mv.MoveTargets, a.folderOf(v, t))
		}
	}
	if err := a.addMSSante(r, u, v, f, msg, p, mv); err != nil {
		return nil, err
	}
	return mv, nil
}

// openParsed opens a message and takes it apart with its stored model.
func (a *app) openParsed(r *http.Request, u *user, id int64) (*parsed, error) {
	rd, root, err := a.svc.OpenModel(r.Context(), u.actor, id)
	if err != nil {
		return nil, err
	}
	return readParsed(rd, root)
}

// messageIn reads the message of the URL and checks it is in the URL's
// openMessage opens the mailbox the request names and the message in it.
func (a *app) openMessage(r *http.Request, u *user) (*view, *mailbox, core.Message, core.Folder, error) {
	v, m, err := a.openBox(r, u)
	if err != nil {
		return nil, nil, core.Message{}, core.Folder{}, err
	}
	msg, f, err := a.messageIn(r, u)
	if err != nil {
		return nil, nil, core.Message{}, core.Folder{}, err
	}
	return v, m, msg, f, nil
}

// folder and mailbox.
func (a *app) messageIn(r *http.Request, u *user) (core.Message, core.Folder, error) {
	ctx := r.Context()
	boxID, _ := strconv.ParseInt(r.PathValue("box"), 10, 64)
	folderID, _ := strconv.ParseInt(r.PathValue("folder"), 10, 64)
	msgID, err := strconv.ParseInt(r.PathValue("msg"), 10, 64)
	if err != nil {
		return core.Message{}, core.Folder{}, core.ErrNotFound
	}
	msg, err := a.svc.Message(ctx, u.actor, msgID)
	if err != nil {
		return core.Message{}, core.Folder{}, err
	}
	f, err := a.svc.Folder(ctx, u.actor, msg.FolderID)
	if err != nil {
		return core.Message{}, core.Folder{}, err
	}
	if f.ID != folderID || f.MailboxID != boxID {
		return core.Message{}, core.Folder{}, core.ErrNotFound
	}
	return msg, f, nil
}

// bodyCSP is the policy of a message body: no script at all, no network
// but our own parts and, when the reader asked, remote images; sandboxed
// even if opened outside its frame.
func bodyCSP(origin string, images bool) string {
	img := "img-src " + origin + " data:"
	if images {
		img += " https: http:"
	}
	return "default-src 'none'; " + img + "; style-src 'unsafe-inline'; font-src 'none'; " +
		"form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
}

// messageBody serves the sanitised HTML of a message for the sandboxed
// frame of the reading pane.
func (a *app) messageBody(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	msg, f, err := a.messageIn(r, u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.openParsed(r, u, msg.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	images := r.URL.Query().Get("images") == "1"
	clean := a.sanitizer.Sanitize(p.HTML, a.sanitizeOptions(p, f, msg, images))
	h := w.Header()
	h.Set("Content-Security-Policy", bodyCSP(a.origin(r), images))
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">"+
		"<style>%s</style></head><body>%s</body></html>", frameStyle, clean.HTML)
}

// frameStyle gives a message body the app's type and keeps wide content
// inside the frame.
const frameStyle = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:15px;line-height:1.45;" +
	"color:#18212b;margin:14px 20px;overflow-wrap:anywhere}img{max-width:100%;height:auto}table{max-width:100%}"

func (a *app) sanitizeOptions(p *parsed, f core.Folder, msg core.Message, images bool) SanitizeOptions {
	cids := make(map[string]int)
	for _, pt := range p.Parts {
		if pt.CID != "" {
			cids[pt.CID] = pt.Index
		}
	}
	return SanitizeOptions{
		RemoteImages: images,
		PartURL: func(cid string) string {
			i, ok := cids[cid]
			if !ok {
				return ""
			}
			return fmt.Sprintf("/mail/%d/%d/%d/part/%d?inline=1", f.MailboxID, f.ID, msg.ID, i)
		},
	}
}

// origin is the scheme and host the request came to; the app is served
// over HTTPS only.
func (a *app) origin(r *http.Request) string {
	return "https://" + r.Host
}

// messagePrint shows a message alone, for printing.
func (a *app) messagePrint(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	v, m, msg, f, err := a.openMessage(r, u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	mv, err := a.readMessage(r, u, v, m, f, msg)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if mv.BodyURL != "" {
		p, err := a.openParsed(r, u, msg.ID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		mv.HTML = safeHTML(a.sanitizer.Sanitize(p.HTML, a.sanitizeOptions(p, f, msg, false)).HTML)
	}
	v.Msg = mv
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"style-src-attr 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	a.render(w, r, http.StatusOK, "print", v)
}

// inlineTypes are the image types a message may show inline; every other
// part is only ever downloaded.
var inlineTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// messagePart downloads one part of a message.
func (a *app) messagePart(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	msg, _, err := a.messageIn(r, u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	i, err := strconv.Atoi(r.PathValue("part"))
	if err != nil {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	p, err := a.openParsed(r, u, msg.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if i < 0 || i >= len(p.Parts) {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	pt := p.Parts[i]
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	if r.URL.Query().Get("inline") == "1" && slices.Contains(inlineTypes, pt.Type) {
		h.Set("Content-Type", pt.Type)
		h.Set("Content-Disposition", "inline")
	} else {
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", contentDisposition(pt.Name))
	}
	h.Set("Content-Length", strconv.FormatInt(pt.Size, 10))
	io.Copy(w, p.open(pt))
}

// messageAction changes a message: read or unread, flag, move, delete.
func (a *app) messageAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	v, m, msg, f, err := a.openMessage(r, u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	uids := []uint32{msg.UID}
	stay := true
	switch r.FormValue("op") {
	case "read", "unread", "flag", "unflag":
		ch := core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagSeen}
		switch r.FormValue("op") {
		case "unread":
			ch.Op = core.FlagsRemove
		case "flag":
			ch.Flags = core.FlagFlagged
		case "unflag":
			ch = core.FlagChange{Op: core.FlagsRemove, Flags: core.FlagFlagged}
		}
		_, _, err = a.svc.StoreFlags(ctx, u.actor, f.ID, uids, ch)
	case "move":
		to, _ := strconv.ParseInt(r.FormValue("folder"), 10, 64)
		if _, ok := m.folder(to); !ok {
			err = fmt.Errorf("web: move to folder %d: %w", to, core.ErrNotFound)
			break
		}
		_, err = a.svc.Move(ctx, u.actor, f.ID, uids, to)
		stay = false
	case "delete":
		if err = a.deletedReceipt(r, u, msg); err == nil {
			err = a.deleteMessages(r, u, m, f, uids)
		}
		stay = false
	case "mdn-send", "mdn-decline":
		err = a.readReceiptAction(r, u, msg, r.FormValue("op"))
	default:
		err = fmt.Errorf("web: unknown action: %w", core.ErrInvalid)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	target := fmt.Sprintf("/mail/%d/%d", m.access.ID, f.ID)
	if stay {
		target += fmt.Sprintf("/%d", msg.ID)
	}
	if r.Header.Get("X-Partial") == "" {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	// The script gets the panes as they are now, without a second request.
	folders, err := a.svc.Folders(ctx, u.actor, m.access.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	m.folders = sortFolders(folders)
	a.showFolders(v, m, f.ID)
	if stay {
		msg, err = a.svc.Message(ctx, u.actor, msg.ID)
		if err == nil {
			v.Msg, err = a.readMessage(r, u, v, m, f, msg)
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if err := a.fillList(r, u, v, m, f, 0, msg.ID); err != nil {
		a.fail(w, r, err)
		return
	}
	v.Title = v.Folder.Label
	r.URL.Path, r.URL.RawQuery = target, ""
	a.respondPanes(w, r, v, "")
}

// deleteMessages moves messages to the Trash, or removes them for good
// when they are already there (or the mailbox has no Trash).
func (a *app) deleteMessages(r *http.Request, u *user, m *mailbox, f core.Folder, uids []uint32) error {
	ctx := r.Context()
	if trash, ok := m.byUse(`\Trash`); ok && trash.ID != f.ID {
		_, err := a.svc.Move(ctx, u.actor, f.ID, uids, trash.ID)
		return err
	}
	if _, _, err := a.svc.StoreFlags(ctx, u.actor, f.ID, uids, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagDeleted}); err != nil {
		return err
	}
	_, err := a.svc.Expunge(ctx, u.actor, f.ID, uids)
	return err
}

// deepLink opens a message by its id alone, as the links of notification
// mail do (F5), once the reader is logged in.
func (a *app) deepLink(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	id, err := strconv.ParseInt(r.PathValue("msg"), 10, 64)
	if err != nil {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	msg, err := a.svc.Message(ctx, u.actor, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f, err := a.svc.Folder(ctx, u.actor, msg.FolderID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/mail/%d/%d/%d", f.MailboxID, f.ID, msg.ID), http.StatusSeeOther)
}

// fail shows the page for an error of the core: not found, forbidden, or
// a server error that is logged without content.
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	v := a.baseView(r)
	status, key := http.StatusInternalServerError, "server_error"
	switch {
	case errors.Is(err, core.ErrNotFound):
		status, key = http.StatusNotFound, "not_found"
	case errors.Is(err, core.ErrPermission):
		status, key = http.StatusForbidden, "forbidden"
	default:
		a.log.Error("web: request failed", "path", r.URL.Path, "err", err)
	}
	v.Error = a.t(v, key)
	if r.Header.Get("X-Partial") != "" {
		writeJSON(w, status, map[string]string{"error": v.Error})
		return
	}
	a.render(w, r, status, "error", v)
}
