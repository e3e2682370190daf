package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/auth"
	"caduceus/internal/core"
)

// adminAccountDetail is one account as the console's account page shows it:
// its ways in that a manager may take away, and where its codes go.
type adminAccountDetail struct {
	Address, Name, Notify string
	Password              string // a password just set, shown this once
	Sections              []adminFactorSection
}

// adminFactorSection lists the account's ways in of one kind: "card",
// "psc" (both only when the web door keeps sign-in factors) or "device".
type adminFactorSection struct {
	Kind  string
	Items []adminFactorView
}

// adminFactorView is a card, a PSC link or a device of the account.
type adminFactorView struct {
	ID             int64
	Name, Detail   string
	Since, LastUse string
}

// adminAccountPage is GET /admin/account: one account of a managed domain,
// to reset its password, change where its login codes go, unlink its cards
// and Pro Santé Connect identities and revoke its devices.
func (a *app) adminAccountPage(w http.ResponseWriter, r *http.Request) {
	a.showAdminAccount(w, r, r.URL.Query().Get("address"), "")
}

// showAdminAccount renders the account page, with password when one was just
// set (it is shown once and the page is not kept by the browser).
func (a *app) showAdminAccount(w http.ResponseWriter, r *http.Request, address, password string) {
	ctx := r.Context()
	u := currentUser(r)
	v := a.baseView(r)
	v.Title = a.t(v, "admin_title")
	v.Me = meOf(u.account)
	av, _, ok := a.adminScope(w, r, u)
	if !ok {
		return
	}
	acct, err := a.svc.ManagedAccount(ctx, u.actor, address)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !strings.HasSuffix(acct.Address, "@"+av.Domain) {
		a.fail(w, r, core.ErrPermission)
		return
	}
	d, err := a.accountDetail(ctx, u, acct)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d.Password = password
	av.Account = d
	v.Admin = av
	switch q := r.URL.Query(); {
	case q.Get("saved") != "":
		v.Flash = a.t(v, "saved")
	case q.Get("error") != "":
		v.Error = a.t(v, "admin_error_"+q.Get("error"))
	}
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, r, http.StatusOK, "admin_account", v)
}

// accountDetail gathers what the account page shows of acct.
func (a *app) accountDetail(ctx context.Context, u *user, acct core.Account) (*adminAccountDetail, error) {
	d := &adminAccountDetail{Address: acct.Address, Name: acct.Name, Notify: acct.NotifyEmail}
	day := func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Format(time.DateOnly)
	}
	if f := a.opts.Factors; f != nil {
		cards, err := f.Cards(ctx, acct.ID)
		if err != nil {
			return nil, err
		}
		sc := adminFactorSection{Kind: "card"}
		for _, c := range cards {
			sc.Items = append(sc.Items, adminFactorView{ID: c.ID, Name: c.Holder, Detail: c.Serial + " · " + day(c.NotAfter), Since: day(c.Linked), LastUse: day(c.LastUsed)})
		}
		links, err := f.PSCLinks(ctx, acct.ID)
		if err != nil {
			return nil, err
		}
		sp := adminFactorSection{Kind: "psc"}
		for _, l := range links {
			sp.Items = append(sp.Items, adminFactorView{ID: l.ID, Name: l.Name, Detail: l.Subject, Since: day(l.Linked), LastUse: day(l.LastUsed)})
		}
		d.Sections = append(d.Sections, sc, sp)
	}
	devices, err := a.svc.Devices(ctx, u.actor, acct.Address)
	if err != nil {
		return nil, err
	}
	sd := adminFactorSection{Kind: "device"}
	for _, dev := range devices {
		sd.Items = append(sd.Items, adminFactorView{ID: dev.ID, Name: dev.Name, Detail: dev.LastRemote, Since: day(dev.Created), LastUse: day(dev.LastUsed)})
	}
	d.Sections = append(d.Sections, sd)
	return d, nil
}

// adminAccountAction is POST /admin/account: reset the password (set by the
// manager or generated), change the address login codes go to, unlink a
// card or a PSC identity, revoke a device. The core checks that the manager
// manages the account's domain and traces each change.
func (a *app) adminAccountAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	address := r.FormValue("address")
	id, _ := strconv.ParseInt(r.FormValue("id"), 10, 64)
	var err error
	switch r.FormValue("do") {
	case "generate":
		var pw string
		if pw, err = a.svc.ResetPassword(ctx, u.actor, address, ""); err == nil {
			a.showAdminAccount(w, r, address, pw)
			return
		}
	case "reset":
		if r.FormValue("password") == "" {
			err = core.ErrInvalid
			break
		}
		_, err = a.svc.ResetPassword(ctx, u.actor, address, r.FormValue("password"))
	case "notify":
		err = a.svc.SetCodeDelivery(ctx, u.actor, address, r.FormValue("notify"))
	case "card", "psc":
		f := a.opts.Factors
		if f == nil {
			http.NotFound(w, r)
			return
		}
		remove := f.UnlinkCard
		if r.FormValue("do") == "psc" {
			remove = f.UnlinkPSC
		}
		err = a.svc.RemoveFactor(ctx, u.actor, address, r.FormValue("do"), id, remove)
		if errors.Is(err, auth.ErrNotFound) {
			err = core.ErrNotFound
		}
	case "device":
		err = a.svc.RevokeDevice(ctx, u.actor, address, id)
	default:
		err = core.ErrInvalid
	}
	a.adminDoneAt(w, r, "/admin/account?domain="+url.QueryEscape(r.FormValue("domain"))+"&address="+url.QueryEscape(address), "", err)
}

// adminContact is POST /admin/contact: who manages the domain's accounts,
// as "Vos informations Gestionnaire" shows it to its people.
func (a *app) adminContact(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	domain := r.FormValue("domain")
	err := a.svc.SetManagerContact(r.Context(), u.actor, core.ManagerContact{
		Domain: domain, Name: r.FormValue("name"), Address: r.FormValue("address"), Phone: r.FormValue("phone"),
	})
	a.adminDone(w, r, domain, "#adm-contact-h", err)
}

// chartDays is how many days the console's charts cover.
const chartDays = 30

// Sizes of a chart, in SVG user units: one bar a day.
const (
	chartBarW   = 8
	chartStep   = 10
	chartHeight = 60
)

// chartView is one of the console's small charts, drawn as SVG by the
// server, with its numbers in a table for screen readers.
type chartView struct {
	ID, Title string
	Width     int
	Max       int
	Series    []chartSeries
	Bars      []chartBar
}

// chartSeries is one series of a stacked chart and its colour's class.
type chartSeries struct{ Name, Class string }

// chartBar is one day: its stacked segments and its numbers per series.
type chartBar struct {
	X      int
	Day    string
	Total  int
	Values []int
	Segs   []chartSeg
}

// chartSeg is one series' part of a bar.
type chartSeg struct {
	Y, H  int
	Class string
}

// newChart draws days of values (one slice per series, in series order)
// as stacked bars scaled to the highest day.
func newChart(id, title string, series []string, days []core.DayFigures, value func(d core.DayFigures, series int) int) chartView {
	c := chartView{ID: id, Title: title, Width: len(days) * chartStep}
	for i, s := range series {
		c.Series = append(c.Series, chartSeries{Name: s, Class: "s" + strconv.Itoa(i%6)})
	}
	for _, d := range days {
		b := chartBar{Day: d.Day.Format(time.DateOnly)}
		for i := range series {
			n := value(d, i)
			b.Values = append(b.Values, n)
			b.Total += n
		}
		c.Max = max(c.Max, b.Total)
		c.Bars = append(c.Bars, b)
	}
	for i := range c.Bars {
		b := &c.Bars[i]
		b.X = i * chartStep
		y := chartHeight
		for j, n := range b.Values {
			if n == 0 || c.Max == 0 {
				continue
			}
			h := max(1, n*chartHeight/c.Max)
			y -= h
			b.Segs = append(b.Segs, chartSeg{Y: y, H: h, Class: c.Series[j].Class})
		}
	}
	return c
}

// figureCharts makes the console's charts of a domain's last days.
func (a *app) figureCharts(v *view, days []core.DayFigures) []chartView {
	var methods []string
	for _, d := range days {
		for m := range d.Logins {
			if !slices.Contains(methods, m) {
				methods = append(methods, m)
			}
		}
	}
	slices.Sort(methods)
	one := []string{a.t(v, "admin_fig_count")}
	return []chartView{
		newChart("fig-boxes", a.t(v, "admin_fig_boxes"), one, days, func(d core.DayFigures, _ int) int { return d.Mailboxes }),
		newChart("fig-sent", a.t(v, "admin_fig_sent"), one, days, func(d core.DayFigures, _ int) int { return d.Sent }),
		newChart("fig-received", a.t(v, "admin_fig_received"), one, days, func(d core.DayFigures, _ int) int { return d.Received }),
		newChart("fig-logins", a.t(v, "admin_fig_logins"), methods, days, func(d core.DayFigures, i int) int { return d.Logins[methods[i]] }),
	}
}
