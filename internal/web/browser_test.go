package web

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"caduceus/internal/core/coretest"
)

// newBrowser starts Debian's Chromium, headless, for one test, and returns
// a tab sized width × height.
func newBrowser(t *testing.T, width, height int, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed")
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}, extra...)...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTime)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs browser steps and fails the test on the first error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// run runs one browser step that returns a value.
func run[T any](t *testing.T, ctx context.Context, step chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, step)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// browserLogin logs in as a person would: e-mail and password, then the
// code read from the development outbox page.
func (e *env) browserLogin(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate(e.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	e.browserCredentials(t, ctx, addr)
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("[data-list]")))
}

// browserCredentials fills the login form on the page, then reads the code
// on the development outbox page and types it in.
func (e *env) browserCredentials(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("email"), addr),
		chromedp.SendKeys(chromedp.ID("password"), coretest.Password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	codePage := run(t, ctx, chromedp.Location())
	do(t, ctx,
		chromedp.Navigate(e.srv.URL+"/dev/outbox"),
		chromedp.WaitVisible(chromedp.CSS(".outbox-text")),
	)
	text := run(t, ctx, chromedp.Text(chromedp.CSS(".outbox li:first-child .outbox-text")))
	code := regexp.MustCompile(`[0-9]{6}`).FindString(text)
	if code == "" {
		t.Fatalf("no code in the outbox: %q", text)
	}
	do(t, ctx,
		chromedp.Navigate(codePage),
		chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Submit(chromedp.ID("code")),
	)
}

// click clicks what sel finds, finding it again when the page replaced it
// between the query and the click: the folder list and the message list
// are redrawn live as mail arrives, and a click must not fail for that.
func click[S chromedp.Selectable](sel S, opts ...chromedp.QueryOption) chromedp.Action[chromedp.Void] {
	c := chromedp.Click(sel, opts...)
	return func(ctx context.Context, tgt *chromedp.Target) (chromedp.Void, error) {
		var v chromedp.Void
		var err error
		for range 3 {
			if v, err = c(ctx, tgt); err == nil || !strings.Contains(err.Error(), "Could not find node") {
				return v, err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return v, err
	}
}
