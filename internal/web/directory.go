package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"caduceus/internal/core"
	"caduceus/internal/directory"
)

// professions are the professions a person can pick on the account page
// and search by, as codes of the national directory (TRE_G15).
var professions = []string{"10", "21", "40", "50", "60", "70"}

// professionLabels names them in entries as the national directory does,
// in French whatever the reader's language.
var professionLabels = map[string]string{
	"10": "Médecin", "21": "Pharmacien", "40": "Chirurgien-dentiste",
	"50": "Sage-femme", "60": "Infirmier", "70": "Masseur-kinésithérapeute",
}

// syncDirectory puts every account's personal mailbox and every
// organisational or practice mailbox of the core in the directory as local
// entries, with what each person set on their account page. A disabled
// account leaves the directory.
func (a *app) syncDirectory(ctx context.Context) error {
	users, err := a.svc.Users(ctx)
	if err != nil {
		return fmt.Errorf("web: directory sync: %w", err)
	}
	for _, acct := range users {
		if acct.Disabled {
			if err := a.opts.Directory.RemoveLocal(ctx, acct.Address); err != nil {
				return fmt.Errorf("web: directory sync: %w", err)
			}
			continue
		}
		if err := a.publish(ctx, acct); err != nil {
			return err
		}
	}
	boxes, err := a.svc.Mailboxes(ctx, core.System("web"))
	if err != nil {
		return fmt.Errorf("web: directory sync: %w", err)
	}
	for _, b := range boxes {
		if (b.Kind != core.KindOrganisational && b.Kind != core.KindPractice) || b.OwnerID != 0 {
			continue
		}
		le := directory.LocalEntry{Key: b.Address, Listed: true, Entry: directory.Entry{
			Organisation: orDefault(b.Name, b.Address),
			Mailbox:      b.Address,
			MailboxKind:  directory.MailboxKind(b.Kind),
		}}
		if err := a.opts.Directory.UpsertLocal(ctx, le); err != nil {
			return fmt.Errorf("web: directory sync: %w", err)
		}
	}
	return nil
}

// publish upserts an account's local entry from its name and profile.
func (a *app) publish(ctx context.Context, acct core.Account) error {
	pr, err := a.svc.Profile(ctx, core.System("web"), acct.ID)
	if err != nil {
		return err
	}
	first, last, _ := strings.Cut(strings.TrimSpace(acct.Name), " ")
	if last == "" {
		first, last = "", first
	}
	le := directory.LocalEntry{Key: acct.Address, Listed: pr.Listed, Entry: directory.Entry{
		NationalID:      acct.NationalID,
		LastName:        orDefault(last, acct.Address),
		FirstName:       first,
		Profession:      pr.Profession,
		ProfessionLabel: professionLabels[pr.Profession],
		SpecialtyLabel:  pr.Specialty,
		Organisation:    pr.Organisation,
		City:            pr.City,
		Postcode:        pr.Postcode,
		Mailbox:         acct.Address,
		MailboxKind:     directory.KindPersonal,
		Dematerialised:  pr.Dematerialised,
	}}
	if err := a.opts.Directory.UpsertLocal(ctx, le); err != nil {
		return fmt.Errorf("web: publish %d in the directory: %w", acct.ID, err)
	}
	return nil
}

// dirEntry is an entry as the JSON API and the pages show it.
type dirEntry struct {
	directory.Entry
	Name string `json:"name"`
}

func entryOf(e directory.Entry) dirEntry {
	return dirEntry{Entry: e, Name: e.DisplayName()}
}

// dirResults is one page of a search in the JSON API.
type dirResults struct {
	Entries []dirEntry `json:"entries"`
	Total   int        `json:"total"`
	Capped  bool       `json:"capped"`
	Offset  int        `json:"offset"`
	Limit   int        `json:"limit"`
}

// dirQuery reads a search from URL parameters.
func dirQuery(v url.Values, account int64) directory.Query {
	offset, _ := strconv.Atoi(v.Get("offset"))
	limit, _ := strconv.Atoi(v.Get("limit"))
	withMailbox, _ := strconv.ParseBool(v.Get("with_mailbox"))
	return directory.Query{
		Text:         strings.TrimSpace(v.Get("q")),
		Profession:   strings.TrimSpace(v.Get("profession")),
		Specialty:    strings.TrimSpace(v.Get("specialty")),
		City:         strings.TrimSpace(v.Get("city")),
		Postcode:     strings.TrimSpace(v.Get("postcode")),
		Department:   strings.TrimSpace(v.Get("department")),
		Organisation: strings.TrimSpace(v.Get("organisation")),
		Mailbox:      strings.TrimSpace(v.Get("mailbox")),
		Kind:         directory.MailboxKind(strings.ToUpper(strings.TrimSpace(v.Get("kind")))),
		WithMailbox:  withMailbox,
		AccountID:    account,
		Offset:       max(offset, 0),
		Limit:        min(max(limit, 0), directory.MaxLimit),
	}
}

// hasCriteria reports whether a search says what to look for.
func hasCriteria(q directory.Query) bool {
	return q.Text+q.Profession+q.Specialty+q.City+q.Postcode+q.Department+q.Organisation+q.Mailbox+string(q.Kind) != ""
}

// dirSearch runs a directory search and returns one page, with the limit it
// used.
func (a *app) dirSearch(ctx context.Context, q directory.Query) (dirResults, error) {
	res, err := a.opts.Directory.Search(ctx, q)
	if err != nil {
		return dirResults{}, err
	}
	out := dirResults{Entries: []dirEntry{}, Total: res.Total, Capped: res.Capped, Offset: q.Offset, Limit: q.Limit}
	if out.Limit == 0 {
		out.Limit = directory.DefaultLimit
	}
	for _, e := range res.Entries {
		out.Entries = append(out.Entries, entryOf(e))
	}
	return out, nil
}

// queryError returns the text key of a search the directory refused, or
// "" for another error.
func queryError(err error) string {
	switch {
	case errors.Is(err, directory.ErrEmptyQuery):
		return "dir_empty_query"
	case errors.Is(err, directory.ErrBroadQuery):
		return "dir_broad_query"
	}
	return ""
}

// apiError sends a JSON error with a text of the request's language.
func (a *app) apiError(w http.ResponseWriter, r *http.Request, status int, key string) {
	writeJSON(w, status, map[string]string{"error": a.t(a.baseView(r), key)})
}

// apiSearch is GET /api/directory/search: q, profession, specialty, city,
// postcode, department, organisation, mailbox, kind, with_mailbox, offset
// and limit.
func (a *app) apiSearch(w http.ResponseWriter, r *http.Request) {
	res, err := a.dirSearch(r.Context(), dirQuery(r.URL.Query(), currentUser(r).account.ID))
	if key := queryError(err); key != "" {
		a.apiError(w, r, http.StatusBadRequest, key)
		return
	}
	if err != nil {
		a.log.Error("web: directory search", "err", err)
		a.apiError(w, r, http.StatusInternalServerError, "server_error")
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// apiEntry is GET /api/directory/entry?id=: one entry.
func (a *app) apiEntry(w http.ResponseWriter, r *http.Request) {
	e, err := a.opts.Directory.Entry(r.Context(), r.URL.Query().Get("id"))
	if errors.Is(err, directory.ErrNotFound) {
		a.apiError(w, r, http.StatusNotFound, "not_found")
		return
	}
	if err != nil {
		a.log.Error("web: directory entry", "err", err)
		a.apiError(w, r, http.StatusInternalServerError, "server_error")
		return
	}
	writeJSON(w, http.StatusOK, entryOf(e))
}

// apiFavourites is GET /api/directory/favourites: the person's favourites.
func (a *app) apiFavourites(w http.ResponseWriter, r *http.Request) {
	favs, err := a.opts.Directory.Favourites(r.Context(), currentUser(r).account.ID)
	if err != nil {
		a.log.Error("web: directory favourites", "err", err)
		a.apiError(w, r, http.StatusInternalServerError, "server_error")
		return
	}
	out := []dirEntry{}
	for _, e := range favs {
		out = append(out, entryOf(e))
	}
	writeJSON(w, http.StatusOK, out)
}

// entryID reads the id of an entry from the URL, a form, or a JSON body
// {"id": ...}.
func entryID(r *http.Request) string {
	if id := r.URL.Query().Get("id"); id != "" {
		return id
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body struct {
			ID string `json:"id"`
		}
		json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body)
		return body.ID
	}
	return r.PostFormValue("id")
}

// apiAddFavourite is POST /api/directory/favourites.
func (a *app) apiAddFavourite(w http.ResponseWriter, r *http.Request) {
	err := a.opts.Directory.AddFavourite(r.Context(), currentUser(r).account.ID, entryID(r))
	a.favouriteDone(w, r, err)
}

// apiRemoveFavourite is DELETE /api/directory/favourites?id=.
func (a *app) apiRemoveFavourite(w http.ResponseWriter, r *http.Request) {
	err := a.opts.Directory.RemoveFavourite(r.Context(), currentUser(r).account.ID, entryID(r))
	a.favouriteDone(w, r, err)
}

func (a *app) favouriteDone(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, directory.ErrNotFound):
		a.apiError(w, r, http.StatusNotFound, "not_found")
	case err != nil:
		a.log.Error("web: directory favourite", "err", err)
		a.apiError(w, r, http.StatusInternalServerError, "server_error")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// dirView is what the "Annuaires" page shows.
type dirView struct {
	Query       url.Values
	Professions []optionView
	Searched    bool
	Results     []dirEntry
	Total       int
	Capped      bool
	Prev, Next  string // URLs of the neighbouring pages
	Favourites  []dirEntry
	Card        *dirEntry
	WriteURL    string // compose from the person's own mailbox to the card's
}

// optionView is one option of a select; Label is a text key.
type optionView struct {
	Value, Label string
	Selected     bool
}

func professionOptions(selected string) []optionView {
	out := []optionView{}
	for _, code := range professions {
		out = append(out, optionView{Value: code, Label: "prof_" + code, Selected: code == selected})
	}
	return out
}

// directoryPage is "Annuaires" (F8): the criteria form, the results a page
// at a time, and the person's favourites.
func (a *app) directoryPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	v := a.dirBase(r, u)
	params := r.URL.Query()
	d := &dirView{Query: params, Professions: professionOptions(params.Get("profession"))}
	v.Dir = d
	q := dirQuery(params, u.account.ID)
	q.Limit = directory.DefaultLimit
	if hasCriteria(q) {
		d.Searched = true
		res, err := a.dirSearch(ctx, q)
		if key := queryError(err); key != "" {
			v.Error = a.t(v, key)
		} else if err != nil {
			a.fail(w, r, err)
			return
		}
		d.Results, d.Total, d.Capped = res.Entries, res.Total, res.Capped
		page := func(offset int) string {
			p := url.Values{}
			for k, vs := range params {
				p[k] = vs
			}
			p.Set("offset", strconv.Itoa(offset))
			return "/directory?" + p.Encode()
		}
		if q.Offset > 0 {
			d.Prev = page(max(q.Offset-q.Limit, 0))
		}
		if q.Offset+len(res.Entries) < res.Total {
			d.Next = page(q.Offset + q.Limit)
		}
	}
	favs, err := a.opts.Directory.Favourites(ctx, u.account.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, e := range favs {
		d.Favourites = append(d.Favourites, entryOf(e))
	}
	a.render(w, r, http.StatusOK, "directory", v)
}

// cardPage is a person's contact card ("fiche"), with "Ajouter aux
// favoris" or its opposite.
func (a *app) cardPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := currentUser(r)
	e, err := a.opts.Directory.Entry(ctx, r.URL.Query().Get("id"))
	if errors.Is(err, directory.ErrNotFound) {
		err = core.ErrNotFound
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	favs, err := a.opts.Directory.Favourites(ctx, u.account.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, f := range favs {
		if f.ID == e.ID {
			e.Favourite = true
		}
	}
	v := a.dirBase(r, u)
	card := entryOf(e)
	v.Dir = &dirView{Card: &card}
	if own, err := a.svc.MailboxByAddress(ctx, u.actor, u.account.Address); err == nil && e.Mailbox != "" {
		v.Dir.WriteURL = fmt.Sprintf("/mail/%d/compose?to=%s", own.ID, url.QueryEscape(e.Mailbox))
	}
	v.Title = card.Name
	if r.URL.Query().Get("saved") != "" {
		v.Flash = a.t(v, "saved")
	}
	a.render(w, r, http.StatusOK, "card", v)
}

// dirBase is the view every directory page starts from.
func (a *app) dirBase(r *http.Request, u *user) *view {
	v := a.baseView(r)
	v.Title = a.t(v, "directory")
	v.Me = meOf(u.account)
	return v
}

// addFavourite and removeFavourite are the card's form buttons; they
// come back to the card.
func (a *app) addFavourite(w http.ResponseWriter, r *http.Request) {
	a.setFavourite(w, r, a.opts.Directory.AddFavourite)
}

func (a *app) removeFavourite(w http.ResponseWriter, r *http.Request) {
	a.setFavourite(w, r, a.opts.Directory.RemoveFavourite)
}

func (a *app) setFavourite(w http.ResponseWriter, r *http.Request, set func(context.Context, int64, string) error) {
	id := r.PostFormValue("id")
	err := set(r.Context(), currentUser(r).account.ID, id)
	if errors.Is(err, directory.ErrNotFound) {
		err = core.ErrNotFound
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/directory/card?saved=1&id="+url.QueryEscape(id), http.StatusSeeOther)
}

// saveProfile is the "Informations personnelles" form of the account
// page: it keeps the profile and publishes it in the directory at once.
func (a *app) saveProfile(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	field := func(name string) string {
		s := strings.TrimSpace(r.PostFormValue(name))
		if r := []rune(s); len(r) > core.MaxProfileField {
			s = string(r[:core.MaxProfileField])
		}
		return s
	}
	pr := core.Profile{
		Listed:         r.PostFormValue("listed") != "0",
		Dematerialised: r.PostFormValue("dematerialised") != "",
		Profession:     field("profession"),
		Specialty:      field("specialty"),
		Organisation:   field("organisation"),
		City:           field("city"),
		Postcode:       field("postcode"),
	}
	if _, ok := professionLabels[pr.Profession]; !ok {
		pr.Profession = ""
	}
	if err := a.svc.SaveProfile(r.Context(), u.actor, u.account.ID, pr); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.publish(r.Context(), u.account); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account/profile?done=saved", http.StatusSeeOther)
}
