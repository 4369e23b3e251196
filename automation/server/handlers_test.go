package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/cats-analytics/cats-analytics/automation/internal/apitest"
	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
)

// testAPI is the server's handler on fakes: every exchange goes through
// ServeHTTP in process and is checked against openapi.yaml.
type testAPI struct {
	t       *testing.T
	handler http.Handler
	store   *fakeStore
	queue   *fakeQueue
	checker *apitest.Checker
	tokens  map[string]string // role → plain token
}

// roles are the callers every endpoint is tried with.
var roles = []string{"platform", "owner", "other", "revoked", "none"}

func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	f := newFakeStore()
	a := &testAPI{t: t, store: f, queue: &fakeQueue{store: f}, checker: apitest.NewChecker(t, OpenAPI()), tokens: map[string]string{}}
	for role, scope := range map[string]store.Scope{
		"platform": store.ScopePlatform, "owner": store.MunicipalityScope("131016"),
		"other": store.MunicipalityScope("011002"), "revoked": store.MunicipalityScope("131016"),
	} {
		plain := "cats_" + role + "_secret"
		tok := store.Token{ID: role + "-id", Scope: scope, Description: role, CreatedAt: fakeNow()}
		if role == "revoked" {
			tok.RevokedAt = fakeNow()
		}
		f.tokens[plain] = tok
		a.tokens[role] = plain
	}
	a.handler = NewServer(Deps{
		Municipalities: f, Jobs: f, Tokens: f, AuditLog: f, Queue: a.queue,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		ValidateConfig: validateConfig,
		Ready:          func(context.Context) error { return nil },
		// Every refusal of these tests is audited; the budget has its own test.
		UnauthenticatedAuditsPerMinute: 1 << 20,
	})
	return a
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// do sends a request as a role ("none": no token) and checks the exchange
// against openapi.yaml.
func (a *testAPI) do(method, path, role, body string) response {
	a.t.Helper()
	return a.doWith(method, path, role, body, nil)
}

func (a *testAPI) doWith(method, path, role, body string, header http.Header) response {
	a.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := a.tokens[role]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	_ = json.Unmarshal(r.raw, &r.body)
	a.checker.Check(a.t, apitest.Exchange{Method: method, Path: path, Body: []byte(body), Header: req.Header,
		Status: r.status, RespHeader: r.header, RespBody: r.raw})
	return r
}

func registration(code, name, prefecture, env string) string {
	return fmt.Sprintf(`{"code":%q,"name":%q,"prefecture":%q,"environment":%q}`, code, name, prefecture, env)
}

// register registers a stack as the platform team and returns its plan job.
func (a *testAPI) register(code, name, prefecture, env string) int64 {
	a.t.Helper()
	r := a.do("POST", "/v1/municipalities", "platform", registration(code, name, prefecture, env))
	if r.status != http.StatusAccepted {
		a.t.Fatalf("register %s-%s: %d %s", code, env, r.status, r.raw)
	}
	return int64(r.body["job"].(map[string]any)["id"].(float64))
}

// A plan's result and steps as the queue records them.
var (
	violation = jobs.Violation{Policy: "log-group-retention", Level: "advisory", Control: "CloudWatch.16",
		URN: "urn:pulumi:131016-dev::cats-analytics::aws:cloudwatch/logGroup:LogGroup::cats-logs", Message: "retention of 14 days is below 365"}
	planResult = jobs.PlanResult{Stack: "131016-dev", Resources: 240, Tiers: map[string]int{"network": 40, "security": 30},
		Violations: []jobs.Violation{violation}}
	planEvents = []any{jobs.ConfigChecked("131016-dev", 1), jobs.ProgramRan(240), jobs.PolicyEvaluated(1, 0), jobs.ViolationFound(violation)}
)

// TestAuthorizationOfEveryEndpoint calls every endpoint with the platform
// token, the owning municipality's, another municipality's, a revoked token
// and none, checks the status of each, every exchange against openapi.yaml,
// and the audit of every mutating request.
func TestAuthorizationOfEveryEndpoint(t *testing.T) {
	a := newTestAPI(t)
	plan := a.register("131016", "千代田区", "東京都", "dev")
	a.register("011002", "札幌市", "北海道", "dev")
	a.store.finish(plan, store.JobSucceeded, planResult, planEvents...)

	type call struct {
		method, path string
		body         func(role string) string
		want         map[string]int
	}
	with := func(m map[string]int) map[string]int {
		m["revoked"], m["none"] = 401, 401
		return m
	}
	public := map[string]int{"platform": 200, "owner": 200, "other": 200, "revoked": 200, "none": 200}
	jobPath := fmt.Sprintf("/v1/jobs/%d", plan)
	calls := []call{
		{"GET", "/healthz", nil, public},
		{"GET", "/readyz", nil, public},
		{"GET", "/metrics", nil, with(map[string]int{"platform": 200, "owner": 403, "other": 403})},
		{"GET", "/v1/openapi.yaml", nil, public},
		{"GET", "/v1/municipalities", nil, with(map[string]int{"platform": 200, "owner": 200, "other": 200})},
		{"GET", "/v1/session", nil, with(map[string]int{"platform": 200, "owner": 200, "other": 200})},
		{"GET", "/v1/catalog/municipalities", nil, with(map[string]int{"platform": 200, "owner": 200, "other": 200})},
		{"GET", "/v1/catalog/config", nil, with(map[string]int{"platform": 200, "owner": 200, "other": 200})},
		{"GET", "/v1/municipalities/131016", nil, with(map[string]int{"platform": 200, "owner": 200, "other": 403})},
		{"POST", "/v1/municipalities", func(role string) string {
			switch role {
			case "platform":
				return registration("271004", "大阪市", "大阪府", "dev")
			case "owner":
				return registration("131016", "千代田区", "東京都", "prod")
			}
			return registration("131016", "千代田区", "東京都", "dev") // not theirs
		}, with(map[string]int{"platform": 202, "owner": 202, "other": 403})},
		{"POST", "/v1/municipalities/131016/dev/jobs", func(string) string { return `{"operation":"plan"}` },
			with(map[string]int{"platform": 202, "owner": 202, "other": 403})},
		{"GET", "/v1/municipalities/131016/dev/jobs", nil, with(map[string]int{"platform": 200, "owner": 200, "other": 403})},
		{"GET", jobPath, nil, with(map[string]int{"platform": 200, "owner": 200, "other": 404})},
		{"GET", jobPath + "/events", nil, with(map[string]int{"platform": 200, "owner": 200, "other": 404})},
		{"POST", jobPath + "/cancel", nil, with(map[string]int{"platform": 409, "owner": 409, "other": 404})},
		{"DELETE", "/v1/municipalities/131016?environment=prod", nil, with(map[string]int{"platform": 202, "owner": 409, "other": 403})},
	}
	audited := 0
	for _, c := range calls {
		for _, role := range roles {
			body := ""
			if c.body != nil {
				body = c.body(role)
			}
			r := a.do(c.method, c.path, role, body)
			if r.status != c.want[role] {
				t.Errorf("%s %s as %s: %d, want %d: %s", c.method, c.path, role, r.status, c.want[role], r.raw)
			}
			if r.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s as %s: 401 without WWW-Authenticate (RFC 6750 §3)", c.method, c.path, role)
			}
			if c.method != "GET" || r.status == 401 || r.status == 403 {
				audited++
			}
		}
	}

	// A municipality token lists only its own municipality.
	for _, m := range a.do("GET", "/v1/municipalities", "owner", "").body["municipalities"].([]any) {
		if code := m.(map[string]any)["code"]; code != "131016" {
			t.Errorf("the 131016 token sees municipality %v", code)
		}
	}
	if n := len(a.do("GET", "/v1/municipalities", "platform", "").body["municipalities"].([]any)); n != 4 {
		t.Errorf("the platform sees %d stacks, want 4 (131016 dev and prod, 011002, 271004)", n)
	}

	// Every mutating request and every refusal (401, 403: reads included) is
	// in the audit log, with the token that made it or the id it claimed.
	entries := a.store.auditLog()
	if len(entries) != audited+2 { // the two registrations of the setup, then the calls
		t.Errorf("%d audit entries, want %d (every mutating request and every 401 and 403)", len(entries), audited+2)
	}
	for _, e := range entries {
		if e.Status < 400 && (e.TokenID == "" || e.Scope == "") {
			t.Errorf("audit entry %+v has no token: the log must say who changed what", e)
		}
		if e.Method == "GET" && e.Status != 401 && e.Status != 403 {
			t.Errorf("audit entry for a read that was not refused: %+v", e)
		}
		if e.Status == 401 && strings.Contains(e.Detail, "tried") && e.TokenID != "revoked" {
			t.Errorf("a refused token is audited with id %q, want the id it claimed (revoked)", e.TokenID)
		}
		if e.Method == "DELETE" && !strings.Contains(e.Path, "environment=prod") {
			t.Errorf("a DELETE is audited without its environment: %+v", e)
		}
	}
}

// TestBadInputIsRefusedBeforeAnyJob: every bad field answers 400 naming it,
// and no job is queued.
func TestBadInputIsRefusedBeforeAnyJob(t *testing.T) {
	a := newTestAPI(t)
	tests := []struct {
		name, body, field, reason string
	}{
		{"wrong check digit", `{"code":"131017","name":"千代田区","prefecture":"東京都","environment":"dev"}`, "code", "131016 would be valid"},
		{"unknown environment", `{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"staging"}`, "environment", "must be dev or prod"},
		{"name not the official one", `{"code":"131016","name":"千代田","prefecture":"東京都","environment":"dev"}`, "name", "千代田区"},
		{"wrong prefecture", `{"code":"131016","name":"千代田区","prefecture":"大阪府","environment":"dev"}`, "prefecture", "東京都"},
		{"unknown field", `{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev","tier":"gold"}`, "tier", "not a known field"},
		{"config the program rejects", `{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev","config":{"cats:minInstances":"5","cats:maxInstances":"3"}}`, "config", "cats:minInstances (5) is greater than cats:maxInstances (3)"},
		{"unknown config key", `{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev","config":{"cats:vpcCdir":"10.0.0.0/16"}}`, "config.cats:vpcCdir", "not a configuration key"},
		{"derived config key", `{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev","config":{"cats:environment":"prod"}}`, "config.cats:environment", "derived from the stack name"},
		{"other namespace", `{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev","config":{"aws:region":"us-east-1"}}`, "config.aws:region", "only keys under cats:"},
		{"wrong type", `{"code":131016,"name":"千代田区","prefecture":"東京都","environment":"dev"}`, "code", "must be a string"},
		{"config value not a string", `{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev","config":{"cats:minInstances":2}}`, "config", "values must be strings"},
		{"not JSON", `{"code":`, "body", "cut short"},
		{"two objects", `{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev"} {}`, "body", "single JSON object"},
		{"too large", `{"code":"` + strings.Repeat("1", 70<<10) + `"}`, "body", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do("POST", "/v1/municipalities", "platform", tt.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.raw)
			}
			if r.body["field"] != tt.field || !strings.Contains(fmt.Sprint(r.body["reason"]), tt.reason) {
				t.Errorf("answer %s, want field %q and a reason saying %q", r.raw, tt.field, tt.reason)
			}
		})
	}
	if r := a.doWith("POST", "/v1/municipalities", "platform", registration("131016", "千代田区", "東京都", "dev"),
		http.Header{"Content-Type": {"text/plain"}}); r.status != 400 || r.body["field"] != "Content-Type" {
		t.Errorf("a body that is not JSON by its type: %d %s, want 400 naming Content-Type", r.status, r.raw)
	}
	if r := a.do("POST", "/v1/municipalities/131016/dev/jobs", "platform", `{"operation":"up"}`); r.status != http.StatusNotFound {
		t.Errorf("operation on an unregistered stack: %d, want 404", r.status)
	}
	a.register("131016", "千代田区", "東京都", "dev")
	if r := a.do("POST", "/v1/municipalities/131016/dev/jobs", "platform", `{"operation":"deploy"}`); r.status != 400 || r.body["field"] != "operation" {
		t.Errorf("unknown operation: %d %s", r.status, r.raw)
	}
	if r := a.do("GET", "/v1/jobs/abc", "platform", ""); r.status != 400 || r.body["field"] != "id" {
		t.Errorf("bad job id: %d %s", r.status, r.raw)
	}
	if r := a.doWith("GET", "/v1/jobs/1/events", "platform", "", http.Header{"Last-Event-ID": {"-1"}}); r.status != 400 || r.body["field"] != "Last-Event-ID" {
		t.Errorf("bad Last-Event-ID: %d %s", r.status, r.raw)
	}
	if r := a.do("POST", "/v1/municipalities", "platform", registration("131016", "千代田区", "東京都", "dev")); r.status != http.StatusConflict {
		t.Errorf("registering twice: %d, want 409", r.status)
	}
	if n := a.store.jobCount(); n != 1 || len(a.queue.queued) != 1 {
		t.Errorf("%d jobs recorded, %d queued; want only the plan of the one valid registration", n, len(a.queue.queued))
	}
}

// TestDeletingAStack: a destroy names its environment when there are two,
// and a stack being deleted takes no other operation and no second delete.
func TestDeletingAStack(t *testing.T) {
	a := newTestAPI(t)
	a.register("131016", "千代田区", "東京都", "dev")
	a.register("131016", "千代田区", "東京都", "prod")
	if r := a.do("DELETE", "/v1/municipalities/131016", "owner", ""); r.status != 400 || r.body["field"] != "environment" {
		t.Errorf("delete with two environments and none named: %d %s, want 400 naming environment", r.status, r.raw)
	}
	if r := a.do("DELETE", "/v1/municipalities/131016?environment=staging", "owner", ""); r.status != 404 {
		t.Errorf("delete in an environment with no stack: %d %s, want 404", r.status, r.raw)
	}
	r := a.do("DELETE", "/v1/municipalities/131016?environment=dev", "owner", "")
	if r.status != http.StatusAccepted {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	job := r.body["job"].(map[string]any)
	if job["operation"] != "destroy" || job["removeStack"] != true || r.header.Get("Location") != fmt.Sprintf("/v1/jobs/%v", job["id"]) {
		t.Errorf("delete queued %v (Location %q), want a destroy that removes the stack, located", job, r.header.Get("Location"))
	}
	if r := a.do("DELETE", "/v1/municipalities/131016?environment=dev", "platform", ""); r.status != http.StatusConflict {
		t.Errorf("second delete: %d, want 409", r.status)
	}
	if r := a.do("POST", "/v1/municipalities/131016/dev/jobs", "platform", `{"operation":"up"}`); r.status != http.StatusConflict {
		t.Errorf("an up on a stack being deleted: %d, want 409", r.status)
	}
	if r := a.do("POST", "/v1/municipalities/131016/prod/jobs", "owner", `{"operation":"up"}`); r.status != http.StatusAccepted {
		t.Errorf("an up on the other environment's stack: %d %s, want 202", r.status, r.raw)
	}
}

// TestJobsAnswerWithTheirSchemas: the result and the events of a plan and of
// a CLI operation, read through the API, match openapi.yaml (checked in do).
func TestJobsAnswerWithTheirSchemas(t *testing.T) {
	a := newTestAPI(t)
	plan := a.register("131016", "千代田区", "東京都", "dev")
	a.store.finish(plan, store.JobSucceeded, planResult, planEvents...)
	up := int64(a.do("POST", "/v1/municipalities/131016/dev/jobs", "owner", `{"operation":"up"}`).body["job"].(map[string]any)["id"].(float64))
	changes := map[apitype.OpType]int{apitype.OpCreate: 4}
	four := 4
	a.store.finish(up, store.JobSucceeded,
		runner.Result{Operation: runner.Up, Cloud: runner.CloudStandin, Changes: runner.Changes{Create: 4}, Violations: []jobs.Violation{violation},
			Resources: &four, Outputs: map[string]any{"stack": "131016-dev", "apiKey": "[secret]"}},
		runner.Step{Step: runner.StepCloud, Message: "the stand-in cloud serves this operation", Cloud: runner.CloudStandin},
		apitype.EngineEvent{Sequence: 1, Timestamp: 1767225600, PreludeEvent: &apitype.PreludeEvent{Config: map[string]string{}}},
		apitype.EngineEvent{Sequence: 2, Timestamp: 1767225602, PolicyEvent: &apitype.PolicyEvent{ResourceURN: violation.URN,
			PolicyName: violation.Policy, PolicyPackName: "cats-analytics", EnforcementLevel: "advisory", Message: violation.Message}},
		apitype.EngineEvent{Sequence: 3, Timestamp: 1767225602, SummaryEvent: &apitype.SummaryEvent{ResourceChanges: changes}},
		runner.Step{Step: runner.StepState, Message: "the state holds 4 resources", Resources: &four})

	var got struct {
		Result jobs.PlanResult `json:"result"`
	}
	if r := a.do("GET", fmt.Sprintf("/v1/jobs/%d", plan), "owner", ""); json.Unmarshal(r.raw, &got) != nil || got.Result.Resources != 240 {
		t.Errorf("plan job %s, want its result", r.raw)
	}
	for id, want := range map[int64]string{plan: "plan plan plan plan done", up: "step engine engine engine step done"} {
		r := a.do("GET", fmt.Sprintf("/v1/jobs/%d/events", id), "owner", "")
		events, err := apitest.ParseEvents(r.raw)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range events {
			kinds = append(kinds, e.Type)
		}
		if strings.Join(kinds, " ") != want {
			t.Errorf("events of job %d: %v, want %s: a plan streams its steps as an up streams engine events", id, kinds, want)
		}
	}
	// Resuming after the second step gives the rest.
	r := a.doWith("GET", fmt.Sprintf("/v1/jobs/%d/events", plan), "owner", "", http.Header{"Last-Event-ID": {"2"}})
	if events, _ := apitest.ParseEvents(r.raw); len(events) != 3 || events[0].ID != "3" {
		t.Errorf("events after 2:\n%s\nwant steps 3 and 4 and done: a client that reconnects must miss nothing and repeat nothing", r.raw)
	}
	if r := a.do("GET", "/v1/municipalities/131016/dev/jobs", "owner", ""); len(r.body["jobs"].([]any)) != 2 {
		t.Errorf("jobs of 131016-dev: %s, want the up and the plan", r.raw)
	}
}

// TestTheSchemasRefuseWrongAnswers: the conformance checks would catch a
// result or an event of the wrong shape (a bare `object` would not).
func TestTheSchemasRefuseWrongAnswers(t *testing.T) {
	c := apitest.NewChecker(t, OpenAPI())
	wrong := []struct{ schema, doc string }{
		{"Job", `{"id":1,"stack":"131016-dev","code":"131016","environment":"dev","operation":"plan","state":"succeeded","attempts":1,"createdBy":"t","createdAt":"2026-01-01T00:00:00Z","result":{"resources":"many"}}`},
		{"PlanResult", `{"stack":"131016-dev","resources":3,"tiers":{},"mandatoryViolations":0,"violations":[{"policy":"p","level":"fatal","urn":"u","message":"m"}]}`},
		{"OperationResult", `{"operation":"up","changes":{"create":"four"}}`},
		{"OperationResult", `{"operation":"up","cloud":"standin","changes":{"create":4,"update":0,"delete":0,"replace":0}}`},
		{"OperationResult", `{"operation":"up","cloud":"moon","changes":{"create":4,"update":0,"delete":0,"replace":0,"same":0}}`},
		{"Job", `{"id":1,"stack":"131016-dev","code":"131016","environment":"dev","operation":"up","state":"failed","attempts":1,"createdBy":"t","createdAt":"2026-01-01T00:00:00Z","reason":"oops"}`},
		{"Job", `{"id":1,"stack":"131016-dev","code":"131016","environment":"dev","operation":"up","state":"failed","attempts":1,"createdBy":"t","createdAt":"2026-01-01T00:00:00Z","reason":"cli_error","error":"up failed:\nstdout: …"}`},
		{"OperationStep", `{"step":"output"}`},
		{"PlanEvent", `{"step":"compile","message":"m"}`},
		{"Stack", `{"code":"131016"}`},
		{"BadRequest", `{"error":"invalid request"}`},
	}
	for _, w := range wrong {
		if err := c.Validate(w.schema, []byte(w.doc)); err == nil {
			t.Errorf("%s accepts %s", w.schema, w.doc)
		}
	}
}

// TestReadyzKeepsItsReasonInTheLog: a client learns that the server is not
// ready, not where its CLI or database lives.
func TestReadyzKeepsItsReasonInTheLog(t *testing.T) {
	a := newTestAPI(t)
	f := a.store
	a.handler = NewServer(Deps{Municipalities: f, Jobs: f, Tokens: f, AuditLog: f, Queue: a.queue,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready:  func(context.Context) error { return errors.New("pulumi CLI /srv/cats/bin/pulumi: no such file") }})
	r := a.do("GET", "/readyz", "none", "")
	if r.status != http.StatusServiceUnavailable || strings.Contains(string(r.raw), "/srv") {
		t.Errorf("readyz = %d %s, want 503 without the server's paths", r.status, r.raw)
	}
}

// TestAScopeOfNoMunicipalityListsNothing: a token whose scope names neither
// the platform nor a municipality fails closed.
func TestAScopeOfNoMunicipalityListsNothing(t *testing.T) {
	a := newTestAPI(t)
	a.register("131016", "千代田区", "東京都", "dev")
	a.store.tokens["cats_empty_secret"] = store.Token{ID: "empty", Scope: store.MunicipalityScope(""), CreatedAt: fakeNow()}
	a.tokens["empty"] = "cats_empty_secret"
	if r := a.do("GET", "/v1/municipalities", "empty", ""); r.status != http.StatusForbidden {
		t.Errorf("list with scope %q: %d %s, want 403", store.MunicipalityScope(""), r.status, r.raw)
	}
}

// TestAFailedJobSaysWhyInOneLine: a failed up answers its reason code, a
// one-line message and what it found (the violations that stopped it), and
// the CLI's raw output only in its events; the schemas hold all of it.
func TestAFailedJobSaysWhyInOneLine(t *testing.T) {
	a := newTestAPI(t)
	a.register("131016", "千代田区", "東京都", "dev")
	up := int64(a.do("POST", "/v1/municipalities/131016/dev/jobs", "owner", `{"operation":"up"}`).body["job"].(map[string]any)["id"].(float64))
	mandatory := violation
	mandatory.Level = "mandatory"
	zero := 0
	a.store.fail(up, store.JobFailed, string(runner.ReasonPolicyViolation),
		"the preview before the up failed, so the up did not run: 1 mandatory policy violations, e.g. log-group-retention on cats-logs",
		runner.Result{Operation: runner.Up, Cloud: runner.CloudAWS, Violations: []jobs.Violation{mandatory}, Resources: &zero},
		runner.Step{Step: runner.StepOutput, Message: "the Pulumi CLI's output", Output: "Previewing update (131016-dev):\nerror: preview failed\n"})
	r := a.do("GET", fmt.Sprintf("/v1/jobs/%d", up), "owner", "")
	var job store.Job
	var result runner.Result
	if err := json.Unmarshal(r.raw, &job); err != nil || json.Unmarshal(job.Result, &result) != nil {
		t.Fatalf("job %s: %v", r.raw, err)
	}
	if job.Reason != "policy_violation" || len(result.Violations) != 1 || result.Violations[0].Level != "mandatory" {
		t.Errorf("failed up = %s; want reason policy_violation and the violation that stopped it", r.raw)
	}
	events, _ := apitest.ParseEvents(a.do("GET", fmt.Sprintf("/v1/jobs/%d/events", up), "owner", "").raw)
	if len(events) != 2 || events[0].Type != "step" || !strings.Contains(string(events[0].Data), "preview failed") {
		t.Errorf("events %+v; want the CLI's output as a step, then done", events)
	}
	if r := a.do("GET", "/v1/municipalities/131016", "owner", ""); !strings.Contains(string(r.raw), `"lastUpdate":{"job":2,"operation":"up","state":"failed","reason":"policy_violation"`) ||
		!strings.Contains(string(r.raw), `"resources":0`) {
		t.Errorf("the stack's view %s; want its last update (the failed up, with its reason) and its 0 resources", r.raw)
	}
}

// TestTheStackViewShowsTheLastUpdate: per environment stack, the resources
// in its state and how its last up, refresh or destroy ended; a preview or
// a plan is no update, and a stack with none shows neither.
func TestTheStackViewShowsTheLastUpdate(t *testing.T) {
	a := newTestAPI(t)
	plan := a.register("131016", "千代田区", "東京都", "dev")
	a.register("131016", "千代田区", "東京都", "prod")
	a.store.finish(plan, store.JobSucceeded, planResult)
	queue := func(op string) int64 {
		return int64(a.do("POST", "/v1/municipalities/131016/dev/jobs", "owner", `{"operation":"`+op+`"}`).body["job"].(map[string]any)["id"].(float64))
	}
	n := 190
	a.store.finish(queue("up"), store.JobSucceeded, runner.Result{Operation: runner.Up, Cloud: runner.CloudStandin, Changes: runner.Changes{Create: n}, Violations: []jobs.Violation{}, Resources: &n})
	a.store.finish(queue("preview"), store.JobSucceeded, runner.Result{Operation: runner.Preview, Cloud: runner.CloudStandin, Changes: runner.Changes{Same: n}, Violations: []jobs.Violation{}})
	queue("refresh") // still queued: not an update yet
	var view MunicipalityView
	r := a.do("GET", "/v1/municipalities/131016", "owner", "")
	if err := json.Unmarshal(r.raw, &view); err != nil || len(view.Stacks) != 2 {
		t.Fatalf("view %s: %v", r.raw, err)
	}
	dev, prod := view.Stacks[0], view.Stacks[1]
	if dev.Resources == nil || *dev.Resources != n || dev.LastUpdate == nil || dev.LastUpdate.Operation != "up" || dev.LastUpdate.State != "succeeded" || dev.LastUpdate.FinishedAt == "" {
		t.Errorf("131016-dev view %s; want %d resources and the succeeded up as its last update", r.raw, n)
	}
	if prod.Resources != nil || prod.LastUpdate != nil {
		t.Errorf("131016-prod, never updated, shows resources or a last update: %s", r.raw)
	}
}
