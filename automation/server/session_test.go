package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/internal/apitest"
	"github.com/cats-analytics/cats-analytics/automation/store"
)

// fakeSessions keeps sessions in memory with the rules of store.DB
// (tested against SQLite in its own package): a session resolves while it
// lives and its token is unrevoked. Its clock can be moved.
type fakeSessions struct {
	store    *fakeStore
	mu       sync.Mutex
	sessions map[string]store.Session // by id
	started  int
	now      time.Time
}

func (f *fakeSessions) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeSessions) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fakeSessions) CreateSession(_ context.Context, tokenID string, ttl time.Duration) (string, store.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started++
	id := fmt.Sprintf("session-%d-of-%s", f.started, tokenID)
	s := store.Session{TokenID: tokenID, CSRFToken: "csrf-" + id, CreatedAt: f.now.Format(time.RFC3339Nano), ExpiresAt: f.now.Add(ttl)}
	f.sessions[id] = s
	return id, s, nil
}

func (f *fakeSessions) Session(_ context.Context, id string) (store.Session, store.Token, error) {
	now := f.clock()
	f.mu.Lock()
	s, ok := f.sessions[id]
	f.mu.Unlock()
	if !ok || !now.Before(s.ExpiresAt) {
		return store.Session{}, store.Token{}, store.ErrNoSession
	}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	for _, t := range f.store.tokens {
		if t.ID == s.TokenID && t.RevokedAt == "" {
			return s, t, nil
		}
	}
	return store.Session{}, store.Token{}, store.ErrNoSession
}

func (f *fakeSessions) DeleteSession(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions, id)
	return nil
}

// sessionAPI is the test API with console sessions.
type sessionAPI struct {
	*testAPI
	sessions *fakeSessions
}

func newSessionAPI(t *testing.T, trustForwardedProto bool) *sessionAPI {
	t.Helper()
	a := newTestAPI(t)
	f := a.store
	sessions := &fakeSessions{store: f, sessions: map[string]store.Session{}, now: time.Now()}
	a.handler = NewServer(Deps{
		Municipalities: f, Jobs: f, Tokens: f, AuditLog: f, Queue: a.queue, Sessions: sessions,
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
		ValidateConfig:      validateConfig,
		TrustForwardedProto: trustForwardedProto,
	})
	return &sessionAPI{testAPI: a, sessions: sessions}
}

// send serves a request built by the test (cookies, browser headers, TLS)
// and, for /v1 routes, checks the exchange against openapi.yaml.
func (a *sessionAPI) send(req *http.Request) response {
	a.t.Helper()
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	_ = json.Unmarshal(r.raw, &r.body)
	if strings.HasPrefix(req.URL.Path, "/v1/") {
		a.checker.Check(a.t, apitest.Exchange{Method: req.Method, Path: req.URL.RequestURI(), Body: body, Header: req.Header,
			Status: r.status, RespHeader: r.header, RespBody: r.raw})
	}
	return r
}

// browserRequest is a request as the console's page sends it: same origin.
func browserRequest(method, path, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if method != http.MethodGet {
		req.Header.Set("Origin", "http://"+req.Host)
	}
	return req
}

// signIn exchanges a role's token for a session; it returns the cookie and
// the CSRF token.
func (a *sessionAPI) signIn(role string, tune func(*http.Request)) (*http.Cookie, string, response) {
	a.t.Helper()
	req := browserRequest("POST", "/v1/session", fmt.Sprintf(`{"token":%q}`, a.tokens[role]))
	if tune != nil {
		tune(req)
	}
	r := a.send(req)
	if r.status != http.StatusCreated {
		a.t.Fatalf("sign in as %s: %d %s", role, r.status, r.raw)
	}
	cookies := (&http.Response{Header: r.header}).Cookies()
	if len(cookies) != 1 {
		a.t.Fatalf("sign in set %d cookies, want the session's", len(cookies))
	}
	return cookies[0], fmt.Sprint(r.body["csrfToken"]), r
}

// withSession sends a browser request with the session cookie and, when
// csrf is set, the CSRF token.
func (a *sessionAPI) withSession(method, path, body string, cookie *http.Cookie, csrf string, tune func(*http.Request)) response {
	a.t.Helper()
	req := browserRequest(method, path, body)
	req.AddCookie(cookie)
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	if tune != nil {
		tune(req)
	}
	return a.send(req)
}

func TestSignInSetsAnHttpOnlyStrictCookie(t *testing.T) {
	a := newSessionAPI(t, false)
	cookie, csrf, r := a.signIn("owner", nil)
	if cookie.Name != "cats_session" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Secure {
		t.Errorf("session cookie %q: want cats_session, HttpOnly (no script reads it), SameSite=Strict (no other site sends it), Path=/, "+
			"not Secure over plain HTTP", r.header.Get("Set-Cookie"))
	}
	if cookie.MaxAge != 0 || !cookie.Expires.IsZero() {
		t.Errorf("session cookie %q persists on disk: it should end with the browser (the server ends it after 8 hours)", r.header.Get("Set-Cookie"))
	}
	if r.body["scope"] != "municipality:131016" || r.body["municipality"] != "131016" || csrf == "" || r.body["expiresAt"] == nil {
		t.Errorf("sign-in answer %s: want the scope, the municipality, a CSRF token and the end", r.raw)
	}
	if strings.Contains(string(r.raw), a.tokens["owner"]) || strings.Contains(r.header.Get("Set-Cookie"), a.tokens["owner"]) {
		t.Error("the sign-in answer carries the token: the browser must keep only the session cookie")
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("sign-in answer Cache-Control %q, want no-store (it holds a CSRF token)", r.header.Get("Cache-Control"))
	}
	last := a.store.auditLog()[len(a.store.auditLog())-1]
	if last.Method != "POST" || last.Path != "/v1/session" || last.Status != http.StatusCreated || last.TokenID != "owner-id" {
		t.Errorf("sign-in audited as %+v, want POST /v1/session 201 by owner-id", last)
	}

	// Over TLS, directly or behind a proxy the server trusts, the cookie is
	// Secure and takes the __Host- prefix.
	overTLS := func(req *http.Request) {
		req.TLS = &tls.ConnectionState{}
		req.Header.Set("Origin", "https://"+req.Host)
	}
	if c, _, _ := a.signIn("owner", overTLS); c.Name != "__Host-cats_session" || !c.Secure {
		t.Errorf("cookie over TLS: %+v, want __Host-cats_session, Secure", c)
	}
	forwarded := func(req *http.Request) {
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("Origin", "https://"+req.Host)
	}
	if r := a.send(func() *http.Request {
		req := browserRequest("POST", "/v1/session", fmt.Sprintf(`{"token":%q}`, a.tokens["owner"]))
		forwarded(req)
		return req
	}()); r.status != http.StatusForbidden {
		t.Errorf("X-Forwarded-Proto: https from an untrusted client with an https Origin: %d, want 403 (the request came over plain HTTP)", r.status)
	}
	proxied := newSessionAPI(t, true)
	if c, _, _ := proxied.signIn("owner", forwarded); c.Name != "__Host-cats_session" || !c.Secure {
		t.Errorf("cookie behind a trusted TLS proxy: %+v, want __Host-cats_session, Secure", c)
	}
}

func TestSignInRefusals(t *testing.T) {
	a := newSessionAPI(t, false)
	token := func(role string) string { return fmt.Sprintf(`{"token":%q}`, a.tokens[role]) }
	tests := []struct {
		name   string
		body   string
		tune   func(*http.Request)
		status int
	}{
		{"unknown token", `{"token":"cats_nobody_secret"}`, nil, 401},
		{"revoked token", token("revoked"), nil, 401},
		{"no token", `{"token":""}`, nil, 400},
		{"a form post", "token=x", func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, 400},
		{"from another site (Fetch Metadata)", token("platform"), func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, 403},
		{"from another origin", token("platform"), func(r *http.Request) { r.Header.Set("Origin", "http://attacker.example") }, 403},
		{"from an opaque origin", token("platform"), func(r *http.Request) { r.Header.Set("Origin", "null") }, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := browserRequest("POST", "/v1/session", tt.body)
			if tt.tune != nil {
				tt.tune(req)
			}
			r := a.send(req)
			if r.status != tt.status || r.header.Get("Set-Cookie") != "" {
				t.Errorf("%d (Set-Cookie %q) %s, want %d and no cookie", r.status, r.header.Get("Set-Cookie"), r.raw, tt.status)
			}
		})
	}
	entries := a.store.auditLog()
	// Refused sign-ins are audited like refused bearer tokens: with the
	// token id that was tried, marked as not authenticated.
	if len(entries) != len(tests) || entries[0].Status != 401 || entries[0].TokenID != "nobody" || entries[0].Scope != "" ||
		!strings.Contains(entries[0].Detail, "not authenticated") {
		t.Errorf("audit %+v: want every refused sign-in, with the token id tried and no scope", entries)
	}
	if n := len(a.sessions.sessions); n != 0 {
		t.Errorf("%d sessions started by refused sign-ins", n)
	}
}

// TestASessionHasItsTokensAuthorization: the cookie stands in for the token,
// no more: a municipality's session sees its own municipality only.
func TestASessionHasItsTokensAuthorization(t *testing.T) {
	a := newSessionAPI(t, false)
	plan := a.register("131016", "千代田区", "東京都", "dev")
	a.register("011002", "札幌市", "北海道", "dev")
	a.store.finish(plan, store.JobSucceeded, planResult, planEvents...)
	cookie, _, _ := a.signIn("owner", nil)
	tests := []struct {
		path   string
		status int
	}{
		{"/v1/municipalities/131016", 200},
		{"/v1/municipalities/011002", 403},
		{fmt.Sprintf("/v1/jobs/%d", plan), 200},
		{fmt.Sprintf("/v1/jobs/%d/events", plan), 200},
		{"/v1/jobs/2", 404},
		{"/v1/catalog/municipalities", 200},
	}
	for _, tt := range tests {
		if r := a.withSession("GET", tt.path, "", cookie, "", nil); r.status != tt.status {
			t.Errorf("GET %s with 131016's session: %d, want %d (as its token): %s", tt.path, r.status, tt.status, r.raw)
		}
	}
	r := a.withSession("GET", "/v1/municipalities", "", cookie, "", nil)
	if list := r.body["municipalities"].([]any); len(list) != 1 || list[0].(map[string]any)["code"] != "131016" {
		t.Errorf("131016's session lists %s, want only 131016", r.raw)
	}
	// The cookie of plain HTTP is not the cookie of TLS.
	if r := a.withSession("GET", "/v1/municipalities", "", cookie, "", func(req *http.Request) { req.TLS = &tls.ConnectionState{} }); r.status != 401 {
		t.Errorf("the plain-HTTP cookie over TLS: %d, want 401", r.status)
	}
}

// TestChangesWithASessionNeedTheCSRFToken: a cookie alone changes nothing,
// since any site's page can make the browser send it; the CSRF token, which
// only the console's own script can read, and a same-origin request can.
func TestChangesWithASessionNeedTheCSRFToken(t *testing.T) {
	a := newSessionAPI(t, false)
	a.register("131016", "千代田区", "東京都", "dev")
	_, otherCSRF, _ := a.signIn("platform", nil)
	cookie, csrf, _ := a.signIn("owner", nil)
	const jobs, up = "/v1/municipalities/131016/dev/jobs", `{"operation":"up"}`
	refused := []struct {
		name string
		csrf string
		tune func(*http.Request)
	}{
		{"no CSRF token", "", nil},
		{"a wrong CSRF token", csrf + "x", nil},
		{"another session's CSRF token", otherCSRF, nil},
		{"from another site", csrf, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-site") }},
		{"from another origin", csrf, func(r *http.Request) { r.Header.Set("Origin", "http://131016.example") }},
	}
	for _, tt := range refused {
		if r := a.withSession("POST", jobs, up, cookie, tt.csrf, tt.tune); r.status != http.StatusForbidden {
			t.Errorf("an up with the session cookie and %s: %d %s, want 403", tt.name, r.status, r.raw)
		}
	}
	if r := a.withSession("DELETE", "/v1/municipalities/131016", "", cookie, "", nil); r.status != http.StatusForbidden {
		t.Errorf("a delete with the session cookie and no CSRF token: %d, want 403", r.status)
	}
	if r := a.withSession("POST", "/v1/jobs/1/cancel", "", cookie, "", nil); r.status != http.StatusForbidden {
		t.Errorf("a cancel with the session cookie and no CSRF token: %d, want 403", r.status)
	}
	if n := a.store.jobCount(); n != 1 {
		t.Fatalf("%d jobs after the refused requests, want only the registration's plan", n)
	}
	entries := a.store.auditLog()
	if last := entries[len(entries)-1]; last.Status != 403 || last.TokenID != "owner-id" {
		t.Errorf("a refused change audited as %+v, want 403 by the session's token", last)
	}

	if r := a.withSession("POST", jobs, up, cookie, csrf, nil); r.status != http.StatusAccepted {
		t.Errorf("an up with the session and its CSRF token: %d %s, want 202", r.status, r.raw)
	}
	// A browser that sends no Fetch Metadata and no Origin still needs the token.
	bare := func(r *http.Request) { r.Header.Del("Sec-Fetch-Site"); r.Header.Del("Origin") }
	if r := a.withSession("POST", jobs, up, cookie, "", bare); r.status != http.StatusForbidden {
		t.Errorf("an up with the cookie alone and no browser headers: %d, want 403", r.status)
	}
	if r := a.withSession("POST", jobs, up, cookie, csrf, bare); r.status != http.StatusAccepted {
		t.Errorf("an up with the cookie and the CSRF token, no browser headers: %d, want 202", r.status)
	}
	// Bearer-token clients are not browsers: no CSRF token, even with a stray cookie.
	if r := a.doWith("POST", jobs, "owner", up, http.Header{"Cookie": {cookie.String()}}); r.status != http.StatusAccepted {
		t.Errorf("an up with a bearer token: %d %s, want 202 (no CSRF token needed)", r.status, r.raw)
	}
}

// TestSessionsEnd: sign-out, the token's revocation and time each end a
// session, and the browser is told to drop its cookie.
func TestSessionsEnd(t *testing.T) {
	a := newSessionAPI(t, false)
	cookie, csrf, _ := a.signIn("platform", nil)
	if r := a.withSession("GET", "/v1/session", "", cookie, "", nil); r.status != 200 || r.body["csrfToken"] != csrf || r.body["scope"] != "platform" {
		t.Errorf("GET /v1/session: %d %s, want the session's scope and CSRF token", r.status, r.raw)
	}
	if r := a.do("GET", "/v1/session", "platform", ""); r.status != 200 || r.body["csrfToken"] != nil || r.body["tokenId"] != "platform-id" {
		t.Errorf("GET /v1/session with a bearer token: %d %s, want the caller, no CSRF token", r.status, r.raw)
	}
	if r := a.do("DELETE", "/v1/session", "platform", ""); r.status != http.StatusNotFound {
		t.Errorf("sign-out with a bearer token: %d, want 404 (no session)", r.status)
	}
	if r := a.withSession("DELETE", "/v1/session", "", cookie, "", nil); r.status != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %d, want 403 (another site must not sign the user out)", r.status)
	}
	r := a.withSession("DELETE", "/v1/session", "", cookie, csrf, nil)
	cleared := (&http.Response{Header: r.header}).Cookies()
	if r.status != http.StatusNoContent || len(cleared) != 1 || cleared[0].Name != "cats_session" || cleared[0].MaxAge >= 0 {
		t.Errorf("sign-out: %d %q, want 204 clearing the cookie", r.status, r.header.Get("Set-Cookie"))
	}
	entries := a.store.auditLog()
	if last := entries[len(entries)-1]; last.Method != "DELETE" || last.Path != "/v1/session" || last.Status != 204 || last.TokenID != "platform-id" {
		t.Errorf("sign-out audited as %+v, want DELETE /v1/session 204 by platform-id", last)
	}
	after := a.withSession("GET", "/v1/municipalities", "", cookie, "", nil)
	if after.status != 401 || after.header.Get("WWW-Authenticate") == "" || !strings.Contains(after.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("the signed-out cookie: %d %q, want 401 clearing the cookie", after.status, after.header.Get("Set-Cookie"))
	}

	revoked, _, _ := a.signIn("owner", nil)
	a.store.mu.Lock()
	tok := a.store.tokens[a.tokens["owner"]]
	tok.RevokedAt = fakeNow()
	a.store.tokens[a.tokens["owner"]] = tok
	a.store.mu.Unlock()
	if r := a.withSession("GET", "/v1/municipalities", "", revoked, "", nil); r.status != 401 {
		t.Errorf("the session of a revoked token: %d, want 401: revoking a token ends its sessions", r.status)
	}

	// Signing in again ends the session the browser had.
	first, _, _ := a.signIn("platform", nil)
	if _, _, r := a.signIn("platform", func(req *http.Request) { req.AddCookie(first) }); r.status != http.StatusCreated {
		t.Fatalf("signing in again: %d", r.status)
	}
	if r := a.withSession("GET", "/v1/municipalities", "", first, "", nil); r.status != 401 {
		t.Errorf("the session a browser had before signing in again: %d, want 401", r.status)
	}

	old, _, _ := a.signIn("platform", nil)
	a.sessions.advance(sessionTTL)
	if r := a.withSession("GET", "/v1/municipalities", "", old, "", nil); r.status != 401 {
		t.Errorf("a session %s old: %d, want 401", sessionTTL, r.status)
	}
}

func TestCatalogs(t *testing.T) {
	a := newSessionAPI(t, false)
	r := a.do("GET", "/v1/catalog/municipalities", "other", "")
	list, _ := r.body["municipalities"].([]any)
	if r.status != 200 || len(list) != 1747 || !strings.Contains(fmt.Sprint(r.body["attribution"]), "総務省") {
		t.Fatalf("municipality catalog: %d, %d entries, attribution %v; want the 1,747 municipalities of the official list, credited", r.status, len(list), r.body["attribution"])
	}
	found := false
	for _, m := range list {
		m := m.(map[string]any)
		found = found || (m["code"] == "131016" && m["name"] == "千代田区" && m["prefecture"] == "東京都")
	}
	if !found {
		t.Error("the catalog lacks 131016 千代田区 東京都")
	}
	r = a.do("GET", "/v1/catalog/config", "owner", "")
	keys, _ := r.body["keys"].([]any)
	var vpc map[string]any
	for _, k := range keys {
		if k.(map[string]any)["name"] == "cats:vpcCidr" {
			vpc = k.(map[string]any)
		}
	}
	if vpc == nil || vpc["default"] != "10.0.0.0/16" || vpc["setBy"] != "municipality" {
		t.Errorf("config catalog entry for cats:vpcCidr: %v, want its default and who sets it", vpc)
	}
	if r := a.do("GET", "/v1/catalog/municipalities", "none", ""); r.status != 401 {
		t.Errorf("catalog without a token: %d, want 401", r.status)
	}
}
