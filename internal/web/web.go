package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"caduceus/internal/auth"
	"caduceus/internal/autoconfig"
	"caduceus/internal/core"
	"caduceus/internal/directory"
)

// Mailer sends a system message, such as a login code, to one address.
// msg is a complete RFC 5322 message.
type Mailer interface {
	SendSystemMail(ctx context.Context, to string, msg []byte) error
}

// AuthStore keeps login codes and web sessions: *auth.SQLStore over the
// node's store, shared by every node, or *auth.MemoryStore for one process.
type AuthStore interface {
	auth.CodeStore
	auth.SessionStore
}

// Options configure the web app. Mailer and Auth are required.
type Options struct {
	// Hostname names the server in system mail; the core's when empty.
	Hostname string
	// BaseURL is the public URL of the app; https://Hostname when empty.
	BaseURL string
	// Logger receives operational logs, never message content.
	Logger *slog.Logger
	// Mailer sends login codes.
	Mailer Mailer
	// Auth keeps login codes and sessions.
	Auth AuthStore
	// SystemFrom is the From of login-code mail; noreply@Hostname when empty.
	SystemFrom string
	// IdleTimeout and SessionLifetime bound sessions; 30 minutes and 12
	// hours when zero.
	IdleTimeout     time.Duration
	SessionLifetime time.Duration
	// CodePepper is mixed into stored code hashes; it must be the same on
	// every node. A random one is drawn when empty (one node only).
	CodePepper []byte
	// DevOutboxDir, when set, shows its *.eml files at /dev/outbox.
	DevOutboxDir string
	// Directory, when set, gives the "Annuaires" page, its JSON API under
	// /api/directory/, the directory in the compose picker and suggestions,
	// and the directory section of the account page. Accounts and
	// organisational mailboxes are published in it at New.
	Directory *directory.Directory
	// Factors, when set, keeps the strong ways in (authenticator apps,
	// recovery codes, linked cards and PSC identities, passkeys, the devices
	// of sessions) and turns on the pages that use them.
	Factors *auth.Factors
	// Cards, when set with Factors, logs in with a CPx card presented to the
	// HTTPS listener (GET /login/card).
	Cards *auth.CardVerifier
	// PSC, when set with Factors, logs in with Pro Santé Connect
	// (GET /login/psc and its callback).
	PSC *auth.PSC
	// MailSettings are the IMAP and SMTP settings a device enrolled on
	// "Appareils mobiles" is given (its QR code holds them).
	MailSettings func() autoconfig.Settings
}

// app is the web door: its handlers and what they share.
type app struct {
	svc       *core.Service
	opts      Options
	log       *slog.Logger
	views     *views
	sanitizer *Sanitizer
	sessions  *auth.Sessions
	codes     *auth.Codes
	limits    limits
	static    *staticFiles
	passkeys  *auth.Passkeys // nil without Options.Factors
}

// limits are the rate limiters of the login doors, each used per account
// and per client address.
type limits struct {
	password *auth.Limiter
	code     *auth.Limiter
	resend   *auth.Limiter
	ip       *auth.Limiter
}

// New returns the web app over svc, ready to mount at the root of the
// HTTPS listener. Everything it keeps goes through svc (signatures,
// profiles) or opts.Auth (codes, sessions); it never reaches the store.
func New(svc *core.Service, opts Options) (http.Handler, error) {
	ctx := context.Background()
	if opts.Mailer == nil {
		return nil, errors.New("web: Options.Mailer is required")
	}
	if opts.Auth == nil {
		return nil, errors.New("web: Options.Auth is required")
	}
	if opts.Hostname == "" {
		opts.Hostname = svc.Hostname()
	}
	if opts.BaseURL == "" {
		opts.BaseURL = "https://" + opts.Hostname
	}
	opts.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
	if opts.SystemFrom == "" {
		opts.SystemFrom = "noreply@" + opts.Hostname
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(opts.CodePepper) == 0 {
		opts.CodePepper = randomBytes(32)
	}
	static, err := loadStatic()
	if err != nil {
		return nil, err
	}
	v, err := loadViews(static)
	if err != nil {
		return nil, err
	}
	a := &app{
		svc:       svc,
		opts:      opts,
		log:       opts.Logger,
		views:     v,
		sanitizer: NewSanitizer(),
		sessions:  &auth.Sessions{Store: opts.Auth, Idle: opts.IdleTimeout, Absolute: opts.SessionLifetime},
		codes:     &auth.Codes{Store: opts.Auth, Pepper: opts.CodePepper},
		limits: limits{
			password: auth.NewLimiter(5, time.Minute),
			code:     auth.NewLimiter(5, time.Minute),
			resend:   auth.NewLimiter(3, 5*time.Minute),
			ip:       auth.NewLimiter(30, 10*time.Second),
		},
		static: static,
	}
	if opts.Factors != nil {
		u, err := url.Parse(opts.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("web: base URL: %w", err)
		}
		// WebAuthn needs a domain name: a node reached by IP address has no
		// passkeys.
		if net.ParseIP(u.Hostname()) == nil {
			if a.passkeys, err = auth.NewPasskeys(opts.Factors, u.Hostname(), opts.BaseURL); err != nil {
				return nil, err
			}
		} else {
			opts.Logger.Warn("web: passkeys off: the base URL names an IP address, not a domain", "base_url", opts.BaseURL)
		}
	}
	if opts.Directory != nil {
		if err := a.syncDirectory(ctx); err != nil {
			return nil, err
		}
	}
	return a.routes(), nil
}

// routes maps every URL of the app. Pages that need a login go through
// a.authed; every response gets the security headers, and unsafe requests
// from another origin are refused (CSRF).
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/", a.serveStatic)
	mux.HandleFunc("GET /manifest.webmanifest", a.serveManifest)
	mux.HandleFunc("GET /sw.js", a.serveServiceWorker)
	mux.HandleFunc("GET /icons/{size}", a.serveIcon)

	mux.HandleFunc("GET /login", a.loginPage)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET /login/code", a.codePage)
	mux.HandleFunc("POST /login/code", a.checkCode)
	mux.HandleFunc("POST /login/resend", a.resendCode)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /login/card", a.cardLogin)
	mux.HandleFunc("GET /login/psc", a.pscStart)
	mux.HandleFunc("GET /login/psc/callback", a.pscCallback)
	mux.HandleFunc("POST /login/totp", a.checkTOTP)
	mux.HandleFunc("POST /login/passkey/begin", a.passkeyBegin)
	mux.HandleFunc("POST /login/passkey/finish", a.passkeyFinish)
	mux.Handle("GET /account/security", a.authed(a.securityPage))
	mux.Handle("POST /account/security/{action}", a.authed(a.securityAction))
	mux.Handle("POST /account/security/{kind}/{id}/{action}", a.authed(a.securityItem))
	mux.HandleFunc("POST /lang", a.setLang)
	mux.HandleFunc("GET /x/{token}", a.externalPage)
	mux.HandleFunc("POST /x/{token}/code", a.externalCode)
	mux.HandleFunc("POST /x/{token}/verify", a.externalVerify)
	mux.HandleFunc("GET /x/{token}/part/{part}", a.externalPart)
	mux.HandleFunc("POST /x/{token}/reply", a.externalReply)
	if a.opts.DevOutboxDir != "" {
		mux.HandleFunc("GET /dev/outbox", a.outbox)
	}

	mux.Handle("GET /{$}", a.authed(a.home))
	mux.Handle("GET /m/{msg}", a.authed(a.deepLink))
	mux.Handle("GET /mail/{box}", a.authed(a.boxHome))
	mux.Handle("GET /mail/{box}/events", a.authed(a.events))
	mux.Handle("GET /mail/{box}/search", a.authed(a.search))
	mux.Handle("GET /mail/{box}/suggest", a.authed(a.suggest))
	mux.Handle("GET /mail/{box}/compose", a.authed(a.composePage))
	mux.Handle("POST /mail/{box}/compose", a.authed(a.composeSubmit))
	mux.Handle("GET /mail/{box}/{folder}", a.authed(a.folderPage))
	mux.Handle("GET /mail/{box}/{folder}/{msg}", a.authed(a.messagePage))
	mux.Handle("GET /mail/{box}/{folder}/{msg}/body", a.authed(a.messageBody))
	mux.Handle("GET /mail/{box}/{folder}/{msg}/print", a.authed(a.messagePrint))
	mux.Handle("GET /mail/{box}/{folder}/{msg}/part/{part}", a.authed(a.messagePart))
	mux.Handle("POST /mail/{box}/{folder}/{msg}/act", a.authed(a.messageAction))
	mux.Handle("GET /account", a.authed(a.accountPage))
	mux.Handle("GET /account/messaging", a.authed(a.messagingPage))
	mux.Handle("POST /account/notifications", a.authed(a.saveNotify))
	mux.Handle("POST /account/push/subscribe", a.authed(a.pushSubscribe))
	mux.Handle("POST /account/push/unsubscribe", a.authed(a.pushUnsubscribe))
	mux.Handle("POST /account/receipts", a.authed(a.saveReceipts))
	mux.Handle("POST /account/delegates/{action}", a.authed(a.saveDelegate))
	mux.Handle("POST /account/folders", a.authed(a.createFolder))
	mux.Handle("POST /account/folders/{id}/rename", a.authed(a.renameFolder))
	mux.Handle("GET /account/folders/{id}/delete", a.authed(a.deleteFolderPage))
	mux.Handle("POST /account/folders/{id}/delete", a.authed(a.deleteFolder))
	mux.Handle("GET /account/correspondance", a.authed(a.correspondancePage))
	mux.Handle("POST /account/correspondance", a.authed(a.saveListed))
	mux.Handle("GET /account/vacation", a.authed(a.vacationPage))
	mux.Handle("POST /account/vacation", a.authed(a.saveVacation))
	mux.Handle("GET /account/manager", a.authed(a.managerPage))
	mux.Handle("POST /account/manager", a.authed(a.writeManager))
	mux.Handle("GET /admin", a.authed(a.adminPage))
	mux.Handle("GET /admin/audit.csv", a.authed(a.adminExport))
	mux.Handle("POST /admin/accounts", a.authed(a.adminAccount))
	mux.Handle("POST /admin/mailboxes", a.authed(a.adminMailbox))
	mux.Handle("GET /admin/account", a.authed(a.adminAccountPage))
	mux.Handle("POST /admin/account", a.authed(a.adminAccountAction))
	mux.Handle("POST /admin/contact", a.authed(a.adminContact))
	mux.Handle("POST /account/signatures", a.authed(a.saveSignature))
	mux.Handle("POST /account/signatures/{id}/default", a.authed(a.defaultSignature))
	mux.Handle("GET /account/devices", a.authed(a.devicesPage))
	mux.Handle("POST /account/devices", a.authed(a.addDevice))
	mux.Handle("POST /account/devices/{id}/rename", a.authed(a.renameDevice))
	mux.Handle("POST /account/devices/{id}/revoke", a.authed(a.revokeDevice))
	mux.Handle("POST /account/signatures/{id}/delete", a.authed(a.deleteSignature))
	if a.opts.Directory != nil {
		mux.Handle("GET /account/profile", a.authed(a.profilePage))
		mux.Handle("POST /account/directory", a.authed(a.saveProfile))
		mux.Handle("GET /directory", a.authed(a.directoryPage))
		mux.Handle("GET /directory/card", a.authed(a.cardPage))
		mux.Handle("POST /directory/favourites", a.authed(a.addFavourite))
		mux.Handle("POST /directory/favourites/delete", a.authed(a.removeFavourite))
		mux.Handle("GET /api/directory/search", a.authed(a.apiSearch))
		mux.Handle("GET /api/directory/entry", a.authed(a.apiEntry))
		mux.Handle("GET /api/directory/favourites", a.authed(a.apiFavourites))
		mux.Handle("POST /api/directory/favourites", a.authed(a.apiAddFavourite))
		mux.Handle("DELETE /api/directory/favourites", a.authed(a.apiRemoveFavourite))
	}

	csrf := http.NewCrossOriginProtection()
	return securityHeaders(csrf.Handler(mux))
}

// pageCSP is the policy of every page of the app: our own scripts and
// styles only, no inline code, frames only from us (message bodies).
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; frame-src 'self'; manifest-src 'self'; worker-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries; handlers that
// serve message content replace the CSP with a stricter one.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		h.Set("Strict-Transport-Security", "max-age=63072000")
		next.ServeHTTP(w, r)
	})
}
