// Package webtest drives the console in headless Chromium (Debian's chromium
// package) from Go tests, through chromedp: a browser per test, a browser
// context per user (cookies of their own), screenshots of each page at a
// desktop and a tablet width, and a watch on the console that fails the test
// on any script error or Content-Security-Policy violation.
package webtest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

var screenshotFlag = flag.String("screenshots", "", "directory for the console's screenshots (else $CATS_SCREENSHOTS, else the test's temporary directory)")

// DefaultChromium is where Debian's chromium package puts the browser
// (scripts/install-chromium.sh installs it).
const DefaultChromium = "/usr/bin/chromium"

// Widths are the screen sizes every screenshot is taken at.
var Widths = []struct {
	Name          string
	Width, Height int64
}{{"desktop", 1280, 800}, {"tablet", 820, 1180}}

// inCI reports whether the tests run in CI, where a missing browser is a
// failure and never a skip.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

// Chromium is the browser to drive: $CATS_CHROMIUM, else DefaultChromium.
// Without it the test fails in CI and is skipped elsewhere.
func Chromium(t testing.TB) string {
	t.Helper()
	path := os.Getenv("CATS_CHROMIUM")
	if path == "" {
		path = DefaultChromium
	}
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("no Chromium at %s (set CATS_CHROMIUM, or run scripts/install-chromium.sh): %v", path, err)
		if inCI() {
			t.Fatal(msg + "; the browser tests never skip in CI")
		}
		t.Skip(msg)
	}
	return path
}

// Browser is one headless Chromium for a test.
type Browser struct {
	t       testing.TB
	ctx     context.Context
	BaseURL string
	// Prefix starts the name of every screenshot, to tell tests apart.
	Prefix string
	shots  string
	mu     sync.Mutex
	count  int
}

// Start starts Chromium with a fresh profile and no background traffic (the
// closed network refuses it, and a test must not depend on it).
func Start(t testing.TB, baseURL string) *Browser {
	t.Helper()
	path := Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("lang", "ja-JP"),
		chromedp.WindowSize(int(Widths[0].Width), int(Widths[0].Height)),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	b := &Browser{t: t, ctx: ctx, BaseURL: strings.TrimSuffix(baseURL, "/"), shots: screenshotDir(t)}
	t.Logf("screenshots: %s", b.shots)
	return b
}

func screenshotDir(t testing.TB) string {
	dir := *screenshotFlag
	if dir == "" {
		dir = os.Getenv("CATS_SCREENSHOTS")
	}
	if dir == "" {
		return filepath.Join(t.TempDir(), "screenshots")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// User is a person at the browser: a browser context of its own (its own
// cookies, so its own session) with one tab.
type User struct {
	t       testing.TB
	b       *Browser
	ctx     context.Context
	Name    string
	mu      sync.Mutex
	console []string
}

// NewUser opens a tab in a fresh browser context, watching its console.
func (b *Browser) NewUser(name string) *User {
	t := b.t
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab for %s: %v", name, err)
	}
	u := &User{t: t, b: b, ctx: ctx, Name: name}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			u.mu.Lock()
			u.console = append(u.console, fmt.Sprintf("[%s %s] %s (%s:%d)", m.Type, m.Source, m.Text, m.URL, m.Line))
			u.mu.Unlock()
		}
	}()
	t.Cleanup(func() { u.CheckConsole() })
	return u
}

// problem matches what the console must never show: an uncaught exception,
// an error the scripts log, or a Content-Security-Policy or Trusted Types
// violation (the browser reports those as security errors). Failed requests
// the API answers with 4xx are expected and not matched.
var problem = regexp.MustCompile(`^\[(exception|error) (security|javascript|)\]|Content Security Policy|TrustedHTML|Trusted Type`)

// CheckConsole fails the test for each problem the console reported so far.
func (u *User) CheckConsole() {
	u.t.Helper()
	for _, m := range u.problems() {
		u.t.Errorf("%s's browser console: %s", u.Name, m)
	}
}

func (u *User) problems() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, m := range u.console {
		if problem.MatchString(m) {
			out = append(out, m)
		}
	}
	return out
}

// step bounds one action so a broken page fails the test instead of hanging it.
const step = 60 * time.Second

// Do runs actions, failing the test on an error.
func (u *User) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.t.Fatalf("%s: %s: %v\nconsole:\n%s", u.Name, what, err, strings.Join(u.consoleLines(), "\n"))
	}
}

func (u *User) consoleLines() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.console...)
}

// Eval evaluates a JavaScript expression in the page and decodes its value
// into T (through JSON).
func Eval[T any](u *User, expression string) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, step)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		u.t.Fatalf("%s: evaluate %s: %v", u.Name, expression, err)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		u.t.Fatalf("%s: evaluate %s: decode %s: %v", u.Name, expression, raw, err)
	}
	return v
}

// WaitFor waits until a JavaScript expression is true in the page. It polls
// from Go: the page's Content-Security-Policy forbids the eval that
// in-page polling would need.
func (u *User) WaitFor(what, expression string) {
	u.t.Helper()
	deadline := time.Now().Add(step)
	for {
		ctx, cancel := context.WithTimeout(u.ctx, step)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { try { return !!(`+expression+`); } catch { return false; } })()`))
		cancel()
		if err == nil && ok {
			return
		}
		if problems := u.problems(); len(problems) > 0 {
			u.t.Fatalf("%s: while waiting for %s, the page failed:\n%s", u.Name, what, strings.Join(problems, "\n"))
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("%s: waited %s for %s (%s): %v\npage text:\n%s\nconsole:\n%s", u.Name, step, what, expression, err,
				u.Text("body"), strings.Join(u.consoleLines(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Open loads a page of the console and waits until its script has drawn it.
func (u *User) Open(path string) {
	u.t.Helper()
	u.Do("open "+path, chromedp.Navigate(u.b.BaseURL+path))
	u.WaitReady()
}

// WaitReady waits until the page's script has drawn the page.
func (u *User) WaitReady() {
	u.t.Helper()
	u.WaitFor("the page to be drawn", `document.readyState === 'complete' && document.body.dataset.ready === 'true'`)
}

// Path is the page's path and query.
func (u *User) Path() string {
	u.t.Helper()
	return Eval[string](u, `location.pathname + location.search`)
}

// Text is the text of the first element a CSS selector matches ("" when none).
func (u *User) Text(selector string) string {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, step)
	defer cancel()
	sel, _ := json.Marshal(selector)
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+string(sel)+`) || {}).textContent || ''`))
	if err != nil {
		return ""
	}
	return text
}

// Count is how many elements a CSS selector matches.
func (u *User) Count(selector string) int {
	u.t.Helper()
	sel, _ := json.Marshal(selector)
	return Eval[int](u, `document.querySelectorAll(`+string(sel)+`).length`)
}

// Screenshot writes the page at every width as <n>-<name>-<width>.png,
// the whole page, not only what fits the screen.
func (u *User) Screenshot(name string) {
	u.t.Helper()
	u.screenshot(name, chromedp.FullScreenshot(100))
}

// ScreenshotScreen is Screenshot of what the screen shows only: for a modal
// dialog, whose backdrop covers the screen and not the whole page.
func (u *User) ScreenshotScreen(name string) {
	u.t.Helper()
	u.screenshot(name, chromedp.CaptureScreenshot())
}

func (u *User) screenshot(name string, capture chromedp.Action[[]byte]) {
	u.t.Helper()
	u.b.mu.Lock()
	u.b.count++
	n := u.b.count
	u.b.mu.Unlock()
	if err := os.MkdirAll(u.b.shots, 0o755); err != nil {
		u.t.Fatal(err)
	}
	for _, w := range Widths {
		u.Do("resize to "+w.Name, chromedp.EmulateViewport(w.Width, w.Height))
		// Two animation frames: the layout of the new width is painted.
		Eval[bool](u, `new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))`)
		ctx, cancel := context.WithTimeout(u.ctx, step)
		png, err := chromedp.Run(ctx, capture)
		cancel()
		if err != nil {
			u.t.Fatalf("screenshot %s at %s: %v", name, w.Name, err)
		}
		file := filepath.Join(u.b.shots, fmt.Sprintf("%s%02d-%s-%s.png", u.b.Prefix, n, name, w.Name))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			u.t.Fatal(err)
		}
		u.t.Logf("screenshot %s", file)
	}
	u.Do("resize back", chromedp.EmulateViewport(Widths[0].Width, Widths[0].Height))
}

// Cookies are the browser's cookies for the console's address, as the
// browser stored them (with the flags it honours).
func (u *User) Cookies() []*network.Cookie {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, step)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u.b.BaseURL + "/"}})
	if err != nil {
		u.t.Fatalf("%s: read the cookies: %v", u.Name, err)
	}
	return res.Cookies
}
