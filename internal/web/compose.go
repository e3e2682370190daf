package web

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"caduceus/internal/core"
)

// composePage is "Nouveau message" (F7), and the reply, reply-all and
// forward forms (F6), and a draft reopened from Drafts.
func (a *app) composePage(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	v, m, err := a.openBox(r, u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.showFolders(v, m, 0)
	c := &composeView{Title: a.t(v, "new_message")}
	q := r.URL.Query()
	for _, mode := range []string{"reply", "all", "forward", "draft"} {
		if q.Get(mode) == "" {
			continue
		}
		id, err := strconv.ParseInt(q.Get(mode), 10, 64)
		if err != nil {
			a.fail(w, r, core.ErrNotFound)
			return
		}
		if err := a.prefill(r, u, v, m, c, mode, id); err != nil {
			a.fail(w, r, err)
			return
		}
		break
	}
	if c.To == "" {
		// A contact card's "Écrire" link names the recipient.
		c.To = strings.TrimSpace(q.Get("to"))
	}
	if q.Get("saved") != "" {
		v.Flash = a.t(v, "draft_saved")
	}
	sigs, def, err := a.svc.SignaturesFor(r.Context(), u.actor, u.account.ID, m.access.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	selected := def
	if c.DraftID != 0 {
		// A draft keeps the signature it was written with (the longest
		// found, when one's text begins another's).
		selected = ""
		longest := 0
		for _, s := range sigs {
			if len(s.Text) > longest && strings.Contains(c.Body, signatureBlock(s.Text)) {
				selected, longest = s.ID, len(s.Text)
			}
		}
	}
	for _, s := range sigs {
		if s.ID == selected && c.DraftID == 0 {
			// Above the quoted text of a reply or forward.
			c.Body = "\n\n" + signatureBlock(s.Text) + c.Body
		}
	}
	if err := a.fillComposeLimits(r, u, v, m, c, selected); err != nil {
		a.fail(w, r, err)
		return
	}
	v.Compose = c
	v.Title = c.Title
	a.render(w, r, http.StatusOK, "compose", v)
}

func (a *app) fillComposeLimits(r *http.Request, u *user, v *view, m *mailbox, c *composeView, selected string) error {
	sigs, _, err := a.svc.SignaturesFor(r.Context(), u.actor, u.account.ID, m.access.ID)
	if err != nil {
		return err
	}
	c.Signatures = c.Signatures[:0]
	for _, s := range sigs {
		sv := a.signatureOf(s)
		sv.Selected = s.ID == selected
		c.Signatures = append(c.Signatures, sv)
	}
	c.LimitBytes = a.attachmentLimit()
	size := a.views.texts.humanSize(v.Lang, c.LimitBytes)
	c.Limit = a.t(v, "size_limit", size)
	c.TooBig = a.t(v, "too_big", size)
	return nil
}

// attachmentLimit is how many bytes of files fit in a message: base64
// makes them a third larger, and the text and headers need some room.
func (a *app) attachmentLimit() int64 {
	return max(0, (a.svc.MessageSizeLimit()-64<<10)*3/4)
}

// prefill fills the form from the message being answered, forwarded or
// resumed.
func (a *app) prefill(r *http.Request, u *user, v *view, m *mailbox, c *composeView, mode string, id int64) error {
	orig, err := a.svc.Message(r.Context(), u.actor, id)
	if err != nil {
		return err
	}
	p, err := a.openParsed(r, u, id)
	if err != nil {
		return err
	}
	self := strings.ToLower(m.access.Address)
	refs := append(append([]string{}, p.References...), p.MessageID)
	switch mode {
	case "reply", "all":
		c.Title = a.t(v, map[string]string{"reply": "reply", "all": "reply_all"}[mode])
		to := p.ReplyTo
		if len(to) == 0 {
			to = p.From
		}
		var cc []*mail.Address
		if mode == "all" {
			to = append(append([]*mail.Address{}, to...), p.To...)
			cc = p.CC
		}
		c.To = joinAddresses(without(to, self))
		c.CC = joinAddresses(without(cc, append([]string{self}, addressesOf(to)...)...))
		c.Subject = prefixed(v.Lang, "re", p.Subject)
		c.Quote = a.t(v, "wrote", a.longDate(v, dateOr(p.Date, orig.InternalDate)), fromName(p))
		c.Body = "\n\n" + c.Quote + "\n" + quote(p.plainText())
		c.InReplyTo = "<" + p.MessageID + ">"
		c.References = angleList(refs)
	case "forward":
		c.Title = a.t(v, "forward")
		c.Subject = prefixed(v.Lang, "fwd", p.Subject)
		var head strings.Builder
		c.Quote = fmt.Sprintf("-------- %s --------", a.t(v, "original_message"))
		fmt.Fprintf(&head, "\n\n%s\n", c.Quote)
		fmt.Fprintf(&head, "%s : %s\n", a.t(v, "from"), fromName(p))
		fmt.Fprintf(&head, "%s : %s\n", a.t(v, "date"), a.longDate(v, dateOr(p.Date, orig.InternalDate)))
		fmt.Fprintf(&head, "%s : %s\n", a.t(v, "subject"), p.Subject)
		fmt.Fprintf(&head, "%s %s\n", a.t(v, "to"), joinAddresses(p.To))
		if len(p.CC) > 0 {
			fmt.Fprintf(&head, "%s %s\n", a.t(v, "cc"), joinAddresses(p.CC))
		}
		c.Body = head.String() + "\n" + p.plainText()
		c.References = angleList(refs)
		c.Kept = a.keptOf(v, id, p)
	case "draft":
		c.Title = a.t(v, "new_message")
		c.To, c.CC = joinAddresses(p.To), joinAddresses(p.CC)
		c.Bcc = joinAddresses(p.Bcc)
		c.Subject, c.Body = p.Subject, p.plainText()
		c.DraftID = id
		c.Kept = a.keptOf(v, id, p)
		c.InReplyTo, c.References = p.InReplyTo, angleList(p.References)
	}
	return nil
}

func (a *app) keptOf(v *view, id int64, p *parsed) []attachmentView {
	var out []attachmentView
	for _, pt := range p.attachments() {
		out = append(out, attachmentView{
			Name: pt.Name, Size: a.views.texts.humanSize(v.Lang, pt.Size),
			Ref: fmt.Sprintf("%d:%d", id, pt.Index), Bytes: pt.Size,
		})
	}
	return out
}

// composeSubmit sends the message ("Envoyer") or saves it in Drafts
// ("Enregistrer comme brouillon").
func (a *app) composeSubmit(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	v, m, err := a.openBox(r, u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c := &composeView{Title: a.t(v, "new_message")}
	r.Body = http.MaxBytesReader(w, r.Body, a.attachmentLimit()+2<<20)
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			a.composeError(w, r, v, m, c, a.t(v, "too_big", a.views.texts.humanSize(v.Lang, a.attachmentLimit())))
			return
		}
		if err := r.ParseForm(); err != nil {
			a.fail(w, r, fmt.Errorf("web: read compose form: %w", core.ErrInvalid))
			return
		}
	}
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	c.To, c.CC, c.Bcc = r.FormValue("to"), r.FormValue("cc"), r.FormValue("bcc")
	c.Subject, c.Body = r.FormValue("subject"), strings.ReplaceAll(r.FormValue("body"), "\r\n", "\n")
	c.InReplyTo, c.References = r.FormValue("in_reply_to"), r.FormValue("references")
	c.DraftID, _ = strconv.ParseInt(r.FormValue("draft"), 10, 64)
	draft := r.FormValue("action") == "draft"
	c.ReadReceipt, c.BlockReplies, c.External = r.FormValue("read_receipt") != "", r.FormValue("block_replies") != "", r.FormValue("external") != ""

	var lists [3][]*mail.Address
	for i, field := range []string{c.To, c.CC, c.Bcc} {
		list, bad := parseRecipients(field)
		if bad != "" {
			a.composeError(w, r, v, m, c, a.t(v, "bad_address", bad))
			return
		}
		lists[i] = list
	}
	if !draft && len(lists[0])+len(lists[1])+len(lists[2]) == 0 {
		a.composeError(w, r, v, m, c, a.t(v, "no_recipient"))
		return
	}
	body, htmlBody, err := a.signed(r, u, m, c.Body, r.FormValue("signature"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := outgoing{
		from: &mail.Address{Name: m.access.Name, Address: m.access.Address},
		to:   lists[0], cc: lists[1], bcc: lists[2],
		subject: c.Subject, body: body, html: htmlBody, inReplyTo: c.InReplyTo, references: c.References,
		readReceipt: c.ReadReceipt,
	}
	if err := a.collectAttachments(r, u, &out); err != nil {
		a.fail(w, r, err)
		return
	}
	data, err := out.bytes(a.opts.Hostname)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if int64(len(data)) > a.svc.MessageSizeLimit() {
		a.composeError(w, r, v, m, c, a.t(v, "too_big", a.views.texts.humanSize(v.Lang, a.attachmentLimit())))
		return
	}
	if draft {
		a.saveDraft(w, r, u, v, m, c, data)
		return
	}
	var rcpts []string
	for _, l := range lists {
		rcpts = append(rcpts, addressesOf(l)...)
	}
	res, err := a.svc.Submit(r.Context(), u.actor, core.Submission{MailFrom: m.access.Address, Recipients: rcpts, Data: data, DraftID: c.DraftID,
		BlockPatientReplies: c.BlockReplies, External: c.External,
		// RFC 3461 §4.1: ask the recipients' operators to report delivery,
		// so that the sender sees "remis".
		Notify: "SUCCESS,FAILURE"})
	if err != nil {
		a.composeError(w, r, v, m, c, a.submitError(v, err))
		return
	}
	if err := a.mailLinks(r.Context(), v, res.External); err != nil {
		a.fail(w, r, err)
		return
	}
	inbox, _ := m.byUse("INBOX")
	a.composeDone(w, r, fmt.Sprintf("/mail/%d/%d?flash=sent", m.access.ID, inbox.ID))
}

// signatureBlock is a signature as the text shows it, after the usual
// "-- " line (RFC 3676 §4.3).
func signatureBlock(text string) string { return "-- \n" + text }

// signed gives the text of a message with the chosen signature (added at
// the end when the text lacks it) and, for an HTML signature, the
// text/html alternative: the text with the signature's HTML, sanitised
// again, in place of its text.
func (a *app) signed(r *http.Request, u *user, m *mailbox, body, sigID string) (string, string, error) {
	if sigID == "" {
		return body, "", nil
	}
	sigs, _, err := a.svc.SignaturesFor(r.Context(), u.actor, u.account.ID, m.access.ID)
	if err != nil {
		return "", "", err
	}
	for _, s := range sigs {
		if s.ID != sigID {
			continue
		}
		block := signatureBlock(s.Text)
		if !strings.Contains(body, block) {
			body = strings.TrimRight(body, " \n") + "\n\n" + block + "\n"
		}
		clean := a.sanitizer.SanitizeSignature(s.HTML)
		if clean == "" {
			return body, "", nil
		}
		before, after, _ := strings.Cut(body, block)
		return body, "<!DOCTYPE html>\n<html><body>" + textHTML(before) + "<div>-- <br>" + clean + "</div>" +
			textHTML(after) + "</body></html>\n", nil
	}
	return body, "", nil
}

// textHTML is plain text as HTML, its line breaks kept.
func textHTML(text string) string {
	return strings.ReplaceAll(html.EscapeString(text), "\n", "<br>\n")
}

// saveDraft stores the message in Drafts and drops the version it replaces.
func (a *app) saveDraft(w http.ResponseWriter, r *http.Request, u *user, v *view, m *mailbox, c *composeView, data []byte) {
	ctx := r.Context()
	drafts, ok := m.byUse(`\Drafts`)
	if !ok {
		a.fail(w, r, fmt.Errorf("web: mailbox has no Drafts folder: %w", core.ErrNotFound))
		return
	}
	saved, err := a.svc.Append(ctx, u.actor, drafts.ID, core.FlagDraft|core.FlagSeen, nil, time.Now(), data)
	if err != nil {
		a.composeError(w, r, v, m, c, a.submitError(v, err))
		return
	}
	if c.DraftID != 0 {
		if old, err := a.svc.Message(ctx, u.actor, c.DraftID); err == nil && old.FolderID == drafts.ID {
			if err := a.deleteMessages(r, u, m, drafts, []uint32{old.UID}); err != nil {
				a.fail(w, r, err)
				return
			}
		}
	}
	a.composeDone(w, r, fmt.Sprintf("/mail/%d/compose?draft=%d&saved=1", m.access.ID, saved.ID))
}

func (a *app) composeDone(w http.ResponseWriter, r *http.Request, target string) {
	if r.Header.Get("X-Partial") != "" {
		writeJSON(w, http.StatusOK, map[string]string{"redirect": target})
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// composeError shows the form again with what was typed and the problem.
func (a *app) composeError(w http.ResponseWriter, r *http.Request, v *view, m *mailbox, c *composeView, msg string) {
	if r.Header.Get("X-Partial") != "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": msg})
		return
	}
	a.showFolders(v, m, 0)
	if err := a.fillComposeLimits(r, currentUser(r), v, m, c, r.FormValue("signature")); err != nil {
		a.fail(w, r, err)
		return
	}
	v.Compose, v.Title, v.Error = c, c.Title, msg
	a.render(w, r, http.StatusUnprocessableEntity, "compose", v)
}

func (a *app) submitError(v *view, err error) string {
	switch {
	case errors.Is(err, core.ErrTooBig):
		return a.t(v, "too_big", a.views.texts.humanSize(v.Lang, a.attachmentLimit()))
	case errors.Is(err, core.ErrPermission):
		return a.t(v, "forbidden")
	case errors.Is(err, core.ErrNoSuchRecipient), errors.Is(err, core.ErrInvalid), errors.Is(err, core.ErrQuota), errors.Is(err, core.ErrUntrusted):
		return a.t(v, "send_failed", err.Error())
	}
	a.log.Error("web: send failed", "err", err)
	return a.t(v, "server_error")
}

// collectAttachments adds the uploaded files and the kept parts of the
// message forwarded or the draft resumed.
func (a *app) collectAttachments(r *http.Request, u *user, out *outgoing) error {
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["files"] {
			data, err := readUpload(fh)
			if err != nil {
				return err
			}
			if fh.Filename == "" && len(data) == 0 {
				continue
			}
			out.files = append(out.files, attachment{name: fh.Filename, ctype: fh.Header.Get("Content-Type"), data: data})
		}
	}
	cache := make(map[int64]*parsed)
	for _, ref := range r.Form["keep"] {
		idStr, idxStr, ok := strings.Cut(ref, ":")
		id, err1 := strconv.ParseInt(idStr, 10, 64)
		idx, err2 := strconv.Atoi(idxStr)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("web: attachment reference %q: %w", ref, core.ErrInvalid)
		}
		p, ok := cache[id]
		if !ok {
			var err error
			if p, err = a.openParsed(r, u, id); err != nil {
				return err
			}
			cache[id] = p
		}
		if idx < 0 || idx >= len(p.Parts) {
			return fmt.Errorf("web: attachment reference %q: %w", ref, core.ErrNotFound)
		}
		pt := p.Parts[idx]
		data, err := p.read(pt, a.svc.MessageSizeLimit())
		if err != nil {
			return err
		}
		out.files = append(out.files, attachment{name: pt.Name, ctype: pt.Type, data: data})
	}
	return nil
}

func readUpload(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("web: open upload: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("web: read upload: %w", err)
	}
	return data, nil
}

// parseRecipients reads a comma- or semicolon-separated list of addresses
// and returns the first entry it cannot read.
func parseRecipients(s string) ([]*mail.Address, string) {
	var out []*mail.Address
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		addr, err := mail.ParseAddress(item)
		if err != nil || !strings.Contains(addr.Address, "@") {
			return nil, item
		}
		out = append(out, addr)
	}
	return out, ""
}

func addressesOf(list []*mail.Address) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = strings.ToLower(a.Address)
	}
	return out
}

// without drops the given addresses and duplicates from a list.
func without(list []*mail.Address, drop ...string) []*mail.Address {
	seen := make(map[string]bool)
	for _, d := range drop {
		seen[strings.ToLower(d)] = true
	}
	var out []*mail.Address
	for _, a := range list {
		k := strings.ToLower(a.Address)
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}

func joinAddresses(list []*mail.Address) string {
	return strings.Join(formatAddresses(list), ", ")
}

// prefixed adds "RE : " or "TR : " (Re: and Fwd: in English) unless the
// subject already has such a prefix.
func prefixed(lang, kind, subject string) string {
	prefixes := map[string][]string{"re": {"re:", "re :", "aw:"}, "fwd": {"fwd:", "fw:", "tr:", "tr :", "wg:"}}
	low := strings.ToLower(strings.TrimSpace(subject))
	for _, p := range prefixes[kind] {
		if strings.HasPrefix(low, p) {
			return subject
		}
	}
	word := map[string]map[string]string{"fr": {"re": "RE : ", "fwd": "TR : "}, "en": {"re": "Re: ", "fwd": "Fwd: "}}[lang][kind]
	return word + subject
}

// quote prefixes every line with "> " (RFC 3676 §4.5).
func quote(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ">") {
			lines[i] = ">" + l
		} else {
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func angleList(ids []string) string {
	var out []string
	for _, id := range ids {
		if id != "" {
			out = append(out, "<"+id+">")
		}
	}
	return strings.Join(out, " ")
}

func fromName(p *parsed) string {
	if len(p.From) == 0 {
		return ""
	}
	return formatAddress(p.From[0])
}

func dateOr(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// outgoing is a message written in the web app.
type outgoing struct {
	from                  *mail.Address
	to, cc, bcc           []*mail.Address
	subject, body         string
	html                  string // the text/html alternative, when not empty
	inReplyTo, references string
	readReceipt           bool
	files                 []attachment
}

type attachment struct {
	name, ctype string
	data        []byte
}

// bytes writes the message: a plain-text body, and the attachments in a
// multipart/mixed when there are any. Bcc stays in drafts; the core takes
// it out of what it sends.
func (o *outgoing) bytes(hostname string) ([]byte, error) {
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{o.from})
	if len(o.to) > 0 {
		h.SetAddressList("To", o.to)
	}
	if len(o.cc) > 0 {
		h.SetAddressList("Cc", o.cc)
	}
	if len(o.bcc) > 0 {
		h.SetAddressList("Bcc", o.bcc)
	}
	h.SetSubject(o.subject)
	h.SetDate(time.Now())
	if err := h.GenerateMessageIDWithHostname(hostname); err != nil {
		return nil, fmt.Errorf("web: message id: %w", err)
	}
	if o.inReplyTo != "" {
		h.Set("In-Reply-To", o.inReplyTo)
	}
	if o.references != "" {
		h.Set("References", o.references)
	}
	if o.readReceipt {
		// RFC 8098 §2.1: "Demander un accusé de lecture".
		h.Set("Disposition-Notification-To", o.from.Address)
	}
	var buf bytes.Buffer
	if len(o.files) == 0 && o.html != "" {
		mw, err := mail.CreateInlineWriter(&buf, h)
		if err != nil {
			return nil, fmt.Errorf("web: write message: %w", err)
		}
		if err := o.writeAlternatives(mw); err != nil {
			return nil, err
		}
		if err := mw.Close(); err != nil {
			return nil, fmt.Errorf("web: write message: %w", err)
		}
		return buf.Bytes(), nil
	}
	if len(o.files) == 0 {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		w, err := mail.CreateSingleInlineWriter(&buf, h)
		if err != nil {
			return nil, fmt.Errorf("web: write message: %w", err)
		}
		io.WriteString(w, o.body)
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("web: write message: %w", err)
		}
		return buf.Bytes(), nil
	}
	mw, err := mail.CreateWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("web: write message: %w", err)
	}
	if o.html != "" {
		iw, err := mw.CreateInline()
		if err != nil {
			return nil, fmt.Errorf("web: write message body: %w", err)
		}
		if err := o.writeAlternatives(iw); err != nil {
			return nil, err
		}
		if err := iw.Close(); err != nil {
			return nil, fmt.Errorf("web: write message body: %w", err)
		}
	} else {
		var th mail.InlineHeader
		th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		tw, err := mw.CreateSingleInline(th)
		if err != nil {
			return nil, fmt.Errorf("web: write message body: %w", err)
		}
		io.WriteString(tw, o.body)
		if err := tw.Close(); err != nil {
			return nil, fmt.Errorf("web: write message body: %w", err)
		}
	}
	for _, f := range o.files {
		var ah mail.AttachmentHeader
		ctype := f.ctype
		if ctype == "" || strings.ContainsAny(ctype, "\r\n") {
			ctype = "application/octet-stream"
		}
		ah.Set("Content-Type", ctype)
		ah.SetFilename(f.name)
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return nil, fmt.Errorf("web: write attachment: %w", err)
		}
		aw.Write(f.data)
		if err := aw.Close(); err != nil {
			return nil, fmt.Errorf("web: write attachment: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("web: write message: %w", err)
	}
	return buf.Bytes(), nil
}

// writeAlternatives writes the text/plain and text/html forms of the body
// into a multipart/alternative.
func (o *outgoing) writeAlternatives(iw *mail.InlineWriter) error {
	for _, part := range []struct{ ctype, body string }{{"text/plain", o.body}, {"text/html", o.html}} {
		var ph mail.InlineHeader
		ph.SetContentType(part.ctype, map[string]string{"charset": "utf-8"})
		pw, err := iw.CreatePart(ph)
		if err != nil {
			return fmt.Errorf("web: write %s part: %w", part.ctype, err)
		}
		io.WriteString(pw, part.body)
		if err := pw.Close(); err != nil {
			return fmt.Errorf("web: write %s part: %w", part.ctype, err)
		}
	}
	return nil
}
