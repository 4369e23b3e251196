package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/automation/fleet"
	"github.com/cats-analytics/cats-analytics/automation/internal/testprogram"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
	"github.com/cats-analytics/cats-analytics/standin"
)

// testVersion is the program version the fleet tests' servers deploy.
const testVersion = "v-test-1"

// fleetStatus reads GET /v1/fleet (checked against openapi.yaml).
func (ts *testServer) fleetStatus(query string) fleet.Status {
	ts.t.Helper()
	r := ts.do("GET", "/v1/fleet"+query, "platform", nil)
	if r.status != http.StatusOK {
		ts.t.Fatalf("GET /v1/fleet%s: %d %s", query, r.status, r.raw)
	}
	var st fleet.Status
	if err := json.Unmarshal(r.raw, &st); err != nil {
		ts.t.Fatal(err)
	}
	return st
}

func stackStatuses(st fleet.Status) map[string]fleet.StackStatus {
	out := map[string]fleet.StackStatus{}
	for _, m := range st.Municipalities {
		for _, s := range m.Stacks {
			out[s.Stack] = s
		}
	}
	return out
}

func (ts *testServer) rollout(id string) fleet.RolloutView {
	ts.t.Helper()
	r := ts.do("GET", "/v1/rollouts/"+id, "platform", nil)
	if r.status != http.StatusOK {
		ts.t.Fatalf("GET /v1/rollouts/%s: %d %s", id, r.status, r.raw)
	}
	var v fleet.RolloutView
	if err := json.Unmarshal(r.raw, &v); err != nil {
		ts.t.Fatal(err)
	}
	return v
}

// eventually polls until ok holds. The deadline only stops a broken server
// from hanging the test; it measures nothing.
func eventually(t testing.TB, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// municipalitiesOf returns the first n municipalities of the official list.
func municipalitiesOf(n int) []municipality.Municipality { return municipality.All()[:n] }

func TestRolloutInWavesStopsOnItsBudgetResumesAndCancels(t *testing.T) {
	if testing.Short() {
		t.Skip("deploys 50 stacks through the real CLI")
	}
	failures := &testprogram.FailureSwitch{}
	ts := newTestServer(t)
	ts.startWith(func(o *ServeOptions) {
		o.Program = func(string) pulumi.RunFunc { return testprogram.WithFailures(failures) }
		o.Concurrency = 4
		o.Version = testVersion
		o.FleetTick = 200 * time.Millisecond
	})
	munis := municipalitiesOf(50)
	for _, m := range munis {
		ts.register(m.Code, m.Name, m.Prefecture, config.Dev, nil)
	}
	failing := store.StackName(munis[5].Code, config.Dev) // in the first wave after the canary
	failures.Fail(failing, true)

	r := ts.do("POST", "/v1/rollouts", "platform", map[string]any{
		"operation": "up", "selector": map[string]any{"environment": "dev"},
		"canary": map[string]any{"count": 2}, "waves": []map[string]any{{"percent": 50}, {"percent": 100}},
		"maxConcurrency": 4, "failureBudget": 0,
	})
	if r.status != http.StatusAccepted {
		t.Fatalf("POST /v1/rollouts: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	v := ts.rollout(id)
	if v.Version != testVersion || len(v.Waves) != 3 || len(v.Waves[0].Stacks) != 2 || len(v.Waves[1].Stacks) != 24 || len(v.Waves[2].Stacks) != 24 {
		t.Fatalf("rollout %s: version %s, waves %d; want the canary of 2, then 24 and 24, deploying %s", id, v.Version, len(v.Waves), testVersion)
	}
	if v.Waves[1].Stacks[3].Stack != failing {
		t.Fatalf("the failing stack %s is not in wave 1", failing)
	}

	// The failure budget is 0: the failed stack stops the rollout.
	eventually(t, "the rollout to stop", 10*time.Minute, func() bool { v = ts.rollout(id); return v.State != store.RolloutRunning })
	if v.State != store.RolloutStopped || !strings.Contains(v.StopReason, "failure budget") {
		t.Fatalf("rollout %s (%s), want stopped by its failure budget", v.State, v.StopReason)
	}
	eventually(t, "the jobs started before the stop to end", 5*time.Minute, func() bool {
		v = ts.rollout(id)
		return v.Tally.ByState[store.StackRunning] == 0 && v.Tally.ByState[store.StackStarting] == 0
	})
	for _, s := range v.Waves[2].Stacks {
		if s.State != store.StackPending || s.JobID != 0 {
			t.Fatalf("wave 2's %s is %s (job %d): the next wave must never start after the budget is spent", s.Stack, s.State, s.JobID)
		}
	}
	failed := v.Waves[1].Stacks[3]
	if failed.State != store.StackFailed || failed.Reason != string(runner.ReasonProgramError) || ts.job(failed.JobID).State != store.JobFailed {
		t.Fatalf("the failing stack: %+v, want failed with program_error and its job failed", failed)
	}
	time.Sleep(time.Second) // a stopped rollout starts nothing more
	if again := ts.rollout(id); again.Tally.ByState[store.StackPending] != v.Tally.ByState[store.StackPending] {
		t.Fatalf("a stopped rollout started stacks: %+v then %+v", v.Tally, again.Tally)
	}
	stoppedAt := v.Tally

	// Resume: wave 1 finishes, wave 2 starts; cancel as soon as it has.
	failures.Fail(failing, false)
	if r := ts.do("POST", "/v1/rollouts/"+id+"/resume", "platform", nil); r.status != http.StatusAccepted {
		t.Fatalf("resume: %d %s", r.status, r.raw)
	}
	eventually(t, "wave 2 to start", 10*time.Minute, func() bool { v = ts.rollout(id); return v.Waves[2].State != "pending" })
	if r := ts.do("POST", "/v1/rollouts/"+id+"/cancel", "platform", nil); r.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", r.status, r.raw)
	}
	eventually(t, "the started jobs to end", 5*time.Minute, func() bool {
		v = ts.rollout(id)
		return v.Tally.ByState[store.StackRunning] == 0 && v.Tally.ByState[store.StackStarting] == 0
	})
	if v.State != store.RolloutCancelled || v.Waves[1].State != "done" || v.Tally.ByState[store.StackSucceeded] <= stoppedAt.ByState[store.StackSucceeded] {
		t.Fatalf("after resume and cancel: %s, wave 1 %s, %+v", v.State, v.Waves[1].State, v.Tally)
	}
	if r := ts.do("POST", "/v1/rollouts/"+id+"/resume", "platform", nil); r.status != http.StatusConflict {
		t.Fatalf("resuming a cancelled rollout: %d, want 409", r.status)
	}
	cancelled := 0
	for _, s := range v.Waves[2].Stacks {
		if s.State != store.StackCancelled {
			continue
		}
		cancelled++
		jobs := ts.do("GET", fmt.Sprintf("/v1/municipalities/%s/dev/jobs", s.Code), "platform", nil)
		if n := len(jobs.body["jobs"].([]any)); s.JobID != 0 || n != 1 {
			t.Fatalf("%s was cancelled but has %d jobs (rollout job %d): a queued stack must never start after a cancel", s.Stack, n, s.JobID)
		}
	}
	if cancelled == 0 {
		t.Fatalf("no stack of wave 2 was left to cancel: %+v", v.Tally)
	}

	// The fleet status tells the same story.
	st := ts.fleetStatus("?environment=dev")
	succeeded, failedN := v.Tally.ByState[store.StackSucceeded], v.Tally.ByState[store.StackFailed]
	if st.Stacks != 50 || st.ByStatus[fleet.StatusOK] != succeeded || st.ByStatus[fleet.StatusFailed] != failedN ||
		st.ByStatus[fleet.StatusNotDeployed] != cancelled || st.CurrentVersion != testVersion {
		t.Fatalf("fleet status %+v does not match the rollout: %d succeeded, %d failed, %d cancelled", st.ByStatus, succeeded, failedN, cancelled)
	}
	statuses := stackStatuses(st)
	if s := statuses[failing]; s.Status != fleet.StatusFailed || s.LastOperation == nil || s.LastOperation.Reason != string(runner.ReasonProgramError) {
		t.Errorf("%s in the fleet status: %+v, want failed with its up's reason", failing, s)
	}
	canary := statuses[v.Waves[0].Stacks[0].Stack]
	if canary.Status != fleet.StatusOK || canary.DeployedVersion != testVersion || !canary.UpToDate || canary.Cost == nil || canary.Cost.MonthlyUSD <= 0 {
		t.Errorf("a canary stack in the fleet status: %+v, want ok on %s with its estimated cost", canary, testVersion)
	}
	if only := ts.fleetStatus("?status=failed"); only.Stacks != failedN {
		t.Errorf("?status=failed lists %d stacks, want %d", only.Stacks, failedN)
	}
	if r := ts.do("GET", "/v1/fleet?status=green", "platform", nil); r.status != http.StatusBadRequest || r.body["field"] != "status" {
		t.Errorf("?status=green: %d %s, want 400 naming the field", r.status, r.raw)
	}
	// The CLI's table shows it too.
	var out bytes.Buffer
	getenv := func(k string) string {
		return map[string]string{"CATS_TOKEN": ts.tokens["platform"], "CATS_SERVER": ts.url}[k]
	}
	if err := run(t.Context(), []string{"fleet", "status", "--status", "failed"}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), failing) || !strings.Contains(out.String(), "program_error") {
		t.Errorf("cats fleet status --status failed:\n%s\nwant the failed stack with its reason", out.String())
	}
	// Every mutation was audited.
	assertAudited(t, ts, "POST /v1/rollouts", "POST /v1/rollouts/"+id+"/resume", "POST /v1/rollouts/"+id+"/cancel")
}

// assertAudited checks that the audit log holds each "METHOD path".
func assertAudited(t *testing.T, ts *testServer, want ...string) {
	t.Helper()
	st, err := store.Open(t.Context(), ts.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log, err := st.AuditLog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range log {
		got = append(got, e.Method+" "+e.Path)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("the audit log lacks %q", w)
		}
	}
}

func TestScheduledDriftCheckFindsTheChangedStackAcrossARestart(t *testing.T) {
	requireStandin(t)
	ts := newTestServer(t)
	opts := func(o *ServeOptions) {
		o.Program = func(string) pulumi.RunFunc { return testprogram.Cloud() }
		o.Cloud = runner.CloudStandin
		o.StandinPlugins = standinPlugins()
		o.BaseConfig = baseConfig() // aws:region, which the stand-in requires as AWS does
		o.Version = testVersion
		o.FleetTick = 200 * time.Millisecond
		o.DriftSchedule = map[string]time.Duration{config.Dev: 3 * time.Second}
		o.DriftBatch = 2
	}
	ts.startWith(opts)
	munis := municipalitiesOf(3)
	var stacks []string
	for _, m := range munis {
		ts.wait(ts.register(m.Code, m.Name, m.Prefecture, config.Dev, nil))
		stacks = append(stacks, store.StackName(m.Code, config.Dev))
	}
	for _, m := range munis {
		mustSucceed(t, ts.wait(ts.submit(m.Code, config.Dev, runner.Up)))
	}
	// A sweep after the ups finds every stack in sync.
	var before map[string]fleet.StackStatus
	eventually(t, "a sweep to find every stack in sync", 5*time.Minute, func() bool {
		before = stackStatuses(ts.fleetStatus(""))
		for _, s := range stacks {
			if d := before[s].Drift; d.Status != store.DriftInSync || d.CheckedAt < fleetTime(before[s].LastOperation.FinishedAt) {
				return false
			}
		}
		return true
	})

	// Someone changes the second stack's bucket by hand; the server restarts.
	drifted := stacks[1]
	if err := standin.WriteDrift(filepath.Join(ts.dir, "standin"), map[string]any{
		testprogram.BucketURN(config.Project, drifted): map[string]any{"tags": map[string]any{"project": "changed-by-hand"}},
	}); err != nil {
		t.Fatal(err)
	}
	ts.stop()
	ts.stop = nil
	afterRestart := stackStatuses(ts.fleetStatusOffline(t))
	for _, s := range stacks {
		if afterRestart[s].Drift.CheckedAt < before[s].Drift.CheckedAt {
			t.Fatalf("%s's drift status went back across the restart: %+v then %+v", s, before[s].Drift, afterRestart[s].Drift)
		}
	}
	ts.startWith(opts)

	// The next scheduled check marks exactly that stack drifted, with the property.
	var now map[string]fleet.StackStatus
	eventually(t, "the next sweep to find the drift", 5*time.Minute, func() bool {
		now = stackStatuses(ts.fleetStatus(""))
		for _, s := range stacks {
			if now[s].Drift.CheckedAt <= before[s].Drift.CheckedAt {
				return false
			}
		}
		return true
	})
	for _, s := range stacks {
		d := now[s].Drift
		if s != drifted {
			if d.Status != store.DriftInSync {
				t.Errorf("%s: %+v, want in_sync: only %s was changed", s, d, drifted)
			}
			continue
		}
		if d.Status != store.DriftDrifted || len(d.Resources) != 1 || d.Resources[0].Name != "cats-fleet-test" ||
			d.Resources[0].Change != "update" || !slices.Contains(d.Resources[0].Properties, "tags") {
			t.Errorf("%s: %+v, want drifted: cats-fleet-test's tags", s, d)
		}
		if now[s].Status != fleet.StatusDrifted {
			t.Errorf("%s's fleet status is %s, want drifted", s, now[s].Status)
		}
	}
	if st := ts.fleetStatus("?status=drifted"); st.Stacks != 1 || st.ByDrift[store.DriftDrifted] != 1 {
		t.Errorf("?status=drifted: %+v, want the one drifted stack", st.ByStatus)
	}
	// The metrics say it too.
	metrics := ts.do("GET", "/metrics", "platform", nil) // the platform team's token reads them
	for _, line := range []string{`cats_fleet_drift_stacks{status="drifted"} 1`, `cats_fleet_drift_stacks{status="in_sync"} 2`,
		`cats_job_duration_seconds_count{operation="drift",state="succeeded"}`, `cats_fleet_last_result_stacks{result="succeeded"} 3`} {
		if !strings.Contains(string(metrics.raw), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

// fleetTime turns a job's time into the fleet tables' format, to compare.
func fleetTime(rfc3339 string) string {
	tm, err := time.Parse(time.RFC3339Nano, rfc3339)
	if err != nil {
		return rfc3339
	}
	return tm.UTC().Format(store.FleetTime)
}

// fleetStatusOffline reads the fleet status from the data directory of a
// stopped server, as a controller of the next one would.
func (ts *testServer) fleetStatusOffline(t testing.TB) fleet.Status {
	t.Helper()
	st, err := store.Open(t.Context(), ts.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := fleet.New(fleet.Config{Store: st, Queue: noJobs{}, Version: testVersion})
	if err != nil {
		t.Fatal(err)
	}
	status, err := c.Status(t.Context(), fleet.Filter{}, false)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// noJobs is the queue of a controller that only reads: it queues nothing.
type noJobs struct{}

func (noJobs) Enqueue(context.Context) store.Enqueue {
	return func(*sql.Tx, int64) error { return errors.New("a read-only controller queues no job") }
}
