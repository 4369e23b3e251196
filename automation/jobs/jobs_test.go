package jobs

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
)

// fakeRunner records the operations and unlocks; it never touches a CLI.
type fakeRunner struct {
	mu       sync.Mutex
	ran      []string
	unlocked []string
}

func (r *fakeRunner) Run(_ context.Context, operation, stack string, _ map[string]string, _ bool, _ func(json.RawMessage)) (runner.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ran = append(r.ran, operation+" "+stack)
	return runner.Result{}, nil
}

func (r *fakeRunner) Unlock(_ context.Context, stack string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unlocked = append(r.unlocked, stack)
	return nil
}

func (r *fakeRunner) calls() (ran, unlocked []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ran...), append([]string(nil), r.unlocked...)
}

func newQueue(t *testing.T, st *store.Store, run Runner) *Queue {
	t.Helper()
	q, err := New(context.Background(), Config{Store: st, Runner: run, Concurrency: 2, RetryBase: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// waitFinished polls the store until the job is final. The deadline only
// stops a broken queue from hanging the test; it measures nothing.
func waitFinished(t *testing.T, st *store.Store, id int64) store.Job {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		j, err := st.GetJob(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if store.Terminal(j.State) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d never finished: %+v", id, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRecoverAfterAKilledServer reproduces the database a SIGKILLed server
// leaves behind: an up running (in the store and in River), and a refresh of
// the same stack queued behind it whose River entry was claimed by a worker
// that was about to snooze it. After Recover and Start, the up is failed with
// the reason and not run again, the lock is released, and the refresh runs
// once, now, not after River's one-hour rescue.
func TestRecoverAfterAKilledServer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dead := newQueue(t, st, &fakeRunner{})
	m := store.Municipality{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都", Config: map[string]string{}}
	_, up, err := st.CreateMunicipality(ctx, m, store.Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: runner.Up, CreatedBy: "t"}, dead.Enqueue(ctx))
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := st.CreateJob(ctx, store.Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: runner.Refresh, CreatedBy: "t"}, dead.Enqueue(ctx))
	if err != nil {
		t.Fatal(err)
	}
	// The dead server's workers had claimed both entries; its up was running.
	claimed, err := dead.client.Driver().GetExecutor().JobGetAvailable(ctx, &riverdriver.JobGetAvailableParams{
		ClientID: "killed", MaxAttemptedBy: 100, MaxToLock: 10, Queue: river.QueueDefault,
	})
	if err != nil || len(claimed.Jobs) != 2 {
		t.Fatalf("claim both entries as the killed server did: %v, %v", claimed, err)
	}
	if _, ok, err := st.Start(ctx, up.ID); !ok || err != nil {
		t.Fatalf("start the up: %v %v", ok, err)
	}

	run := &fakeRunner{}
	q := newQueue(t, st, run)
	recovered, err := q.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recovered) != 1 || recovered[0].ID != up.ID {
		t.Fatalf("recovered %+v, want the up only", recovered)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = q.Stop(context.WithoutCancel(ctx)) }()

	if j := waitFinished(t, st, refresh.ID); j.State != store.JobSucceeded || j.Attempts != 1 {
		t.Fatalf("refresh queued behind the killed up = %+v, want succeeded after one attempt", j)
	}
	j, err := st.GetJob(ctx, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.JobFailed || !strings.Contains(j.Error, "interrupted") || !strings.Contains(j.Error, "lock was released") || j.Attempts != 1 {
		t.Errorf("killed up = %+v, want failed with the reason after its one attempt", j)
	}
	ran, unlocked := run.calls()
	if strings.Join(ran, ",") != "refresh 131016-dev" {
		t.Errorf("operations run after the restart: %v, want only the refresh (the killed up never runs twice)", ran)
	}
	if strings.Join(unlocked, ",") != "131016-dev" {
		t.Errorf("unlocked %v, want the killed up's stack once", unlocked)
	}
	// Both of River's entries end, not left running for the rescuer.
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := q.client.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateRunning, rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("River entries still open: %d", len(res.Jobs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
