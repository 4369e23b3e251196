package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/automation/internal/testprogram"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/internal/clitest"
)

// The test binary doubles as a server process for the crash test: started with
// CATS_TEST_SERVE set, it serves the test program on the given data directory
// until killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("CATS_TEST_SERVE"); dir != "" {
		delay, _ := time.ParseDuration(os.Getenv("CATS_TEST_DELAY"))
		opts := testOptions(dir, os.Getenv("PULUMI"), delay, 2)
		opts.Ready = func(addr string) {
			_ = os.WriteFile(filepath.Join(dir, "addr"), []byte(addr), 0o600)
		}
		if err := Serve(context.Background(), opts); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testPlanner plans the test program offline: under Pulumi mocks, no CLI.
type testPlanner struct{}

type countingMocks struct {
	mu    sync.Mutex
	types []string
}

func (m *countingMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	m.types = append(m.types, args.TypeToken)
	m.mu.Unlock()
	return args.Name + "-id", args.Inputs, nil
}

func (m *countingMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

func (testPlanner) Plan(ctx context.Context, stack string, config map[string]string) (any, error) {
	mocks := &countingMocks{}
	err := pulumi.RunErr(testprogram.Program(0), pulumi.WithMocks("cats-analytics", stack, mocks),
		func(info *pulumi.RunInfo) { info.Config = config })
	if err != nil {
		return nil, err
	}
	return map[string]any{"stack": stack, "resources": len(mocks.types)}, nil
}

func testOptions(dir, cliPath string, delay time.Duration, concurrency int) ServeOptions {
	return ServeOptions{
		DataDir:     dir,
		Addr:        "127.0.0.1:0",
		Concurrency: concurrency,
		CLI:         cliPath,
		Passphrase:  "test-passphrase",
		Project:     "cats-analytics",
		Program:     func(string) pulumi.RunFunc { return testprogram.Program(delay) },
		Planner:     testPlanner{},
		RetryBase:   200 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// testServer is a server running in the test process.
type testServer struct {
	t      testing.TB
	url    string
	dir    string
	stop   func()
	tokens map[string]string // role → token
}

func isolateCLI(t testing.TB) {
	t.Setenv("PULUMI_SKIP_UPDATE_CHECK", "1")
	t.Setenv("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
	t.Setenv("PULUMI_HOME", filepath.Join(t.TempDir(), "home"))
}

func startServer(t testing.TB, delay time.Duration, concurrency int) *testServer {
	t.Helper()
	isolateCLI(t)
	dir := t.TempDir()
	ts := &testServer{t: t, dir: dir, tokens: map[string]string{}}
	ts.tokens = createTokens(t, dir)
	ts.start(delay, concurrency)
	return ts
}

func (ts *testServer) start(delay time.Duration, concurrency int) {
	ts.t.Helper()
	ts.startWith(func(o *ServeOptions) {
		o.Program = func(string) pulumi.RunFunc { return testprogram.Program(delay) }
		o.Concurrency = concurrency
	})
}

// startWith starts the server with the test options, adjusted.
func (ts *testServer) startWith(adjust func(*ServeOptions)) {
	t := ts.t
	t.Helper()
	opts := testOptions(ts.dir, clitest.Path(t), 0, 2)
	adjust(&opts)
	addr := make(chan string, 1)
	opts.Ready = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, opts) }()
	select {
	case a := <-addr:
		ts.url = "http://" + a
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	ts.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	}
	t.Cleanup(func() {
		if ts.stop != nil {
			ts.stop()
			ts.stop = nil
		}
	})
}

// createTokens issues one token per role through the CLI command, and revokes one.
func createTokens(t testing.TB, dir string) map[string]string {
	t.Helper()
	tokens := map[string]string{}
	for role, scope := range map[string]string{"platform": "platform", "owner": "131016", "other": "011002", "revoked": "131016"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"token", "create", "--data", dir, "--scope", scope, "--description", role}, os.Getenv, &out); err != nil {
			t.Fatalf("token create: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		tokens[role] = lines[len(lines)-1]
	}
	id := strings.Split(strings.TrimPrefix(tokens["revoked"], "cats_"), "_")[0]
	if err := run(context.Background(), []string{"token", "revoke", "--data", dir, id}, os.Getenv, io.Discard); err != nil {
		t.Fatalf("token revoke: %v", err)
	}
	return tokens
}

type response struct {
	status    int
	body      map[string]any
	raw       []byte
	header    http.Header // the response's
	reqHeader http.Header // the request's
}

func (ts *testServer) do(method, path, role string, body any) response {
	ts.t.Helper()
	var reader io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			reader = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			reader = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, ts.url+path, reader)
	if err != nil {
		ts.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := ts.tokens[role]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, raw: raw, header: resp.Header, reqHeader: req.Header}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (ts *testServer) register(code, name, prefecture, env string, config map[string]string) int64 {
	ts.t.Helper()
	r := ts.do("POST", "/v1/municipalities", "platform", map[string]any{
		"code": code, "name": name, "prefecture": prefecture, "environment": env, "config": config,
	})
	if r.status != http.StatusAccepted {
		ts.t.Fatalf("register %s-%s: %d %s", code, env, r.status, r.raw)
	}
	return int64(r.body["job"].(map[string]any)["id"].(float64))
}

func (ts *testServer) submit(code, env, operation string) int64 {
	ts.t.Helper()
	r := ts.do("POST", fmt.Sprintf("/v1/municipalities/%s/%s/jobs", code, env), "platform", map[string]string{"operation": operation})
	if r.status != http.StatusAccepted {
		ts.t.Fatalf("%s %s-%s: %d %s", operation, code, env, r.status, r.raw)
	}
	return int64(r.body["job"].(map[string]any)["id"].(float64))
}

func (ts *testServer) job(id int64) store.Job {
	ts.t.Helper()
	r := ts.do("GET", fmt.Sprintf("/v1/jobs/%d", id), "platform", nil)
	if r.status != http.StatusOK {
		ts.t.Fatalf("get job %d: %d %s", id, r.status, r.raw)
	}
	var j store.Job
	if err := json.Unmarshal(r.raw, &j); err != nil {
		ts.t.Fatal(err)
	}
	return j
}

// wait polls a job until it reaches a final state.
func (ts *testServer) wait(id int64) store.Job {
	ts.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if j := ts.job(id); store.Terminal(j.State) {
			return j
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.t.Fatalf("job %d did not finish in 3 minutes: %+v", id, ts.job(id))
	return store.Job{}
}

func (ts *testServer) waitState(id int64, state string) {
	ts.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if j := ts.job(id); j.State == state {
			return
		} else if store.Terminal(j.State) {
			ts.t.Fatalf("job %d finished (%s: %s) before reaching %s", id, j.State, j.Error, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.t.Fatalf("job %d never reached %s", id, state)
}

func mustSucceed(t testing.TB, j store.Job) {
	t.Helper()
	if j.State != store.JobSucceeded {
		t.Fatalf("job %d (%s %s) = %s: %s", j.ID, j.Operation, j.Stack, j.State, j.Error)
	}
}

// locks lists the lock files the file backend holds for a stack.
func locks(t testing.TB, dir, stack string) []string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "state", ".pulumi", "locks", "*", "*", stack, "*.json"))
	more, _ := filepath.Glob(filepath.Join(dir, "state", ".pulumi", "locks", stack, "*.json"))
	return append(matches, more...)
}

func stackFile(dir, stack string) string {
	matches, _ := filepath.Glob(filepath.Join(dir, "state", ".pulumi", "stacks", "*", stack+".json"))
	if len(matches) == 0 {
		return ""
	}
	return matches[0]
}

func TestStackLifecycle(t *testing.T) {
	ts := startServer(t, 0, 2)
	plan := ts.wait(ts.register("131016", "千代田区", "東京都", "dev", map[string]string{"cats:instanceType": "t3.large"}))
	mustSucceed(t, plan)
	if !strings.Contains(string(plan.Result), `"resources":`) {
		t.Errorf("plan result = %s, want the planned resources", plan.Result)
	}

	up := ts.wait(ts.submit("131016", "dev", "up"))
	mustSucceed(t, up)
	var result struct {
		Outputs map[string]any `json:"outputs"`
		Changes map[string]int `json:"changes"`
	}
	if err := json.Unmarshal(up.Result, &result); err != nil {
		t.Fatal(err)
	}
	if result.Outputs["instanceType"] != "t3.large" || result.Outputs["stack"] != "131016-dev" {
		t.Errorf("up outputs = %v: the municipality's config must reach the program", result.Outputs)
	}
	if result.Outputs["apiKey"] != "[secret]" || strings.Contains(string(up.Result), "secret-of-") {
		t.Errorf("up result leaks a secret output: %s", up.Result)
	}
	if result.Changes["create"] != 4 {
		t.Errorf("up changes = %v, want 4 creates (stack, platform, two tiers)", result.Changes)
	}
	if stackFile(ts.dir, "131016-dev") == "" {
		t.Fatal("no state file for 131016-dev in the file backend")
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "workspaces", "131016-dev", "Pulumi.yaml")); err != nil {
		t.Errorf("the stack's workspace directory is missing: %v", err)
	}

	// The events of the up, replayed after the fact.
	events := readEvents(t, ts, up.ID, "")
	if len(events.engine) == 0 || !strings.Contains(strings.Join(events.engine, "\n"), "summaryEvent") {
		t.Errorf("events of job %d = %d, want the engine's events through the summary", up.ID, len(events.engine))
	}
	if events.done.State != store.JobSucceeded {
		t.Errorf("event stream ended with %+v, want the succeeded job", events.done)
	}
	resumed := readEvents(t, ts, up.ID, fmt.Sprint(len(events.engine)-1))
	if len(resumed.engine) != 1 {
		t.Errorf("resuming after event %d gave %d events, want 1", len(events.engine)-1, len(resumed.engine))
	}

	mustSucceed(t, ts.wait(ts.submit("131016", "dev", "refresh")))
	mustSucceed(t, ts.wait(ts.submit("131016", "dev", "preview")))

	del := ts.do("DELETE", "/v1/municipalities/131016", "platform", nil)
	if del.status != http.StatusAccepted {
		t.Fatalf("delete: %d %s", del.status, del.raw)
	}
	destroy := ts.wait(int64(del.body["job"].(map[string]any)["id"].(float64)))
	mustSucceed(t, destroy)
	if f := stackFile(ts.dir, "131016-dev"); f != "" {
		t.Errorf("stack 131016-dev still in the backend after destroy and remove: %s", f)
	}
	if r := ts.do("GET", "/v1/municipalities/131016", "platform", nil); r.status != http.StatusNotFound {
		t.Errorf("municipality after delete: %d, want 404", r.status)
	}
	if l := locks(t, ts.dir, "131016-dev"); len(l) != 0 {
		t.Errorf("locks left: %v", l)
	}
}

type eventStream struct {
	engine []string
	done   store.Job
}

func readEvents(t testing.TB, ts *testServer, id int64, lastID string) eventStream {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/jobs/%d/events", ts.url, id), nil)
	req.Header.Set("Authorization", "Bearer "+ts.tokens["platform"])
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events content type %q", ct)
	}
	var s eventStream
	var event string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "engine":
			s.engine = append(s.engine, strings.TrimPrefix(line, "data: "))
		case strings.HasPrefix(line, "data: ") && event == "done":
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &s.done); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Fatalf("event stream of job %d ended without done: %v", id, sc.Err())
	return s
}

func parseTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v
}

func TestOneOperationPerStackAtATime(t *testing.T) {
	ts := startServer(t, 1500*time.Millisecond, 4)
	mustSucceed(t, ts.wait(ts.register("131016", "千代田区", "東京都", "dev", nil)))
	first, second := ts.submit("131016", "dev", "up"), ts.submit("131016", "dev", "up")
	a, b := ts.wait(first), ts.wait(second)
	mustSucceed(t, a)
	mustSucceed(t, b)
	if !parseTime(t, b.StartedAt).After(parseTime(t, a.FinishedAt)) {
		t.Errorf("second up started %s before the first finished %s: one operation per stack at a time", b.StartedAt, a.FinishedAt)
	}
}

func TestStacksRunSideBySideUpToTheLimit(t *testing.T) {
	ts := startServer(t, 3*time.Second, 2)
	municipalities := [][3]string{{"131016", "千代田区", "東京都"}, {"011002", "札幌市", "北海道"}, {"271004", "大阪市", "大阪府"}}
	for _, m := range municipalities {
		mustSucceed(t, ts.wait(ts.register(m[0], m[1], m[2], "dev", nil)))
	}
	var ids []int64
	for _, m := range municipalities {
		ids = append(ids, ts.submit(m[0], "dev", "up"))
	}
	var spans [][2]time.Time
	for _, id := range ids {
		j := ts.wait(id)
		mustSucceed(t, j)
		spans = append(spans, [2]time.Time{parseTime(t, j.StartedAt), parseTime(t, j.FinishedAt)})
	}
	maxOverlap := 0
	for _, s := range spans {
		n := 0
		for _, o := range spans {
			if !o[0].After(s[0]) && o[1].After(s[0]) {
				n++
			}
		}
		maxOverlap = max(maxOverlap, n)
	}
	if maxOverlap != 2 {
		t.Errorf("at most %d operations ran at once, want exactly 2 (the concurrency limit) of the 3: %v", maxOverlap, spans)
	}
}

func TestCancelledUpLeavesTheStackUnlocked(t *testing.T) {
	ts := startServer(t, 20*time.Second, 2)
	mustSucceed(t, ts.wait(ts.register("131016", "千代田区", "東京都", "dev", nil)))
	id := ts.submit("131016", "dev", "up")
	ts.waitState(id, store.JobRunning)
	time.Sleep(2 * time.Second) // the CLI holds the lock while the program runs
	if r := ts.do("POST", fmt.Sprintf("/v1/jobs/%d/cancel", id), "platform", nil); r.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", r.status, r.raw)
	}
	j := ts.wait(id)
	if j.State != store.JobCancelled {
		t.Fatalf("cancelled up ended %s: %s", j.State, j.Error)
	}
	if l := locks(t, ts.dir, "131016-dev"); len(l) != 0 {
		t.Errorf("stack still locked after cancel: %v", l)
	}
	if r := ts.do("POST", fmt.Sprintf("/v1/jobs/%d/cancel", id), "platform", nil); r.status != http.StatusConflict {
		t.Errorf("cancelling a finished job: %d, want 409", r.status)
	}
	// A queued job is cancelled before it starts.
	running := ts.submit("131016", "dev", "up")
	queued := ts.submit("131016", "dev", "refresh")
	ts.waitState(running, store.JobRunning)
	if r := ts.do("POST", fmt.Sprintf("/v1/jobs/%d/cancel", queued), "platform", nil); r.status != http.StatusAccepted {
		t.Fatalf("cancel queued: %d %s", r.status, r.raw)
	}
	if j := ts.wait(queued); j.State != store.JobCancelled || j.StartedAt != "" {
		t.Errorf("queued job after cancel: %+v, want cancelled without starting", j)
	}
	ts.do("POST", fmt.Sprintf("/v1/jobs/%d/cancel", running), "platform", nil)
	ts.wait(running)
}

// TestKillMidUpAndRestart kills the server process with SIGKILL during an up,
// starts it again on the same data directory, and checks that the job is
// failed with the reason, the stack unlocked, and every job still there.
func TestKillMidUpAndRestart(t *testing.T) {
	isolateCLI(t)
	dir := t.TempDir()
	tokens := createTokens(t, dir)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "CATS_TEST_SERVE="+dir, "CATS_TEST_DELAY=60s", "PULUMI="+clitest.Path(t))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var addr []byte
	for i := 0; i < 200 && len(addr) == 0; i++ {
		time.Sleep(50 * time.Millisecond)
		addr, _ = os.ReadFile(filepath.Join(dir, "addr"))
	}
	if len(addr) == 0 {
		_ = cmd.Process.Kill()
		t.Fatal("child server did not start")
	}
	child := &testServer{t: t, url: "http://" + string(addr), dir: dir, tokens: tokens}
	mustSucceed(t, child.wait(child.register("131016", "千代田区", "東京都", "dev", nil)))
	id := child.submit("131016", "dev", "up")
	child.waitState(id, store.JobRunning)
	deadline := time.Now().Add(30 * time.Second)
	for len(locks(t, dir, "131016-dev")) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(locks(t, dir, "131016-dev")) == 0 {
		t.Fatal("the up never locked the stack")
	}
	queuedBehind := child.submit("131016", "dev", "refresh")
	// A second server on the same data directory is refused while the first lives.
	second := testOptions(dir, clitest.Path(t), 0, 2)
	if err := Serve(context.Background(), second); !errors.Is(err, store.ErrDirInUse) {
		t.Errorf("a second server on the data directory: %v, want %v", err, store.ErrDirInUse)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	ts := &testServer{t: t, dir: dir, tokens: tokens}
	ts.start(0, 2)
	j := ts.job(id)
	if j.State != store.JobFailed || !strings.Contains(j.Error, "interrupted") || !strings.Contains(j.Error, "lock was released") {
		t.Fatalf("killed up after restart = %s %q, want failed with the reason", j.State, j.Error)
	}
	if l := locks(t, dir, "131016-dev"); len(l) != 0 {
		t.Errorf("stack still locked after restart: %v", l)
	}
	// The job queued behind it is not lost: it runs after the restart.
	mustSucceed(t, ts.wait(queuedBehind))
	if j := ts.job(id); j.Attempts != 1 || j.State != store.JobFailed {
		t.Errorf("killed job ran again: %+v", j)
	}
	mustSucceed(t, ts.wait(ts.submit("131016", "dev", "up")))
	list := ts.do("GET", "/v1/municipalities/131016/dev/jobs", "platform", nil)
	if n := len(list.body["jobs"].([]any)); n != 4 {
		t.Errorf("%d jobs recorded, want 4 (plan, killed up, refresh, up): none lost", n)
	}
}

// TestBusyStackIsRetried: an up that finds the stack locked by another process
// goes back to the queue and is retried with backoff until the lock is gone.
func TestBusyStackIsRetried(t *testing.T) {
	ts := startServer(t, 0, 2)
	mustSucceed(t, ts.wait(ts.register("131016", "千代田区", "東京都", "dev", nil)))
	mustSucceed(t, ts.wait(ts.submit("131016", "dev", "up")))
	lockDir := filepath.Join(ts.dir, "state", ".pulumi", "locks", "organization", "cats-analytics", "131016-dev")
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(lockDir, "held-by-another-process.json")
	content := `{"pid":4242,"username":"operator","hostname":"elsewhere","timestamp":"2026-11-27T00:00:00Z"}`
	if err := os.WriteFile(lock, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	id := ts.submit("131016", "dev", "up")
	deadline := time.Now().Add(time.Minute)
	for {
		j := ts.job(id)
		if j.State == store.JobQueued && strings.Contains(j.Error, "stack busy") {
			break
		}
		if store.Terminal(j.State) || time.Now().After(deadline) {
			t.Fatalf("up on a locked stack = %s %q; want it queued again as busy", j.State, j.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	j := ts.wait(id)
	mustSucceed(t, j)
	if j.Attempts < 2 {
		t.Errorf("up succeeded after %d attempts; want a retry after the busy one", j.Attempts)
	}
}
