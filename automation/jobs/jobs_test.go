package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

// fakeRunner stands in for the CLI: it records the operations, the settled
// CLIs and the unlocks. block makes Run wait for its context, as a CLI does
// until it is interrupted; killed makes that interruption a kill.
type fakeRunner struct {
	mu       sync.Mutex
	ran      []string
	unlocked []string
	settled  []process.Identity
	outcome  process.Outcome // what SettleCLI reports
	block    bool
	killed   bool
	cli      process.Identity // reported to OnCLIStart
	fail     error            // what Run returns (with result), when not blocking
	result   runner.Result
}

func (r *fakeRunner) Run(ctx context.Context, op runner.Operation) (runner.Result, error) {
	r.mu.Lock()
	r.ran = append(r.ran, op.Name+" "+op.Stack)
	block, killed, cli, fail, result := r.block, r.killed, r.cli, r.fail, r.result
	r.mu.Unlock()
	if op.OnCLIStart != nil && cli.PID != 0 {
		op.OnCLIStart(cli, nil)
	}
	if fail != nil {
		return result, fail
	}
	if !block {
		return runner.Result{Operation: op.Name}, nil
	}
	<-ctx.Done()
	err := fmt.Errorf("%s %s: interrupted: %w", op.Name, op.Stack, ctx.Err())
	if killed {
		err = fmt.Errorf("%w (%w)", err, runner.ErrCLIKilled)
	}
	return runner.Result{}, err
}

func (r *fakeRunner) ReleaseLock(_ context.Context, stack string, cli process.Identity) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unlocked = append(r.unlocked, stack+" "+cli.String())
	return 1, nil
}

func (r *fakeRunner) SettleCLI(_ context.Context, cli process.Identity, _ time.Time) (process.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settled = append(r.settled, cli)
	return r.outcome, nil
}

func (r *fakeRunner) calls() (ran, unlocked []string, settled []process.Identity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ran...), append([]string(nil), r.unlocked...), append([]process.Identity(nil), r.settled...)
}

func newQueue(t *testing.T, st *store.DB, run Runner, planner Planner) *Queue {
	t.Helper()
	q, err := New(context.Background(), Config{Store: st, Runner: run, Planner: planner, Concurrency: 2, RetryBase: 10 * time.Millisecond,
		OrphanWait: 50 * time.Millisecond, LeaseTTL: 600 * time.Millisecond, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()) })
	return q
}

func startQueue(t *testing.T, q *Queue) {
	t.Helper()
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

var chiyoda = store.Municipality{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都", Config: map[string]string{}}

func jobOn(operation store.Operation) store.Job {
	return store.Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: operation, CreatedBy: "t"}
}

// waitFinished polls the store until the job is final. The deadline only
// stops a broken queue from hanging the test; it measures nothing.
func waitFinished(t *testing.T, st *store.DB, id int64) store.Job {
	t.Helper()
	return waitFor(t, st, id, func(j store.Job) bool { return store.Terminal(j.State) })
}

func waitFor(t *testing.T, st *store.DB, id int64, done func(store.Job) bool) store.Job {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		j, err := st.GetJob(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if done(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d never got there: %+v", id, j)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var orphanCLI = process.Identity{PID: 4242, StartTime: 987654, BootID: "boot", Host: "server-a"}

func noQueue(*sql.Tx, int64) error { return nil }

// killedServer reproduces the database a SIGKILLed replica leaves behind: its
// lease expired, an up it was running with its CLI recorded, and a refresh of
// the same stack queued behind it.
func killedServer(t *testing.T, st *store.DB, cli *process.Identity) (up, refresh store.Job) {
	t.Helper()
	ctx := context.Background()
	if err := st.RegisterReplica(ctx, store.Replica{ID: "killed", Host: "server-a", PID: 1, LeaseUntil: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	_, up, err := st.CreateMunicipality(ctx, chiyoda, jobOn(runner.Up), noQueue)
	if err != nil {
		t.Fatal(err)
	}
	refresh, err = st.CreateJob(ctx, jobOn(runner.Refresh), noQueue)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := st.Claim(ctx, "killed"); err != nil || c.ID != up.ID {
		t.Fatalf("the killed replica's claim of the up: %+v, %v", c, err)
	}
	if cli != nil {
		if err := st.RecordCLI(ctx, up.ID, *cli); err != nil {
			t.Fatal(err)
		}
	}
	return up, refresh
}

// TestRecoverAfterAKilledServer: after Recover and Start, the killed up is
// failed with the reason and not run again, its CLI is waited for, and the
// refresh queued behind it runs once.
func TestRecoverAfterAKilledServer(t *testing.T) { storetest.Run(t, testRecoverAfterAKilledServer) }

func testRecoverAfterAKilledServer(t *testing.T, st *store.DB) {
	ctx := context.Background()
	up, refresh := killedServer(t, st, &orphanCLI)

	run := &fakeRunner{outcome: process.Exited}
	q := newQueue(t, st, run, nil)
	recovered, err := q.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recovered) != 1 || recovered[0].ID != up.ID {
		t.Fatalf("recovered %+v, want the up only", recovered)
	}
	startQueue(t, q)

	if j := waitFinished(t, st, refresh.ID); j.State != store.JobSucceeded || j.Attempts != 1 {
		t.Fatalf("refresh queued behind the killed up = %+v, want succeeded after one attempt", j)
	}
	j, err := st.GetJob(ctx, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.JobFailed || j.Reason != string(runner.ReasonInterrupted) || !strings.Contains(j.Error, "stopped by itself") || j.Attempts != 1 {
		t.Errorf("killed up = %+v, want failed with the reason after its one attempt", j)
	}
	ran, unlocked, settled := run.calls()
	if strings.Join(ran, ",") != "refresh 131016-dev" {
		t.Errorf("operations run after the restart: %v, want only the refresh (the killed up never runs twice)", ran)
	}
	if len(settled) != 1 || settled[0] != orphanCLI {
		t.Errorf("settled CLIs %v, want the killed up's recorded CLI %v", settled, orphanCLI)
	}
	if len(unlocked) != 0 {
		t.Errorf("unlocked %v: a CLI that stopped by itself released its own lock, and pulumi cancel would remove anyone's", unlocked)
	}
}

// TestRecoverReleasesTheLockOnlyWhenTheCLICouldNot: pulumi cancel removes
// every lock of a stack, so recovery calls it only for a CLI that cannot have
// released its own: killed after the wait, or gone with the machine.
func TestRecoverReleasesTheLockOnlyWhenTheCLICouldNot(t *testing.T) {
	storetest.Each(t, testRecoverReleasesTheLockOnlyWhenTheCLICouldNot)
}

func testRecoverReleasesTheLockOnlyWhenTheCLICouldNot(t *testing.T, open func(testing.TB) *store.DB) {
	tests := []struct {
		name       string
		cli        *process.Identity
		outcome    process.Outcome
		wantUnlock bool
		reason     string
	}{
		{"CLI stopped by itself", &orphanCLI, process.Exited, false, "stopped by itself and released the stack's lock"},
		{"CLI killed after the wait", &orphanCLI, process.Killed, true, "was killed; the stack's lock its Pulumi CLI held was released"},
		{"CLI ended with the machine", &orphanCLI, process.DiedWithMachine, true, "ended with the machine; the stack's lock its Pulumi CLI held was released"},
		{"CLI on another host", &orphanCLI, process.Unknown, true, "ran on another host, whose replica had lost its lease"},
		{"no CLI started yet", nil, process.Exited, false, "no Pulumi CLI had started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			up, _ := killedServer(t, st, tt.cli)
			run := &fakeRunner{outcome: tt.outcome}
			if _, err := newQueue(t, st, run, nil).Recover(ctx); err != nil {
				t.Fatal(err)
			}
			_, unlocked, settled := run.calls()
			if got := len(unlocked) == 1; got != tt.wantUnlock || len(unlocked) > 1 {
				t.Errorf("unlocked %v, want an unlock: %v", unlocked, tt.wantUnlock)
			}
			if tt.cli == nil && len(settled) != 0 {
				t.Errorf("settled %v with no CLI recorded: there is no process to wait for", settled)
			}
			j, err := st.GetJob(ctx, up.ID)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != store.JobFailed || !strings.Contains(j.Error, tt.reason) {
				t.Errorf("recovered up = %s %q, want failed saying %q", j.State, j.Error, tt.reason)
			}
		})
	}
}

// TestCancelReleasesTheLockOnlyWhenTheCLIWasKilled: a CLI that stops on its
// interrupt releases its lock; one killed after ignoring it does not.
func TestCancelReleasesTheLockOnlyWhenTheCLIWasKilled(t *testing.T) {
	storetest.Each(t, testCancelReleasesTheLockOnlyWhenTheCLIWasKilled)
}

func testCancelReleasesTheLockOnlyWhenTheCLIWasKilled(t *testing.T, open func(testing.TB) *store.DB) {
	for _, killed := range []bool{false, true} {
		t.Run(fmt.Sprintf("killed=%v", killed), func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			run := &fakeRunner{block: true, killed: killed, cli: orphanCLI}
			q := newQueue(t, st, run, nil)
			startQueue(t, q)
			_, up, err := st.CreateMunicipality(ctx, chiyoda, jobOn(runner.Up), q.Enqueue(ctx))
			if err != nil {
				t.Fatal(err)
			}
			running := waitFor(t, st, up.ID, func(j store.Job) bool { return j.CLI != nil })
			if running.State != store.JobRunning || *running.CLI != orphanCLI {
				t.Fatalf("running up = %+v, want its CLI %v recorded while it runs (recovery needs it)", running, orphanCLI)
			}
			if ok, err := q.Cancel(ctx, up.ID); !ok || err != nil {
				t.Fatalf("cancel: %v %v", ok, err)
			}
			j := waitFinished(t, st, up.ID)
			_, unlocked, _ := run.calls()
			if j.State != store.JobCancelled || j.Reason != string(runner.ReasonCancelled) {
				t.Fatalf("cancelled up = %s %s %q, want cancelled with its reason", j.State, j.Reason, j.Error)
			}
			if killed && (len(unlocked) != 1 || !strings.Contains(j.Error, "lock its Pulumi CLI held was released")) {
				t.Errorf("a killed CLI: unlocked %v, reason %q; want the lock released and said so", unlocked, j.Error)
			}
			if killed && len(unlocked) == 1 && unlocked[0] != "131016-dev "+orphanCLI.String() {
				t.Errorf("released %q, want only the lock of the job's own CLI (%s): a stack-wide cancel removes another host's", unlocked[0], orphanCLI)
			}
			if !killed && len(unlocked) != 0 {
				t.Errorf("a CLI that stopped on its interrupt: unlocked %v; it released its own lock, and pulumi cancel would remove anyone's", unlocked)
			}
		})
	}
}

// fakePlanner stands in for the offline plan: it reports its steps and a
// result with one advisory violation.
type fakePlanner struct{}

func (fakePlanner) Plan(_ context.Context, stack string, config map[string]string, onEvent func(PlanEvent)) (PlanResult, error) {
	v := Violation{Policy: "log-group-retention", Level: "advisory", URN: "urn:pulumi:" + stack + "::cats-analytics::aws:cloudwatch/logGroup:LogGroup::logs", Message: "retention below 365 days"}
	onEvent(ConfigChecked(stack, len(config)))
	onEvent(ProgramRan(3))
	onEvent(PolicyEvaluated(1, 0))
	onEvent(ViolationFound(v))
	return PlanResult{Stack: stack, Resources: 3, Tiers: map[string]int{"network": 3}, Violations: []Violation{v}}, nil
}

// TestPlanStepsAreTheJobsEvents: a plan job's steps are stored as its events,
// in order, so a client follows a plan as it follows an up.
func TestPlanStepsAreTheJobsEvents(t *testing.T) { storetest.Run(t, testPlanStepsAreTheJobsEvents) }

func testPlanStepsAreTheJobsEvents(t *testing.T, st *store.DB) {
	ctx := context.Background()
	q := newQueue(t, st, &fakeRunner{}, fakePlanner{})
	startQueue(t, q)
	_, plan, err := st.CreateMunicipality(ctx, chiyoda, jobOn(Plan), q.Enqueue(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if j := waitFinished(t, st, plan.ID); j.State != store.JobSucceeded {
		t.Fatalf("plan = %s %q", j.State, j.Error)
	}
	events, err := st.Events(ctx, plan.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for i, e := range events {
		var ev PlanEvent
		if err := json.Unmarshal(e.Event, &ev); err != nil || e.Seq != i+1 {
			t.Fatalf("event %d = %s (seq %d): %v", i, e.Event, e.Seq, err)
		}
		steps = append(steps, ev.Step)
	}
	if got := strings.Join(steps, ","); got != "config,program,policy,violation" {
		t.Errorf("plan events %s, want config,program,policy,violation", got)
	}
	j, _ := st.GetJob(ctx, plan.ID)
	var result PlanResult
	if err := json.Unmarshal(j.Result, &result); err != nil || result.Resources != 3 || len(result.Violations) != 1 {
		t.Errorf("plan result %s (%v), want the planner's", j.Result, err)
	}
}

// TestAFailedJobKeepsItsReasonAndResult: the queue records what the runner
// says of a failure, its reason, its one-line message and what the
// operation found (the violations that stopped an up), and not retried: a
// policy or a program does not fix itself. An error of the server's own is
// a server_error.
func TestAFailedJobKeepsItsReasonAndResult(t *testing.T) {
	storetest.Each(t, testAFailedJobKeepsItsReasonAndResult)
}

func testAFailedJobKeepsItsReasonAndResult(t *testing.T, open func(testing.TB) *store.DB) {
	violation := Violation{Policy: "log-group-retention", Level: "mandatory", URN: "urn:pulumi:131016-dev::cats-analytics::aws:cloudwatch/logGroup:LogGroup::x", Message: "below 400"}
	for _, tt := range []struct {
		name   string
		fail   error
		reason runner.Reason
		msg    string
	}{
		{"a policy violation", &runner.Failure{Reason: runner.ReasonPolicyViolation, Message: "up of 131016-dev: 1 mandatory policy violations",
			Err: errors.New("failed to run update\nstdout: the whole output")}, runner.ReasonPolicyViolation, "up of 131016-dev: 1 mandatory policy violations"},
		{"the server's own", errors.New("read the configuration of 131016-dev: open /srv/cats/cats.db: disk I/O error"), runner.ReasonServerError,
			runner.ServerErrorMessage + " (correlation id "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			run := &fakeRunner{fail: tt.fail, result: runner.Result{Operation: runner.Up, Cloud: runner.CloudStandin, Violations: []Violation{violation}}}
			q := newQueue(t, st, run, nil)
			startQueue(t, q)
			_, up, err := st.CreateMunicipality(ctx, chiyoda, jobOn(runner.Up), q.Enqueue(ctx))
			if err != nil {
				t.Fatal(err)
			}
			j := waitFinished(t, st, up.ID)
			var result runner.Result
			if err := json.Unmarshal(j.Result, &result); err != nil {
				t.Fatalf("failed job's result %s: %v", j.Result, err)
			}
			if j.State != store.JobFailed || j.Reason != string(tt.reason) || !strings.HasPrefix(j.Error, tt.msg) || j.Attempts != 1 {
				t.Errorf("failed up = %s %s %q after %d attempts; want failed, %s, %q, not retried", j.State, j.Reason, j.Error, j.Attempts, tt.reason, tt.msg)
			}
			if len(result.Violations) != 1 || result.Violations[0].Level != "mandatory" || result.Cloud != runner.CloudStandin {
				t.Errorf("failed up's result %s; want the violations that stopped it and its cloud", j.Result)
			}
		})
	}
}
