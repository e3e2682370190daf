package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strconv"

	"github.com/skip2/go-qrcode"

	"caduceus/internal/autoconfig"
	"caduceus/internal/core"
)

// deviceView is one enrolled device in the list of "Appareils mobiles".
type deviceView struct {
	ID         int64
	Name       string
	Added      string
	LastUsed   string // empty: never used
	LastRemote string
}

// newDeviceView is what the page shows once, right after enrolment: the
// credential and a QR code of the settings with it.
type newDeviceView struct {
	Name       string
	Address    string
	Credential string
	QR         template.URL // data: URL of a PNG
	IMAP, SMTP autoconfig.Endpoint
}

// devicesPage is "Appareils mobiles" (F16): the phones and mail clients
// enrolled to reach the mailbox over IMAP and SMTP with a credential of
// their own, their last use, renaming and revoking them.
func (a *app) devicesPage(w http.ResponseWriter, r *http.Request) {
	v := a.baseView(r)
	switch r.URL.Query().Get("done") {
	case "renamed":
		v.Flash = a.t(v, "device_renamed")
	case "revoked":
		v.Flash = a.t(v, "device_revoked")
	}
	a.renderDevices(w, r, v, http.StatusOK)
}

func (a *app) renderDevices(w http.ResponseWriter, r *http.Request, v *view, status int) {
	u := currentUser(r)
	v.Title = a.t(v, "devices_title")
	v.Me = meOf(u.account)
	ds, err := a.svc.Devices(r.Context(), u.actor, u.account.Address)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, d := range ds {
		dv := deviceView{ID: d.ID, Name: d.Name, Added: a.shortDate(v, d.Created), LastRemote: d.LastRemote}
		if !d.LastUsed.IsZero() {
			dv.LastUsed = a.longDate(v, d.LastUsed)
		}
		v.Devices = append(v.Devices, dv)
	}
	a.render(w, r, status, "devices", v)
}

// addDevice enrols a device and shows its credential and QR code, this
// once: only a keyed hash is kept.
func (a *app) addDevice(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	v := a.baseView(r)
	d, token, err := a.svc.AddDevice(r.Context(), u.actor, u.account.Address, r.FormValue("name"))
	if errors.Is(err, core.ErrInvalid) {
		v.Error = a.t(v, "device_name_invalid")
		a.renderDevices(w, r, v, http.StatusUnprocessableEntity)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	st := a.mailSettings()
	png, err := qrcode.Encode(autoconfig.DeviceURI(st, u.account.Address, token), qrcode.Medium, 320)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v.NewDevice = &newDeviceView{
		Name: d.Name, Address: u.account.Address, Credential: token,
		QR:   template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		IMAP: st.IMAP, SMTP: st.SMTP,
	}
	a.renderDevices(w, r, v, http.StatusOK)
}

func (a *app) renameDevice(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	err = a.svc.RenameDevice(r.Context(), u.actor, u.account.Address, id, r.FormValue("name"))
	if errors.Is(err, core.ErrInvalid) {
		v := a.baseView(r)
		v.Error = a.t(v, "device_name_invalid")
		a.renderDevices(w, r, v, http.StatusUnprocessableEntity)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account/devices?done=renamed", http.StatusSeeOther)
}

// revokeDevice ends a device's access at once: the core closes its open
// IMAP connections.
func (a *app) revokeDevice(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if err := a.svc.RevokeDevice(r.Context(), u.actor, u.account.Address, id); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account/devices?done=revoked", http.StatusSeeOther)
}

// mailSettings are the server settings given to devices.
func (a *app) mailSettings() autoconfig.Settings {
	if a.opts.MailSettings != nil {
		return a.opts.MailSettings()
	}
	return autoconfig.FromListeners(a.opts.Hostname, "", "", "", "")
}
