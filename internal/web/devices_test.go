package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/skip2/go-qrcode"

	"caduceus/internal/autoconfig"
	"caduceus/internal/core"
)

func (e *env) postBody(c *http.Client, path string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var credentialRe = regexp.MustCompile(`id="device-credential">(cdc-[a-z2-7]+)<`)

// mailLogin logs in as a mail client would, with a device credential.
func mailLogin(svc *core.Service, addr, credential string) error {
	_, err := svc.MailLogin(context.Background(), core.MailCredentials{Door: "imap", Remote: "127.0.0.1", Mechanism: "PLAIN", Username: addr, Secret: credential})
	return err
}

// "Appareils mobiles": enrolling shows a working credential and its QR code
// once; the list shows the device without it; renaming and revoking work,
// and the revoked credential stops opening the mailbox. Nobody else may
// touch the device.
func TestDevicesPage(t *testing.T) {
	e := newEnv(t)
	c := e.login(alice)
	_, body := e.get(c, "/account/devices")
	if !strings.Contains(body, "Appareils mobiles") || !strings.Contains(body, "Aucun appareil") {
		t.Fatalf("devices page:\n%s", body)
	}
	res, body := e.postBody(c, "/account/devices", url.Values{"name": {"iPhone de garde"}})
	m := credentialRe.FindStringSubmatch(body)
	if res.StatusCode != 200 || m == nil || !strings.Contains(body, `src="data:image/png;base64,`) {
		t.Fatalf("enrolment: %s\n%s", res.Status, body)
	}
	credential := m[1]
	if err := mailLogin(e.svc, alice, credential); err != nil {
		t.Fatalf("the credential shown does not log in: %v", err)
	}
	_, body = e.get(c, "/account/devices")
	if strings.Contains(body, credential) || !strings.Contains(body, "iPhone de garde") || !strings.Contains(body, "dernière utilisation :") {
		t.Fatalf("list after enrolment (the credential must not show again):\n%s", body)
	}
	if res, _ := e.postBody(c, "/account/devices", url.Values{"name": {"  "}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("an empty name: %s", res.Status)
	}
	ds, err := e.svc.Devices(context.Background(), core.System("test"), alice)
	if err != nil || len(ds) != 1 {
		t.Fatalf("devices = %v, %v", ds, err)
	}
	id := ds[0].ID
	path := "/account/devices/" + strconv.FormatInt(id, 10)

	if res := e.post(c, path+"/rename", url.Values{"name": {"Thunderbird du cabinet"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %s", res.Status)
	}
	_, body = e.get(c, "/account/devices?done=renamed")
	if !strings.Contains(body, "Thunderbird du cabinet") || !strings.Contains(body, "renommé") {
		t.Fatalf("after rename:\n%s", body)
	}
	bobC := e.login(bob)
	if res := e.post(bobC, path+"/revoke", nil); res.StatusCode < 400 {
		t.Errorf("bob revoked alice's device: %s", res.Status)
	}
	if err := mailLogin(e.svc, alice, credential); err != nil {
		t.Fatalf("after bob's try: %v", err)
	}
	c = e.login(alice) // the test server's client holds one session at a time
	if res := e.post(c, path+"/revoke", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %s", res.Status)
	}
	if err := mailLogin(e.svc, alice, credential); !errors.Is(err, core.ErrAuth) {
		t.Fatalf("revoked credential: %v", err)
	}
	if _, body = e.get(c, "/account/devices"); !strings.Contains(body, "Aucun appareil") {
		t.Fatal("a revoked device is still listed")
	}
}

// TestDeviceEnrolmentInBrowser enrols a phone as a person would: account
// menu, "Appareils mobiles", a name, and the page shows the QR code of the
// settings with the credential, which logs in. With -update the page is
// kept in docs/screenshots.
func TestDeviceEnrolmentInBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := newBrowser(t, 1280, 900)
	e.browserLogin(t, ctx, alice)
	do(t, ctx,
		click(chromedp.ID("account-button")),
		chromedp.WaitVisible(chromedp.ID("account-menu")),
		click(chromedp.CSS(`#account-menu a[href="/account/devices"]`)),
		chromedp.WaitVisible(chromedp.ID("dev-name")),
		chromedp.SendKeys(chromedp.ID("dev-name"), "iPhone de garde"),
		chromedp.Submit(chromedp.ID("dev-name")),
		chromedp.WaitVisible(chromedp.ID("device-qr")),
	)
	credential := run(t, ctx, chromedp.Text(chromedp.ID("device-credential")))
	src := run(t, ctx, chromedp.AttributeValue(chromedp.ID("device-qr"), "src"))
	loaded := run(t, ctx, chromedp.Evaluate[bool](`document.getElementById("device-qr").complete && document.getElementById("device-qr").naturalWidth > 200`))
	if !loaded {
		t.Fatal("the QR code image did not load")
	}
	if err := mailLogin(e.svc, alice, credential); err != nil {
		t.Fatalf("the credential on the page does not log in: %v", err)
	}
	// The QR code holds the settings and this very credential.
	want, err := qrcode.Encode(autoconfig.DeviceURI(autoconfig.FromListeners("mx.test.mssante.fr", "", "", "", ""), alice, credential), qrcode.Medium, 320)
	if err != nil {
		t.Fatal(err)
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src.Value, "data:image/png;base64,"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the QR code does not encode the device's settings and credential (%v)", err)
	}
	png := run(t, ctx, chromedp.FullScreenshot(100))
	dir := t.TempDir()
	if *update {
		dir = filepath.Join("..", "..", "docs", "screenshots")
	}
	if err := os.WriteFile(filepath.Join(dir, "devices-desktop.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
