package web

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

var update = flag.Bool("update", false, "rewrite docs/screenshots from the pages as they are now")

// TestScreenshots takes the main pages at desktop and phone sizes. With
// -update it keeps them in docs/screenshots:
//
//	go test ./internal/web -run TestScreenshots -args -update
func TestScreenshots(t *testing.T) {
	sizes := []struct {
		name          string
		width, height int
	}{
		{"desktop", 1280, 800},
		{"phone", 390, 844},
	}
	dir := t.TempDir()
	if *update {
		dir = filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range sizes {
		t.Run(size.name, func(t *testing.T) {
			e := newDirEnv(t)
			e.seedDemo()
			e.seedDirectory(3)
			if err := e.svc.SetRole(context.Background(), core.System("test"), alice, coretest.Domain, core.RoleManager); err != nil {
				t.Fatal(err)
			}
			ctx := newBrowser(t, size.width, size.height)
			shot := func(name string) {
				t.Helper()
				png := run(t, ctx, chromedp.CaptureScreenshot())
				if len(png) < 1000 {
					t.Fatalf("%s: empty screenshot", name)
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, size.name)), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			do(t, ctx, chromedp.Navigate(e.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
			shot("login")
			e.browserLogin(t, ctx, alice)
			shot("inbox")
			do(t, ctx,
				click(chromedp.CSS(".row:nth-child(3) a")),
				chromedp.WaitVisible(chromedp.CSS(".body-frame, .plain")),
			)
			shot("message")
			do(t, ctx,
				click(chromedp.CSS(".toolbar a.button")),
				chromedp.WaitVisible(chromedp.ID("body")),
			)
			shot("reply")
			do(t, ctx,
				chromedp.Navigate(e.srv.URL+"/"),
				chromedp.WaitVisible(chromedp.ID("account-button")),
				click(chromedp.ID("account-button")),
				chromedp.WaitVisible(chromedp.ID("account-menu")),
			)
			shot("account-menu")
			do(t, ctx, chromedp.Navigate(e.srv.URL+"/account"), chromedp.WaitVisible(chromedp.ID("messaging-link")))
			shot("account")
			do(t, ctx, chromedp.Navigate(e.srv.URL+"/admin"), chromedp.WaitVisible(chromedp.ID("adm-acc-h")))
			shot("admin")
			do(t, ctx, chromedp.Navigate(e.srv.URL+"/directory?q=dupont"), chromedp.WaitVisible(chromedp.CSS(".dir-list")))
			shot("directory")
			do(t, ctx, chromedp.Navigate(e.srv.URL+"/directory/card?id=l:lefebvre"), chromedp.WaitVisible(chromedp.ID("card-h")))
			shot("card")
		})
	}
}
