package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/web/webtest"
)

// gatedPlanner holds every plan until the test lets plans go, so the test
// sees a job running in the page and then finishing there, live.
type gatedPlanner struct {
	jobs.Planner
	started chan string
	release chan struct{}
}

func (g gatedPlanner) Plan(ctx context.Context, stack string, values map[string]string, onEvent func(jobs.PlanEvent)) (jobs.PlanResult, error) {
	select {
	case g.started <- stack:
	default:
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return jobs.PlanResult{}, ctx.Err()
	}
	return g.Planner.Plan(ctx, stack, values, onEvent)
}

// htmlPayload is a container image reference the program accepts (no
// whitespace) that is also markup: the console must show it as text.
const htmlPayload = `public.ecr.aws/nginx/nginx:<b>stable</b>&amp;<img/src=x/onerror=alert(document.domain)>`

// scriptEmail is an alarm e-mail the program refuses; the refusal quotes it,
// and the console must show the quote as text.
const scriptEmail = `<script>alert(1)</script>@example.jp`

func signIn(t *testing.T, u *webtest.User, token string) {
	t.Helper()
	u.WaitFor("the sign-in form", `location.pathname === '/signin' && document.querySelector('#token')`)
	u.Do("sign in", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("form.signin button[type=submit]")))
	u.WaitFor("the list after sign-in", `location.pathname === '/' && document.body.dataset.ready === 'true'`)
}

// selectOption picks an option of a select as a user would, announcing the change.
func selectOption(u *webtest.User, selector, value string) {
	sel, _ := json.Marshal(selector)
	v, _ := json.Marshal(value)
	webtest.Eval[bool](u, fmt.Sprintf(`(() => { const s = document.querySelector(%s); s.value = %s; s.dispatchEvent(new Event('change')); return s.value === %s; })()`, sel, v, v))
}

// typeInto replaces a field's text by typing. (chromedp.Clear empties the
// value attribute, not what the field holds.)
func typeInto(u *webtest.User, selector, text string) {
	sel, _ := json.Marshal(selector)
	webtest.Eval[bool](u, fmt.Sprintf(`(() => { const f = document.querySelector(%s); f.value = ''; f.dispatchEvent(new Event('input')); return true; })()`, sel))
	u.Do("type into "+selector, chromedp.SendKeys(chromedp.CSS(selector), text))
}

// fetchStatus makes a request from the page, as a script of the page could,
// and returns the status; withCSRF adds the session's CSRF token as the
// console does.
func fetchStatus(u *webtest.User, method, path, body string, withCSRF bool) int {
	b, _ := json.Marshal(body)
	p, _ := json.Marshal(path)
	js := fmt.Sprintf(`(async () => {
		const headers = { 'Content-Type': 'application/json' };
		if (%t) headers['X-CSRF-Token'] = (await (await fetch('/v1/session')).json()).csrfToken;
		return (await fetch(%s, { method: %q, headers, body: %s })).status;
	})()`, withCSRF, p, method, b)
	return webtest.Eval[int](u, js)
}

// TestConsoleInABrowser drives the console in headless Chromium against a
// real server on loopback: the platform team signs in, registers 131016 (a
// wrong check digit first, then a config value the program refuses, then
// right), watches the real offline plan finish live with its resources and
// policy table, sees markup in a config value as text, runs an up through
// the real CLI after confirming it, and is refused a change without the CSRF
// token; 011002's token sees none of 131016 and is refused its pages.
// Screenshots of each page at both widths go to -screenshots DIR (or
// $CATS_SCREENSHOTS).
func TestConsoleInABrowser(t *testing.T) {
	webtest.Chromium(t) // fails in CI, skips elsewhere, before anything starts
	// The platform team has made the retention rule advisory (its --policy-config),
	// so a short retention shows in the policy table as an advisory finding
	// and the plan succeeds.
	const advisoryRetention = `{"log-group-retention": "advisory"}`
	policy, err := parsePolicyConfig([]byte(advisoryRetention))
	if err != nil {
		t.Fatal(err)
	}
	gate := gatedPlanner{Planner: newPlanner(policy), started: make(chan string, 16), release: make(chan struct{})}
	ts := newTestServer(t)
	ts.startWith(func(o *ServeOptions) { o.Planner, o.PolicyConfig = gate, []byte(advisoryRetention) })
	b := webtest.Start(t, ts.url)

	team := b.NewUser("the platform team")
	team.Open("/")
	if p := team.Path(); p != "/signin?next=%2F" {
		t.Fatalf("a page without a session is at %s, want the sign-in page returning to /", p)
	}
	team.Screenshot("signin")
	signIn(t, team, ts.tokens["platform"])

	// The session is an HttpOnly, SameSite=Strict cookie; nothing of the
	// token stays in the page or its storage.
	var session *network.Cookie
	for _, c := range team.Cookies() {
		if c.Name == "cats_session" {
			session = c
		}
	}
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict || session.Secure || session.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/ (not Secure over plain HTTP)", session)
	}
	if leaked := webtest.Eval[bool](team, fmt.Sprintf(`localStorage.length > 0 || sessionStorage.length > 0 || document.cookie.includes('cats_session') || document.documentElement.outerHTML.includes(%q)`,
		ts.tokens["platform"])); leaked {
		t.Error("the token or the session id is readable by the page's scripts (storage, document.cookie or the DOM)")
	}
	if n := team.Count("#site-nav a[href='/fleet']"); n != 1 {
		t.Errorf("the menu offers the fleet page %d times, want once (the server has /v1/fleet)", n)
	}

	// Keyboard: the first Tab reaches the skip link, which moves focus to the content.
	team.Do("Tab", chromedp.KeyEvent("\t"))
	if got := webtest.Eval[string](team, `document.activeElement.className`); got != "skip-link" {
		t.Errorf("the first Tab focuses %q, want the skip link", got)
	}
	team.Do("Enter", chromedp.KeyEvent("\r"))
	team.WaitFor("focus on the main content", `document.activeElement.id === 'main'`)

	// Register: a wrong check digit first.
	team.Do("open the register page", chromedp.Click(chromedp.CSS("#site-nav a[href='/register']")))
	team.WaitFor("the register page", `location.pathname === '/register' && document.body.dataset.ready === 'true'`)
	selectOption(team, "#prefecture", "東京都")
	selectOption(team, "#name", "千代田区")
	if code := webtest.Eval[string](team, `document.querySelector('#code').value`); code != "131016" {
		t.Errorf("picking 千代田区 filled the code with %q, want 131016", code)
	}
	typeInto(team, "#code", "131017")
	team.Do("choose prod", chromedp.Click(chromedp.CSS("#environment-prod")))
	typeInto(team, ".config-row:nth-child(1) .config-key", "cats:logRetentionDays")
	typeInto(team, ".config-row:nth-child(1) .config-value", "14")
	team.Do("add a row", chromedp.Click(chromedp.CSS("#add-config")))
	typeInto(team, ".config-row:nth-child(2) .config-key", "cats:containerImage")
	typeInto(team, ".config-row:nth-child(2) .config-value", htmlPayload)
	team.Do("add a row", chromedp.Click(chromedp.CSS("#add-config")))
	typeInto(team, ".config-row:nth-child(3) .config-key", "cats:alarmEmail")
	typeInto(team, ".config-row:nth-child(3) .config-value", scriptEmail)
	submit := chromedp.Click(chromedp.CSS("form.register button[type=submit]"))
	team.Do("submit", submit)
	team.WaitFor("the code's error", `!document.querySelector('#code-error').hidden`)
	codeError := team.Text("#code-error")
	if !strings.Contains(codeError, "検査数字") || !strings.Contains(codeError, "正しいコードは 131016") || !strings.Contains(codeError, "131016 would be valid") {
		t.Errorf("the code's error reads %q: want the Japanese message naming 131016, with the API's own words", codeError)
	}
	if !webtest.Eval[bool](team, `(() => { const code = document.querySelector('#code'), err = document.querySelector('#code-error');
		return code.getAttribute('aria-invalid') === 'true' && code.getAttribute('aria-describedby').split(' ').includes('code-error')
			&& err.parentElement === code.parentElement && document.activeElement === code; })()`) {
		t.Error("the code's error must sit beside the code field, be tied to it (aria-describedby, aria-invalid) and take the focus")
	}
	team.Screenshot("register-code-error")

	// The right code; the program refuses the alarm e-mail, and the refusal,
	// which quotes the markup, reads as text beside its row.
	typeInto(team, "#code", "131016")
	team.Do("submit", submit)
	team.WaitFor("the alarm e-mail's error", `!document.querySelector('.config-row:nth-child(3) .field-error').hidden`)
	emailError := team.Text(".config-row:nth-child(3) .field-error")
	if !strings.Contains(emailError, "cats:alarmEmail: メールアドレス（例: ops@example.jp）を入力してください") || !strings.Contains(emailError, scriptEmail) {
		t.Errorf("the alarm e-mail's error reads %q: want the Japanese message and the refused value, as text", emailError)
	}
	if n := team.Count("script"); n != 1 {
		t.Errorf("the page has %d script elements after showing a refused value with a <script> tag, want only its own", n)
	}
	team.Screenshot("register-config-error")

	typeInto(team, ".config-row:nth-child(3) .config-value", "ops&cats@example.jp")
	team.Do("submit", submit)
	team.WaitFor("the plan job's page", `location.pathname === '/jobs/1' && document.body.dataset.ready === 'true'`)

	// The plan runs, held at the gate: the page shows it running, then its
	// steps and results arrive in the same page.
	select {
	case stack := <-gate.started:
		if stack != "131016-prod" {
			t.Fatalf("planning %s, want 131016-prod", stack)
		}
	case <-time.After(time.Minute):
		t.Fatal("the registration's plan did not start")
	}
	team.WaitFor("the job shown running", `document.querySelector('#job-status').textContent.includes('実行中')`)
	if n := team.Count("#job-log li"); n != 0 {
		t.Fatalf("the log has %d lines before the plan ran", n)
	}
	team.Screenshot("job-running")
	webtest.Eval[bool](team, `(window.sameDocument = true)`)
	close(gate.release)
	team.WaitFor("the job to finish", `document.body.dataset.jobDone === 'true'`)
	if !webtest.Eval[bool](team, `window.sameDocument === true`) {
		t.Error("the page was reloaded: the plan must finish live, through the event stream")
	}
	if status := team.Text("#job-status"); !strings.Contains(status, "成功") || !strings.Contains(status, "✔") {
		t.Errorf("job status reads %q, want succeeded with its icon and word", status)
	}
	var planned jobs.PlanResult
	if err := json.Unmarshal(ts.job(1).Result, &planned); err != nil || planned.Resources == 0 || len(planned.Violations) == 0 {
		t.Fatalf("plan result %+v (%v): want the platform program's resources and the advisory findings of a 14-day retention", planned, err)
	}
	log := team.Text("#job-log")
	for _, step := range []string{"設定を検査しました", fmt.Sprintf("リソース %d 件", planned.Resources), "ポリシーパックを評価しました", "log-group-retention"} {
		if !strings.Contains(log, step) {
			t.Errorf("the live log lacks %q:\n%s", step, log)
		}
	}
	if n := team.Count("#result-resources tbody tr"); n != len(planned.Tiers)+1 {
		t.Errorf("the resources table has %d rows, want one per tier (%d) and the total", n, len(planned.Tiers))
	}
	total := webtest.Eval[string](team, `[...document.querySelectorAll('#result-resources tbody tr')].pop().lastElementChild.textContent`)
	if strings.ReplaceAll(total, ",", "") != fmt.Sprint(planned.Resources) {
		t.Errorf("the resources table's total is %s, want the plan's %d", total, planned.Resources)
	}
	if n := team.Count("#result-policy table.violations tbody tr"); n != len(planned.Violations) {
		t.Errorf("the policy table has %d rows, want the plan's %d violations", n, len(planned.Violations))
	}
	if row := team.Text("#result-policy table.violations tbody tr"); !strings.Contains(row, "log-group-retention") || !strings.Contains(row, "推奨") {
		t.Errorf("the policy table's first row reads %q, want log-group-retention at the advisory level (推奨)", row)
	}
	team.Screenshot("job-plan-succeeded")

	// The municipality: the markup in the config shows as text.
	team.Do("open the stack", chromedp.Click(chromedp.CSS("nav.breadcrumb a[href='/municipalities/131016']")))
	team.WaitFor("the municipality page", `location.pathname === '/municipalities/131016' && document.body.dataset.ready === 'true'`)
	shown := webtest.Eval[string](team, `[...document.querySelectorAll('table.config tbody tr')].find((r) => r.cells[0].textContent === 'cats:containerImage').cells[1].textContent`)
	if shown != htmlPayload {
		t.Errorf("the config value shows as %q, want the text %q", shown, htmlPayload)
	}
	if n := team.Count("main img, main b"); n != 0 {
		t.Errorf("%d elements were made from a config value's markup", n)
	}
	for _, want := range []string{"千代田区（東京都）", "131016-prod", "plan #1", "log-group-retention", "ops&cats@example.jp"} {
		if !strings.Contains(team.Text("main"), want) {
			t.Errorf("the municipality page lacks %q", want)
		}
	}
	team.Screenshot("municipality")

	// An up, confirmed in a dialog that names the stack and keeps the focus.
	team.Do("start an up", chromedp.Click(chromedp.CSS("#stack-131016-prod button[data-operation=up]")))
	team.WaitFor("the confirmation", `document.querySelector('dialog[open]')`)
	if title := team.Text("dialog[open] h2"); !strings.Contains(title, "131016-prod") || !strings.Contains(title, "up") {
		t.Errorf("the confirmation reads %q, want it to name the stack and the operation", title)
	}
	if !webtest.Eval[bool](team, `document.querySelector('dialog[open]').matches(':modal') && document.activeElement.dataset.action === 'cancel'`) {
		t.Error("the confirmation must be modal with the focus on Cancel")
	}
	team.Do("Tab twice", chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"))
	if got := webtest.Eval[string](team, `document.activeElement.dataset.action || document.activeElement.tagName`); got != "cancel" {
		t.Errorf("two Tabs from Cancel focus %q: the dialog must keep the focus (cancel, confirm, cancel)", got)
	}
	team.ScreenshotScreen("confirm-up")
	team.Do("confirm", chromedp.Click(chromedp.CSS("dialog[open] button[data-action=confirm]")))
	team.WaitFor("the up's page", `location.pathname === '/jobs/2' && document.body.dataset.ready === 'true'`)
	team.WaitFor("the up to finish", `document.body.dataset.jobDone === 'true'`)
	if status := team.Text("#job-status"); !strings.Contains(status, "成功") {
		t.Fatalf("the up ended %q: %s", status, team.Text("main"))
	}
	if changes := team.Text("#result-changes"); !strings.Contains(changes, "作成") {
		t.Errorf("the up's changes read %q, want the creates", changes)
	}
	if log := team.Text("#job-log"); !strings.Contains(log, "操作を開始しました") || !strings.Contains(log, "終了しました") {
		t.Errorf("the up's live log lacks its start or its summary:\n%s", log)
	}
	team.Screenshot("job-up-succeeded")

	// A script of the page that changes something without the CSRF token is
	// refused, and nothing is queued; with it, the same request is accepted.
	before := len(ts.do("GET", "/v1/municipalities/131016/prod/jobs", "platform", nil).body["jobs"].([]any))
	if status := fetchStatus(team, "POST", "/v1/municipalities/131016/prod/jobs", `{"operation":"plan"}`, false); status != http.StatusForbidden {
		t.Errorf("a change with the session cookie and no CSRF token: %d, want 403", status)
	}
	if after := len(ts.do("GET", "/v1/municipalities/131016/prod/jobs", "platform", nil).body["jobs"].([]any)); after != before {
		t.Errorf("a refused request queued a job (%d jobs, then %d)", before, after)
	}
	if status := fetchStatus(team, "POST", "/v1/municipalities/131016/prod/jobs", `{"operation":"plan"}`, true); status != http.StatusAccepted {
		t.Errorf("the same change with the CSRF token: %d, want 202", status)
	}

	// The list: search and filters, and English on request.
	team.Open("/")
	if n := team.Count("table.municipalities tbody tr"); n != 1 {
		t.Errorf("the list has %d rows, want 131016-prod", n)
	}
	team.Screenshot("list")
	typeInto(team, "#filter-q", "東京")
	if n := team.Count("table.municipalities tbody tr"); n != 1 {
		t.Errorf("searching 東京 shows %d rows, want 1", n)
	}
	selectOption(team, "#filter-env", "dev")
	if n := team.Count("table.municipalities tbody tr"); n != 0 || !strings.Contains(team.Text("#results"), "条件に合うスタックはありません") {
		t.Errorf("filtering on dev shows %d rows (%q), want none", n, team.Text("#results"))
	}
	team.Open("/")
	team.Do("switch to English", chromedp.Click(chromedp.CSS(".lang-switch")))
	team.WaitFor("the English page", `document.documentElement.lang === 'en' && document.body.dataset.ready === 'true'`)
	if h1 := team.Text("h1"); h1 != "Municipalities" {
		t.Errorf("the English list's heading is %q", h1)
	}
	team.Screenshot("list-en")
	team.Do("switch back", chromedp.Click(chromedp.CSS(".lang-switch")))
	team.WaitFor("the Japanese page", `document.documentElement.lang === 'ja' && document.body.dataset.ready === 'true'`)

	team.Open("/fleet")
	team.WaitFor("the fleet", `document.body.dataset.ready === 'true'`)
	if fleetText := team.Text("main"); !strings.Contains(fleetText, "131016") || !strings.Contains(fleetText, "131016-prod") || strings.Contains(fleetText, "まだフリートの情報を提供していません") {
		t.Errorf("the fleet page reads %q, want 131016 and its stack from /v1/fleet", fleetText)
	}
	team.Screenshot("fleet")

	team.Do("sign out", chromedp.Click(chromedp.CSS("#sign-out")))
	team.WaitFor("the sign-in page", `location.pathname === '/signin' && document.body.dataset.ready === 'true'`)
	if status := webtest.Eval[int](team, `fetch('/v1/session').then((r) => r.status)`); status != http.StatusUnauthorized {
		t.Errorf("after sign-out /v1/session answers %d, want 401", status)
	}

	// 011002's token: its own municipality only.
	mustSucceed(t, ts.wait(ts.register("011002", "札幌市", "北海道", "dev", nil)))
	sapporo := b.NewUser("札幌市")
	sapporo.Open("/")
	signIn(t, sapporo, ts.tokens["other"])
	if n := sapporo.Count("table.municipalities tbody tr"); n != 1 || !strings.Contains(sapporo.Text("main"), "札幌市") {
		t.Errorf("011002 sees %d rows: %q, want its own stack", n, sapporo.Text("main"))
	}
	if body := sapporo.Text("body"); strings.Contains(body, "131016") || strings.Contains(body, "千代田区") {
		t.Errorf("011002's list shows 131016: %q", body)
	}
	if n := sapporo.Count("#site-nav a[href='/register']"); n != 0 {
		t.Error("a municipality's menu offers the registration of municipalities")
	}
	sapporo.Screenshot("list-municipality")
	sapporo.Open("/municipalities/131016")
	if main := sapporo.Text("main"); !strings.Contains(main, "表示する権限がありません") || strings.Contains(main, "千代田区") || strings.Contains(main, "prod") {
		t.Errorf("011002 opening 131016's page reads %q, want a refusal and nothing of 131016", main)
	}
	sapporo.Screenshot("municipality-refused")
	sapporo.Open("/jobs/1")
	if main := sapporo.Text("main"); !strings.Contains(main, "見つかりません") || strings.Contains(main, "131016") {
		t.Errorf("011002 opening 131016's plan job reads %q, want not found", main)
	}
	sapporo.Screenshot("job-refused")
	if status := fetchStatus(sapporo, "POST", "/v1/municipalities/131016/prod/jobs", `{"operation":"up"}`, true); status != http.StatusForbidden {
		t.Errorf("011002's session asking for an up of 131016 (with its CSRF token): %d, want 403 from the API", status)
	}

	// Revoking the token ends its session at once.
	id := strings.Split(strings.TrimPrefix(ts.tokens["other"], "cats_"), "_")[0]
	if err := run(context.Background(), []string{"token", "revoke", "--data", ts.dir, id}, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatal(err)
	}
	sapporo.Do("reload", chromedp.Reload())
	sapporo.WaitFor("the sign-in page after the token's revocation", `location.pathname === '/signin' && document.body.dataset.ready === 'true'`)

	if j := ts.job(1); j.State != store.JobSucceeded {
		t.Errorf("plan job 1 = %s", j.State)
	}
}
