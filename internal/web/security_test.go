package web

import "testing"

// TestLoginDetail reads the method and user agent of both forms of login
// trail entries the security page lists.
func TestLoginDetail(t *testing.T) {
	tests := []struct{ detail, method, ua string }{
		{"password+email-code | wrong code | Firefox/140.0", "password+email-code", "Firefox/140.0"},
		{`method=code ua="Mozilla/5.0 (X11) \"quoted\"" reason="wrong secret"`, "code", `Mozilla/5.0 (X11) "quoted"`},
		{"method=device credential=device:3", "device", ""},
		{`method=totp ua="broken`, "totp", ""},
		{"something else", "something else", ""},
	}
	for _, tt := range tests {
		if m, ua := loginDetail(tt.detail); m != tt.method || ua != tt.ua {
			t.Errorf("loginDetail(%q) = %q, %q; want %q, %q", tt.detail, m, ua, tt.method, tt.ua)
		}
	}
}
