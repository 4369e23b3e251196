package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/cats-analytics/cats-analytics/automation/server"
	"github.com/cats-analytics/cats-analytics/automation/store"
)

func init() {
	plain := func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	}
	openapi3filter.RegisterBodyDecoder("text/event-stream", plain)
	openapi3filter.RegisterBodyDecoder("application/yaml", plain)
}

// openAPIRouter loads the server's OpenAPI document, checking it is valid.
func openAPIRouter(t *testing.T) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(server.OpenAPI())
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	doc.Servers = nil // match any host
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return router
}

// conform checks one exchange against the OpenAPI document: the route and
// method exist, the request is valid, and the status and body are documented.
func conform(t *testing.T, router routers.Router, method, path string, body []byte, header http.Header, status int, respHeader http.Header, respBody []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://server"+path, bytes.NewReader(body))
	req.Header = header.Clone()
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s is not in openapi.yaml: %v", method, path, err)
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if status < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s request does not match openapi.yaml: %v", method, path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: respHeader, Options: opts}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s → %d does not match openapi.yaml: %v\n%s", method, path, status, err, respBody)
	}
}

// TestAuthorizationOfEveryEndpoint calls every endpoint with the platform
// token, the owning municipality's, another municipality's, a revoked token
// and none, checks the status of each, and checks every exchange against the
// OpenAPI document.
func TestAuthorizationOfEveryEndpoint(t *testing.T) {
	ts := startServer(t, 0, 2)
	router := openAPIRouter(t)
	plan := ts.wait(ts.register("131016", "千代田区", "東京都", "dev", nil))
	ts.wait(ts.register("011002", "札幌市", "北海道", "dev", nil))
	roles := []string{"platform", "owner", "other", "revoked", "none"}
	register := func(code, name, pref, env string) string {
		return fmt.Sprintf(`{"code":%q,"name":%q,"prefecture":%q,"environment":%q}`, code, name, pref, env)
	}
	type call struct {
		method, path string
		body         func(role string) string
		want         map[string]int
	}
	unauth := map[string]int{"revoked": 401, "none": 401}
	with := func(m map[string]int) map[string]int {
		for k, v := range unauth {
			m[k] = v
		}
		return m
	}
	jobPath := fmt.Sprintf("/v1/jobs/%d", plan.ID)
	calls := []call{
		{"GET", "/healthz", nil, map[string]int{"platform": 200, "owner": 200, "other": 200, "revoked": 200, "none": 200}},
		{"GET", "/readyz", nil, map[string]int{"platform": 200, "owner": 200, "other": 200, "revoked": 200, "none": 200}},
		{"GET", "/metrics", nil, map[string]int{"platform": 200, "owner": 200, "other": 200, "revoked": 200, "none": 200}},
		{"GET", "/v1/openapi.yaml", nil, map[string]int{"platform": 200, "owner": 200, "other": 200, "revoked": 200, "none": 200}},
		{"GET", "/v1/municipalities", nil, with(map[string]int{"platform": 200, "owner": 200, "other": 200})},
		{"GET", "/v1/municipalities/131016", nil, with(map[string]int{"platform": 200, "owner": 200, "other": 403})},
		{"POST", "/v1/municipalities", func(role string) string {
			switch role {
			case "platform":
				return register("271004", "大阪市", "大阪府", "dev")
			case "owner":
				return register("131016", "千代田区", "東京都", "prod")
			}
			return register("131016", "千代田区", "東京都", "dev") // not theirs
		}, with(map[string]int{"platform": 202, "owner": 202, "other": 403})},
		{"POST", "/v1/municipalities/131016/dev/jobs", func(string) string { return `{"operation":"plan"}` },
			with(map[string]int{"platform": 202, "owner": 202, "other": 403})},
		{"GET", "/v1/municipalities/131016/dev/jobs", nil, with(map[string]int{"platform": 200, "owner": 200, "other": 403})},
		{"GET", jobPath, nil, with(map[string]int{"platform": 200, "owner": 200, "other": 404})},
		{"GET", jobPath + "/events", nil, with(map[string]int{"platform": 200, "owner": 200, "other": 404})},
		{"POST", jobPath + "/cancel", nil, with(map[string]int{"platform": 409, "owner": 409, "other": 404})},
		{"DELETE", "/v1/municipalities/131016?environment=prod", nil, with(map[string]int{"platform": 202, "owner": 409, "other": 403})},
	}
	mutating := 0
	for _, c := range calls {
		for _, role := range roles {
			var body any
			var raw []byte
			if c.body != nil {
				body = c.body(role)
				raw = []byte(c.body(role))
			}
			resp := ts.do(c.method, c.path, role, body)
			if resp.status != c.want[role] {
				t.Errorf("%s %s as %s: %d, want %d: %s", c.method, c.path, role, resp.status, c.want[role], resp.raw)
			}
			if resp.status == 401 && resp.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s as %s: 401 without WWW-Authenticate", c.method, c.path, role)
			}
			if c.method != "GET" {
				mutating++
			}
			conform(t, router, c.method, c.path, raw, resp.reqHeader, resp.status, resp.header, resp.raw)
		}
	}

	// A municipality token lists only its own municipality.
	owner := ts.do("GET", "/v1/municipalities", "owner", nil)
	for _, m := range owner.body["municipalities"].([]any) {
		if code := m.(map[string]any)["code"]; code != "131016" {
			t.Errorf("the 131016 token sees municipality %v", code)
		}
	}
	if n := len(ts.do("GET", "/v1/municipalities", "platform", nil).body["municipalities"].([]any)); n != 4 {
		t.Errorf("the platform sees %d stacks, want 4 (131016 dev and prod, 011002, 271004)", n)
	}

	// Every mutating request is in the audit log, with the token that made it.
	st, err := store.Open(context.Background(), ts.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := st.AuditLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// register ×2 in setup, then this test's mutating calls.
	if len(entries) != mutating+2 {
		t.Errorf("%d audit entries, want %d (every mutating request)", len(entries), mutating+2)
	}
	for _, e := range entries {
		if e.Status < 400 && e.TokenID == "" {
			t.Errorf("audit entry %+v has no token", e)
		}
		if e.Method == "GET" {
			t.Errorf("audit entry for a read: %+v", e)
		}
	}
}

// TestBadInputIsRefusedBeforeAnyJob: every bad field answers 400 naming it,
// and no job is queued.
func TestBadInputIsRefusedBeforeAnyJob(t *testing.T) {
	ts := startServer(t, 0, 2)
	router := openAPIRouter(t)
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
		{"not JSON", `{"code":`, "body", "cut short"},
		{"two objects", `{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev"} {}`, "body", "single JSON object"},
		{"too large", `{"code":"` + strings.Repeat("1", 70<<10) + `"}`, "body", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do("POST", "/v1/municipalities", "platform", tt.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.raw)
			}
			if r.body["field"] != tt.field || !strings.Contains(fmt.Sprint(r.body["reason"]), tt.reason) {
				t.Errorf("answer %s, want field %q and a reason saying %q", r.raw, tt.field, tt.reason)
			}
			h := http.Header{"Content-Type": {"application/json"}}
			conform(t, router, "POST", "/v1/municipalities", []byte(tt.body), h, r.status, http.Header{"Content-Type": {"application/json"}}, r.raw)
		})
	}
	op := ts.do("POST", "/v1/municipalities/131016/dev/jobs", "platform", `{"operation":"up"}`)
	if op.status != http.StatusNotFound {
		t.Errorf("operation on an unregistered stack: %d, want 404", op.status)
	}
	ts.wait(ts.register("131016", "千代田区", "東京都", "dev", nil))
	if r := ts.do("POST", "/v1/municipalities/131016/dev/jobs", "platform", `{"operation":"deploy"}`); r.status != 400 || r.body["field"] != "operation" {
		t.Errorf("unknown operation: %d %s", r.status, r.raw)
	}
	if r := ts.do("GET", "/v1/jobs/abc", "platform", nil); r.status != 400 || r.body["field"] != "id" {
		t.Errorf("bad job id: %d %s", r.status, r.raw)
	}
	if r := ts.do("POST", "/v1/municipalities", "platform", register131016()); r.status != http.StatusConflict {
		t.Errorf("registering twice: %d, want 409", r.status)
	}
	jobs := ts.do("GET", "/v1/municipalities/131016/dev/jobs", "platform", nil)
	if n := len(jobs.body["jobs"].([]any)); n != 1 {
		t.Errorf("%d jobs queued, want only the plan of the one valid registration", n)
	}
}

func register131016() string {
	return `{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev"}`
}
