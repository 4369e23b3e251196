package server

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/store"
)

// sqliteQueue is a job queue double for a server on the real SQLite store:
// it queues nothing (no worker runs) and cancels a queued job in the store.
type sqliteQueue struct{ st *store.DB }

func (q sqliteQueue) Enqueue(context.Context) store.Enqueue {
	return func(*sql.Tx, int64) error { return nil }
}

func (q sqliteQueue) Cancel(ctx context.Context, id int64) (bool, error) {
	return q.st.CancelQueued(ctx, id, "cancelled", "cancelled on request before it started")
}

// sqliteAPI is the server's handler on the real SQLite store, for the
// findings that depend on the database: its growth and its races.
type sqliteAPI struct {
	dir      string
	st       *store.DB
	handler  http.Handler
	platform string // plain platform token
	owner    string // plain token of 131016
}

func newSQLiteAPI(t *testing.T, deps func(*Deps)) *sqliteAPI {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &sqliteAPI{dir: dir, st: st}
	if _, a.platform, err = st.CreateToken(context.Background(), store.ScopePlatform, "platform"); err != nil {
		t.Fatal(err)
	}
	if _, a.owner, err = st.CreateToken(context.Background(), store.MunicipalityScope("131016"), "千代田区"); err != nil {
		t.Fatal(err)
	}
	d := Deps{Municipalities: st, Jobs: st, Tokens: st, AuditLog: st, Queue: sqliteQueue{st},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ValidateConfig: validateConfig}
	if deps != nil {
		deps(&d)
	}
	a.handler = NewServer(d)
	return a
}

func (a *sqliteAPI) do(t *testing.T, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	return rec
}

// dataSize is the size of the database and its WAL.
func dataSize(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	for _, f := range []string{"cats.db", "cats.db-wal"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			total += fi.Size()
		}
	}
	return total
}

// TestAnUnauthenticatedFloodBarelyGrowsTheDatabase: 40 POSTs without a token
// to 1 MiB paths grew the database by 45 MB (every non-GET audited with its
// whole path, 1 MiB headers accepted). Now such headers get 431 before any
// handler, paths are cut in the audit, and one address gets a budget of
// entries a minute.
func TestAnUnauthenticatedFloodBarelyGrowsTheDatabase(t *testing.T) {
	a := newSQLiteAPI(t, nil)
	srv := httptest.NewUnstartedServer(a.handler)
	srv.Config = NewHTTPServer(a.handler, DefaultLimits)
	srv.Start()
	defer srv.Close()
	// Checkpoints fold the WAL into the database: growth is measured on the
	// data itself.
	checkpoint := func() {
		if _, err := a.st.DB.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint()
	before := dataSize(t, a.dir)

	client := srv.Client()
	post := func(path string) int {
		req, _ := http.NewRequest("POST", srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %d-byte path: %v", len(path), err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	huge := "/v1/jobs/" + strings.Repeat("9", 1<<20) + "/cancel"
	for range 40 {
		if got := post(huge); got != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("a 1 MiB path: %d, want 431", got)
		}
	}
	// Paths just under the header limit reach the handler: 1,000 of them.
	long := "/v1/jobs/" + strings.Repeat("9", 12<<10) + "/cancel"
	for range 1000 {
		if got := post(long); got != http.StatusUnauthorized {
			t.Fatalf("a 12 KiB path without a token: %d, want 401", got)
		}
	}
	checkpoint()
	grown := dataSize(t, a.dir) - before
	t.Logf("the database grew by %d bytes for 40 × 1 MiB and 1,000 × 12 KiB unauthenticated POSTs", grown)
	if grown >= 1<<20 {
		t.Fatalf("the database grew by %d bytes, want under 1 MB", grown)
	}
	entries, err := a.st.AuditLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || len(entries) > DefaultUnauthenticatedAuditsPerMinute {
		t.Fatalf("%d audit entries for one address's flood, want 1..%d", len(entries), DefaultUnauthenticatedAuditsPerMinute)
	}
	for _, e := range entries {
		if len(e.Path) > maxAuditedPath+100 || !strings.Contains(e.Path, "sha256:") {
			t.Fatalf("an audited path of %d bytes without the hash of the whole: %.80q", len(e.Path), e.Path)
		}
	}
}

// TestTheAuditBudgetSaysWhatItLeftOut: past its budget an address's entries
// are counted, and its next entry says how many were left out.
func TestTheAuditBudgetSaysWhatItLeftOut(t *testing.T) {
	b := newAuditBudget(2)
	clock := time.Unix(0, 0)
	b.now = func() time.Time { return clock }
	for i, want := range []bool{true, true, false, false, false} {
		if ok, _ := b.allow("192.0.2.1"); ok != want {
			t.Fatalf("request %d: allowed %v, want %v", i+1, ok, want)
		}
	}
	if ok, _ := b.allow("192.0.2.2"); !ok {
		t.Fatal("another address shares the first one's budget")
	}
	clock = clock.Add(time.Minute)
	if ok, skipped := b.allow("192.0.2.1"); !ok || skipped != 3 {
		t.Fatalf("the next window: allowed %v with %d left out, want true with 3", ok, skipped)
	}
}

// TestRefusalsAreAuditedWithTheTokenIDTriedAndTheQuery: GET 401/403 probing
// was not audited, a wrong secret for a real token id was audited without
// the id, and a DELETE without its environment.
func TestRefusalsAreAuditedWithTheTokenIDTriedAndTheQuery(t *testing.T) {
	a := newSQLiteAPI(t, nil)
	id, _ := store.TokenIDOf(a.owner)
	wrongSecret := "cats_" + id + "_" + strings.Repeat("0", 64)
	a.do(t, "GET", "/v1/municipalities/131016?probe=1", wrongSecret, "")
	a.do(t, "GET", "/v1/municipalities/011002", a.owner, "")
	a.do(t, "DELETE", "/v1/municipalities/011002?environment=prod", a.owner, "")
	a.do(t, "POST", "/v1/no-such-route", "", "")
	a.do(t, "PUT", "/v1/jobs/1", a.owner, "")
	entries, err := a.st.AuditLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		method, path, tokenID string
		status                int
	}{
		{"GET", "/v1/municipalities/131016?probe=1", id, 401},
		{"GET", "/v1/municipalities/011002", id, 403},
		{"DELETE", "/v1/municipalities/011002?environment=prod", id, 403},
		{"POST", "/v1/no-such-route", "", 404}, // the router's own 404
		{"PUT", "/v1/jobs/1", "", 405},         // and its 405
	}
	if len(entries) != len(want) {
		t.Fatalf("%d audit entries, want %d: %+v", len(entries), len(want), entries)
	}
	for i, w := range want {
		e := entries[i]
		if e.Method != w.method || e.Path != w.path || e.TokenID != w.tokenID || e.Status != w.status {
			t.Errorf("entry %d = %s %s by %q → %d, want %s %s by %q → %d", i+1, e.Method, e.Path, e.TokenID, e.Status,
				w.method, w.path, w.tokenID, w.status)
		}
	}
}

// TestThirtyTwoParallelDeletesQueueOneDestroy: the stack's state was read
// outside the transaction, so parallel DELETEs queued several destroys, and a
// leftover one removed the municipality registered again in between.
func TestThirtyTwoParallelDeletesQueueOneDestroy(t *testing.T) {
	a := newSQLiteAPI(t, nil)
	body := registration("131016", "千代田区", "東京都", "dev")
	if r := a.do(t, "POST", "/v1/municipalities", a.platform, body); r.Code != http.StatusAccepted {
		t.Fatalf("register: %d %s", r.Code, r.Body)
	}
	statuses := make(chan int, 32)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			statuses <- a.do(t, "DELETE", "/v1/municipalities/131016?environment=dev", a.platform, "").Code
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusAccepted] != 1 || count[http.StatusConflict] != 31 {
		t.Fatalf("32 parallel DELETEs answered %v, want exactly one 202 and 31 409", count)
	}
	jobs, err := a.st.ListJobs(context.Background(), "131016-dev", 100)
	if err != nil {
		t.Fatal(err)
	}
	var destroy store.Job
	for _, j := range jobs {
		if j.Operation == "destroy" {
			if destroy.ID != 0 {
				t.Fatalf("two destroy jobs queued: %d and %d", destroy.ID, j.ID)
			}
			destroy = j
		}
	}
	// The destroy succeeds, the stack is registered again; a late duplicate
	// of the old destroy removes nothing.
	if removed, err := a.st.DeleteMunicipality(context.Background(), "131016", "dev", destroy.Generation); !removed || err != nil {
		t.Fatalf("remove the destroyed registration: %v %v", removed, err)
	}
	if r := a.do(t, "POST", "/v1/municipalities", a.platform, body); r.Code != http.StatusAccepted {
		t.Fatalf("register again: %d %s", r.Code, r.Body)
	}
	if removed, _ := a.st.DeleteMunicipality(context.Background(), "131016", "dev", destroy.Generation); removed {
		t.Fatal("the older destroy removed the registration made again")
	}
	if r := a.do(t, "GET", "/v1/municipalities/131016", a.owner, ""); r.Code != http.StatusOK {
		t.Fatalf("the registration made again is gone: %d", r.Code)
	}
}

// TestACancelledDestroyLeavesTheStackActive: a cancelled or failed destroy
// left the stack deleting for good; every later DELETE, job or registration
// got 409, even for the platform team.
func TestACancelledDestroyLeavesTheStackActive(t *testing.T) {
	a := newSQLiteAPI(t, nil)
	if r := a.do(t, "POST", "/v1/municipalities", a.platform, registration("131016", "千代田区", "東京都", "dev")); r.Code != http.StatusAccepted {
		t.Fatalf("register: %d %s", r.Code, r.Body)
	}
	r := a.do(t, "DELETE", "/v1/municipalities/131016", a.platform, "")
	if r.Code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", r.Code, r.Body)
	}
	destroyURL := r.Header().Get("Location")
	if got := a.do(t, "POST", "/v1/municipalities/131016/dev/jobs", a.owner, `{"operation":"up"}`).Code; got != http.StatusConflict {
		t.Fatalf("a job while the destroy is pending: %d, want 409", got)
	}
	if got := a.do(t, "POST", destroyURL+"/cancel", a.platform, "").Code; got != http.StatusAccepted {
		t.Fatalf("cancel the destroy: %d", got)
	}
	m, err := a.st.GetMunicipality(context.Background(), "131016", "dev")
	if err != nil || m.State != store.MunicipalityActive {
		t.Fatalf("after a cancelled destroy the stack is %q (%v), want active", m.State, err)
	}
	if got := a.do(t, "POST", "/v1/municipalities/131016/dev/jobs", a.owner, `{"operation":"up"}`).Code; got != http.StatusAccepted {
		t.Fatalf("a job after the cancelled destroy: %d, want 202", got)
	}
	if got := a.do(t, "DELETE", "/v1/municipalities/131016", a.platform, "").Code; got != http.StatusAccepted {
		t.Fatalf("the platform team retries the delete: %d, want 202", got)
	}
}

// TestPlatformKeysAreThePlatformTeams: a municipality token could set
// cats:environmentStack, cats:tenancy and cats:globalSuffix, so its stack
// could read another municipality's outputs or build an account baseline.
func TestPlatformKeysAreThePlatformTeams(t *testing.T) {
	values := map[string]string{
		"cats:environmentStack": "organization/cats-analytics/011002-dev",
		"cats:tenancy":          "account",
		"cats:globalSuffix":     "other",
	}
	for key, value := range values {
		a := newTestAPI(t)
		body := registrationWithConfig(t, map[string]string{key: value})
		r := a.do("POST", "/v1/municipalities", "owner", body)
		if r.status != http.StatusForbidden || r.body["field"] != "config."+key {
			t.Errorf("a municipality token setting %s: %d %s, want 403 naming config.%s", key, r.status, r.raw, key)
		}
		if n := a.store.jobCount(); n != 0 {
			t.Errorf("%s: %d jobs queued by a refused registration", key, n)
		}
		if r := a.do("POST", "/v1/municipalities", "platform", body); r.status != http.StatusAccepted {
			t.Errorf("the platform team setting %s: %d %s, want 202", key, r.status, r.raw)
		}
	}
}

func registrationWithConfig(t *testing.T, config map[string]string) string {
	t.Helper()
	b, err := json.Marshal(CreateMunicipalityRequest{Code: "131016", Name: "千代田区", Prefecture: "東京都", Environment: "dev", Config: config})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestControlCharactersAndOverlongConfigValuesAreRefused: a config value
// with a NUL byte made every CLI call on the stack fail.
func TestControlCharactersAndOverlongConfigValuesAreRefused(t *testing.T) {
	for name, value := range map[string]string{
		"NUL":        "t3.large\x00",
		"line break": "t3.large\nruntime: python",
		"tab":        "t3\tlarge",
		"escape":     "\x1b[31mt3.large",
		"C1 control": "t3.large\u0085",
		"overlong":   strings.Repeat("t", 1025),
	} {
		a := newTestAPI(t)
		body := registrationWithConfig(t, map[string]string{"cats:instanceType": value})
		r := a.do("POST", "/v1/municipalities", "platform", body)
		if r.status != http.StatusBadRequest || r.body["field"] != "config.cats:instanceType" {
			t.Errorf("%s: %d %s, want 400 naming config.cats:instanceType", name, r.status, r.raw)
		}
		if n := a.store.jobCount(); n != 0 {
			t.Errorf("%s: %d jobs queued", name, n)
		}
	}
}

// TestABodyThatNeverArrivesIsCutOff: 300 connections that sent a
// Content-Length and no body stayed open indefinitely.
func TestABodyThatNeverArrivesIsCutOff(t *testing.T) {
	a := newSQLiteAPI(t, nil)
	limits := DefaultLimits
	limits.ReadTimeout, limits.IdleTimeout = 500*time.Millisecond, 500*time.Millisecond
	srv := httptest.NewUnstartedServer(a.handler)
	srv.Config = NewHTTPServer(a.handler, limits)
	srv.Start()
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/municipalities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", a.platform)
	// Far longer than the read timeout: a server without one never answers.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a body that never arrives: %d, want 400 or a closed connection", resp.StatusCode)
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatal("the server still waits for the body after 20 s: no read timeout")
	}
	// The connection is closed: nothing more can be read.
	if _, err := conn.Read(make([]byte, 1)); err == nil || (errors.As(err, &netErr) && netErr.Timeout()) {
		t.Fatalf("the connection stays open after the read timeout: %v", err)
	}

	// An idle keep-alive connection is closed too.
	idle, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprint(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	_ = idle.SetReadDeadline(time.Now().Add(20 * time.Second))
	if resp, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if _, err := br.ReadByte(); err == nil || (errors.As(err, &netErr) && netErr.Timeout()) {
		t.Fatalf("an idle keep-alive connection stays open: %v", err)
	}
}

// TestATokensEventStreamsAreCapped: one token opened 2,000 event streams.
func TestATokensEventStreamsAreCapped(t *testing.T) {
	a := newTestAPI(t)
	plan := a.register("131016", "千代田区", "東京都", "dev") // stays queued: its streams stay open
	path := fmt.Sprintf("/v1/jobs/%d/events", plan)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(ctx context.Context, role string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(ctx, "GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+a.tokens[role])
		rec := httptest.NewRecorder()
		a.handler.ServeHTTP(rec, req)
		return rec
	}
	var streaming, refused sync.WaitGroup
	refusals := make(chan int, 2000)
	for range 2000 {
		streaming.Add(1)
		refused.Add(1)
		go func() {
			defer streaming.Done()
			once := sync.OnceFunc(refused.Done)
			defer once()
			rec := open(ctx, "owner")
			if rec.Code == http.StatusTooManyRequests {
				refusals <- rec.Code
				once()
			}
		}()
	}
	// The refused ones return at once; the accepted ones stream until cancelled.
	waitFor(t, func() bool { return len(refusals) == 2000-DefaultMaxStreamsPerToken })
	if rec := open(context.Background(), "owner"); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("the 2,001st stream of a token: %d (Retry-After %q), want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Another token is not limited by this one's streams.
	short, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	if rec := open(short, "platform"); rec.Code != http.StatusOK {
		t.Fatalf("another token's stream: %d, want 200", rec.Code)
	}
	cancel()
	streaming.Wait()
	// Closed streams free their places.
	short2, stop2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop2()
	if rec := open(short2, "owner"); rec.Code != http.StatusOK {
		t.Fatalf("a stream after the others closed: %d, want 200", rec.Code)
	}
}

// TestAStreamEndsAtItsMaximumDuration: streams had no maximum duration.
func TestAStreamEndsAtItsMaximumDuration(t *testing.T) {
	f := newFakeStore()
	f.municipalities["131016-dev"] = store.Municipality{Code: "131016", Environment: "dev", Stack: "131016-dev", State: store.MunicipalityActive}
	f.tokens["cats_p_s"] = store.Token{ID: "p", Scope: store.ScopePlatform}
	job, _ := f.CreateJobWithin(context.Background(), store.Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "up"}, store.QueueCaps{},
		func(*sql.Tx, int64) error { return nil })
	h := NewServer(Deps{Municipalities: f, Jobs: f, Tokens: f, AuditLog: f, Queue: &fakeQueue{store: f},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxStreamDuration: 300 * time.Millisecond})
	req := httptest.NewRequest("GET", fmt.Sprintf("/v1/jobs/%d/events", job.ID), nil)
	req.Header.Set("Authorization", "Bearer cats_p_s")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { h.ServeHTTP(rec, req); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("a stream of a job that never ends was still open after 20 s with a 300 ms maximum")
	}
	if strings.Contains(rec.Body.String(), "event: done") {
		t.Fatal("the stream said done for a job that has not finished")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLeastExposure: /readyz named the CLI's path to anyone, /metrics was
// unauthenticated, answers lacked nosniff and no-store, and a scope that is
// not exactly a municipality's listed everything.
func TestLeastExposure(t *testing.T) {
	a := newTestAPI(t)
	a.handler = NewServer(Deps{Municipalities: a.store, Jobs: a.store, Tokens: a.store, AuditLog: a.store, Queue: a.queue,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: func(context.Context) error {
			return errors.New("check the files every operation needs: stat /srv/cats/bin/pulumi: no such file or directory")
		}})
	r := a.do("GET", "/readyz", "none", "")
	if r.status != http.StatusServiceUnavailable || strings.Contains(string(r.raw), "/srv") || strings.Contains(string(r.raw), "pulumi") {
		t.Errorf("/readyz when not ready: %d %s, want 503 that names nothing of the server", r.status, r.raw)
	}
	if r := a.do("GET", "/metrics", "none", ""); r.status != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d, want 401", r.status)
	}
	for _, c := range []struct{ method, path, role string }{
		{"GET", "/healthz", "none"}, {"GET", "/v1/municipalities", "platform"}, {"GET", "/v1/municipalities", "none"},
		{"GET", "/v1/no-such-route", "none"}, {"PUT", "/v1/jobs/1", "platform"},
	} {
		req := httptest.NewRequest(c.method, c.path, nil)
		if tok := a.tokens[c.role]; tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		a.handler.ServeHTTP(rec, req)
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s → %d: headers %v, want nosniff and no-store", c.method, c.path, rec.Code, rec.Header())
		}
	}
	for _, scope := range []store.Scope{"municipality:", "municipality: ", "municipality:13101", ""} {
		a.store.tokens["cats_odd_s"] = store.Token{ID: "odd", Scope: scope}
		a.tokens["odd"] = "cats_odd_s"
		if r := a.do("GET", "/v1/municipalities", "odd", ""); r.status != http.StatusForbidden {
			t.Errorf("scope %q lists municipalities: %d, want 403", scope, r.status)
		}
	}
}
