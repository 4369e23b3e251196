package fleet_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/fleet"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

// noQueue is a job queue that queues nothing: the tests play the job engine
// themselves (finish), through the store, as the real engine does.
type noQueue struct{}

func (noQueue) Enqueue(context.Context) store.Enqueue {
	return func(*sql.Tx, int64) error { return nil }
}

// openStore opens the store at where: a directory (SQLite) or a PostgreSQL URL.
func openStore(t *testing.T, where string) *store.DB {
	t.Helper()
	st, err := store.OpenURL(context.Background(), where)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// eachDatabase runs test on SQLite and on PostgreSQL (when
// CATS_TEST_DATABASE_URL is set), with the function that makes the test's
// database: a test that reopens it (a restart) opens the same one again.
func eachDatabase(t *testing.T, test func(t *testing.T, newDatabase func() string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, t.TempDir) })
	t.Run("postgres", func(t *testing.T) { test(t, func() string { return storetest.NewDatabase(t) }) })
}

func newController(t *testing.T, st *store.DB, adjust func(*fleet.Config)) *fleet.Controller {
	t.Helper()
	cfg := fleet.Config{Store: st, Queue: noQueue{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "v2", Holder: "replica-a"}
	if adjust != nil {
		adjust(&cfg)
	}
	c, err := fleet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// register registers the first n municipalities of the official list in env.
func register(t *testing.T, st *store.DB, env string, n int) []store.Municipality {
	t.Helper()
	var out []store.Municipality
	for _, m := range municipality.All()[:n] {
		reg, job, err := st.CreateMunicipality(context.Background(),
			store.Municipality{Code: m.Code, Environment: env, Name: m.Name, Prefecture: m.Prefecture, Config: map[string]string{}},
			store.Job{Stack: store.StackName(m.Code, env), Code: m.Code, Environment: env, Operation: "plan", CreatedBy: "test"}, noQueue{}.Enqueue(context.Background()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Finish(context.Background(), job.ID, store.JobSucceeded, "", "", map[string]any{"violations": []any{}}); err != nil {
			t.Fatal(err)
		}
		out = append(out, reg)
	}
	return out
}

// outcomeFor decides how a job ends: its final state, reason and result.
type outcomeFor func(j store.Job) (state store.JobState, reason string, result any)

func succeed(store.Job) (store.JobState, string, any) {
	return store.JobSucceeded, "", runner.Result{Violations: nil}
}

// finish plays the job engine: it runs every queued job, in order, and ends
// it as decide says. It returns the jobs it ran.
func finish(t *testing.T, st *store.DB, decide outcomeFor) []store.Job {
	t.Helper()
	ctx := context.Background()
	var ran []store.Job
	for {
		j, err := st.Claim(ctx, "fleet-test")
		if errors.Is(err, store.ErrNotFound) {
			break // nothing left to run
		}
		if err != nil {
			t.Fatal(err)
		}
		state, reason, result := decide(j)
		if _, err := st.Finish(ctx, j.ID, state, reason, reason, result); err != nil {
			t.Fatal(err)
		}
		ran = append(ran, j)
	}
	return ran
}

func step(t *testing.T, c *fleet.Controller) {
	t.Helper()
	if err := c.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func stacksOf(jobs []store.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Stack)
	}
	return out
}

func TestPlanPutsStacksInWaves(t *testing.T) {
	var stacks []store.Municipality
	for _, m := range municipality.All()[:50] {
		stacks = append(stacks, store.Municipality{Code: m.Code, Environment: "dev", Stack: m.Code + "-dev", State: store.MunicipalityActive})
	}
	count := func(planned []store.RolloutStack) []int {
		var per []int
		for _, st := range planned {
			for len(per) <= st.Wave {
				per = append(per, 0)
			}
			per[st.Wave]++
		}
		return per
	}
	for _, tc := range []struct {
		name   string
		canary *fleet.Canary
		waves  []fleet.Wave
		want   []int
	}{
		{"canary of 2, then 50% and 100%", &fleet.Canary{Count: 2}, []fleet.Wave{{Percent: 50}, {Percent: 100}}, []int{2, 24, 24}},
		{"counts; the last wave takes the rest", &fleet.Canary{Count: 1}, []fleet.Wave{{Count: 10}, {Count: 5}}, []int{1, 10, 39}},
		{"no waves: the canary, then everything", &fleet.Canary{Count: 3}, nil, []int{3, 47}},
		{"percentages round up", nil, []fleet.Wave{{Percent: 1}, {Percent: 100}}, []int{1, 49}},
		{"named canary", &fleet.Canary{Stacks: []string{stacks[7].Stack, stacks[9].Code}}, []fleet.Wave{{Percent: 100}}, []int{2, 48}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			planned := fleet.Plan(stacks, tc.canary, tc.waves)
			if got := count(planned); !slices.Equal(got, tc.want) {
				t.Errorf("stacks per wave = %v, want %v", got, tc.want)
			}
			if len(planned) != len(stacks) {
				t.Errorf("planned %d stacks of %d: a rollout must reach every selected stack", len(planned), len(stacks))
			}
		})
	}
}

func TestRolloutRequestNamesTheBadField(t *testing.T) {
	ok := func() fleet.RolloutRequest {
		return fleet.RolloutRequest{Operation: "up", Selector: fleet.Selector{All: true}}
	}
	for _, tc := range []struct {
		field string
		edit  func(*fleet.RolloutRequest)
	}{
		{"operation", func(r *fleet.RolloutRequest) { r.Operation = "destroy" }},
		{"selector", func(r *fleet.RolloutRequest) { r.Selector = fleet.Selector{} }},
		{"selector.all", func(r *fleet.RolloutRequest) { r.Selector.Environment = "dev" }},
		{"selector.environment", func(r *fleet.RolloutRequest) { r.Selector = fleet.Selector{Environment: "staging"} }},
		{"selector.prefectures[0]", func(r *fleet.RolloutRequest) { r.Selector = fleet.Selector{Prefectures: []string{"東京"}} }},
		{"selector.codes[1]", func(r *fleet.RolloutRequest) { r.Selector = fleet.Selector{Codes: []string{"131016", "131017"}} }},
		{"canary.count", func(r *fleet.RolloutRequest) { r.Canary = &fleet.Canary{Count: -1} }},
		{"canary", func(r *fleet.RolloutRequest) { r.Canary = &fleet.Canary{Count: 1, Stacks: []string{"131016-dev"}} }},
		{"canary.stacks[0]", func(r *fleet.RolloutRequest) { r.Canary = &fleet.Canary{Stacks: []string{"131016-test"}} }},
		{"waves[0]", func(r *fleet.RolloutRequest) { r.Waves = []fleet.Wave{{Count: 1, Percent: 10}} }},
		{"waves[0]", func(r *fleet.RolloutRequest) { r.Waves = []fleet.Wave{{Percent: 120}} }},
		{"waves[1].percent", func(r *fleet.RolloutRequest) { r.Waves = []fleet.Wave{{Percent: 50}, {Percent: 40}} }},
		{"maxConcurrency", func(r *fleet.RolloutRequest) { r.MaxConcurrency = -2 }},
		{"failureBudget", func(r *fleet.RolloutRequest) { r.FailureBudget = -1 }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			req := ok()
			tc.edit(&req)
			err := req.Validate()
			var fe *fleet.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Reason == "" {
				t.Fatalf("Validate() = %v, want an error naming %s and the fix", err, tc.field)
			}
		})
	}
	req := ok()
	if err := req.Validate(); err != nil || req.MaxConcurrency != fleet.DefaultMaxConcurrency {
		t.Fatalf("a valid request: err %v, maxConcurrency %d (want the default %d)", err, req.MaxConcurrency, fleet.DefaultMaxConcurrency)
	}
}

// rolloutRun drives a rollout: a step of the controller, then the engine
// runs what it queued.
func rolloutRun(t *testing.T, c *fleet.Controller, st *store.DB, decide outcomeFor) []store.Job {
	step(t, c)
	ran := finish(t, st, decide)
	step(t, c)
	return ran
}

func TestRolloutStopsOnItsFailureBudgetResumesAndCancels(t *testing.T) {
	eachDatabase(t, testRolloutStopsOnItsFailureBudgetResumesAndCancels)
}

func testRolloutStopsOnItsFailureBudgetResumesAndCancels(t *testing.T, newDatabase func() string) {
	ctx := context.Background()
	st := openStore(t, newDatabase())
	stacks := register(t, st, "dev", 12)
	c := newController(t, st, nil)
	failing := stacks[4].Stack // in the first wave after the canary
	decide := func(j store.Job) (store.JobState, string, any) {
		if j.Stack == failing {
			return store.JobFailed, string(runner.ReasonProviderError), runner.Result{}
		}
		return succeed(j)
	}
	v, err := c.CreateRollout(ctx, fleet.RolloutRequest{Operation: "up", Selector: fleet.Selector{Environment: "dev"},
		Canary: &fleet.Canary{Count: 2}, Waves: []fleet.Wave{{Percent: 50}, {Percent: 100}}, MaxConcurrency: 2}, "token-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Waves) != 3 || len(v.Waves[0].Stacks) != 2 || !v.Waves[0].Canary || len(v.Waves[1].Stacks) != 5 || len(v.Waves[2].Stacks) != 5 {
		t.Fatalf("waves = %+v, want a canary of 2 then 5 and 5", v.Waves)
	}
	var ran []string
	for range 10 {
		ran = append(ran, stacksOf(rolloutRun(t, c, st, decide))...)
		if v, _ = c.Rollout(ctx, v.ID); v.State != store.RolloutRunning {
			break
		}
	}
	if v.State != store.RolloutStopped || !strings.Contains(v.StopReason, "failure budget") {
		t.Fatalf("rollout %s (%s), want stopped by its failure budget of 0 after %s failed", v.State, v.StopReason, failing)
	}
	for _, s := range v.Waves[2].Stacks {
		if s.State != store.StackPending || s.JobID != 0 || slices.Contains(ran, s.Stack) {
			t.Fatalf("wave 2's %s is %s (job %d): the next wave must never start after the budget is spent", s.Stack, s.State, s.JobID)
		}
	}
	// Stopped: another pass starts nothing.
	if again := rolloutRun(t, c, st, decide); len(again) != 0 {
		t.Fatalf("a stopped rollout ran %v", stacksOf(again))
	}
	if _, err := c.Pause(ctx, v.ID); !errors.Is(err, fleet.ErrState) {
		t.Fatalf("pausing a stopped rollout: %v, want ErrState", err)
	}
	if v, err = c.Resume(ctx, v.ID); err != nil || v.State != store.RolloutRunning {
		t.Fatalf("resume: %v, %s", err, v.State)
	}
	// Resumed: wave 1 finishes, wave 2 starts; cancel once it has.
	for range 10 {
		ran = append(ran, stacksOf(rolloutRun(t, c, st, decide))...)
		v, _ = c.Rollout(ctx, v.ID)
		if v.Waves[2].State != "pending" {
			break
		}
	}
	if v.Waves[1].State != "done" || v.Waves[2].State != "running" {
		t.Fatalf("after resume: wave 1 %s, wave 2 %s; want done and running", v.Waves[1].State, v.Waves[2].State)
	}
	if v, err = c.Cancel(ctx, v.ID); err != nil || v.State != store.RolloutCancelled {
		t.Fatalf("cancel: %v, %s", err, v.State)
	}
	ran = append(ran, stacksOf(rolloutRun(t, c, st, decide))...)
	v, _ = c.Rollout(ctx, v.ID)
	cancelled := 0
	for _, s := range v.Waves[2].Stacks {
		if s.State == store.StackCancelled {
			cancelled++
			if s.JobID != 0 || slices.Contains(ran, s.Stack) {
				t.Errorf("%s was cancelled but has job %d: queued stacks must never start after a cancel", s.Stack, s.JobID)
			}
		}
	}
	if cancelled == 0 || v.Tally.ByState[store.StackRunning] != 0 {
		t.Fatalf("after cancel: %+v; want pending stacks cancelled and the running ones finished", v.Tally)
	}
	if len(ran) != len(slices.Compact(slices.Sorted(slices.Values(ran)))) {
		t.Fatalf("a stack ran twice: %v", ran)
	}
}

func TestAMandatoryViolationStopsARolloutWithinItsBudget(t *testing.T) {
	eachDatabase(t, testAMandatoryViolationStopsARolloutWithinItsBudget)
}

func testAMandatoryViolationStopsARolloutWithinItsBudget(t *testing.T, newDatabase func() string) {
	ctx := context.Background()
	st := openStore(t, newDatabase())
	stacks := register(t, st, "prod", 6)
	c := newController(t, st, nil)
	decide := func(j store.Job) (store.JobState, string, any) {
		if j.Stack == stacks[0].Stack {
			return store.JobFailed, string(runner.ReasonPolicyViolation), map[string]any{"violations": []map[string]string{
				{"policy": "s3-encryption", "level": "mandatory", "urn": "urn:x", "message": "not encrypted"}}}
		}
		return succeed(j)
	}
	v, err := c.CreateRollout(ctx, fleet.RolloutRequest{Operation: "up", Selector: fleet.Selector{All: true},
		Canary: &fleet.Canary{Count: 1}, FailureBudget: 5}, "token-1")
	if err != nil {
		t.Fatal(err)
	}
	rolloutRun(t, c, st, decide)
	v, _ = c.Rollout(ctx, v.ID)
	if v.State != store.RolloutStopped || !strings.Contains(v.StopReason, "mandatory policy violation") {
		t.Fatalf("rollout %s (%s); a mandatory violation must stop it whatever the budget", v.State, v.StopReason)
	}
	if v.Waves[0].Stacks[0].MandatoryViolations != 1 {
		t.Errorf("the canary's stack records %d mandatory violations, want 1", v.Waves[0].Stacks[0].MandatoryViolations)
	}
}

func TestARolloutSurvivesARestartBetweenItsSteps(t *testing.T) {
	eachDatabase(t, testARolloutSurvivesARestartBetweenItsSteps)
}

func testARolloutSurvivesARestartBetweenItsSteps(t *testing.T, newDatabase func() string) {
	ctx := context.Background()
	dir := newDatabase()
	st := openStore(t, dir)
	register(t, st, "dev", 4)
	c := newController(t, st, func(cfg *fleet.Config) { cfg.LeaseTTL = time.Second })
	v, err := c.CreateRollout(ctx, fleet.RolloutRequest{Operation: "refresh", Selector: fleet.Selector{All: true}, MaxConcurrency: 2}, "token-1")
	if err != nil {
		t.Fatal(err)
	}
	step(t, c)
	// A stack whose job was being created when the server stopped: the job
	// was made but not yet recorded on the rollout.
	stacks, _ := st.RolloutStacks(ctx, v.ID)
	lost := stacks[2]
	lost.State = store.StackStarting
	if _, err := st.SetRolloutStack(ctx, v.ID, lost, store.StackPending); err != nil {
		t.Fatal(err)
	}
	made, err := st.CreateJob(ctx, store.Job{Stack: lost.Stack, Code: lost.Code, Environment: lost.Environment, Operation: "refresh",
		CreatedBy: store.RolloutCreator(v.ID)}, noQueue{}.Enqueue(ctx))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	st = openStore(t, dir)
	c = newController(t, st, func(cfg *fleet.Config) { cfg.Holder = "replica-after-restart"; cfg.LeaseTTL = time.Second })
	time.Sleep(1100 * time.Millisecond) // the dead replica's lease runs out
	var ran []store.Job
	for range 5 {
		ran = append(ran, rolloutRun(t, c, st, succeed)...)
	}
	v, _ = c.Rollout(ctx, v.ID)
	if v.State != store.RolloutSucceeded || v.Tally.ByState[store.StackSucceeded] != 4 {
		t.Fatalf("after the restart: %s %+v, want every stack succeeded", v.State, v.Tally)
	}
	runs := 0
	for _, j := range ran {
		if j.Stack == lost.Stack {
			runs++
			if j.ID != made.ID {
				t.Errorf("%s ran job %d, want the job made before the restart (%d), never a second one", lost.Stack, j.ID, made.ID)
			}
		}
	}
	if runs != 1 {
		t.Errorf("%s ran %d times, want once", lost.Stack, runs)
	}
}

func driftResult(drifted ...runner.DriftedResource) any {
	return runner.Result{Operation: runner.Drift, Drifted: append([]runner.DriftedResource{}, drifted...)}
}

func TestDriftScheduleChecksInBatchesSkipsBusyStacksAndSurvivesARestart(t *testing.T) {
	eachDatabase(t, testDriftScheduleChecksInBatchesSkipsBusyStacksAndSurvivesARestart)
}

func testDriftScheduleChecksInBatchesSkipsBusyStacksAndSurvivesARestart(t *testing.T, newDatabase func() string) {
	ctx := context.Background()
	dir := newDatabase()
	st := openStore(t, dir)
	stacks := register(t, st, "dev", 5)
	register(t, st, "prod", 1) // prod is not scheduled
	busy := stacks[1]
	if _, err := st.CreateJob(ctx, store.Job{Stack: busy.Stack, Code: busy.Code, Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue{}.Enqueue(ctx)); err != nil {
		t.Fatal(err)
	}
	// The busy stack's up stays queued: the engine here runs drift checks only.
	onlyDrift := func(decide outcomeFor) outcomeFor { return decide }
	cfg := func(c *fleet.Config) { c.DriftEvery = map[string]time.Duration{"dev": time.Hour}; c.DriftBatch = 2 }
	c := newController(t, st, cfg)
	changed := runner.DriftedResource{URN: "urn:pulumi:x::cats-analytics::aws:s3/bucketV2:BucketV2::lake", Type: "aws:s3/bucketV2:BucketV2",
		Name: "lake", Change: "update", Properties: []string{"tags"}}
	decide := onlyDrift(func(j store.Job) (store.JobState, string, any) {
		if j.Stack == stacks[3].Stack {
			return store.JobSucceeded, "", driftResult(changed)
		}
		return store.JobSucceeded, "", driftResult()
	})
	runDrift := func() []store.Job {
		step(t, c)
		var ran, others []store.Job
		// Claimed in the queue's order; a job that is not a drift check (the
		// busy stack's) goes back to the queue afterwards, still ahead of
		// anything else of its stack.
		defer func() {
			for _, j := range others {
				if err := st.RequeueAfter(ctx, j.ID, "fleet-test", time.Time{}, "not a drift check"); err != nil {
					t.Fatal(err)
				}
			}
		}()
		for {
			j, err := st.Claim(ctx, "fleet-test")
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if j.Operation != runner.Drift {
				others = append(others, j)
				continue
			}
			state, reason, result := decide(j)
			if _, err := st.Finish(ctx, j.ID, state, reason, reason, result); err != nil {
				t.Fatal(err)
			}
			ran = append(ran, j)
		}
		return ran
	}
	step(t, c)
	queued := 0
	for _, m := range stacks {
		jobs, _ := st.ListJobs(ctx, m.Stack, 10)
		for _, j := range jobs {
			if j.Operation == runner.Drift && j.State == store.JobQueued {
				queued++
				if m.Stack == busy.Stack {
					t.Errorf("a drift check of %s was queued behind its up: a busy stack is skipped and checked later", m.Stack)
				}
			}
		}
	}
	if queued != 2 {
		t.Fatalf("%d drift checks queued at once, want the batch of 2", queued)
	}
	step(t, c) // no piling up: the batch is still full
	if n := countDrift(t, st, stacks); n != 2 {
		t.Fatalf("after a second look %d drift checks exist, want still 2 (never piling up)", n)
	}
	runDrift()
	st.Close() // restart

	st = openStore(t, dir)
	c = newController(t, st, func(c *fleet.Config) { cfg(c); c.Holder = "replica-a" })
	for range 4 {
		runDrift()
	}
	status, err := c.Status(ctx, fleet.Filter{Environment: "dev"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range status.Municipalities {
		s := m.Stacks[0]
		switch s.Stack {
		case busy.Stack:
			if s.Drift.Status != store.DriftUnknown {
				t.Errorf("%s (busy the whole time) is %s, want unknown until it can be checked", s.Stack, s.Drift.Status)
			}
		case stacks[3].Stack:
			if s.Drift.Status != store.DriftDrifted || len(s.Drift.Resources) != 1 || s.Drift.Resources[0].Properties[0] != "tags" || s.Drift.CheckedAt == "" {
				t.Errorf("%s: %+v, want drifted with lake's tags and a check time", s.Stack, s.Drift)
			}
		default:
			if s.Drift.Status != store.DriftInSync || s.Drift.CheckedAt == "" {
				t.Errorf("%s: %+v, want in_sync with a check time", s.Stack, s.Drift)
			}
		}
	}
	if n := countDrift(t, st, stacks); n != 4 {
		t.Errorf("%d drift checks over the sweep, want 4: one per stack that was free, none twice", n)
	}
	// The busy stack's up ends: the same sweep checks it, and then it is done
	// until the next is due.
	finish(t, st, succeed)
	for range 3 {
		runDrift()
	}
	if n := countDrift(t, st, stacks); n != 5 {
		t.Errorf("%d drift checks, want 5 once the busy stack was free", n)
	}
	sweeps, _ := st.DriftSweeps(ctx)
	if s := sweeps["dev"]; s.Running() || s.NextAt <= s.StartedAt {
		t.Errorf("dev's sweep %+v: want finished, the next an hour after it started", s)
	}
	if _, ok := sweeps["prod"]; ok {
		t.Errorf("prod has a sweep but no schedule")
	}
}

func countDrift(t *testing.T, st *store.DB, stacks []store.Municipality) int {
	t.Helper()
	n := 0
	for _, m := range stacks {
		jobs, err := st.ListJobs(context.Background(), m.Stack, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.Operation == runner.Drift {
				n++
			}
		}
	}
	return n
}

func TestOneReplicaAtATimeRunsTheFleet(t *testing.T) {
	eachDatabase(t, testOneReplicaAtATimeRunsTheFleet)
}

func testOneReplicaAtATimeRunsTheFleet(t *testing.T, newDatabase func() string) {
	ctx := context.Background()
	st := openStore(t, newDatabase())
	register(t, st, "dev", 3)
	drift := func(c *fleet.Config) { c.DriftEvery = map[string]time.Duration{"dev": time.Hour}; c.DriftBatch = 10 }
	a := newController(t, st, func(c *fleet.Config) { drift(c); c.Holder = "a" })
	b := newController(t, st, func(c *fleet.Config) { drift(c); c.Holder = "b" })
	step(t, a)
	step(t, b)
	step(t, a)
	var n int
	if err := st.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE operation = ?`, runner.Drift).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d drift checks for 3 stacks with two replicas, want 3: only the lease holder schedules", n)
	}
	if ok, _ := st.AcquireLease(ctx, "fleet-controller", "b", time.Minute); ok {
		t.Fatal("replica b took the lease replica a holds")
	}
}

func TestVersionsAreRecordedAndSelectStacks(t *testing.T) {
	eachDatabase(t, testVersionsAreRecordedAndSelectStacks)
}

func testVersionsAreRecordedAndSelectStacks(t *testing.T, newDatabase func() string) {
	ctx := context.Background()
	st := openStore(t, newDatabase())
	stacks := register(t, st, "dev", 3)
	old := newController(t, st, func(c *fleet.Config) { c.Version = "v1" })
	if _, err := st.CreateJob(ctx, store.Job{Stack: stacks[0].Stack, Code: stacks[0].Code, Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue{}.Enqueue(ctx)); err != nil {
		t.Fatal(err)
	}
	finish(t, st, succeed)
	step(t, old)
	c := newController(t, st, nil) // v2
	v, err := c.CreateRollout(ctx, fleet.RolloutRequest{Operation: "up", Selector: fleet.Selector{NotOnVersion: "v1"}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	if v.Total != 2 || v.Version != "v2" {
		t.Fatalf("a rollout to stacks not on v1 selected %d stacks (version %s), want the 2 that never ran v1, deploying v2", v.Total, v.Version)
	}
	for range 3 {
		rolloutRun(t, c, st, succeed)
	}
	status, err := c.Status(ctx, fleet.Filter{}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range status.Municipalities {
		got[m.Stacks[0].Stack] = m.Stacks[0].DeployedVersion + "/" + m.Stacks[0].Status
	}
	want := map[string]string{stacks[0].Stack: "v1/outdated", stacks[1].Stack: "v2/ok", stacks[2].Stack: "v2/ok"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("versions/status = %v, want %v", got, want)
	}
	if status.ByStatus[fleet.StatusOutdated] != 1 || status.ByStatus[fleet.StatusOK] != 2 || status.CurrentVersion != "v2" {
		t.Fatalf("counts %v (current %s)", status.ByStatus, status.CurrentVersion)
	}
	// A rollout made under v1 does not go on when the server runs v2.
	vOld, err := old.CreateRollout(ctx, fleet.RolloutRequest{Operation: "up", Selector: fleet.Selector{All: true}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	step(t, c)
	if vOld, _ = c.Rollout(ctx, vOld.ID); vOld.State != store.RolloutStopped || !strings.Contains(vOld.StopReason, "version v1") {
		t.Fatalf("a v1 rollout on a v2 server: %s (%s), want stopped naming both versions", vOld.State, vOld.StopReason)
	}
}

func TestFleetStatusFiltersAndNamesBadFilters(t *testing.T) {
	eachDatabase(t, testFleetStatusFiltersAndNamesBadFilters)
}

func testFleetStatusFiltersAndNamesBadFilters(t *testing.T, newDatabase func() string) {
	ctx := context.Background()
	st := openStore(t, newDatabase())
	register(t, st, "dev", 2)
	register(t, st, "prod", 1)
	c := newController(t, st, func(c *fleet.Config) {
		c.Cost = func(_ context.Context, m store.Municipality) (*fleet.Cost, error) {
			return &fleet.Cost{MonthlyUSD: float64(len(m.Environment)), MonthlyJPY: 150 * float64(len(m.Environment))}, nil
		}
	})
	all, err := c.Status(ctx, fleet.Filter{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if all.Stacks != 3 || all.ByStatus[fleet.StatusNotDeployed] != 3 || all.ByDrift[store.DriftUnknown] != 3 || all.MonthlyUSD != 3+3+4 {
		t.Fatalf("status %+v", all)
	}
	prod, err := c.Status(ctx, fleet.Filter{Environment: "prod"}, true)
	if err != nil || prod.Stacks != 1 || prod.Municipalities[0].Stacks[0].Environment != "prod" {
		t.Fatalf("prod filter: %v %+v", err, prod)
	}
	none, err := c.Status(ctx, fleet.Filter{Status: fleet.StatusOK}, false)
	if err != nil || none.Stacks != 0 || len(none.Municipalities) != 0 {
		t.Fatalf("status=ok filter: %v %+v, want none", err, none)
	}
	for _, f := range []fleet.Filter{{Environment: "qa"}, {Prefecture: "Tokyo"}, {Status: "green"}} {
		_, err := c.Status(ctx, f, false)
		var fe *fleet.FieldError
		if !errors.As(err, &fe) || fe.Reason == "" {
			t.Errorf("filter %+v: %v, want an error naming the field", f, err)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	got, err := fleet.ParseSchedule("dev=24h,prod=6h")
	if err != nil || got["dev"] != 24*time.Hour || got["prod"] != 6*time.Hour {
		t.Fatalf("ParseSchedule = %v, %v", got, err)
	}
	for _, bad := range []string{"dev", "qa=1h", "dev=soon", "dev=1h,dev=2h", "dev=10ms"} {
		if _, err := fleet.ParseSchedule(bad); err == nil || !strings.Contains(err.Error(), "e.g.") && !strings.Contains(err.Error(), "twice") {
			t.Errorf("ParseSchedule(%q) = %v, want an error that shows the form", bad, err)
		}
	}
}

func TestDriftStatusFromAFailedCheck(t *testing.T) { eachDatabase(t, testDriftStatusFromAFailedCheck) }

func testDriftStatusFromAFailedCheck(t *testing.T, newDatabase func() string) {
	ctx := context.Background()
	st := openStore(t, newDatabase())
	stacks := register(t, st, "dev", 1)
	c := newController(t, st, nil)
	if _, err := st.CreateJob(ctx, store.Job{Stack: stacks[0].Stack, Code: stacks[0].Code, Environment: "dev", Operation: runner.Drift, CreatedBy: "t"}, noQueue{}.Enqueue(ctx)); err != nil {
		t.Fatal(err)
	}
	finish(t, st, func(store.Job) (store.JobState, string, any) {
		return store.JobFailed, "cli_error", json.RawMessage(`{}`)
	})
	step(t, c)
	s, _ := c.Status(ctx, fleet.Filter{}, false)
	if d := s.Municipalities[0].Stacks[0].Drift; d.Status != store.DriftError || d.Error == "" {
		t.Fatalf("drift after a failed check: %+v, want error with its message", d)
	}
}

func TestACancelWhileAStackIsStartingLeavesItUnstarted(t *testing.T) {
	eachDatabase(t, testACancelWhileAStackIsStartingLeavesItUnstarted)
}

func testACancelWhileAStackIsStartingLeavesItUnstarted(t *testing.T, newDatabase func() string) {
	ctx := context.Background()
	st := openStore(t, newDatabase())
	register(t, st, "dev", 2)
	c := newController(t, st, nil)
	v, err := c.CreateRollout(ctx, fleet.RolloutRequest{Operation: "up", Selector: fleet.Selector{All: true}, MaxConcurrency: 1}, "t")
	if err != nil {
		t.Fatal(err)
	}
	// The controller marked the second stack starting, then stopped before
	// making its job; the rollout is cancelled meanwhile.
	second := v.Waves[0].Stacks[1]
	second.State = store.StackStarting
	if _, err := st.SetRolloutStack(ctx, v.ID, second, store.StackPending); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Cancel(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	rolloutRun(t, c, st, succeed)
	v, _ = c.Rollout(ctx, v.ID)
	for _, s := range v.Waves[0].Stacks {
		if s.State != store.StackCancelled || s.JobID != 0 {
			t.Errorf("%s: %s (job %d), want cancelled and never started", s.Stack, s.State, s.JobID)
		}
	}
}
