package web

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"caduceus/internal/audit"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// In a browser, the console draws its charts with the app's stylesheet
// under the strict CSP, and the account page generates a password shown
// once. With -update the shots are kept in docs/screenshots:
//
//	go test ./internal/web -run TestConsoleBrowser -args -update
func TestConsoleBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.SetRole(ctx, core.System("test"), alice, coretest.Domain, core.RoleManager); err != nil {
		t.Fatal(err)
	}
	// A month of activity, as the doors would have traced it.
	now := time.Now()
	for d := 29; d >= 0; d-- {
		at := now.AddDate(0, 0, -d)
		n := 3 + (d*7)%11
		for i := range n {
			for _, en := range []audit.Entry{
				{At: at, Actor: alice, Door: "submission", Action: "send", Target: alice, Result: "ok", Detail: "1 local, 0 remote"},
				{At: at, Actor: "system:smtp", Door: "smtp", Action: "deliver", Target: bob, Result: "ok"},
				{At: at, Actor: "system:smtp", Door: "smtp", Action: "deliver", Target: alice, Result: "ok"},
				{At: at, Actor: bob, Door: "imap", Action: "login", Target: bob, Result: "ok", Detail: "method=" + []string{"password", "device", "code"}[(i+d)%3]},
			} {
				if err := e.svc.Audit().Write(ctx, en); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	dir := t.TempDir()
	if *update {
		dir = filepath.Join("..", "..", "docs", "screenshots")
	}
	b := newBrowser(t, 1280, 900)
	e.browserLogin(t, b, alice)
	do(t, b,
		chromedp.Navigate(e.srv.URL+"/admin"),
		chromedp.WaitVisible(chromedp.CSS("svg.chart-svg rect")),
		chromedp.ScrollIntoView(chromedp.ID("adm-fig-h")),
	)
	fill := run(t, b, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#fig-logins-h").closest("figure").querySelector("rect")).fill`))
	if fill == "" || fill == "rgb(0, 0, 0)" || fill == "none" {
		t.Fatalf("the bars are not coloured by the stylesheet: fill %q", fill)
	}
	shot := func(name string) {
		t.Helper()
		png := run(t, b, chromedp.CaptureScreenshot())
		if len(png) < 1000 {
			t.Fatalf("%s: empty screenshot", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-desktop.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shot("admin-charts")
	do(t, b,
		chromedp.Navigate(e.srv.URL+"/admin/account?domain="+coretest.Domain+"&address="+bob),
		chromedp.WaitVisible(chromedp.ID("acc-pw-h")),
		click(chromedp.CSS(`button[value="generate"]`)),
		chromedp.WaitVisible(chromedp.CSS(".temp-password")),
	)
	shown := run(t, b, chromedp.Text(chromedp.CSS(".temp-password")))
	if _, err := e.svc.Login(ctx, "test", "", bob, shown); err != nil {
		t.Fatalf("the password the page shows does not log in: %v", err)
	}
	shot("admin-account")
}
