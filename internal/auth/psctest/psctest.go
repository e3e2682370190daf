// Package psctest runs a real OpenID Connect provider, built with
// zitadel/oidc's op package, that answers as Pro Santé Connect does: the
// authorisation code flow with PKCE, an acr claim in the ID token, and the
// PSC claim set (SubjectNameID, SubjectRefPro…) at the userinfo endpoint. Its
// login page logs in whoever the test named, at the level the test chose,
// so that tests of the relying party (the web app, the mail doors'
// OAUTHBEARER) speak to a genuine provider over TLS.
package psctest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The client the provider knows.
const (
	ClientID     = "caduceus-test"
	ClientSecret = "psc-test-secret"
)

// Person is a professional the provider can log in.
type Person struct {
	SubjectNameID string // idNat, e.g. "810002813839"
	GivenName     string
	FamilyName    string
	Email         string
}

// Provider is a running test provider.
type Provider struct {
	// Issuer is the provider's URL (https on loopback).
	Issuer string
	srv    *httptest.Server
	op     *op.Provider
	st     *memStorage
}

// Start runs a provider for the test that accepts the redirect URIs given.
// It stops with the test.
func Start(t testing.TB, redirectURIs ...string) *Provider {
	t.Helper()
	p := &Provider{}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.st = &memStorage{key: key, requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]*token{},
		redirects: redirectURIs, acr: "eidas1"}
	mux := http.NewServeMux()
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	p.Issuer = p.srv.URL
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	prov, err := op.NewProvider(&op.Config{CryptoKey: cryptoKey, CodeMethodS256: true, AuthMethodPost: true,
		SupportedScopes: []string{"openid", "scope_all"}}, p.st, op.StaticIssuer(p.Issuer),
		op.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	p.op = prov
	mux.HandleFunc("GET /login", p.login)
	mux.Handle("/", prov)
	return p
}

// Client returns an HTTP client that trusts the provider's certificate.
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// TLSConfig returns client TLS settings that trust the provider.
func (p *Provider) TLSConfig() *tls.Config {
	return p.srv.Client().Transport.(*http.Transport).TLSClientConfig
}

// LogIn makes the provider's login page log in person at level acr (such
// as "eidas1", or "" for none) from now on.
func (p *Provider) LogIn(person Person, acr string) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.person, p.st.acr = person, acr
}

// AccessToken returns a fresh access token for person, as if they had just
// logged in to ClientID, for tests of bearer-token doors.
func (p *Provider) AccessToken(ctx context.Context, person Person) (string, error) {
	p.st.mu.Lock()
	id := randomID()
	p.st.tokens[id] = &token{subject: subjectOf(person), person: person, expires: time.Now().Add(time.Hour)}
	p.st.mu.Unlock()
	return op.CreateBearerToken(id, subjectOf(person), p.op.Crypto())
}

// login is the provider's own login page: it logs in the chosen person at
// once and sends the browser back through the op's callback.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	p.st.mu.Lock()
	req, ok := p.st.requests[id]
	if ok {
		req.person, req.acr, req.done, req.authTime = p.st.person, p.st.acr, true, time.Now()
	}
	p.st.mu.Unlock()
	if !ok {
		http.Error(w, "unknown auth request", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(op.ContextWithIssuer(r.Context(), p.Issuer), id), http.StatusFound)
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// memStorage is the provider's state: one client, auth requests, codes and
// access tokens, in memory.
type memStorage struct {
	key       *rsa.PrivateKey
	redirects []string

	mu       sync.Mutex
	person   Person
	acr      string
	requests map[string]*authRequest
	codes    map[string]string // code → request id
	tokens   map[string]*token
}

type token struct {
	subject string
	person  Person
	expires time.Time
}

type authRequest struct {
	id       string
	req      *oidc.AuthRequest
	person   Person
	acr      string
	done     bool
	authTime time.Time
}

func (a *authRequest) GetID() string         { return a.id }
func (a *authRequest) GetACR() string        { return a.acr }
func (a *authRequest) GetAMR() []string      { return []string{"pwd", "otp"} }
func (a *authRequest) GetAudience() []string { return []string{a.req.ClientID} }
func (a *authRequest) GetAuthTime() time.Time {
	return a.authTime
}
func (a *authRequest) GetClientID() string { return a.req.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.CodeChallengeMethod}
}
func (a *authRequest) GetNonce() string                   { return a.req.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.req.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.req.Scopes }
func (a *authRequest) GetState() string                   { return a.req.State }
func (a *authRequest) GetSubject() string                 { return subjectOf(a.person) }
func (a *authRequest) Done() bool                         { return a.done }

var errNotFound = errors.New("psctest: not found")

func (s *memStorage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &authRequest{id: randomID(), req: req}
	s.requests[a.id] = a
	return a, nil
}

func (s *memStorage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (s *memStorage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[s.codes[code]]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (s *memStorage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest runs once the code is exchanged: the code is used up.
func (s *memStorage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for c, rid := range s.codes {
		if rid == id {
			delete(s.codes, c)
		}
	}
	return nil
}

func (s *memStorage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &token{subject: req.GetSubject(), expires: time.Now().Add(time.Hour)}
	if a, ok := req.(*authRequest); ok {
		t.person = a.person
	}
	id := randomID()
	s.tokens[id] = t
	return id, t.expires, nil
}

func (s *memStorage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("psctest: no refresh tokens")
}

func (s *memStorage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *memStorage) TerminateSession(context.Context, string, string) error { return nil }

func (s *memStorage) RevokeToken(_ context.Context, id, _, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, id)
	return nil
}

func (s *memStorage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

type signingKey struct{ k *rsa.PrivateKey }

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.k }
func (k signingKey) ID() string                                  { return "psctest" }

type publicKey struct{ k *rsa.PrivateKey }

func (k publicKey) ID() string                         { return "psctest" }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.k.PublicKey }

func (s *memStorage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{s.key}, nil
}
func (s *memStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}
func (s *memStorage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

func (s *memStorage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != ClientID {
		return nil, errNotFound
	}
	return client{redirects: s.redirects}, nil
}

func (s *memStorage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != ClientID || secret != ClientSecret {
		return errors.New("psctest: wrong client credentials")
	}
	return nil
}

// SetUserinfoFromScopes gives the ID token its subject; PSC puts the
// professional's claims at the userinfo endpoint only.
func (s *memStorage) SetUserinfoFromScopes(_ context.Context, ui *oidc.UserInfo, userID, _ string, _ []string) error {
	ui.Subject = userID
	return nil
}

func (s *memStorage) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		return errors.New("psctest: token invalid or expired")
	}
	setPSCClaims(ui, t.subject, t.person)
	return nil
}

// setPSCClaims fills the userinfo the way PSC does (mssante.md §2).
func setPSCClaims(ui *oidc.UserInfo, sub string, p Person) {
	ui.Subject = sub
	ui.GivenName, ui.FamilyName = p.GivenName, p.FamilyName
	ui.PreferredUsername = p.SubjectNameID
	if p.Email != "" {
		ui.Email = p.Email
	}
	ui.AppendClaims("SubjectNameID", p.SubjectNameID)
	ui.AppendClaims("codeCivilite", "M")
	ui.AppendClaims("SubjectRole", []string{"10^1.2.250.1.213.1.1.5.5"})
	ui.AppendClaims("Palier_Authentification", "APPPRIP3^1.2.250.1.213.1.5.1.1.1")
	ui.AppendClaims("SubjectRefPro", map[string]any{"exercices": []map[string]any{{
		"codeProfession": "10", "codeCategorieProfessionnelle": "C",
		"nomDexercice": p.FamilyName, "prenomDexercice": p.GivenName,
		"activities": []map[string]any{{"codeModeExercice": "S", "raisonSocialeSite": "CHU de test"}},
	}}})
}

func (s *memStorage) SetIntrospectionFromToken(_ context.Context, r *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok {
		return errNotFound
	}
	r.Active, r.Subject, r.ClientID = true, t.subject, clientID
	return nil
}

func (s *memStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *memStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

func (s *memStorage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}

func (s *memStorage) Health(context.Context) error { return nil }

// client is the one relying party the provider knows: a confidential web
// client with a secret sent in the POST body or by Basic auth.
type client struct{ redirects []string }

func (c client) GetID() string                       { return ClientID }
func (c client) RedirectURIs() []string              { return c.redirects }
func (c client) PostLogoutRedirectURIs() []string    { return nil }
func (c client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c client) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c client) LoginURL(id string) string            { return "/login?authRequestID=" + id }
func (c client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration       { return 5 * time.Minute }
func (c client) DevMode() bool                        { return false }
func (c client) IsScopeAllowed(scope string) bool     { return scope == "scope_all" }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c client) ClockSkew() time.Duration             { return 0 }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// subjectOf is the person's sub. PSC's are "f:<uuid>:<idNat>"; the op's
// opaque tokens hold "id:subject", so the test provider writes "f.<idNat>".
func subjectOf(p Person) string { return "f." + p.SubjectNameID }

// Certificate is the provider's TLS certificate, for clients that must
// trust it beside another server.
func (p *Provider) Certificate() *x509.Certificate { return p.srv.Certificate() }
