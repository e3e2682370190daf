package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"caduceus/internal/auth"
	"caduceus/internal/auth/psctest"
)

const redirect = "https://caduceus.test/login/psc/callback"

var docteur = psctest.Person{SubjectNameID: "810002813839", GivenName: "Jeanne", FamilyName: "Dupont", Email: "jeanne.dupont@example.org"}

func newPSC(t *testing.T) (*psctest.Provider, *auth.PSC) {
	t.Helper()
	prov := psctest.Start(t, redirect)
	rp, err := auth.NewPSC(context.Background(), auth.PSCOptions{Issuer: prov.Issuer, ClientID: psctest.ClientID,
		ClientSecret: psctest.ClientSecret, RedirectURL: redirect, Client: prov.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return prov, rp
}

// authorize follows the browser's way through the provider and returns the
// state and code it brings back to the redirect URL.
func authorize(t *testing.T, prov *psctest.Provider, authURL string) (state, code string) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("acr_values") != "eidas1" || q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorisation request lacks acr_values, PKCE, nonce or state: %s", authURL)
	}
	c := prov.Client()
	c.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	res, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), redirect) {
		t.Fatalf("provider answered %s → %q", res.Status, res.Header.Get("Location"))
	}
	return back.Query().Get("state"), back.Query().Get("code")
}

func TestPSCLogin(t *testing.T) {
	ctx := context.Background()
	prov, rp := newPSC(t)
	prov.LogIn(docteur, "eidas1")
	flow, u := rp.Begin()
	state, code := authorize(t, prov, u)
	id, err := rp.Finish(ctx, flow, state, code)
	if err != nil {
		t.Fatal(err)
	}
	if id.SubjectNameID != docteur.SubjectNameID || id.Name() != "Jeanne Dupont" || id.ACR != "eidas1" {
		t.Fatalf("identity = %+v", id)
	}
	if _, err := rp.Finish(ctx, flow, state, code); !errors.Is(err, auth.ErrPSCToken) {
		t.Fatalf("replayed code: err = %v, want ErrPSCToken", err)
	}
}

func TestPSCRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		acr  string
		// forge changes what the callback brings back.
		forge func(flow *auth.PSCFlow, state, code *string)
		want  error
	}{
		{"no acr", "", nil, auth.ErrPSCLowACR},
		{"lower acr", "eidas0", nil, auth.ErrPSCLowACR},
		{"forged state", "eidas1", func(_ *auth.PSCFlow, state, _ *string) { *state = "forged" }, auth.ErrPSCState},
		{"no flow", "eidas1", func(f *auth.PSCFlow, _, _ *string) { *f = auth.PSCFlow{} }, auth.ErrPSCState},
		{"other browser's verifier", "eidas1", func(f *auth.PSCFlow, _, _ *string) { f.Verifier = "x" + f.Verifier[1:] }, auth.ErrPSCToken},
		{"forged code", "eidas1", func(_ *auth.PSCFlow, _, code *string) { *code = "forged" }, auth.ErrPSCToken},
	}
	prov, rp := newPSC(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov.LogIn(docteur, tt.acr)
			flow, u := rp.Begin()
			state, code := authorize(t, prov, u)
			if tt.forge != nil {
				tt.forge(&flow, &state, &code)
			}
			if _, err := rp.Finish(ctx, flow, state, code); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPSCAccessToken(t *testing.T) {
	ctx := context.Background()
	prov, rp := newPSC(t)
	f, st := newFactors(t)
	acct := addAccount(t, st, "jeanne@test.mssante.fr")
	tok, err := prov.AccessToken(ctx, docteur)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rp.AccountForToken(ctx, f, tok); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("unlinked identity: err = %v, want ErrNotFound", err)
	}
	if err := f.LinkPSC(ctx, acct, docteur.SubjectNameID, "Jeanne Dupont"); err != nil {
		t.Fatal(err)
	}
	got, id, err := rp.AccountForToken(ctx, f, tok)
	if err != nil || got != acct || id.SubjectNameID != docteur.SubjectNameID {
		t.Fatalf("linked identity: account %d, %+v, err %v", got, id, err)
	}
	for _, bad := range []string{"", "forged", tok + "x"} {
		if _, _, err := rp.AccountForToken(ctx, f, bad); !errors.Is(err, auth.ErrPSCToken) {
			t.Fatalf("token %q: err = %v, want ErrPSCToken", bad, err)
		}
	}
}
