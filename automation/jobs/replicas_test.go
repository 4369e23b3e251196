package jobs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

// TestASurvivorTakesOverADeadReplicasJobs: with no restart and no Recover,
// a running replica notices from the expired lease that another died: the
// dead replica's up fails as interrupted, never runs again, and the refresh
// queued behind it runs on the survivor.
func TestASurvivorTakesOverADeadReplicasJobs(t *testing.T) {
	storetest.Run(t, testASurvivorTakesOverADeadReplicasJobs)
}

func testASurvivorTakesOverADeadReplicasJobs(t *testing.T, st *store.DB) {
	up, refresh := killedServer(t, st, &orphanCLI)
	run := &fakeRunner{outcome: process.Exited}
	startQueue(t, newQueue(t, st, run, nil))
	if j := waitFinished(t, st, refresh.ID); j.State != store.JobSucceeded {
		t.Fatalf("refresh behind the dead replica's up = %+v, want succeeded on the survivor", j)
	}
	j := waitFinished(t, st, up.ID)
	if j.State != store.JobFailed || j.Reason != string(runner.ReasonInterrupted) {
		t.Errorf("dead replica's up = %s %s %q, want failed, interrupted", j.State, j.Reason, j.Error)
	}
	if ran, _, _ := run.calls(); strings.Join(ran, ",") != "refresh 131016-dev" {
		t.Errorf("the survivor ran %v, want only the refresh: the interrupted up never runs twice", ran)
	}
	replicas, _ := st.Replicas(context.Background())
	for _, r := range replicas {
		if r.ID == "killed" {
			t.Errorf("the dead replica is still recorded: %+v", r)
		}
	}
}

// TestCancelThroughAnotherReplica: a job running on replica A is cancelled
// through replica B; A interrupts its CLI.
func TestCancelThroughAnotherReplica(t *testing.T) { storetest.Run(t, testCancelThroughAnotherReplica) }

func testCancelThroughAnotherReplica(t *testing.T, st *store.DB) {
	ctx := context.Background()
	a := newQueue(t, st, &fakeRunner{block: true, cli: orphanCLI}, nil)
	startQueue(t, a)
	b := newQueue(t, st, &fakeRunner{}, nil) // not working jobs: it only takes the request
	_, up, err := st.CreateMunicipality(ctx, chiyoda, jobOn(runner.Up), a.Enqueue(ctx))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, st, up.ID, func(j store.Job) bool { return j.CLI != nil })
	if ok, err := b.Cancel(ctx, up.ID); !ok || err != nil {
		t.Fatalf("cancel through B: %v %v", ok, err)
	}
	if j := waitFinished(t, st, up.ID); j.State != store.JobCancelled {
		t.Fatalf("up cancelled through another replica = %s %q, want cancelled", j.State, j.Error)
	}
	if ok, _ := b.Cancel(ctx, up.ID); ok {
		t.Error("a finished job was cancelled again")
	}
}

// TestStopHandsRunningJobsBack: a replica that stops gracefully interrupts
// its operation and queues the job again, and another replica runs it.
func TestStopHandsRunningJobsBack(t *testing.T) { storetest.Run(t, testStopHandsRunningJobsBack) }

func testStopHandsRunningJobsBack(t *testing.T, st *store.DB) {
	ctx := context.Background()
	a := newQueue(t, st, &fakeRunner{block: true, cli: orphanCLI}, nil)
	startQueue(t, a)
	_, up, err := st.CreateMunicipality(ctx, chiyoda, jobOn(runner.Up), a.Enqueue(ctx))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, st, up.ID, func(j store.Job) bool { return j.CLI != nil })
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if j, _ := st.GetJob(ctx, up.ID); j.State != store.JobQueued || !strings.Contains(j.Error, "shutdown") {
		t.Fatalf("up after a graceful stop = %s %q, want queued again", j.State, j.Error)
	}
	run := &fakeRunner{}
	startQueue(t, newQueue(t, st, run, nil))
	if j := waitFinished(t, st, up.ID); j.State != store.JobSucceeded || j.Attempts != 2 {
		t.Fatalf("handed-back up = %+v, want it run by the other replica on its second attempt", j)
	}
}

// TestAReplicaThatLosesItsLeaseStopsItsOperations: when another replica has
// taken its jobs over, a replica must not go on running them.
func TestAReplicaThatLosesItsLeaseStopsItsOperations(t *testing.T) {
	storetest.Run(t, testAReplicaThatLosesItsLeaseStopsItsOperations)
}

func testAReplicaThatLosesItsLeaseStopsItsOperations(t *testing.T, st *store.DB) {
	ctx := context.Background()
	run := &fakeRunner{block: true, cli: orphanCLI}
	a := newQueue(t, st, run, nil)
	startQueue(t, a)
	_, up, err := st.CreateMunicipality(ctx, chiyoda, jobOn(runner.Up), a.Enqueue(ctx))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, st, up.ID, func(j store.Job) bool { return j.CLI != nil })
	// Another replica finds A's lease expired (A was paused, say) and takes over.
	if _, err := st.DB.ExecContext(ctx, `UPDATE replicas SET lease_until = 0 WHERE id = ?`, a.Replica()); err != nil {
		t.Fatal(err)
	}
	if orphans, err := st.TakeOverOrphans(ctx, "other", false); err != nil || len(orphans) != 1 {
		t.Fatalf("takeover: %+v %v", orphans, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		a.mu.Lock()
		n := len(a.running)
		a.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica that lost its lease still runs the operation another replica took over")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if j, _ := st.GetJob(ctx, up.ID); j.State != store.JobRunning {
		t.Errorf("the replica that lost its lease finished the job itself: %+v; the replica that took it over does", j)
	}
}
