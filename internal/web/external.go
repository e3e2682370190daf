package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"caduceus/internal/core"
)

// The pages of an external recipient (a patient or a professional outside
// the trust space): /x/{token} asks for a one-time code sent to their
// address, then shows the message, its attachments and a reply form. They
// have no account: the link and the code are the only keys, the core traces
// every step and locks the link after five wrong codes.

// externalView is what the link's page shows.
type externalView struct {
	Token       string
	Recipient   string
	Expires     string
	CodeSent    bool
	Open        bool
	Locked      bool
	Expired     bool
	Replied     bool
	Failures    int
	Subject     string
	From        string
	Date        string
	Text        string
	Attachments []attachmentView
}

const externalCookie = "caduceus_link"

func (a *app) externalSession(r *http.Request) string {
	c, err := r.Cookie(externalCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

func externalActor(r *http.Request) core.Actor {
	actor := core.System("web-link")
	actor.Remote = clientAddr(r)
	return actor
}

// externalPage shows a link: the code form, or the message once the code
// was typed.
func (a *app) externalPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := a.baseView(r)
	token := r.PathValue("token")
	xv := &externalView{Token: token, CodeSent: r.URL.Query().Get("sent") != "", Replied: r.URL.Query().Get("replied") != ""}
	v.External, v.Title = xv, a.t(v, "ext_title")
	st, err := a.svc.OpenExternal(ctx, externalActor(r), token, a.externalSession(r))
	if a.externalRefused(w, r, v, err) {
		return
	}
	xv.Recipient, xv.Expires, xv.Failures = st.Recipient, a.longDate(v, st.Expires), st.Failures
	if st.Session {
		m, err := a.svc.ReadExternal(ctx, externalActor(r), token, a.externalSession(r), "read")
		if a.externalRefused(w, r, v, err) {
			return
		}
		p, err := parseMessage(bytes.NewReader(m.Raw))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		xv.Open, xv.Subject, xv.Text = true, orDefault(displaySubject(p.Subject), a.t(v, "no_subject")), p.plainText()
		if len(p.From) > 0 {
			xv.From = formatAddress(p.From[0])
		}
		if !p.Date.IsZero() {
			xv.Date = a.longDate(v, p.Date)
		}
		for _, pt := range p.attachments() {
			xv.Attachments = append(xv.Attachments, attachmentView{Name: pt.Name, Size: a.views.texts.humanSize(v.Lang, pt.Size),
				URL: fmt.Sprintf("/x/%s/part/%d", token, pt.Index)})
		}
	}
	a.render(w, r, http.StatusOK, "external", v)
}

// externalRefused answers a locked, expired or unknown link; it reports
// whether it did.
func (a *app) externalRefused(w http.ResponseWriter, r *http.Request, v *view, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, core.ErrLinkLocked):
		v.External.Locked = true
		a.render(w, r, http.StatusForbidden, "external", v)
	case errors.Is(err, core.ErrLinkExpired):
		v.External.Expired = true
		a.render(w, r, http.StatusGone, "external", v)
	default:
		a.fail(w, r, err)
	}
	return true
}

// externalCode mails a one-time code to the link's recipient.
func (a *app) externalCode(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := a.baseView(r)
	v.External, v.Title = &externalView{Token: r.PathValue("token")}, a.t(v, "ext_title")
	if !a.limits.ip.Allow("ip:"+clientAddr(r)) || !a.limits.resend.Allow("link:"+r.PathValue("token")) {
		v.Error = a.t(v, "login_throttled")
		a.render(w, r, http.StatusTooManyRequests, "external", v)
		return
	}
	code, rcpt, err := a.svc.ExternalCode(ctx, externalActor(r), r.PathValue("token"))
	if a.externalRefused(w, r, v, err) {
		return
	}
	msg, err := systemMail(a.opts.SystemFrom, rcpt, a.t(v, "ext_code_subject"), a.t(v, "ext_code_body", code), a.opts.Hostname)
	if err == nil {
		err = a.opts.Mailer.SendSystemMail(ctx, rcpt, msg)
	}
	if err != nil {
		a.fail(w, r, fmt.Errorf("web: send link code: %w", err))
		return
	}
	http.Redirect(w, r, "/x/"+r.PathValue("token")+"?sent=1", http.StatusSeeOther)
}

// externalVerify checks the code typed and opens a reading session.
func (a *app) externalVerify(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.PathValue("token")
	v := a.baseView(r)
	v.External, v.Title = &externalView{Token: token, CodeSent: true}, a.t(v, "ext_title")
	session, err := a.svc.VerifyExternal(ctx, externalActor(r), token, r.FormValue("code"))
	if errors.Is(err, core.ErrAuth) {
		v.Error = a.t(v, "ext_wrong_code")
		if st, serr := a.svc.OpenExternal(ctx, externalActor(r), token, ""); serr == nil {
			v.External.Recipient, v.External.Expires, v.External.Failures = st.Recipient, a.longDate(v, st.Expires), st.Failures
		}
		a.render(w, r, http.StatusUnauthorized, "external", v)
		return
	}
	if a.externalRefused(w, r, v, err) {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: externalCookie, Value: session, Path: "/x/" + token, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/x/"+token, http.StatusSeeOther)
}

// externalPart downloads an attachment of the link's message.
func (a *app) externalPart(w http.ResponseWriter, r *http.Request) {
	v := a.baseView(r)
	v.External = &externalView{Token: r.PathValue("token")}
	m, err := a.svc.ReadExternal(r.Context(), externalActor(r), r.PathValue("token"), a.externalSession(r), "download")
	if a.externalRefused(w, r, v, err) {
		return
	}
	p, err := parseMessage(bytes.NewReader(m.Raw))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	i, err := strconv.Atoi(r.PathValue("part"))
	if err != nil || i < 0 || i >= len(p.Parts) || !p.Parts[i].Attachment {
		a.fail(w, r, core.ErrNotFound)
		return
	}
	pt := p.Parts[i]
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", contentDisposition(pt.Name))
	h.Set("Content-Length", strconv.FormatInt(pt.Size, 10))
	io.Copy(w, p.open(pt))
}

// externalReply delivers the reader's answer to the sender's mailbox.
func (a *app) externalReply(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	v := a.baseView(r)
	v.External = &externalView{Token: token}
	err := a.svc.ReplyExternal(r.Context(), externalActor(r), token, a.externalSession(r), r.FormValue("body"))
	if errors.Is(err, core.ErrInvalid) {
		http.Redirect(w, r, "/x/"+token, http.StatusSeeOther)
		return
	}
	if a.externalRefused(w, r, v, err) {
		return
	}
	http.Redirect(w, r, "/x/"+token+"?replied=1", http.StatusSeeOther)
}

// mailLinks sends each external recipient of a submission the link to its
// message: the mail names no one and holds no health data.
func (a *app) mailLinks(ctx context.Context, v *view, links []core.ExternalLink) error {
	for _, l := range links {
		url := a.opts.BaseURL + "/x/" + l.Token
		msg, err := systemMail(a.opts.SystemFrom, l.Recipient, a.t(v, "ext_link_subject"),
			a.t(v, "ext_link_body", url, l.Expires.In(time.Local).Format("02/01/2006")), a.opts.Hostname)
		if err != nil {
			return err
		}
		if err := a.opts.Mailer.SendSystemMail(ctx, l.Recipient, msg); err != nil {
			return fmt.Errorf("web: send secure link: %w", err)
		}
	}
	return nil
}
