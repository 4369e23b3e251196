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
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/automation/internal/apitest"
	"github.com/cats-analytics/cats-analytics/automation/internal/testprogram"
	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/server"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/internal/clitest"
)

// The test binary doubles as a server process for the crash test: started with
// CATS_TEST_SERVE set, it serves the test program on the given data directory
// until killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("CATS_TEST_SERVE"); dir != "" {
		delay, _ := time.ParseDuration(os.Getenv("CATS_TEST_DELAY"))
		cli, err := runner.NewCLI(os.Getenv("PULUMI"), "PULUMI")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		opts := testOptions(dir, cli, delay, 2)
		// A replica of the several-replicas test: its shared database and
		// state backend, and a short lease so that its death is seen soon.
		opts.Database = os.Getenv("CATS_TEST_DATABASE")
		if b := os.Getenv("CATS_TEST_BACKEND"); b != "" {
			opts.Backend = b
		}
		opts.LeaseTTL, _ = time.ParseDuration(os.Getenv("CATS_TEST_LEASE"))
		opts.OrphanWait, _ = time.ParseDuration(os.Getenv("CATS_TEST_ORPHAN_WAIT"))
		if os.Getenv("CATS_TEST_PROGRAM") == "platform" {
			platformOptions(&opts)
		}
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

// testPlanner plans the test program offline under counting mocks, no CLI,
// reporting the steps the production planner reports.
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

func (testPlanner) Plan(ctx context.Context, stack string, values map[string]string, onEvent func(jobs.PlanEvent)) (jobs.PlanResult, error) {
	onEvent(jobs.ConfigChecked(stack, len(values)))
	mocks := &countingMocks{}
	err := pulumi.RunErr(testprogram.Program(0), pulumi.WithMocks(config.Project, stack, mocks),
		func(info *pulumi.RunInfo) { info.Config = values })
	if err != nil {
		return jobs.PlanResult{}, err
	}
	onEvent(jobs.ProgramRan(len(mocks.types)))
	onEvent(jobs.PolicyEvaluated(0, 0))
	return jobs.PlanResult{Stack: stack, Resources: len(mocks.types), Tiers: map[string]int{"test": len(mocks.types)}, Violations: []jobs.Violation{}}, nil
}

func testOptions(dir string, cli runner.CLI, delay time.Duration, concurrency int) ServeOptions {
	return ServeOptions{
		DataDir:     dir,
		Addr:        "127.0.0.1:0",
		Concurrency: concurrency,
		CLI:         cli,
		Passphrase:  testPassphrase,
		Project:     config.Project,
		Program:     func(string) pulumi.RunFunc { return testprogram.Program(delay) },
		Planner:     testPlanner{},
		PolicyPack:  testPolicyPack(),
		// The test program is no platform (it has no trail, which the pack's
		// stack rules require): every rule advisory keeps the pack running on
		// each preview and up without blocking it.
		PolicyConfig: []byte(`{"all": "advisory"}`),
		RetryBase:    200 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// testPolicyPack is the policy pack `make policy` (and make test) builds:
// the binary the server finds by default.
func testPolicyPack() string { return filepath.Join(clitest.Root(), runner.PolicyPackFile) }

// requirePolicyPack fails (never skips) when the pack is not built.
func requirePolicyPack(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(testPolicyPack()); err != nil {
		t.Fatalf("the policy pack is missing: run `make policy` (make test does) before these tests: %v", err)
	}
}

const testPassphrase = "test-passphrase"

// testCLI is the pinned CLI, validated as the server validates it.
func testCLI(t testing.TB) runner.CLI {
	t.Helper()
	cli, err := runner.NewCLI(clitest.Path(t), "clitest.Path")
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// testServer is a server running in the test process (or, for the crash
// test, in a child process). Every exchange is checked against openapi.yaml.
type testServer struct {
	t       testing.TB
	url     string
	dir     string
	stop    func()
	tokens  map[string]string // role → token
	checker *apitest.Checker
}

func isolateCLI(t testing.TB) {
	t.Setenv("PULUMI_SKIP_UPDATE_CHECK", "1")
	t.Setenv("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
	t.Setenv("PULUMI_HOME", filepath.Join(t.TempDir(), "home"))
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	requirePolicyPack(t)
	isolateCLI(t)
	dir := t.TempDir()
	return &testServer{t: t, dir: dir, tokens: createTokens(t, dir), checker: apitest.NewChecker(t, server.OpenAPI())}
}

func startServer(t testing.TB, delay time.Duration, concurrency int) *testServer {
	t.Helper()
	ts := newTestServer(t)
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
	opts := testOptions(ts.dir, testCLI(t), 0, 2)
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

// createTokens issues one token per role through `cats token`, and revokes one.
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
	status int
	body   map[string]any
	raw    []byte
}

func (ts *testServer) do(method, path, role string, body any) response {
	ts.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, ts.url+path, bytes.NewReader(raw))
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
	answer, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, raw: answer}
	_ = json.Unmarshal(answer, &r.body)
	ts.checker.Check(ts.t, apitest.Exchange{Method: method, Path: path, Body: raw, Header: req.Header,
		Status: r.status, RespHeader: resp.Header, RespBody: answer})
	return r
}

func (ts *testServer) register(code, name, prefecture, env string, config map[string]string) int64 {
	ts.t.Helper()
	body := map[string]any{"code": code, "name": name, "prefecture": prefecture, "environment": env}
	if config != nil {
		body["config"] = config
	}
	r := ts.do("POST", "/v1/municipalities", "platform", body)
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

func (ts *testServer) cancel(id int64) response {
	ts.t.Helper()
	return ts.do("POST", fmt.Sprintf("/v1/jobs/%d/cancel", id), "platform", nil)
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

// wait polls a job until it reaches a final state. The deadline only stops a
// broken server from hanging the test; it measures nothing.
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

func (ts *testServer) waitState(id int64, state store.JobState) {
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

// events reads a job's event stream to its end ("done"), resuming after
// lastID when set, and checks it against openapi.yaml.
func (ts *testServer) events(id int64, lastID string) []apitest.Event {
	ts.t.Helper()
	path := fmt.Sprintf("/v1/jobs/%d/events", id)
	req, _ := http.NewRequest("GET", ts.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+ts.tokens["platform"])
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	stream, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.checker.Check(ts.t, apitest.Exchange{Method: "GET", Path: path, Header: req.Header, Status: resp.StatusCode, RespHeader: resp.Header, RespBody: stream})
	events, err := apitest.ParseEvents(stream)
	if err != nil || len(events) == 0 || events[len(events)-1].Type != "done" {
		ts.t.Fatalf("event stream of job %d does not end with done (%v):\n%s", id, err, stream)
	}
	return events
}

// firstEngineEvent waits until a running up has streamed an engine event of
// the update itself, after the policy preview that precedes it (which takes
// no lock): its CLI then holds the stack's lock (the CLI locks the stack
// before the update's first event).
func (ts *testServer) firstEngineEvent(id int64) {
	ts.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/jobs/%d/events", ts.url, id), nil)
	req.Header.Set("Authorization", "Bearer "+ts.tokens["platform"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	gated := false
	for sc.Scan() {
		switch line := sc.Text(); {
		case strings.HasPrefix(line, `data: {"step":"policy"`):
			gated = true
		case line == "event: engine" && gated:
			return
		case line == "event: done":
			ts.t.Fatalf("job %d ended before its first engine event", id)
		}
	}
	ts.t.Fatalf("event stream of job %d ended: %v", id, sc.Err())
}

func mustSucceed(t testing.TB, j store.Job) {
	t.Helper()
	if j.State != store.JobSucceeded {
		t.Fatalf("job %d (%s %s) = %s: %s", j.ID, j.Operation, j.Stack, j.State, j.Error)
	}
}

// backendStacks lists the stacks of the server's state backend through the CLI.
func backendStacks(t testing.TB, dir string) []string {
	t.Helper()
	env := clitest.NewEnv(t)
	env.Vars = append(env.Vars, "PULUMI_BACKEND_URL="+fileBackend(filepath.Join(dir, "state")))
	var stacks []struct{ Name string }
	if err := json.Unmarshal([]byte(env.Run(t, t.TempDir(), "stack", "ls", "--all", "--json")), &stacks); err != nil {
		t.Fatalf("pulumi stack ls --json: %v", err)
	}
	var names []string
	for _, s := range stacks {
		names = append(names, s.Name)
	}
	return names
}

// mustBeUnlocked runs a refresh on the stack: it takes the stack's lock, so it
// fails with a concurrent update error while anyone holds it.
func (ts *testServer) mustBeUnlocked(stack string, why string) {
	ts.t.Helper()
	code, env, _ := strings.Cut(stack, "-")
	j := ts.wait(ts.submit(code, env, runner.Refresh))
	if j.State != store.JobSucceeded || j.Attempts != 1 {
		ts.t.Fatalf("refresh of %s = %s after %d attempts (%s); want it to succeed at once: %s", stack, j.State, j.Attempts, j.Error, why)
	}
}

func TestStackLifecycle(t *testing.T) {
	ts := startServer(t, 0, 2)
	planID := ts.register("131016", "千代田区", "東京都", "dev", map[string]string{"cats:instanceType": "t3.large"})
	plan := ts.wait(planID)
	mustSucceed(t, plan)
	var planned jobs.PlanResult
	if err := json.Unmarshal(plan.Result, &planned); err != nil || planned.Resources != 3 {
		t.Errorf("plan result = %s (%v), want the test program's 3 resources", plan.Result, err)
	}
	var steps []string
	for _, e := range ts.events(planID, "") {
		if e.Type == "plan" {
			var ev jobs.PlanEvent
			_ = json.Unmarshal(e.Data, &ev)
			steps = append(steps, ev.Step)
		}
	}
	if got := strings.Join(steps, ","); got != "config,program,policy" {
		t.Errorf("plan steps streamed: %s, want config,program,policy: a plan shows its progress like an up", got)
	}

	up := ts.wait(ts.submit("131016", "dev", "up"))
	mustSucceed(t, up)
	var result runner.Result
	if err := json.Unmarshal(up.Result, &result); err != nil {
		t.Fatal(err)
	}
	if result.Outputs["instanceType"] != "t3.large" || result.Outputs["stack"] != "131016-dev" {
		t.Errorf("up outputs = %v: the municipality's config must reach the program", result.Outputs)
	}
	if result.Outputs["apiKey"] != "[secret]" || strings.Contains(string(up.Result), "secret-of-") {
		t.Errorf("up result leaks a secret output: %s", up.Result)
	}
	if result.Cloud != runner.CloudAWS || result.Violations == nil {
		t.Errorf("up result %s: want cloud aws (the default) and the policy pack's violations (maybe none), never absent", up.Result)
	}
	if result.Changes.Create != 4 {
		t.Errorf("up changes = %v, want 4 creates (stack, platform, two tiers)", result.Changes)
	}
	if got := backendStacks(t, ts.dir); !slices.Contains(got, "organization/cats-analytics/131016-dev") && !slices.Contains(got, "131016-dev") {
		t.Fatalf("stacks in the backend after the up: %v, want 131016-dev", got)
	}
	if left, err := os.ReadDir(filepath.Join(ts.dir, "workspaces")); err != nil || len(left) != 0 {
		t.Errorf("workspaces left after the jobs: %v (%v), want none: each job's own is removed at its end", left, err)
	}

	// The events of the up, replayed after the fact.
	events := ts.events(up.ID, "")
	var engine []string
	for _, e := range events {
		if e.Type == "engine" {
			engine = append(engine, string(e.Data))
		}
	}
	if len(engine) == 0 || !strings.Contains(strings.Join(engine, "\n"), "summaryEvent") {
		t.Errorf("events of job %d = %d, want the engine's events through the summary", up.ID, len(engine))
	}
	var done store.Job
	if err := json.Unmarshal(events[len(events)-1].Data, &done); err != nil || done.State != store.JobSucceeded {
		t.Errorf("event stream ended with %s, want the succeeded job", events[len(events)-1].Data)
	}
	// The up's events: the server's steps (the cloud, the policy pack's
	// verdict, the state), the gate preview's and the up's engine events.
	var upSteps []string
	for _, e := range events {
		if e.Type == "step" {
			var s runner.Step
			_ = json.Unmarshal(e.Data, &s)
			upSteps = append(upSteps, s.Step)
		}
	}
	if got := strings.Join(upSteps, ","); got != "cloud,policy,state" {
		t.Errorf("steps of the up: %s, want cloud,policy,state", got)
	}
	if penultimate := events[len(events)-3].ID; len(ts.events(up.ID, penultimate)) != 2 {
		t.Errorf("resuming after event %s did not give the last one and done", penultimate)
	}

	mustSucceed(t, ts.wait(ts.submit("131016", "dev", "refresh")))
	mustSucceed(t, ts.wait(ts.submit("131016", "dev", "preview")))

	del := ts.do("DELETE", "/v1/municipalities/131016", "platform", nil)
	if del.status != http.StatusAccepted {
		t.Fatalf("delete: %d %s", del.status, del.raw)
	}
	mustSucceed(t, ts.wait(int64(del.body["job"].(map[string]any)["id"].(float64))))
	if got := backendStacks(t, ts.dir); len(got) != 0 {
		t.Errorf("stacks in the backend after destroy and remove: %v, want none", got)
	}
	if r := ts.do("GET", "/v1/municipalities/131016", "platform", nil); r.status != http.StatusNotFound {
		t.Errorf("municipality after delete: %d, want 404", r.status)
	}
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

// TestCancelledUpLeavesTheStackUnlocked: the interrupted CLI releases its own
// lock, so the server does not run pulumi cancel (which would remove anyone's).
func TestCancelledUpLeavesTheStackUnlocked(t *testing.T) {
	ts := startServer(t, 20*time.Second, 2)
	mustSucceed(t, ts.wait(ts.register("131016", "千代田区", "東京都", "dev", nil)))
	id := ts.submit("131016", "dev", "up")
	ts.waitState(id, store.JobRunning)
	ts.firstEngineEvent(id) // the CLI holds the lock while the program runs
	if r := ts.cancel(id); r.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", r.status, r.raw)
	}
	j := ts.wait(id)
	if j.State != store.JobCancelled || j.Error != "cancelled on request" || j.Reason != string(runner.ReasonCancelled) {
		t.Fatalf("cancelled up ended %s %q; want cancelled, the CLI stopping on its interrupt (no pulumi cancel)", j.State, j.Error)
	}
	ts.mustBeUnlocked("131016-dev", "the interrupted CLI releases the stack's lock")
	if r := ts.cancel(id); r.status != http.StatusConflict {
		t.Errorf("cancelling a finished job: %d, want 409", r.status)
	}
	// A queued job is cancelled before it starts.
	running := ts.submit("131016", "dev", "up")
	queued := ts.submit("131016", "dev", "refresh")
	ts.waitState(running, store.JobRunning)
	if r := ts.cancel(queued); r.status != http.StatusAccepted {
		t.Fatalf("cancel queued: %d %s", r.status, r.raw)
	}
	if j := ts.wait(queued); j.State != store.JobCancelled || j.StartedAt != "" || j.Reason != string(runner.ReasonCancelled) {
		t.Errorf("queued job after cancel: %+v, want cancelled without starting", j)
	}
	ts.cancel(running)
	ts.wait(running)
}

// TestKillMidUpAndRestart kills the server process with SIGKILL during an up,
// then starts it again on the same data directory: the job is failed with
// the reason and never run again, the stack is left unlocked, and every job is
// still there. The CLI of the killed server gets SIGINT (the parent-death
// signal) and normally stops by itself, releasing its lock, before any
// recovery; the test checks that through an operation that takes the lock.
// Rarely the CLI hangs instead (pulumi v3.274.1: an interrupt that arrives as
// its update ends is reported to a display that no longer reads): then
// recovery must kill it and release the lock with pulumi cancel.
func TestKillMidUpAndRestart(t *testing.T) {
	ts := newTestServer(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "CATS_TEST_SERVE="+ts.dir, "CATS_TEST_DELAY=60s", "PULUMI="+clitest.Path(t))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var addr []byte
	for i := 0; i < 200 && len(addr) == 0; i++ {
		time.Sleep(50 * time.Millisecond)
		addr, _ = os.ReadFile(filepath.Join(ts.dir, "addr"))
	}
	if len(addr) == 0 {
		t.Fatal("child server did not start")
	}
	ts.url = "http://" + string(addr)
	mustSucceed(t, ts.wait(ts.register("131016", "千代田区", "東京都", "dev", nil)))
	id := ts.submit("131016", "dev", "up")
	ts.waitState(id, store.JobRunning)
	ts.firstEngineEvent(id)
	queuedBehind := ts.submit("131016", "dev", "refresh")
	// A second server on the same data directory is refused while the first lives.
	if err := Serve(context.Background(), testOptions(ts.dir, testCLI(t), 0, 2)); !errors.Is(err, store.ErrDirInUse) {
		t.Errorf("a second server on the data directory: %v, want %v", err, store.ErrDirInUse)
	}
	cli := recordedCLI(t, ts.dir, id)
	t.Cleanup(func() {
		if s, err := cli.Status(); err == nil && s == process.Running {
			_ = syscall.Kill(cli.PID, syscall.SIGKILL)
		}
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()

	stopped := false
	for time.Since(killed) < 10*time.Second {
		status, err := cli.Status()
		if err != nil {
			t.Fatal(err)
		}
		if stopped = status != process.Running; stopped {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantReason := "stopped by itself and released the stack's lock"
	if stopped {
		t.Logf("the orphaned CLI (%s) stopped %s after its server was killed", cli, time.Since(killed).Round(10*time.Millisecond))
		// Before any recovery: a refresh through the same backend, which takes
		// the stack's lock, succeeds, so the CLI released its lock itself.
		direct := &runner.Stacks{Project: config.Project, Program: func(string) pulumi.RunFunc { return testprogram.Program(0) },
			CLI: testCLI(t), WorkDir: ts.dir, Backend: fileBackend(filepath.Join(ts.dir, "state")), Passphrase: testPassphrase}
		if _, err := direct.Run(context.Background(), runner.Operation{Name: runner.Refresh, Stack: "131016-dev"}); err != nil {
			t.Fatalf("refresh after the orphaned CLI stopped: %v; it must have released the stack's lock", err)
		}
	} else {
		t.Logf("the orphaned CLI (%s) still runs 10 s after its server was killed: recovery must kill it and release its lock", cli)
		wantReason = "was killed; the stack's lock was released (pulumi cancel)"
	}

	ts.startWith(func(o *ServeOptions) { o.OrphanWait = 2 * time.Second })
	j := ts.job(id)
	if j.State != store.JobFailed || j.Reason != string(runner.ReasonInterrupted) || !strings.Contains(j.Error, wantReason) {
		t.Fatalf("killed up after restart = %s %q; want failed, saying %q", j.State, j.Error, wantReason)
	}
	if s, err := cli.Status(); err != nil || s == process.Running {
		t.Errorf("the orphaned CLI is %v (%v) after recovery, want ended", s, err)
	}
	// The job queued behind it is not lost: it runs after the restart, at once
	// (a locked stack would send it back to the queue as busy).
	if j := ts.wait(queuedBehind); j.State != store.JobSucceeded || j.Attempts != 1 {
		t.Errorf("refresh queued behind the killed up = %s after %d attempts (%s), want succeeded at once", j.State, j.Attempts, j.Error)
	}
	if j := ts.job(id); j.Attempts != 1 || j.State != store.JobFailed {
		t.Errorf("killed job ran again: %+v", j)
	}
	mustSucceed(t, ts.wait(ts.submit("131016", "dev", "up")))
	list := ts.do("GET", "/v1/municipalities/131016/dev/jobs", "platform", nil)
	if n := len(list.body["jobs"].([]any)); n != 4 {
		t.Errorf("%d jobs recorded, want 4 (plan, killed up, refresh, up): none lost", n)
	}
}

// recordedCLI waits until the running job has recorded its CLI in the store
// (the server's own database) and returns it.
func recordedCLI(t *testing.T, dir string, id int64) process.Identity {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	j, err := st.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if j.CLI == nil {
		t.Fatalf("running up %d has streamed engine events but recorded no CLI: recovery could not find it", id)
	}
	if s, err := j.CLI.Status(); err != nil || s != process.Running {
		t.Fatalf("the recorded CLI %s is %v (%v), want running", j.CLI, s, err)
	}
	return *j.CLI
}

// TestBusyStackIsRetried: an up that finds the stack locked by another
// process (here an up run through the CLI outside the server) goes back to
// the queue and is retried with backoff until the lock is gone.
func TestBusyStackIsRetried(t *testing.T) {
	ts := startServer(t, 0, 2)
	mustSucceed(t, ts.wait(ts.register("131016", "千代田区", "東京都", "dev", nil)))
	mustSucceed(t, ts.wait(ts.submit("131016", "dev", "up")))
	operator := &runner.Stacks{Project: config.Project, Program: func(string) pulumi.RunFunc { return testprogram.Program(8 * time.Second) },
		CLI: testCLI(t), WorkDir: t.TempDir(), Backend: fileBackend(filepath.Join(ts.dir, "state")), Passphrase: testPassphrase,
		PolicyPack: testPolicyPack(), PolicyConfig: writeFile(t, "policy.json", `{"all": "advisory"}`)}
	holding := make(chan struct{})
	released := make(chan error, 1)
	go func() {
		var once sync.Once
		// The up holds the lock from its first engine event on; before it,
		// the policy preview takes no lock.
		gated := false
		_, err := operator.Run(context.Background(), runner.Operation{Name: runner.Up, Stack: "131016-dev",
			OnEvent: func(ev json.RawMessage) {
				var s runner.Step
				switch _ = json.Unmarshal(ev, &s); {
				case s.Step == runner.StepPolicy:
					gated = true
				case gated && !runner.IsStep(ev):
					once.Do(func() { close(holding) })
				}
			}})
		released <- err
	}()
	select {
	case <-holding:
	case err := <-released:
		t.Fatalf("the other process's up ended before it held the stack: %v", err)
	}
	id := ts.submit("131016", "dev", "up")
	deadline := time.Now().Add(time.Minute)
	for {
		j := ts.job(id)
		if j.State == store.JobQueued && strings.Contains(j.Error, "stack busy") {
			if !strings.Contains(j.Error, "locked by another operation") || strings.Contains(j.Error, "\n") {
				t.Errorf("busy up's message %q; want one line saying the stack is locked (the CLI's output is in the events)", j.Error)
			}
			break
		}
		if store.Terminal(j.State) || time.Now().After(deadline) {
			t.Fatalf("up on a locked stack = %s %q; want it queued again as busy", j.State, j.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := <-released; err != nil {
		t.Fatalf("the other process's up: %v", err)
	}
	j := ts.wait(id)
	mustSucceed(t, j)
	if j.Attempts < 2 {
		t.Errorf("up succeeded after %d attempts; want a retry after the busy one", j.Attempts)
	}
}

// writeFile writes a file in a temporary directory and returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeRefusesToStartWithoutItsPolicyOrCloud: the server does not start
// without the policy pack, with a policy config the pack would not apply as
// written (the error names the rule), or with a cloud it cannot reach.
func TestServeRefusesToStartWithoutItsPolicyOrCloud(t *testing.T) {
	isolateCLI(t)
	cli := testCLI(t)
	tests := []struct {
		name   string
		adjust func(*ServeOptions)
		want   []string
	}{
		{"no policy pack", func(o *ServeOptions) { o.PolicyPack = "" }, []string{"no policy pack", "make policy"}},
		{"a policy pack that is not there", func(o *ServeOptions) { o.PolicyPack = filepath.Join(t.TempDir(), "cats-policy") }, []string{"policy pack", "no such file"}},
		{"an unknown rule", func(o *ServeOptions) { o.PolicyConfig = []byte(`{"log-retention": "mandatory"}`) }, []string{"--policy-config", `"log-retention"`}},
		{"a bad level", func(o *ServeOptions) { o.PolicyConfig = []byte(`{"log-group-retention": "fatal"}`) }, []string{"log-group-retention", `"fatal"`}},
		{"an unknown setting", func(o *ServeOptions) {
			o.PolicyConfig = []byte(`{"log-group-retention": {"minimumRetention": 400}}`)
		}, []string{"log-group-retention", `"minimumRetention"`, "minimumRetentionDays"}},
		{"not JSON", func(o *ServeOptions) { o.PolicyConfig = []byte(`log-group-retention: mandatory`) }, []string{"--policy-config", "JSON"}},
		{"an unknown cloud", func(o *ServeOptions) { o.Cloud = "moon" }, []string{`--cloud "moon"`, "aws", "standin"}},
		{"no stand-in plugins", func(o *ServeOptions) {
			o.Cloud, o.StandinPlugins = runner.CloudStandin, t.TempDir()
		}, []string{"pulumi-resource-aws", "make standin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t.TempDir(), cli, 0, 1)
			tt.adjust(&opts)
			opts.Ready = func(string) { t.Error("the server started") }
			err := Serve(context.Background(), opts)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Serve = %v; want a refusal saying %q", err, w)
				}
			}
		})
	}
}

// TestTheStandinCloudSaysSo: a server started with --cloud standin logs
// cloud=standin at start and on every job, and every operation's result and
// events say that the stand-in served it; the stand-in's directory is under
// the data directory.
func TestTheStandinCloudSaysSo(t *testing.T) {
	requireStandin(t)
	ts := newTestServer(t)
	var log syncBuffer
	ts.startWith(func(o *ServeOptions) {
		o.Cloud, o.StandinPlugins = runner.CloudStandin, standinPlugins()
		o.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	mustSucceed(t, ts.wait(ts.register("131016", "千代田区", "東京都", "dev", nil)))
	j := ts.wait(ts.submit("131016", "dev", "preview"))
	mustSucceed(t, j)
	if r := operationResult(t, j); r.Cloud != runner.CloudStandin {
		t.Errorf("preview result %s; want cloud standin: a stand-in run is never mistaken for a real one", j.Result)
	}
	_, steps := ts.jobEvents(j.ID)
	if s, ok := findStep(steps, runner.StepCloud); !ok || s.Cloud != runner.CloudStandin || !strings.Contains(s.Message, "nothing is created in AWS") {
		t.Errorf("the preview's events %+v; want a cloud step saying the stand-in serves it and nothing is created in AWS", steps)
	}
	ts.stop()
	ts.stop = nil
	text := log.String()
	if !strings.Contains(text, "cloud=standin: ") || !strings.Contains(text, "nothing is created in AWS") {
		t.Errorf("the server's log does not say cloud=standin at start:\n%s", text)
	}
	finished := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, `msg="job finished"`) {
			finished++
			if !strings.Contains(line, "cloud=standin") {
				t.Errorf("a job's log line does not say which cloud served it: %s", line)
			}
		}
	}
	if finished != 2 {
		t.Errorf("%d jobs logged as finished, want 2 (the plan and the preview):\n%s", finished, text)
	}
	if info, err := os.Stat(filepath.Join(ts.dir, "standin")); err != nil || !info.IsDir() {
		t.Errorf("the stand-in's directory is not under the data directory: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
