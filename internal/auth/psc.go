package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// PSCOptions configure the Pro Santé Connect relying party.
type PSCOptions struct {
	Issuer       string // e.g. https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet
	ClientID     string
	ClientSecret string
	RedirectURL  string // the login callback registered with ANS
	// Client talks to the provider; http.DefaultClient when nil.
	Client *http.Client
}

// PSC is an OpenID Connect relying party of Pro Santé Connect: the
// authorisation code flow with PKCE, state and nonce (OpenID Connect Core
// §3.1, RFC 7636), asking for and requiring the eIDAS "substantial" level
// PSC calls eidas1.
type PSC struct {
	oauth    oauth2.Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	client   *http.Client
}

// Errors of a Pro Santé Connect login. Doors show one message per kind.
var (
	ErrPSCState  = errors.New("auth: PSC answer does not match a login in progress")
	ErrPSCLowACR = errors.New("auth: PSC authentication level lower than eidas1")
	ErrPSCNoID   = errors.New("auth: PSC userinfo has no SubjectNameID")
	ErrPSCToken  = errors.New("auth: PSC token refused")
)

// PSCRequiredACR is the level asked for and required (mssante.md §2).
const PSCRequiredACR = "eidas1"

// acrRank orders the levels PSC may answer; anything else is below eidas1.
var acrRank = map[string]int{"eidas1": 1, "eidas2": 2, "eidas3": 3}

// NewPSC discovers the provider's endpoints and keys. PSC publishes its
// metadata at the standard path and at wallet-openid-configuration; the
// standard one is tried first.
func NewPSC(ctx context.Context, o PSCOptions) (*PSC, error) {
	client := o.Client
	if client == nil {
		client = http.DefaultClient
	}
	ctx = oidc.ClientContext(ctx, client)
	provider, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		var werr error
		provider, werr = walletProvider(ctx, client, o.Issuer)
		if werr != nil {
			return nil, fmt.Errorf("auth: PSC discovery at %s: %w", o.Issuer, errors.Join(err, werr))
		}
	}
	p := &PSC{
		oauth: oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
			Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "scope_all"}},
		provider: provider,
		verifier: provider.Verifier(&oidc.Config{ClientID: o.ClientID}),
		client:   client,
	}
	return p, nil
}

func walletProvider(ctx context.Context, client *http.Client, issuer string) (*oidc.Provider, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/wallet-openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("wallet configuration: HTTP %s", res.Status)
	}
	var pc oidc.ProviderConfig
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&pc); err != nil {
		return nil, err
	}
	if pc.IssuerURL != issuer {
		return nil, fmt.Errorf("wallet configuration names issuer %q", pc.IssuerURL)
	}
	return pc.NewProvider(ctx), nil
}

// PSCFlow is a login in progress: what the callback must find again. Keep it
// server-side, bound to the browser that started it.
type PSCFlow struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"` // PKCE code verifier
}

// Begin starts a login: it draws state, nonce and PKCE verifier and returns
// them with the provider URL to send the browser to.
func (p *PSC) Begin() (PSCFlow, string) {
	f := PSCFlow{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier()}
	u := p.oauth.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier),
		oauth2.SetAuthURLParam("acr_values", PSCRequiredACR))
	return f, u
}

// PSCIdentity is who Pro Santé Connect says logged in.
type PSCIdentity struct {
	Subject       string `json:"sub"`
	SubjectNameID string `json:"SubjectNameID"` // idNat: the account key
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	Email         string `json:"email"`
	ACR           string `json:"-"`
}

// Name is the person's name as PSC gives it.
func (i PSCIdentity) Name() string {
	return strings.TrimSpace(i.GivenName + " " + i.FamilyName)
}

// Finish completes a login from the callback's state and code: the state
// must be the flow's, the code is exchanged with the PKCE verifier, the ID
// token's signature, audience, expiry, nonce and acr are checked, and the
// userinfo endpoint gives the SubjectNameID.
func (p *PSC) Finish(ctx context.Context, f PSCFlow, state, code string) (PSCIdentity, error) {
	if f.State == "" || subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return PSCIdentity{}, ErrPSCState
	}
	ctx = oidc.ClientContext(ctx, p.client)
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return PSCIdentity{}, fmt.Errorf("%w: code exchange: %v", ErrPSCToken, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return PSCIdentity{}, fmt.Errorf("%w: no id_token", ErrPSCToken)
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return PSCIdentity{}, fmt.Errorf("%w: id_token: %v", ErrPSCToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return PSCIdentity{}, fmt.Errorf("%w: nonce", ErrPSCToken)
	}
	var claims struct {
		ACR string `json:"acr"`
	}
	if err := idt.Claims(&claims); err != nil {
		return PSCIdentity{}, fmt.Errorf("%w: id_token claims: %v", ErrPSCToken, err)
	}
	if acrRank[claims.ACR] < acrRank[PSCRequiredACR] {
		return PSCIdentity{ACR: claims.ACR}, ErrPSCLowACR
	}
	id, err := p.userInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return PSCIdentity{}, err
	}
	// OpenID Connect Core §5.3.2: the userinfo sub must be the ID token's.
	if id.Subject != idt.Subject {
		return PSCIdentity{}, fmt.Errorf("%w: userinfo sub %q differs from the id_token's %q", ErrPSCToken, id.Subject, idt.Subject)
	}
	id.ACR = claims.ACR
	return id, nil
}

// UserInfo checks a PSC access token by asking the provider's userinfo
// endpoint, for doors that receive a bearer token (IMAP and SMTP
// OAUTHBEARER, RFC 7628). The provider vouches for the token; the caller
// maps SubjectNameID to an account with Factors.PSCAccount.
func (p *PSC) UserInfo(ctx context.Context, accessToken string) (PSCIdentity, error) {
	if accessToken == "" {
		return PSCIdentity{}, ErrPSCToken
	}
	ctx = oidc.ClientContext(ctx, p.client)
	return p.userInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken, TokenType: "Bearer"}))
}

func (p *PSC) userInfo(ctx context.Context, ts oauth2.TokenSource) (PSCIdentity, error) {
	ui, err := p.provider.UserInfo(ctx, ts)
	if err != nil {
		return PSCIdentity{}, fmt.Errorf("%w: userinfo: %v", ErrPSCToken, err)
	}
	var id PSCIdentity
	if err := ui.Claims(&id); err != nil {
		return PSCIdentity{}, fmt.Errorf("%w: userinfo claims: %v", ErrPSCToken, err)
	}
	id.Subject = ui.Subject
	if id.SubjectNameID == "" {
		return PSCIdentity{}, ErrPSCNoID
	}
	return id, nil
}

// AccountForToken is UserInfo followed by the account the identity is
// linked to: what a mail door needs of an OAUTHBEARER token. An identity
// linked to no account gives ErrNotFound.
func (p *PSC) AccountForToken(ctx context.Context, f *Factors, accessToken string) (int64, PSCIdentity, error) {
	id, err := p.UserInfo(ctx, accessToken)
	if err != nil {
		return 0, PSCIdentity{}, err
	}
	acct, err := f.PSCAccount(ctx, id.SubjectNameID)
	if err != nil {
		return 0, id, err
	}
	return acct, id, nil
}
