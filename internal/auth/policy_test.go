package auth

import (
	"errors"
	"testing"
)

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		password string
		want     error
	}{
		{"court", ErrPasswordShort},
		{"motdepasse12", ErrPasswordCommon},
		{"Motdepasse2024!", ErrPasswordCommon},
		{"P@ssw0rd123456", ErrPasswordCommon},
		{"Azerty123456789", ErrPasswordCommon},
		{"123456789012", ErrPasswordCommon},
		{"aaaaaaaaaaaaaa", ErrPasswordCommon},
		{"SoleilSoleil2024", ErrPasswordCommon},
		{"alice.martin2024", ErrPasswordPerson},
		{"Martin!Alice#99", ErrPasswordPerson},
		{"Martin!Alice#ruisseau", nil},
		{"correct cheval agrafe batterie", nil},
		{"vK7#qL9!zR2@", nil},
	}
	for _, tt := range tests {
		if err := CheckPassword(tt.password, "alice.martin@chu-demo.mssante.fr"); !errors.Is(err, tt.want) {
			t.Errorf("%q: err = %v, want %v", tt.password, err, tt.want)
		}
	}
}
