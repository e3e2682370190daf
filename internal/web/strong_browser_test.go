package web

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"caduceus/internal/core/coretest"
)

// localBase is the test server's URL by name: WebAuthn and the PSC
// callback want the host of the app's base URL.
func (e *env) localBase() string {
	return strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1)
}

// shoot keeps a screenshot of the page, in docs/screenshots with -update.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := t.TempDir()
	if *update {
		dir = filepath.Join("..", "..", "docs", "screenshots")
	}
	png := run(t, ctx, chromedp.CaptureScreenshot())
	if len(png) < 1000 {
		t.Fatalf("%s: empty screenshot", name)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// browserLoginAt is browserLogin against base.
func (e *env) browserLoginAt(t *testing.T, ctx context.Context, base, addr string) {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), addr),
		chromedp.SendKeys(chromedp.ID("password"), coretest.Password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("code"), e.lastCode(addr)),
		chromedp.Submit(chromedp.ID("code")),
	)
}

// TestBrowserPasskey enrols a passkey in Chromium's virtual authenticator
// (the DevTools WebAuthn domain) from the security page, then logs in with
// it alone from the login page, which now offers it first.
func TestBrowserPasskey(t *testing.T) {
	e := newEnv(t)
	ctx := newBrowser(t, 1280, 900)
	base := e.localBase()
	do(t, ctx, chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn domain: %v", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
		Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
		IsUserVerified: true, AutomaticPresenceSimulation: true,
	}}); err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}
	e.browserLoginAt(t, ctx, base, alice)
	do(t, ctx,
		chromedp.WaitVisible(chromedp.CSS("[data-list]")),
		chromedp.Navigate(base+"/account/security"),
		chromedp.WaitVisible(chromedp.ID("passkey-add")),
		chromedp.SendKeys(chromedp.ID("passkey-name"), "Poste du cabinet"),
		click(chromedp.ID("passkey-add")),
	)
	waitText(t, ctx, "#passkey-list", "Poste du cabinet")
	shoot(t, ctx, "security-desktop")

	// Log out, then in with the passkey alone.
	do(t, ctx,
		click(chromedp.ID("account-button")),
		chromedp.WaitVisible(chromedp.ID("account-menu")),
		click(chromedp.CSS(`#account-menu form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.ID("passkey-heading")),
	)
	shoot(t, ctx, "login-passkey-desktop")
	do(t, ctx,
		click(chromedp.ID("passkey-login")),
	)
	waitText(t, ctx, "[data-list]", "")
	do(t, ctx, chromedp.Navigate(base+"/account/security"))
	waitText(t, ctx, "#activity-table", "clé d’accès")
}

// TestBrowserPSC logs in through the test Pro Santé Connect provider: the
// first time links the identity after password and code, the second time
// PSC alone opens the inbox.
func TestBrowserPSC(t *testing.T) {
	pe := newPSCEnv(t)
	pe.prov.LogIn(drMartin, "eidas1")
	ctx := newBrowser(t, 1280, 900)
	base := pe.localBase()
	do(t, ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("psc-login")),
		click(chromedp.ID("psc-login")),
	)
	waitText(t, ctx, ".link-facts", "810002813839")
	shoot(t, ctx, "psc-link-desktop")
	// The provider's pages are another site: Chromium swaps the renderer
	// on the way back, so the forms are filled by script, by element id.
	fillAndSubmit(t, ctx, map[string]string{"email": alice, "password": coretest.Password}, "password")
	waitText(t, ctx, "#code", "")
	fillAndSubmit(t, ctx, map[string]string{"code": pe.lastCode(alice)}, "code")
	waitText(t, ctx, "#psc-list", "810002813839")
	run(t, ctx, chromedp.Evaluate[bool](`(() => { document.querySelector('#account-menu form[action="/logout"]').submit(); return true; })()`))
	waitText(t, ctx, "#psc-login", "")
	run(t, ctx, chromedp.Evaluate[bool](`(() => { document.getElementById("psc-login").click(); return true; })()`))
	waitText(t, ctx, "[data-list]", "")
}

// waitText waits until the element selector matches holds want (any text
// when want is empty), reading the live DOM each time, so that page loads
// in between (redirects through the provider) do not matter.
func waitText(t *testing.T, ctx context.Context, selector, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	expr := `(() => { const n = document.querySelector(` + "`" + selector + "`" + `); return n ? n.innerText + "\u0001" : ""; })()`
	var last string
	for time.Now().Before(deadline) {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err == nil && got != "" && strings.Contains(got, want) {
			return strings.TrimSuffix(got, "\u0001")
		}
		last = got
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	t.Fatalf("%s never showed %q (at %s, last %q)", selector, want, loc, last)
	return ""
}

// TestBrowserSecuritySettings turns on an authenticator app from the
// security page and reads back the recovery codes, shown once.
func TestBrowserSecuritySettings(t *testing.T) {
	e := newEnv(t)
	ctx := newBrowser(t, 1280, 1400)
	base := e.localBase()
	e.browserLoginAt(t, ctx, base, bob)
	do(t, ctx,
		chromedp.WaitVisible(chromedp.CSS("[data-list]")),
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(chromedp.ID("security-link")),
		click(chromedp.ID("security-link")),
		chromedp.WaitVisible(chromedp.ID("totp-begin")),
		click(chromedp.ID("totp-begin")),
	)
	secret := waitText(t, ctx, "#totp-secret", "")
	shoot(t, ctx, "security-totp-desktop")
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("totp-code"), totpNow(t, secret)),
		chromedp.Submit(chromedp.ID("totp-code")),
	)
	codes := waitText(t, ctx, "#recovery-codes", "-")
	if n := len(regexp.MustCompile(`[a-z2-9]{5}-[a-z2-9]{5}`).FindAllString(codes, -1)); n != 10 {
		t.Fatalf("%d recovery codes shown", n)
	}
	if sessions := waitText(t, ctx, "#session-table", "cette session"); !strings.Contains(sessions, "Chrome") {
		t.Fatalf("sessions: %q", sessions)
	}
}

// fillAndSubmit types values into the elements of those ids and submits
// the form of the element submit names, by script.
func fillAndSubmit(t *testing.T, ctx context.Context, values map[string]string, submit string) {
	t.Helper()
	js, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	expr := `((v, s) => { for (const [id, val] of Object.entries(v)) document.getElementById(id).value = val; document.getElementById(s).form.submit(); return true; })(` + string(js) + `, "` + submit + `")`
	run(t, ctx, chromedp.Evaluate[bool](expr))
}

// TestBrowserCard logs in with a CPx card in Chromium: the card's key and
// certificate in an NSS database under the browser's HOME (certutil and
// pk12util from libnss3-tools), chosen without a prompt by an
// AutoSelectCertificateForUrls policy that names only this test's host.
// The first time the guide's linking page comes, then password and code;
// the second time the card alone opens the inbox.
func TestBrowserCard(t *testing.T) {
	for _, tool := range []string{"certutil", "pk12util", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (scripts/test.sh installs libnss3-tools)", tool)
		}
	}
	ce := newCardEnv(t)
	_, port, _ := net.SplitHostPort(ce.srv.Listener.Addr().String())
	const host = "carte.caduceus.test"
	origin := "https://" + host + ":" + port
	policies := "/etc/chromium/policies/managed"
	if err := os.MkdirAll(policies, 0o755); err != nil {
		t.Skipf("cannot write Chromium policies: %v", err)
	}
	rule, _ := json.Marshal(map[string]any{"pattern": origin, "filter": map[string]any{}})
	policy, _ := json.Marshal(map[string]any{"AutoSelectCertificateForUrls": []string{string(rule)}})
	policyFile := filepath.Join(policies, "caduceus-test-card-"+port+".json")
	if err := os.WriteFile(policyFile, policy, 0o644); err != nil {
		t.Skipf("cannot write Chromium policies: %v", err)
	}
	t.Cleanup(func() { os.Remove(policyFile) })

	home := t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb")
	os.MkdirAll(db, 0o700)
	certPEM, keyPEM := ce.good.PEM(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	interPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ce.h.Inter.Raw})
	for _, args := range [][]string{
		{"certutil", "-N", "-d", "sql:" + db, "--empty-password"},
		{"openssl", "pkcs12", "-export", "-in", write("card.pem", certPEM), "-inkey", write("card.key", keyPEM),
			"-certfile", write("inter.pem", interPEM), "-name", "CPS ALICE MARTIN", "-out", filepath.Join(dir, "card.p12"), "-passout", "pass:test"},
		{"pk12util", "-i", filepath.Join(dir, "card.p12"), "-d", "sql:" + db, "-W", "test"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ctx := newBrowser(t, 1280, 900, chromedp.Env("HOME="+home),
		chromedp.Flag("host-resolver-rules", "MAP "+host+" 127.0.0.1"))
	do(t, ctx, chromedp.Navigate(origin+"/login"), chromedp.WaitVisible(chromedp.ID("card-login")))
	run(t, ctx, chromedp.Evaluate[bool](`(() => { document.getElementById("card-login").click(); return true; })()`))
	waitText(t, ctx, ".link-facts", "810002813839")
	shoot(t, ctx, "card-link-desktop")
	fillAndSubmit(t, ctx, map[string]string{"email": alice, "password": coretest.Password}, "password")
	waitText(t, ctx, "#code", "")
	fillAndSubmit(t, ctx, map[string]string{"code": ce.lastCode(alice)}, "code")
	waitText(t, ctx, "#card-list", "810002813839")
	run(t, ctx, chromedp.Evaluate[bool](`(() => { document.querySelector('#account-menu form[action="/logout"]').submit(); return true; })()`))
	waitText(t, ctx, "#card-login", "")
	run(t, ctx, chromedp.Evaluate[bool](`(() => { document.getElementById("card-login").click(); return true; })()`))
	waitText(t, ctx, "[data-list]", "")
}
