package auth

import "context"

// PSCBearer checks the Pro Santé Connect access tokens mail clients present
// (OAUTHBEARER, RFC 7628, and XOAUTH2) with the provider's userinfo
// endpoint, and finds the account the professional linked to Pro Santé
// Connect. It is the core's BearerVerifier.
type PSCBearer struct {
	PSC     *PSC
	Factors *Factors
}

// VerifyBearer returns the account of the token's professional.
func (b PSCBearer) VerifyBearer(ctx context.Context, token string) (int64, error) {
	id, _, err := b.PSC.AccountForToken(ctx, b.Factors, token)
	return id, err
}
