package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/audit"
	"caduceus/internal/core"
)

// adminView is the managers' console: one domain's accounts and its part of
// the audit trail.
type adminView struct {
	Domain   string
	Domains  []string
	Accounts []adminAccountView
	Boxes    []adminBoxView
	Audit    []auditRowView
	Filter   auditFilter
	Export   string // the CSV export's URL for the filter shown
	Contact  core.ManagerContact
	Charts   []chartView
	Account  *adminAccountDetail // on the page of one account
}

type adminAccountView struct {
	Address, Name, Notify string
	Disabled, Manager     bool
	Self                  bool
	Used, Quota           string
}

// adminBoxView is a shared mailbox of the domain with its members.
type adminBoxView struct {
	ID                  int64
	Address, Name, Kind string
	Members             []adminMemberView
}

type adminMemberView struct {
	Address, Name, Access string
}

// accessLevel is one level of access to a shared mailbox, by its label's key.
type accessLevel struct {
	key    string
	rights core.Rights
}

// memberAccess are the levels of access the console hands out, from the
// guide's F12 and F17: read; read and write; and sending from the mailbox,
// on behalf (Sender: the person) or as the mailbox.
var memberAccess = []accessLevel{
	{"admin_access_read", core.RightLookup | core.RightRead | core.RightSeen},
	{"admin_access_write", core.RightLookup | core.RightRead | core.RightSeen | core.RightWrite | core.RightInsert | core.RightCreate | core.RightDeleteMessages | core.RightExpunge},
	{"admin_access_behalf", core.RightLookup | core.RightRead | core.RightSeen | core.RightWrite | core.RightInsert | core.RightCreate | core.RightDeleteMessages | core.RightExpunge | core.RightPost | core.RightSendOnBehalf},
	{"admin_access_as", core.RightLookup | core.RightRead | core.RightSeen | core.RightWrite | core.RightInsert | core.RightCreate | core.RightDeleteMessages | core.RightExpunge | core.RightPost | core.RightSendOnBehalf | core.RightSendAs},
}

// accessKey names the highest level of access r holds, or the rights' own
// letters when they are none of the levels.
func accessKey(v *view, a *app, r core.Rights) string {
	for i := len(memberAccess) - 1; i >= 0; i-- {
		if r == memberAccess[i].rights {
			return a.t(v, memberAccess[i].key)
		}
	}
	return r.String()
}

type auditRowView struct {
	Time, Actor, Door, Remote, Action, Target, Result, Detail string
}

type auditFilter struct {
	Actor, Action, Since, Until string
}

// adminPage is /admin, for managers of a domain ("gestionnaires"): the
// accounts of the domain, with their use of their mailbox, and the audit
// trail of the domain, searchable and exported as CSV.
func (a *app) adminPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	v := a.baseView(r)
	v.Title = a.t(v, "admin_title")
	v.Me = meOf(u.account)
	av, q, ok := a.adminScope(w, r, u)
	if !ok {
		return
	}
	accounts, err := a.svc.DomainAccounts(ctx, u.actor, av.Domain)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, acc := range accounts {
		quota := a.t(v, "admin_no_quota")
		if acc.QuotaBytes > 0 {
			quota = a.views.texts.humanSize(v.Lang, acc.QuotaBytes)
		}
		av.Accounts = append(av.Accounts, adminAccountView{
			Address: acc.Address, Name: acc.Name, Notify: acc.NotifyEmail, Disabled: acc.Disabled, Manager: acc.Manager,
			Self: acc.ID == u.account.ID, Used: a.views.texts.humanSize(v.Lang, acc.UsedBytes), Quota: quota,
		})
	}
	boxes, err := a.svc.DomainMailboxes(ctx, u.actor, av.Domain)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, b := range boxes {
		bv := adminBoxView{ID: b.ID, Address: b.Address, Name: b.Name, Kind: a.t(v, boxOf(b.Mailbox, 0).KindKey)}
		for _, m := range b.Members {
			bv.Members = append(bv.Members, adminMemberView{Address: m.Address, Name: m.Name, Access: accessKey(v, a, m.Rights)})
		}
		av.Boxes = append(av.Boxes, bv)
	}
	if av.Contact, err = a.svc.DomainManager(ctx, u.actor, av.Domain); err != nil {
		a.fail(w, r, err)
		return
	}
	days, err := a.svc.DomainFigures(ctx, u.actor, av.Domain, chartDays)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	av.Charts = a.figureCharts(v, days)
	q.Limit = 100
	entries, err := a.svc.Audit().List(ctx, q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, e := range entries {
		av.Audit = append(av.Audit, auditRowView{Time: e.At.Format("2006-01-02 15:04:05"), Actor: e.Actor, Door: e.Door, Remote: e.Remote,
			Action: e.Action, Target: e.Target, Result: e.Result, Detail: e.Detail})
	}
	av.Export = "/admin/audit.csv?" + r.URL.Query().Encode()
	v.Admin = av
	switch {
	case r.URL.Query().Get("saved") != "":
		v.Flash = a.t(v, "saved")
	case r.URL.Query().Get("error") != "":
		v.Error = a.t(v, "admin_error_"+r.URL.Query().Get("error"))
	}
	a.render(w, r, http.StatusOK, "admin", v)
}

// adminExport streams the domain's audit entries the filter selects, as CSV.
// The export is itself traced.
func (a *app) adminExport(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	av, q, ok := a.adminScope(w, r, u)
	if !ok {
		return
	}
	if err := a.svc.Trace(r.Context(), u.actor, "audit.export", av.Domain, ""); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-%s-%s.csv"`, av.Domain, time.Now().Format("20060102")))
	if _, err := a.svc.Audit().Export(r.Context(), w, q); err != nil {
		a.log.Error("web: audit export", "err", err)
	}
}

// adminAccount creates, disables or enables an account of a managed domain.
func (a *app) adminAccount(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	domain := r.FormValue("domain")
	var err error
	switch r.FormValue("do") {
	case "create":
		local := strings.TrimSpace(r.FormValue("local"))
		_, err = a.svc.AddUser(ctx, u.actor, core.NewUser{
			Address: local + "@" + domain, Name: strings.TrimSpace(r.FormValue("name")),
			NotifyEmail: r.FormValue("notify"), Password: r.FormValue("password"),
		})
	case "disable", "enable":
		err = a.svc.SetDisabled(ctx, u.actor, r.FormValue("address"), r.FormValue("do") == "disable")
	default:
		err = core.ErrInvalid
	}
	a.adminDone(w, r, domain, "", err)
}

// adminMailbox creates a shared mailbox of a managed domain, or gives a
// person a level of access to one, or takes it back.
func (a *app) adminMailbox(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	domain := r.FormValue("domain")
	var err error
	switch r.FormValue("do") {
	case "create":
		kind := core.Kind(r.FormValue("kind"))
		if kind != core.KindOrganisational && kind != core.KindApplicative {
			err = core.ErrInvalid
			break
		}
		_, err = a.svc.AddMailbox(ctx, u.actor, strings.TrimSpace(r.FormValue("local"))+"@"+domain, kind, strings.TrimSpace(r.FormValue("name")), "")
	case "grant", "revoke":
		var box int64
		if box, err = strconv.ParseInt(r.FormValue("box"), 10, 64); err != nil {
			err = core.ErrInvalid
			break
		}
		var rights core.Rights
		if r.FormValue("do") == "grant" {
			i := slices.IndexFunc(memberAccess, func(l accessLevel) bool { return l.key == r.FormValue("access") })
			if i < 0 {
				err = core.ErrInvalid
				break
			}
			rights = memberAccess[i].rights
		}
		err = a.svc.SetRights(ctx, u.actor, box, strings.TrimSpace(r.FormValue("member")), rights)
	default:
		err = core.ErrInvalid
	}
	a.adminDone(w, r, domain, "#adm-box-h", err)
}

// adminDone sends the manager back to the console's section after a change,
// saying it was saved or what was wrong with the form; other errors get the
// error page.
func (a *app) adminDone(w http.ResponseWriter, r *http.Request, domain, section string, err error) {
	a.adminDoneAt(w, r, "/admin?domain="+url.QueryEscape(domain), section, err)
}

// adminDoneAt is adminDone for a console page back, whose URL has a query.
func (a *app) adminDoneAt(w http.ResponseWriter, r *http.Request, back, section string, err error) {
	switch {
	case err == nil:
		http.Redirect(w, r, back+"&saved=1"+section, http.StatusSeeOther)
	case errors.Is(err, core.ErrExists):
		http.Redirect(w, r, back+"&error=exists"+section, http.StatusSeeOther)
	case errors.Is(err, core.ErrInvalid), errors.Is(err, core.ErrNotFound):
		http.Redirect(w, r, back+"&error=invalid"+section, http.StatusSeeOther)
	default:
		a.fail(w, r, err)
	}
}

// adminScope finds the domain the request is about among those the person
// manages, and the audit query its filter makes. A person who manages no
// domain is refused.
func (a *app) adminScope(w http.ResponseWriter, r *http.Request, u *user) (*adminView, audit.Query, bool) {
	domains, err := a.svc.ManagedDomains(r.Context(), u.actor)
	if err != nil {
		a.fail(w, r, err)
		return nil, audit.Query{}, false
	}
	if len(domains) == 0 {
		a.fail(w, r, core.ErrPermission)
		return nil, audit.Query{}, false
	}
	qs := r.URL.Query()
	av := &adminView{Domains: domains, Domain: domains[0]}
	if d := r.FormValue("domain"); d != "" {
		if !slices.Contains(domains, d) {
			a.fail(w, r, core.ErrPermission)
			return nil, audit.Query{}, false
		}
		av.Domain = d
	}
	av.Filter = auditFilter{Actor: qs.Get("actor"), Action: qs.Get("action"), Since: qs.Get("since"), Until: qs.Get("until")}
	q := audit.Query{Domain: av.Domain, Actor: strings.TrimSpace(av.Filter.Actor), Action: strings.TrimSpace(av.Filter.Action)}
	if t, err := time.Parse(time.DateOnly, av.Filter.Since); err == nil {
		q.Since = t
	}
	if t, err := time.Parse(time.DateOnly, av.Filter.Until); err == nil {
		q.Until = t.AddDate(0, 0, 1) // the whole of the last day
	}
	return av, q, true
}
