package web

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"

	"caduceus/internal/audit"
	"caduceus/internal/auth"
	"caduceus/internal/core"
)

// securityView is "Gestion de votre compte" (F10): the notification
// address, the password, the cards and PSC identities linked, the second
// factors, the open sessions and the recent sign-ins.
type securityView struct {
	Notify, PendingNotify string
	MinLength             int
	Cards                 []secItem
	PSC                   []secItem
	Passkeys              []secItem
	TOTP                  bool
	TOTPSetup             *totpSetup
	RecoveryLeft          int
	RecoveryCodes         []string // shown once, right after they are made
	Sessions              []sessionRow
	Activity              []activityRow
}

type secItem struct {
	ID                    int64
	Title, Detail, Linked string
	LastUsed              string
}

type totpSetup struct {
	Secret string
	QR     template.URL
}

type sessionRow struct {
	ID, Device, Place, LastUse, Since, Method string
	Current                                   bool
}

type activityRow struct {
	When, Method, Door, Place, Device, Result string
	OK                                        bool
}

const dateTime = "02/01/2006 15:04"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format(dateTime)
}

// securityPage is GET /account/security.
func (a *app) securityPage(w http.ResponseWriter, r *http.Request) {
	v, err := a.securityView(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	switch {
	case q.Get("saved") != "":
		v.Flash = a.t(v, "sec_saved_"+q.Get("saved"))
	case q.Get("linked") != "":
		k := q.Get("linked")
		if k == "card" || k == "psc" {
			v.Flash = a.t(v, "sec_linked_"+k)
		} else {
			v.Error = a.t(v, "sec_link_"+k)
		}
	case q.Get("error") != "":
		v.Error = a.t(v, "sec_error_"+q.Get("error"))
	}
	if due, err := a.svc.PasswordChangeDue(r.Context(), currentUser(r).account.ID); err != nil {
		a.fail(w, r, err)
		return
	} else if due && v.Error == "" {
		v.Error = a.t(v, "sec_must_change")
	}
	a.render(w, r, http.StatusOK, "security", v)
}

func (a *app) securityView(r *http.Request) (*view, error) {
	ctx := r.Context()
	u := currentUser(r)
	v := a.baseView(r)
	v.Title = a.t(v, "sec_title")
	v.Me = meOf(u.account)
	v.Auth = a.strongView(r)
	sv := &securityView{Notify: u.account.NotifyEmail, MinLength: auth.MinPasswordLength}
	if sv.Notify == "" {
		sv.Notify = u.account.Address
	}
	v.Auth.Sec = sv
	boxes, err := a.svc.Mailboxes(ctx, u.actor)
	if err != nil {
		return nil, err
	}
	for _, b := range boxes {
		v.Boxes = append(v.Boxes, boxOf(b.Mailbox, u.account.ID))
	}
	f := a.opts.Factors
	if f == nil {
		return v, nil
	}
	var pending string
	if f.PeekFlow(ctx, "notify", u.session.ID, &pending) == nil {
		sv.PendingNotify = pending
	}
	cards, err := f.Cards(ctx, u.account.ID)
	if err != nil {
		return nil, err
	}
	for _, c := range cards {
		sv.Cards = append(sv.Cards, secItem{ID: c.ID, Title: c.Holder + " · " + c.NationalID,
			Detail: a.t(v, "sec_card_detail", c.Issuer, c.Serial, c.NotAfter.Local().Format("02/01/2006"), c.Fingerprint[:16]),
			Linked: fmtTime(c.Linked), LastUsed: fmtTime(c.LastUsed)})
	}
	links, err := f.PSCLinks(ctx, u.account.ID)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		sv.PSC = append(sv.PSC, secItem{ID: l.ID, Title: l.Name, Detail: l.Subject, Linked: fmtTime(l.Linked), LastUsed: fmtTime(l.LastUsed)})
	}
	if a.passkeys != nil {
		keys, err := a.passkeys.List(ctx, u.account.ID)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			sv.Passkeys = append(sv.Passkeys, secItem{ID: k.ID, Title: k.Name, Linked: fmtTime(k.Created), LastUsed: fmtTime(k.LastUsed)})
		}
	}
	if sv.TOTP, err = f.HasTOTP(ctx, u.account.ID); err != nil {
		return nil, err
	}
	if sv.RecoveryLeft, err = f.RecoveryCodesLeft(ctx, u.account.ID); err != nil {
		return nil, err
	}
	sessions, err := f.Sessions(ctx, u.session.Account)
	if err != nil {
		return nil, err
	}
	for _, s := range sessions {
		sv.Sessions = append(sv.Sessions, sessionRow{ID: s.ID, Device: a.device(v, s.UserAgent), Place: s.Remote,
			LastUse: fmtTime(s.Seen), Since: fmtTime(s.Created), Method: a.methodLabel(v, s.Method), Current: s.ID == u.session.ID})
	}
	entries, err := a.svc.Audit().List(ctx, audit.Query{Actor: u.account.Address, Action: "login", Limit: 20})
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		method, ua := loginDetail(e.Detail)
		row := activityRow{When: fmtTime(e.At), Method: a.methodLabel(v, method), Door: e.Door, Place: e.Remote,
			Device: a.device(v, ua), OK: e.Result == "ok"}
		row.Result = a.t(v, "sec_result_"+e.Result)
		sv.Activity = append(sv.Activity, row)
	}
	return v, nil
}

// loginDetail reads the method and the user agent of a login's trail entry:
// the web app writes "method | reason | user agent", the core (every other
// door, and the web's second factors) `method=M ua="…"`.
func loginDetail(detail string) (method, ua string) {
	if rest, ok := strings.CutPrefix(detail, "method="); ok {
		method, rest, _ = strings.Cut(rest, " ")
		if _, q, ok := strings.Cut(rest, "ua="); ok {
			if quoted, err := strconv.QuotedPrefix(q); err == nil {
				ua, _ = strconv.Unquote(quoted)
			}
		}
		return method, ua
	}
	if parts := strings.SplitN(detail, " | ", 3); len(parts) == 3 {
		return parts[0], parts[2]
	}
	return detail, ""
}

// methodLabel names a login method for people; an unknown one (another
// door's) shows as written.
func (a *app) methodLabel(v *view, method string) string {
	if method == "" {
		return "—"
	}
	key := "method_" + method
	if s := a.t(v, key); s != key {
		return s
	}
	return method
}

// device names a browser and system from a User-Agent, roughly: enough to
// recognise one's own computer or phone in the list.
func (a *app) device(v *view, ua string) string {
	if ua == "" {
		return "—"
	}
	browser := "?"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
		{"Thunderbird/", "Thunderbird"}, {"curl/", "curl"}, {"Go-http-client", "Go"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, s := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	if system == "" {
		return browser
	}
	return a.t(v, "device_on", browser, system)
}

// securityAction is POST /account/security/{action}.
func (a *app) securityAction(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	ctx := r.Context()
	f := a.opts.Factors
	action := r.PathValue("action")
	if f == nil && action != "password" {
		http.NotFound(w, r)
		return
	}
	back := func(q string) { http.Redirect(w, r, "/account/security?"+q, http.StatusSeeOther) }
	switch action {
	case "password":
		a.changePassword(w, r)
	case "notify":
		addr, err := core.NormalizeAddress(r.FormValue("notify"))
		if err != nil {
			back("error=notify_invalid")
			return
		}
		if !a.limits.resend.Allow("notify:" + u.session.Account) {
			back("error=notify_too_soon")
			return
		}
		code, err := a.codes.Issue(ctx, "notify:"+u.session.ID)
		if errors.Is(err, auth.ErrCodeTooSoon) {
			back("error=notify_too_soon")
			return
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if err := f.PutFlow(ctx, "notify", u.session.ID, addr, flowTTL); err != nil {
			a.fail(w, r, err)
			return
		}
		v := a.baseView(r)
		msg, err := systemMail(a.opts.SystemFrom, addr, a.t(v, "notify_mail_subject"), a.t(v, "notify_mail_body", code), a.opts.Hostname)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if err := a.opts.Mailer.SendSystemMail(ctx, addr, msg); err != nil {
			a.fail(w, r, fmt.Errorf("web: send confirmation code: %w", err))
			return
		}
		back("saved=notify_sent")
	case "notify-confirm":
		var addr string
		if f.PeekFlow(ctx, "notify", u.session.ID, &addr) != nil {
			back("error=notify_expired")
			return
		}
		err := a.codes.Check(ctx, "notify:"+u.session.ID, strings.TrimSpace(r.FormValue("code")))
		if errors.Is(err, auth.ErrCodeWrong) {
			back("error=notify_code")
			return
		}
		if errors.Is(err, auth.ErrCodeExpired) {
			f.TakeFlow(ctx, "notify", u.session.ID, &addr)
			back("error=notify_expired")
			return
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if err := f.TakeFlow(ctx, "notify", u.session.ID, &addr); err != nil {
			back("error=notify_expired")
			return
		}
		if err := a.svc.UpdateProfile(ctx, u.actor, u.account.Address, "", addr, ""); err != nil {
			a.fail(w, r, err)
			return
		}
		back("saved=notify")
	case "totp-begin":
		en, err := f.BeginTOTP(ctx, u.account.ID, "Caduceus", u.account.Address)
		if err != nil {
			back("error=totp_on")
			return
		}
		v, err := a.securityView(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		v.Auth.Sec.TOTPSetup = &totpSetup{Secret: en.Secret, QR: qrData(en.URI)}
		a.render(w, r, http.StatusOK, "security", v)
	case "totp-confirm":
		if err := f.ConfirmTOTP(ctx, u.account.ID, r.FormValue("totp")); err != nil {
			back("error=totp_code")
			return
		}
		a.traceAuth(r, u.account.Address, "ok", "totp-enrol", "authenticator app turned on")
		a.showRecovery(w, r, "totp")
	case "totp-remove":
		if err := f.RemoveTOTP(ctx, u.account.ID); err != nil {
			a.fail(w, r, err)
			return
		}
		a.traceAuth(r, u.account.Address, "ok", "totp-remove", "authenticator app turned off")
		back("saved=totp_off")
	case "recovery":
		a.showRecovery(w, r, "recovery")
	case "passkey-begin":
		if a.passkeys == nil {
			http.NotFound(w, r)
			return
		}
		opts, key, err := a.passkeys.BeginRegistration(ctx, u.account.ID, u.account.Address, u.account.Name)
		if err != nil {
			a.log.Error("web: passkey registration", "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": a.t(a.baseView(r), "server_error")})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"options": opts, "flow": key})
	case "passkey-finish":
		if a.passkeys == nil {
			http.NotFound(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		name := strings.TrimSpace(r.URL.Query().Get("name"))
		if len(name) > 80 {
			name = name[:80]
		}
		err := a.passkeys.FinishRegistration(ctx, u.account.ID, u.account.Address, u.account.Name, r.URL.Query().Get("flow"), name, r)
		if err != nil {
			a.traceAuth(r, u.account.Address, "failed", "passkey-enrol", "registration refused")
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": a.t(a.baseView(r), "passkey_failed")})
			return
		}
		a.traceAuth(r, u.account.Address, "ok", "passkey-enrol", "passkey added")
		rememberPasskey(w)
		writeJSON(w, http.StatusOK, map[string]string{"next": "/account/security?saved=passkey"})
	default:
		http.NotFound(w, r)
	}
}

// showRecovery makes ten new recovery codes and shows them, once.
func (a *app) showRecovery(w http.ResponseWriter, r *http.Request, saved string) {
	u := currentUser(r)
	codes, err := a.opts.Factors.NewRecoveryCodes(r.Context(), u.account.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.securityView(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v.Auth.Sec.RecoveryCodes = codes
	v.Flash = a.t(v, "sec_saved_"+saved)
	a.render(w, r, http.StatusOK, "security", v)
}

// changePassword needs the current password, refuses short and common
// ones, and ends the account's other sessions once changed.
func (a *app) changePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	back := func(q string) { http.Redirect(w, r, "/account/security?"+q, http.StatusSeeOther) }
	pw := r.FormValue("new")
	if pw != r.FormValue("confirm") {
		back("error=password_mismatch")
		return
	}
	switch err := auth.CheckPassword(pw, u.account.Address); {
	case errors.Is(err, auth.ErrPasswordShort):
		back("error=password_short")
		return
	case errors.Is(err, auth.ErrPasswordCommon):
		back("error=password_common")
		return
	case errors.Is(err, auth.ErrPasswordPerson):
		back("error=password_person")
		return
	}
	err := a.svc.ChangePassword(ctx, u.actor, r.FormValue("current"), pw)
	switch {
	case errors.Is(err, core.ErrAuth):
		back("error=password_current")
		return
	case errors.Is(err, core.ErrTooManyAttempts):
		back("error=password_throttled")
		return
	case err != nil:
		a.fail(w, r, err)
		return
	}
	if f := a.opts.Factors; f != nil {
		sessions, err := f.Sessions(ctx, u.session.Account)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, s := range sessions {
			if s.ID != u.session.ID {
				if err := f.EndSession(ctx, u.session.Account, s.ID); err != nil && !errors.Is(err, auth.ErrNotFound) {
					a.fail(w, r, err)
					return
				}
			}
		}
	}
	back("saved=password")
}

// securityItem is POST /account/security/{kind}/{id}/remove: unlink a card
// or a PSC identity, remove a passkey, end a session.
func (a *app) securityItem(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	f := a.opts.Factors
	if f == nil || r.PathValue("action") != "remove" {
		http.NotFound(w, r)
		return
	}
	kind, raw := r.PathValue("kind"), r.PathValue("id")
	id, _ := strconv.ParseInt(raw, 10, 64)
	var err error
	switch kind {
	case "card":
		err = f.UnlinkCard(ctx, u.account.ID, id)
	case "psc":
		err = f.UnlinkPSC(ctx, u.account.ID, id)
	case "passkey":
		if a.passkeys == nil {
			http.NotFound(w, r)
			return
		}
		err = a.passkeys.Remove(ctx, u.account.ID, id)
	case "session":
		err = f.EndSession(ctx, u.session.Account, raw)
	default:
		http.NotFound(w, r)
		return
	}
	if errors.Is(err, auth.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.traceAuth(r, u.account.Address, "ok", kind+"-remove", "removed by its owner")
	if kind == "session" && raw == u.session.ID {
		a.clearSessionCookie(w)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account/security?saved="+kind+"_removed", http.StatusSeeOther)
}

// qrData is the otpauth:// URI as a QR code, in a data: URL.
func qrData(uri string) template.URL {
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return ""
	}
	img, err := key.Image(220, 220)
	if err != nil {
		return ""
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return ""
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()))
}
