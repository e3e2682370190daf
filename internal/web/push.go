package web

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"

	"caduceus/internal/core"
)

// pushRequest is what the web app posts to /account/push/subscribe and
// /account/push/unsubscribe: the browser's PushSubscription as toJSON()
// gives it (only the endpoint for unsubscribe).
type pushRequest struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// readPush decodes a push request: JSON only (a form post from another
// site cannot send it), small. The cross-origin protection of every unsafe
// request applies as well.
func (a *app) readPush(w http.ResponseWriter, r *http.Request) (pushRequest, bool) {
	var p pushRequest
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		a.apiError(w, r, http.StatusUnsupportedMediaType, "push_invalid")
		return p, false
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10)).Decode(&p); err != nil || p.Endpoint == "" {
		a.apiError(w, r, http.StatusBadRequest, "push_invalid")
		return p, false
	}
	return p, true
}

// pushSubscribe is POST /account/push/subscribe: this browser is to be
// told of new mail by Web Push, in the interface's language.
func (a *app) pushSubscribe(w http.ResponseWriter, r *http.Request) {
	p, ok := a.readPush(w, r)
	if !ok {
		return
	}
	u := currentUser(r)
	err := a.svc.AddPushSubscription(r.Context(), u.actor, core.PushSubscription{
		Endpoint: p.Endpoint, P256dh: p.Keys.P256dh, Auth: p.Keys.Auth, Lang: requestLang(r),
	})
	a.pushDone(w, r, err)
}

// pushUnsubscribe is POST /account/push/unsubscribe: this browser is no
// longer told.
func (a *app) pushUnsubscribe(w http.ResponseWriter, r *http.Request) {
	p, ok := a.readPush(w, r)
	if !ok {
		return
	}
	a.pushDone(w, r, a.svc.RemovePushSubscription(r.Context(), currentUser(r).actor, p.Endpoint))
}

func (a *app) pushDone(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, core.ErrInvalid):
		a.apiError(w, r, http.StatusBadRequest, "push_invalid")
	case err != nil:
		a.log.Error("web: push subscription", "err", err)
		a.apiError(w, r, http.StatusInternalServerError, "server_error")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
