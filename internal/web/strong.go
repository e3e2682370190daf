package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/audit"
	"caduceus/internal/auth"
	"caduceus/internal/core"
)

// The strong ways in beside the password and e-mailed code (F1, F2, F4 and
// beyond the guide): a CPx card, Pro Santé Connect, an authenticator app,
// recovery codes and passkeys. A card, PSC or a passkey that verified its
// user log in at once; the others complete a password login as its second
// factor. A card or PSC identity seen for the first time is linked to the
// account the person then signs in to with password and second factor.

// authView is what the login, linking and security pages show of the strong
// ways in.
type authView struct {
	Card, PSC, Passkeys bool // offered on this server
	PasskeyFirst        bool // this browser used a passkey before: offer it first
	TOTP                bool // code page: the account uses an authenticator app
	HasPasskey          bool // code page: the account has a passkey
	Link                *linkView
	Sec                 *securityView
}

// linkView is the guide's linking page: what was presented, not yet linked.
type linkView struct {
	Kind       string // "card" or "psc"
	Holder     string
	NationalID string
	Issuer     string
	Expires    string
}

// linkOffer is kept between the card or PSC step and the end of the login
// that links it, under the link cookie and then the pending session.
type linkOffer struct {
	Kind    string    `json:"kind"`
	Card    auth.Card `json:"card"`
	Subject string    `json:"subject"`
	Name    string    `json:"name"`
}

const (
	linkCookie    = "__Host-caduceus-link"
	pscCookie     = "__Host-caduceus-psc"
	passkeyCookie = "caduceus-passkey"
	flowTTL       = 10 * time.Minute
)

func (a *app) strongView(r *http.Request) *authView {
	av := &authView{Card: a.opts.Cards != nil, PSC: a.opts.PSC != nil, Passkeys: a.passkeys != nil}
	if c, err := r.Cookie(passkeyCookie); err == nil && c.Value == "1" && av.Passkeys {
		av.PasskeyFirst = true
	}
	return av
}

// loginMethod names for the audit trail and the activity list.
const (
	methodCode     = "password+email-code"
	methodTOTP     = "password+totp"
	methodRecovery = "password+recovery-code"
	methodPasskey2 = "password+passkey"
	methodPasskey  = "passkey"
	methodCard     = "card"
	methodPSC      = "psc"
)

// traceAuth writes an authentication event: the method, the result, the
// address and the browser, with a content-free reason.
func (a *app) traceAuth(r *http.Request, who, result, method, reason string) {
	ua := r.UserAgent()
	if len(ua) > 160 {
		ua = ua[:160]
	}
	err := a.svc.Audit().Write(r.Context(), audit.Entry{
		At: time.Now(), Actor: who, Door: "web", Remote: clientAddr(r),
		Action: "login", Target: who, Result: result, Detail: method + " | " + reason + " | " + ua,
	})
	if err != nil {
		a.log.Error("web: audit", "action", "login", "err", err)
	}
}

// finishLogin opens the full session of acct: from the pending session of
// a password login whose second factor just passed, or directly (card, PSC,
// passkey alone). It links what the login was started with, if anything,
// and returns where to go next.
func (a *app) finishLogin(w http.ResponseWriter, r *http.Request, pending *auth.Session, acct core.Account, method, next string) (string, error) {
	ctx := r.Context()
	remote := clientAddr(r)
	var token string
	var s auth.Session
	var err error
	if pending != nil {
		token, s, err = a.sessions.Promote(ctx, *pending, remote)
	} else {
		token, s, err = a.sessions.Create(ctx, strconv.FormatInt(acct.ID, 10), false, remote)
	}
	if err != nil {
		return "", err
	}
	if a.opts.Factors != nil {
		if err := a.opts.Factors.SetSessionDevice(ctx, s.ID, s.Account, r.UserAgent(), method); err != nil {
			return "", err
		}
		if pending != nil {
			var offer linkOffer
			if err := a.opts.Factors.TakeFlow(ctx, "link", pending.ID, &offer); err == nil {
				next = "/account/security?linked=" + a.applyLink(r, acct, offer)
			}
		}
	}
	a.traceAuth(r, acct.Address, "ok", method, "")
	if err := a.sessions.Purge(ctx); err != nil {
		a.log.Error("web: purge sessions", "err", err)
	}
	if a.opts.Factors != nil {
		if err := a.opts.Factors.PurgeDevices(ctx); err != nil {
			a.log.Error("web: purge session devices", "err", err)
		}
	}
	if a.opts.Directory != nil {
		if err := a.publish(ctx, acct); err != nil {
			a.log.Error("web: publish in the directory", "err", err)
		}
	}
	a.setSessionCookie(w, token)
	clearCookie(w, linkCookie)
	if method == methodPasskey || method == methodPasskey2 {
		rememberPasskey(w)
	}
	return next, nil
}

// applyLink links the card or PSC identity of offer to acct and returns the
// outcome for the security page: "card", "psc", "elsewhere" or "other".
func (a *app) applyLink(r *http.Request, acct core.Account, o linkOffer) string {
	ctx := r.Context()
	id := o.Card.NationalID
	if o.Kind == "psc" {
		id = o.Subject
	}
	if acct.NationalID != "" && id != acct.NationalID {
		a.traceAuth(r, acct.Address, "denied", o.Kind+"-link", "national identifier differs from the account's")
		return "other"
	}
	var err error
	if o.Kind == "card" {
		err = a.opts.Factors.LinkCard(ctx, acct.ID, o.Card)
	} else {
		err = a.opts.Factors.LinkPSC(ctx, acct.ID, o.Subject, o.Name)
	}
	switch {
	case errors.Is(err, auth.ErrLinkedElsewhere):
		a.traceAuth(r, acct.Address, "denied", o.Kind+"-link", "linked to another account")
		return "elsewhere"
	case err != nil:
		a.log.Error("web: link", "kind", o.Kind, "err", err)
		return "error"
	}
	a.traceAuth(r, acct.Address, "ok", o.Kind+"-link", "linked")
	return o.Kind
}

// offerLink keeps what was presented and shows the guide's linking page:
// sign in once with password and code, and it is linked.
func (a *app) offerLink(w http.ResponseWriter, r *http.Request, o linkOffer) {
	key := auth.RandomToken()
	if err := a.opts.Factors.PutFlow(r.Context(), "link-offer", key, o, flowTTL); err != nil {
		a.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: linkCookie, Value: key, Path: "/", MaxAge: int(flowTTL.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	v := a.baseView(r)
	v.Title = a.t(v, "link_title")
	v.Next = "/"
	v.Auth = a.strongView(r)
	lv := &linkView{Kind: o.Kind}
	if o.Kind == "card" {
		lv.Holder, lv.NationalID, lv.Issuer, lv.Expires = o.Card.Holder, o.Card.NationalID, o.Card.Issuer, o.Card.NotAfter.Format("02/01/2006")
	} else {
		lv.Holder, lv.NationalID = o.Name, o.Subject
	}
	v.Auth.Link = lv
	a.render(w, r, http.StatusOK, "link", v)
}

// pendingLink moves a link offer of this browser onto the pending session
// of its password login, so that the second factor completes it.
func (a *app) pendingLink(ctx context.Context, r *http.Request, pendingID string) error {
	c, err := r.Cookie(linkCookie)
	if err != nil || a.opts.Factors == nil {
		return nil
	}
	var o linkOffer
	if err := a.opts.Factors.TakeFlow(ctx, "link-offer", c.Value, &o); err != nil {
		return nil
	}
	return a.opts.Factors.PutFlow(ctx, "link", pendingID, o, flowTTL)
}

// refuse shows the login page with a refusal of a strong way in.
func (a *app) refuse(w http.ResponseWriter, r *http.Request, status int, key string) {
	v := a.baseView(r)
	v.Title = a.t(v, "login_title")
	v.Next = "/"
	v.Auth = a.strongView(r)
	v.Error = a.t(v, key)
	a.render(w, r, status, "login", v)
}

// cardLogin is GET /login/card (F1): the browser presented the card's
// certificate during the TLS handshake; a linked card logs its holder in at
// once, the card being the second factor of the PIN.
func (a *app) cardLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if a.opts.Cards == nil || a.opts.Factors == nil {
		a.refuse(w, r, http.StatusNotFound, "card_off")
		return
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		a.traceAuth(r, "", "failed", methodCard, "no certificate presented")
		a.refuse(w, r, http.StatusUnauthorized, "card_none")
		return
	}
	if !a.limits.ip.Allow("ip:" + clientAddr(r)) {
		a.refuse(w, r, http.StatusTooManyRequests, "login_throttled")
		return
	}
	card, err := a.opts.Cards.Verify(ctx, r.TLS.PeerCertificates)
	if err != nil {
		key := "card_untrusted"
		switch {
		case errors.Is(err, auth.ErrCardExpired):
			key = "card_expired"
		case errors.Is(err, auth.ErrCardRevoked):
			key = "card_revoked"
		case errors.Is(err, auth.ErrCardNoID):
			key = "card_noid"
		case errors.Is(err, auth.ErrCardUnchecked):
			key = "card_unchecked"
		}
		a.traceAuth(r, card.NationalID, "denied", methodCard, strings.TrimPrefix(key, "card_"))
		a.refuse(w, r, http.StatusForbidden, key)
		return
	}
	id, err := a.opts.Factors.CardAccount(ctx, card.Fingerprint)
	if errors.Is(err, auth.ErrNotFound) {
		a.traceAuth(r, card.NationalID, "failed", methodCard, "card not linked")
		a.offerLink(w, r, linkOffer{Kind: "card", Card: card})
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.loginAs(w, r, id, methodCard, "/")
}

// loginAs ends a one-step login (card, PSC) for a linked account.
func (a *app) loginAs(w http.ResponseWriter, r *http.Request, id int64, method, next string) {
	actor, err := a.svc.ActorFor(r.Context(), id, "web", clientAddr(r))
	if errors.Is(err, core.ErrDisabled) || errors.Is(err, core.ErrNotFound) {
		a.traceAuth(r, strconv.FormatInt(id, 10), "denied", method, "account disabled")
		a.refuse(w, r, http.StatusForbidden, "login_failed")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	acct, err := a.svc.Account(r.Context(), actor.AccountID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	next, err = a.finishLogin(w, r, nil, acct, method, next)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// pscStart is GET /login/psc (F4): it sends the browser to Pro Santé
// Connect with a fresh state, nonce and PKCE verifier kept for the callback.
func (a *app) pscStart(w http.ResponseWriter, r *http.Request) {
	if a.opts.PSC == nil || a.opts.Factors == nil {
		a.refuse(w, r, http.StatusNotFound, "psc_off")
		return
	}
	flow, u := a.opts.PSC.Begin()
	if err := a.opts.Factors.PutFlow(r.Context(), "psc", flow.State, flow, flowTTL); err != nil {
		a.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: pscCookie, Value: flow.State, Path: "/", MaxAge: int(flowTTL.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// pscCallback is GET /login/psc/callback: the state must be the one this
// browser was given, and is used once; then the code is exchanged.
func (a *app) pscCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if a.opts.PSC == nil || a.opts.Factors == nil {
		a.refuse(w, r, http.StatusNotFound, "psc_off")
		return
	}
	q := r.URL.Query()
	clearCookie(w, pscCookie)
	if q.Get("error") != "" {
		a.traceAuth(r, "", "failed", methodPSC, "provider answered "+q.Get("error"))
		a.refuse(w, r, http.StatusUnauthorized, "psc_cancelled")
		return
	}
	state := q.Get("state")
	c, err := r.Cookie(pscCookie)
	var flow auth.PSCFlow
	if err != nil || c.Value != state || a.opts.Factors.TakeFlow(ctx, "psc", state, &flow) != nil {
		a.traceAuth(r, "", "denied", methodPSC, "state unknown, used or of another browser")
		a.refuse(w, r, http.StatusBadRequest, "psc_state")
		return
	}
	id, err := a.opts.PSC.Finish(ctx, flow, state, q.Get("code"))
	switch {
	case errors.Is(err, auth.ErrPSCLowACR):
		a.traceAuth(r, id.SubjectNameID, "denied", methodPSC, "acr "+id.ACR+" below eidas1")
		a.refuse(w, r, http.StatusForbidden, "psc_low_acr")
		return
	case err != nil:
		a.traceAuth(r, "", "failed", methodPSC, "token or userinfo refused")
		a.log.Warn("web: PSC login failed", "err", err)
		a.refuse(w, r, http.StatusUnauthorized, "psc_failed")
		return
	}
	acct, err := a.opts.Factors.PSCAccount(ctx, id.SubjectNameID)
	if errors.Is(err, auth.ErrNotFound) {
		a.traceAuth(r, id.SubjectNameID, "failed", methodPSC, "identity not linked")
		a.offerLink(w, r, linkOffer{Kind: "psc", Subject: id.SubjectNameID, Name: id.Name()})
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.loginAs(w, r, acct, methodPSC, "/")
}

// checkTOTP is POST /login/totp: the second factor from an authenticator
// app, or one of the recovery codes.
func (a *app) checkTOTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s, ok := a.pending(r)
	if !ok || a.opts.Factors == nil {
		http.Redirect(w, r, "/login?expired=1", http.StatusSeeOther)
		return
	}
	id, _ := strconv.ParseInt(s.Account, 10, 64)
	acct, err := a.svc.Account(ctx, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	next := safeNext(r.FormValue("next"))
	method := methodTOTP
	if !a.limits.ip.Allow("ip:"+clientAddr(r)) || !a.limits.code.Allow("acct:"+s.Account) {
		a.traceAuth(r, acct.Address, "denied", method, "rate limited")
		a.renderCode(w, r, http.StatusTooManyRequests, acct, next, "login_throttled", false)
		return
	}
	if rc := r.FormValue("recovery"); rc != "" {
		method = methodRecovery
		err = a.guardFactor(r, acct, core.MethodRecovery, func(ctx context.Context) error { return a.opts.Factors.UseRecoveryCode(ctx, acct.ID, rc) })
	} else {
		totp := r.FormValue("totp")
		err = a.guardFactor(r, acct, core.MethodTOTP, func(ctx context.Context) error { return a.opts.Factors.CheckTOTP(ctx, acct.ID, totp) })
	}
	a.factorChecked(w, r, &s, acct, method, next, err, "totp_failed", false)
}

// renderCode shows the second-factor page of a pending login.
// With email, the e-mailed code's form is shown even to an account with an
// authenticator app (it asked for a code by e-mail).
func (a *app) renderCode(w http.ResponseWriter, r *http.Request, status int, acct core.Account, next, errKey string, email bool) {
	v := a.baseView(r)
	v.Title = a.t(v, "code_title")
	v.Next = next
	v.Auth = a.strongView(r)
	if a.opts.Factors != nil {
		v.Auth.TOTP, _ = a.opts.Factors.HasTOTP(r.Context(), acct.ID)
	}
	if a.passkeys != nil {
		v.Auth.HasPasskey, _ = a.passkeys.Has(r.Context(), acct.ID)
	}
	if errKey != "" {
		v.Error = a.t(v, errKey)
	}
	if r.URL.Query().Get("resent") != "" {
		v.Flash = a.t(v, "code_resent")
	}
	if email {
		v.Auth.TOTP = false
	}
	a.render(w, r, status, "code", v)
}

// passkeyBegin is POST /login/passkey/begin: the options for
// navigator.credentials.get, for the pending login's account (second
// factor) or for any passkey of this site (passkey alone).
func (a *app) passkeyBegin(w http.ResponseWriter, r *http.Request) {
	if a.passkeys == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "off"})
		return
	}
	if !a.limits.ip.Allow("ip:" + clientAddr(r)) {
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": a.t(a.baseView(r), "login_throttled")})
		return
	}
	var id int64
	if s, ok := a.pending(r); ok {
		id, _ = strconv.ParseInt(s.Account, 10, 64)
	}
	opts, key, err := a.passkeys.BeginLogin(r.Context(), id)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": a.t(a.baseView(r), "passkey_failed")})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"options": opts, "flow": key})
}

// passkeyFinish is POST /login/passkey/finish?flow=…: the assertion.
func (a *app) passkeyFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if a.passkeys == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "off"})
		return
	}
	v := a.baseView(r)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var pending *auth.Session
	var want int64
	method := methodPasskey
	if s, ok := a.pending(r); ok {
		pending, method = &s, methodPasskey2
		want, _ = strconv.ParseInt(s.Account, 10, 64)
	}
	id, err := a.passkeys.FinishLogin(ctx, r.URL.Query().Get("flow"), want, r)
	if err != nil {
		a.traceAuth(r, "", "failed", method, "assertion refused")
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": a.t(v, "passkey_failed")})
		return
	}
	acct, err := a.svc.Account(ctx, id)
	if err == nil && acct.Disabled {
		err = core.ErrDisabled
	}
	if err != nil {
		a.traceAuth(r, strconv.FormatInt(id, 10), "denied", method, "account disabled")
		writeJSON(w, http.StatusForbidden, map[string]string{"error": a.t(v, "login_failed")})
		return
	}
	next, err := a.finishLogin(w, r, pending, acct, method, safeNext(r.URL.Query().Get("next")))
	if err != nil {
		a.log.Error("web: passkey login", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": a.t(v, "server_error")})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"next": next})
}

func rememberPasskey(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: passkeyCookie, Value: "1", Path: "/", MaxAge: 400 * 24 * 3600,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}
