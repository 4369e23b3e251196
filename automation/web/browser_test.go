package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cats-analytics/cats-analytics/automation/web"
	"github.com/cats-analytics/cats-analytics/automation/web/webtest"
)

// fakeAPI serves the console's pages with canned API answers: the fields
// openapi.yaml documents today and the ones the fleet features add (resource
// counts, drift, cost, job reasons, violations of an up, /v1/fleet,
// /v1/rollouts), with markup and terminal colours in every text. It checks
// that the console shows what it is given, as text; what the real API
// answers and who may see it is TestConsoleInABrowser's (automation/cmd/cats).
type fakeAPI struct {
	mu         sync.Mutex
	csrfHeader []string // X-CSRF-Token of each POST
}

const fakeCSRF = "csrf-of-the-fake-session"

var (
	fakeStack = map[string]any{
		"code": "131016", "environment": "prod", "name": "千代田区", "prefecture": "東京都", "stack": "131016-prod",
		"config": map[string]string{}, "state": "active", "createdAt": "2026-11-30T09:00:00Z", "updatedAt": "2026-11-30T09:00:00Z",
		"resources": 190, "lastUpdate": "2026-11-30T10:00:00Z", "drift": "drifted",
		"cost": map[string]any{"monthlyJpy": 45678, "monthlyUsd": 301.5}, "version": "v18.2",
	}
	fakeViolation = map[string]any{"policy": "cloudfront-waf", "level": "mandatory", "control": "CloudFront.6",
		"urn":     "urn:pulumi:131016-prod::cats-analytics::cats:edge:Edge$aws:cloudfront/distribution:Distribution::cats-cdn",
		"message": "distribution <b>cats-cdn</b> has no web ACL"}
	fakeFailedUp = map[string]any{
		"id": 7, "stack": "131016-prod", "code": "131016", "environment": "prod", "operation": "up", "state": "failed",
		"attempts": 1, "createdBy": "fake", "createdAt": "2026-11-30T10:00:00Z", "startedAt": "2026-11-30T10:00:01Z", "finishedAt": "2026-11-30T10:00:09Z",
		"reason": "policy_violation", "error": "1 mandatory policy violation: cloudfront-waf on cats-cdn <script>alert(1)</script>",
		"result": map[string]any{"operation": "up", "changes": map[string]int{"same": 180, "update": 2}, "violations": []any{fakeViolation}},
	}
	// Engine events with markup and terminal colours in their text.
	fakeEvents = []string{
		`{"sequence":1,"timestamp":1764496801,"preludeEvent":{"config":{}}}`,
		`{"sequence":2,"timestamp":1764496802,"diagnosticEvent":{"message":"\u001b[31m<img src=x onerror=alert(1)> failed\u001b[0m\n","color":"raw","severity":"error"}}`,
		`{"sequence":3,"timestamp":1764496803,"stdoutEvent":{"message":"<b>not bold</b> & done","color":"raw"}}`,
		`{"sequence":4,"timestamp":1764496804,"policyEvent":{"resourceUrn":"urn:pulumi:131016-prod::cats-analytics::aws:cloudfront/distribution:Distribution::cats-cdn","message":"no <i>web ACL</i>","color":"raw","policyName":"cloudfront-waf","policyPackName":"cats","policyPackVersion":"1","policyPackVersionTag":"1","enforcementLevel":"mandatory"}}`,
		`{"sequence":5,"timestamp":1764496805,"summaryEvent":{"maybeCorrupt":false,"durationSeconds":8,"resourceChanges":{"same":180,"update":2},"PolicyPacks":{},"isPreview":false,"result":"failed"}}`,
		`{"sequence":6,"timestamp":1764496806,"cancelEvent":{}}`,
	}
	fakeFleet = map[string]any{
		"generatedAt": "2026-11-30T11:00:00Z",
		"municipalities": []any{
			map[string]any{"code": "131016", "name": "千代田区", "environment": "prod", "version": "v18.2", "lastResult": "failed", "drift": true,
				"estimatedMonthlyCost": map[string]any{"monthlyJpy": 45678}},
			map[string]any{"code": "011002", "name": "札幌市", "environment": "prod", "version": "v18.3", "lastResult": "succeeded", "drift": false,
				"estimatedMonthlyCost": map[string]any{"monthlyJpy": 51234}},
		},
	}
	fakeRollouts = map[string]any{"rollouts": []any{
		map[string]any{"id": 3, "version": "v18.3", "state": "running", "wave": 2, "waves": 4, "canary": "011002-prod", "failureBudget": 1},
	}}
)

func (f *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	console := web.New(func(*http.Request) bool { return false })
	for _, p := range web.Pages {
		mux.HandleFunc("GET "+p, console.Page)
	}
	mux.HandleFunc("GET /assets/{file...}", console.Asset)
	answer := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	mux.HandleFunc("GET /v1/session", answer(map[string]any{"scope": "platform", "tokenId": "fake", "description": "a fake API", "csrfToken": fakeCSRF}))
	mux.HandleFunc("GET /v1/fleet", answer(fakeFleet))
	mux.HandleFunc("GET /v1/rollouts", answer(fakeRollouts))
	mux.HandleFunc("GET /v1/municipalities", answer(map[string]any{"municipalities": []any{fakeStack}}))
	mux.HandleFunc("GET /v1/municipalities/131016", answer(map[string]any{
		"code": "131016", "prefecture": "東京都", "prefectureKana": "ﾄｳｷｮｳﾄ", "name": "千代田区", "nameKana": "ﾁﾖﾀﾞｸ", "stacks": []any{fakeStack}}))
	mux.HandleFunc("GET /v1/municipalities/131016/prod/jobs", answer(map[string]any{"jobs": []any{fakeFailedUp}}))
	mux.HandleFunc("POST /v1/municipalities/131016/prod/jobs", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.csrfHeader = append(f.csrfHeader, r.Header.Get("X-CSRF-Token"))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"job": fakeFailedUp})
	})
	mux.HandleFunc("GET /v1/jobs/7", answer(fakeFailedUp))
	mux.HandleFunc("GET /v1/jobs/7/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i, ev := range fakeEvents {
			fmt.Fprintf(w, "id: %d\nevent: engine\ndata: %s\n\n", i+1, ev)
		}
		done, _ := json.Marshal(fakeFailedUp)
		fmt.Fprintf(w, "event: done\ndata: %s\n\n", done)
	})
	return mux
}

// TestConsoleShowsFieldsAsTheyLand: the console shows the fleet features'
// fields when the API has them (resource counts, drift, cost, a job's reason
// and an up's violations, the fleet and rollouts pages), and every text it
// is given as text: markup in an engine message, an error or a violation
// makes no element, terminal colours are dropped.
func TestConsoleShowsFieldsAsTheyLand(t *testing.T) {
	webtest.Chromium(t)
	api := &fakeAPI{}
	srv := httptest.NewServer(api.handler())
	t.Cleanup(srv.Close)
	b := webtest.Start(t, srv.URL)
	b.Prefix = "fake-api-"
	u := b.NewUser("the platform team (fake API)")

	u.Open("/")
	headers := u.Text("table.municipalities thead")
	for _, col := range []string{"リソース数", "ドリフト", "推定月額"} {
		if !strings.Contains(headers, col) {
			t.Errorf("the list's columns %q lack %s, which the API now reports", headers, col)
		}
	}
	u.WaitFor("the fleet link", `document.querySelector("#site-nav a[href='/fleet']")`)

	u.Open("/municipalities/131016")
	facts := u.Text("#stack-131016-prod dl.facts")
	for _, want := range []string{"190", "ドリフトあり", "45,678", "$301.50", "バージョン", "v18.2", "違反 1 件（うち必須 1 件）", "up #7"} {
		if !strings.Contains(facts, want) {
			t.Errorf("the stack's facts lack %q:\n%s", want, facts)
		}
	}
	if jobs := u.Text("#stack-131016-prod table.jobs"); !strings.Contains(jobs, "up #7") || !strings.Contains(jobs, "✖ 失敗") {
		t.Errorf("the stack's jobs read %q, want the failed up with its icon and word", jobs)
	}
	if !strings.Contains(u.Text("main"), "チヨダク") {
		t.Error("the municipality's reading is not shown in full-width katakana")
	}
	u.Screenshot("municipality-with-fleet-fields")

	// The console sends the session's CSRF token with a change.
	u.Do("run a plan", chromedp.Click(chromedp.CSS("#stack-131016-prod button[data-operation=plan]")))
	u.WaitFor("the job's page", `location.pathname === '/jobs/7' && document.body.dataset.ready === 'true'`)
	api.mu.Lock()
	sent := append([]string(nil), api.csrfHeader...)
	api.mu.Unlock()
	if len(sent) != 1 || sent[0] != fakeCSRF {
		t.Errorf("the console sent X-CSRF-Token %q with its POST, want the session's %q", sent, fakeCSRF)
	}

	u.WaitFor("the stream's end", `document.body.dataset.jobDone === 'true'`)
	log := u.Text("#job-log")
	for _, want := range []string{"<img src=x onerror=alert(1)> failed", "<b>not bold</b> & done", "no <i>web ACL</i>", "終了しました"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q as text:\n%s", want, log)
		}
	}
	if strings.Contains(log, "[31m") || strings.Contains(log, "取り消されました") {
		t.Errorf("the log shows terminal colours or reads the stream's end as a cancellation:\n%s", log)
	}
	if n := u.Count("main img, main b, main i, main script"); n != 0 {
		t.Errorf("%d elements were made from the text of events, errors or violations", n)
	}
	if advice := u.Text(".failure .advice"); !strings.Contains(advice, "必須ポリシーの違反を解消してください") {
		t.Errorf("the failure's advice reads %q, want what to do about a policy violation (reason policy_violation)", advice)
	}
	if reason := u.Text(".failure"); !strings.Contains(reason, "policy_violation") || !strings.Contains(reason, "<script>alert(1)</script>") {
		t.Errorf("the failure section reads %q, want the reason code and the error as text", reason)
	}
	if row := u.Text("#result-policy tbody tr"); !strings.Contains(row, "cloudfront-waf") || !strings.Contains(row, "必須") || !strings.Contains(row, "<b>cats-cdn</b>") {
		t.Errorf("the up's violations table reads %q", row)
	}
	if changes := u.Text("#result-changes"); !strings.Contains(changes, "変更なし") || !strings.Contains(changes, "180") {
		t.Errorf("the up's changes read %q", changes)
	}
	u.Screenshot("job-failed")

	u.Open("/fleet")
	if n := u.Count("#fleet-overview table tbody tr"); n != 2 {
		t.Errorf("the fleet overview has %d rows, want 2:\n%s", n, u.Text("main"))
	}
	if rollouts := u.Text("#fleet-rollouts"); !strings.Contains(rollouts, "v18.3") || !strings.Contains(rollouts, "011002-prod") {
		t.Errorf("the rollouts read %q", rollouts)
	}
	u.Screenshot("fleet")
}
