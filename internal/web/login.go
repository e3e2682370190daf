package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/audit"
	"caduceus/internal/auth"
	"caduceus/internal/core"
)

// user is the logged-in person of a request.
type user struct {
	token   string
	session auth.Session
	actor   core.Actor
	account core.Account
}

type userKey struct{}

// currentUser returns the person a.authed put in the request context.
func currentUser(r *http.Request) *user {
	u, _ := r.Context().Value(userKey{}).(*user)
	return u
}

// authed lets through requests with a live, fully logged-in session and
// sends the others to the login page, remembering where they were going.
func (a *app) authed(h func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := a.cookieToken(r)
		s, err := a.sessions.Get(r.Context(), token)
		if err == nil && !s.Pending {
			id, _ := strconv.ParseInt(s.Account, 10, 64)
			actor, aerr := a.svc.ActorFor(r.Context(), id, "web", clientAddr(r))
			if aerr == nil {
				acct, aerr := a.svc.Account(r.Context(), id)
				if aerr == nil {
					if a.passwordChangeDue(w, r, id) {
						return
					}
					u := &user{token: token, session: s, actor: actor, account: acct}
					h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
					return
				}
			}
			err = aerr
		}

		if err != nil && !errors.Is(err, auth.ErrSessionExpired) && !errors.Is(err, core.ErrDisabled) && !errors.Is(err, core.ErrNotFound) {
			a.fail(w, r, err)
			return
		}
		if r.Header.Get("X-Partial") != "" || r.Method != http.MethodGet || strings.HasPrefix(r.URL.Path, "/api/") {
			http.Error(w, "session expired", http.StatusUnauthorized)
			return
		}
		target := "/login"
		if r.URL.Path != "/" {
			target += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		if token != "" {
			target += sep(target) + "expired=1"
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// passwordChangeDue keeps a person whose password a manager reset on the
// security page, where they choose a new one, and answers for every other
// page: true when it did.
func (a *app) passwordChangeDue(w http.ResponseWriter, r *http.Request, accountID int64) bool {
	if r.URL.Path == "/account/security" || strings.HasPrefix(r.URL.Path, "/account/security/") {
		return false
	}
	due, err := a.svc.PasswordChangeDue(r.Context(), accountID)
	switch {
	case err != nil:
		a.fail(w, r, err)
	case !due:
		return false
	case r.Header.Get("X-Partial") != "" || r.Method != http.MethodGet || strings.HasPrefix(r.URL.Path, "/api/"):
		http.Error(w, "password change required", http.StatusForbidden)
	default:
		http.Redirect(w, r, "/account/security#pw-h", http.StatusSeeOther)
	}
	return true
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}

// cookieName is __Host- prefixed so that the cookie is bound to this exact
// origin over HTTPS, with no Domain and Path /.
const cookieName = "__Host-caduceus"

func (a *app) cookieToken(r *http.Request) string {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

func (a *app) setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: token, Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func (a *app) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// safeNext keeps only local paths as a place to go after login, so that
// the login page cannot be used to send people elsewhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func (a *app) loginPage(w http.ResponseWriter, r *http.Request) {
	v := a.baseView(r)
	v.Title = a.t(v, "login_title")
	v.Next = safeNext(r.URL.Query().Get("next"))
	v.Auth = a.strongView(r)
	if r.URL.Query().Get("expired") != "" {
		v.Error = a.t(v, "session_expired")
	}
	a.render(w, r, http.StatusOK, "login", v)
}

// login checks the password, then opens a pending session and e-mails a
// code. Every failure shows the same words, whether the account exists or
// not (F3).
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := a.baseView(r)
	v.Title = a.t(v, "login_title")
	v.Email = strings.TrimSpace(r.FormValue("email"))
	v.Next = safeNext(r.FormValue("next"))
	email := strings.ToLower(v.Email)
	remote := clientAddr(r)
	if !a.limits.ip.Allow("ip:"+remote) || !a.limits.password.Allow("acct:"+email) {
		a.trace(ctx, email, remote, "login", "denied", "rate limited")
		v.Error = a.t(v, "login_throttled")
		a.render(w, r, http.StatusTooManyRequests, "login", v)
		return
	}
	actor, err := a.svc.Login(ctx, "web", remote, email, r.FormValue("password"))
	if err != nil {
		if !errors.Is(err, core.ErrAuth) && !errors.Is(err, core.ErrDisabled) {
			a.fail(w, r, err)
			return
		}
		v.Error = a.t(v, "login_failed")
		a.render(w, r, http.StatusUnauthorized, "login", v)
		return
	}
	acct, err := a.svc.Account(ctx, actor.AccountID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	token, s, err := a.sessions.Create(ctx, strconv.FormatInt(acct.ID, 10), true, remote)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.pendingLink(ctx, r, s.ID); err != nil {
		a.fail(w, r, err)
		return
	}
	// With an authenticator app the code comes from it; the e-mailed one
	// stays one click away on the code page.
	var app bool
	if a.opts.Factors != nil {
		if app, err = a.opts.Factors.HasTOTP(ctx, acct.ID); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if !app {
		if err := a.sendCode(ctx, v.Lang, acct, s.ID); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	a.setSessionCookie(w, token)
	http.Redirect(w, r, "/login/code?next="+url.QueryEscape(v.Next), http.StatusSeeOther)
}

// sendCode issues a code for a pending session and mails it to the
// account's notification address. The mail holds the code and nothing else.
func (a *app) sendCode(ctx context.Context, lang string, acct core.Account, key string) error {
	code, err := a.codes.Issue(ctx, key)
	if err != nil {
		return err
	}
	to := acct.NotifyEmail
	if to == "" {
		to = acct.Address
	}
	msg, err := systemMail(a.opts.SystemFrom, to, a.views.texts.text(lang, "code_mail_subject"),
		a.views.texts.text(lang, "code_mail_body", code), a.opts.Hostname)
	if err != nil {
		return err
	}
	if err := a.opts.Mailer.SendSystemMail(ctx, to, msg); err != nil {
		return fmt.Errorf("web: send login code: %w", err)
	}
	return nil
}

// pending returns the pending session of the request, if any.
func (a *app) pending(r *http.Request) (auth.Session, bool) {
	s, err := a.sessions.Get(r.Context(), a.cookieToken(r))
	return s, err == nil && s.Pending
}

func (a *app) codePage(w http.ResponseWriter, r *http.Request) {
	s, ok := a.pending(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	id, _ := strconv.ParseInt(s.Account, 10, 64)
	acct, err := a.svc.Account(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.renderCode(w, r, http.StatusOK, acct, safeNext(r.URL.Query().Get("next")), "", r.URL.Query().Get("email") != "" || r.URL.Query().Get("resent") != "")
}

func (a *app) checkCode(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s, ok := a.pending(r)
	if !ok {
		http.Redirect(w, r, "/login?expired=1", http.StatusSeeOther)
		return
	}
	next := safeNext(r.FormValue("next"))
	remote := clientAddr(r)
	id, _ := strconv.ParseInt(s.Account, 10, 64)
	acct, err := a.svc.Account(ctx, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !a.limits.ip.Allow("ip:"+remote) || !a.limits.code.Allow("acct:"+s.Account) {
		a.traceAuth(r, acct.Address, "denied", methodCode, "code rate limited")
		a.renderCode(w, r, http.StatusTooManyRequests, acct, next, "login_throttled", true)
		return
	}
	code := strings.TrimSpace(r.FormValue("code"))
	err = a.guardFactor(r, acct, core.MethodCode, func(ctx context.Context) error { return a.codes.Check(ctx, s.ID, code) })
	a.factorChecked(w, r, &s, acct, methodCode, next, err, "code_failed", true)
}

// guardFactor runs the check of a second factor through the core's guard,
// which counts a wrong one against the account and the address for every
// door (delays, lockout, the owner told) and traces it. It returns
// core.ErrAuth for a wrong or spent code and core.ErrTooManyAttempts while
// the guard refuses tries.
func (a *app) guardFactor(r *http.Request, acct core.Account, method core.Method, check func(context.Context) error) error {
	_, err := a.svc.GuardedCheck(r.Context(), "web", clientAddr(r), r.UserAgent(), acct.Address, method, func(ctx context.Context) (int64, error) {
		err := check(ctx)
		if errors.Is(err, auth.ErrCodeWrong) || errors.Is(err, auth.ErrCodeExpired) || errors.Is(err, auth.ErrTOTPWrong) {
			return 0, core.ErrAuth
		}
		return acct.ID, err
	})
	return err
}

// factorChecked ends a second-factor step whose guarded check returned err:
// a wrong code shows the form again with failKey, a try the guard refused
// says to wait; another error fails the request; success finishes the login.
// Logins are rare enough to clear out dead sessions as they happen, and an
// account made or renamed since the app started reaches the directory at
// its first login: finishLogin does both.
func (a *app) factorChecked(w http.ResponseWriter, r *http.Request, s *auth.Session, acct core.Account, method, next string, err error, failKey string, email bool) {
	switch {
	case errors.Is(err, core.ErrTooManyAttempts):
		a.renderCode(w, r, http.StatusTooManyRequests, acct, next, "login_throttled", email)
		return
	case errors.Is(err, core.ErrAuth):
		a.renderCode(w, r, http.StatusUnauthorized, acct, next, failKey, email)
		return
	case err != nil:
		a.fail(w, r, err)
		return
	}
	next, err = a.finishLogin(w, r, s, acct, method, next)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *app) resendCode(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s, ok := a.pending(r)
	if !ok {
		http.Redirect(w, r, "/login?expired=1", http.StatusSeeOther)
		return
	}
	v := a.baseView(r)
	v.Title = a.t(v, "code_title")
	v.Next = safeNext(r.FormValue("next"))
	id, _ := strconv.ParseInt(s.Account, 10, 64)
	acct, err := a.svc.Account(ctx, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !a.limits.resend.Allow("acct:" + s.Account) {
		v.Error = a.t(v, "code_too_soon")
		a.render(w, r, http.StatusTooManyRequests, "code", v)
		return
	}
	err = a.sendCode(ctx, v.Lang, acct, s.ID)
	if errors.Is(err, auth.ErrCodeTooSoon) {
		v.Error = a.t(v, "code_too_soon")
		a.render(w, r, http.StatusTooManyRequests, "code", v)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login/code?resent=1&next="+url.QueryEscape(v.Next), http.StatusSeeOther)
}

// logout ends the session, or every session of the account when asked.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := a.cookieToken(r)
	if s, err := a.sessions.Get(ctx, token); err == nil {
		id, _ := strconv.ParseInt(s.Account, 10, 64)
		who := s.Account
		if acct, err := a.svc.Account(ctx, id); err == nil {
			who = acct.Address
		}
		var err error
		if r.FormValue("everywhere") != "" && !s.Pending {
			err = a.sessions.Store.DeleteAccountSessions(ctx, s.Account)
		} else {
			err = a.sessions.Delete(ctx, token)
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.trace(ctx, who, clientAddr(r), "logout", "ok", "")
	}
	a.clearSessionCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// setLang remembers the interface language in a cookie.
func (a *app) setLang(w http.ResponseWriter, r *http.Request) {
	lang := r.FormValue("lang")
	for _, l := range languages {
		if l == lang {
			http.SetCookie(w, &http.Cookie{Name: "lang", Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
				Secure: true, SameSite: http.SameSiteLaxMode})
		}
	}
	next := r.FormValue("next")
	if next != "/login" {
		next = safeNext(next)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// trace writes a login or logout entry in the audit trail; the trail keeps
// no content, only who, how and the result.
func (a *app) trace(ctx context.Context, who, remote, action, result, detail string) {
	err := a.svc.Audit().Write(ctx, audit.Entry{
		At: time.Now(), Actor: who, Door: "web", Remote: remote,
		Action: action, Target: who, Result: result, Detail: detail,
	})
	if err != nil {
		a.log.Error("web: audit", "action", action, "err", err)
	}
}

// clientAddr is the client's IP address, without the port.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// baseView starts the view of any page.
func (a *app) baseView(r *http.Request) *view {
	return &view{Lang: requestLang(r), Path: r.URL.Path, HasDirectory: a.opts.Directory != nil}
}
