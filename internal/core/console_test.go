package core

import "testing"

// The method of a login entry is read from the core's and the web door's
// details; factor changes the web door traces as logins are not logins.
func TestLoginMethod(t *testing.T) {
	for _, c := range []struct {
		detail, want string
		ok           bool
	}{
		{`method=password credential=password ua="curl"`, "password", true},
		{"method=device", "device", true},
		{"method=psc-token credential=x", "psc-token", true},
		{"totp | | Mozilla/5.0", "totp", true},
		{"card-remove | removed by its owner | Mozilla", "", false},
		{"passkey-enrol | passkey added | x", "", false},
		{"psc-link | linked | x", "", false},
		{"", "", false},
	} {
		got, ok := loginMethod(c.detail)
		if got != c.want || ok != c.ok {
			t.Errorf("loginMethod(%q) = %q, %v; want %q, %v", c.detail, got, ok, c.want, c.ok)
		}
	}
}

// A generated password is 20 characters of the alphabet in groups of five,
// and differs each time.
func TestNewTempPassword(t *testing.T) {
	a, b := newTempPassword(), newTempPassword()
	if a == b || len(a) != 23 || a[5] != '-' || a[11] != '-' || a[17] != '-' {
		t.Fatalf("temporary passwords %q and %q", a, b)
	}
}
