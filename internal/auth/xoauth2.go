package auth

import (
	"bytes"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"
)

// XOAuth2Authenticator checks the user name and bearer token of an XOAUTH2
// exchange.
type XOAuth2Authenticator func(username, token string) error

// NewXOAuth2Server returns the server side of Google's XOAUTH2 mechanism,
// which Thunderbird and Outlook use beside OAUTHBEARER (RFC 7628): the
// client sends "user=ADDR^Aauth=Bearer TOKEN^A^A"; on failure the server
// answers a JSON challenge, the client an empty response, and the exchange
// fails.
func NewXOAuth2Server(authenticate XOAuth2Authenticator) sasl.Server {
	return &xoauth2Server{authenticate: authenticate}
}

type xoauth2Server struct {
	authenticate XOAuth2Authenticator
	step         int
	failed       error
}

// errXOAuth2 is a malformed XOAUTH2 response.
var errXOAuth2 = errors.New("sasl: malformed XOAUTH2 response")

func (s *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		if response == nil {
			s.step = 1
			return []byte{}, false, nil
		}
		return s.check(response)
	case 1:
		return s.check(response)
	case 2:
		s.step = 3
		return nil, true, s.failed
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

func (s *xoauth2Server) check(response []byte) ([]byte, bool, error) {
	s.step = 2
	var user, token string
	for _, f := range bytes.Split(response, []byte{1}) {
		k, v, _ := strings.Cut(string(f), "=")
		switch k {
		case "user":
			user = v
		case "auth":
			if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
				token = v[7:]
			}
		}
	}
	if user == "" || token == "" {
		s.step = 3
		return nil, true, errXOAuth2
	}
	if err := s.authenticate(user, token); err != nil {
		s.failed = err
		return []byte(`{"status":"401","schemes":"bearer"}`), false, nil
	}
	return nil, true, nil
}
