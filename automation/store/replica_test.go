package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

// TestADeadReplicasJobsAreTakenOver: a running job whose replica's lease
// expired goes to the replica that finds it; a live replica's job does not;
// the dead replica's renewal then fails, so it knows to stop its CLIs.
func TestADeadReplicasJobsAreTakenOver(t *testing.T) {
	storetest.Run(t, testADeadReplicasJobsAreTakenOver)
}

func testADeadReplicasJobsAreTakenOver(t *testing.T, s *store.DB) {
	ctx := context.Background()
	for _, r := range []store.Replica{
		{ID: "dead", Host: "h", PID: 1, LeaseUntil: time.Now().Add(-time.Second)},
		{ID: "live", Host: "h", PID: 2, LeaseUntil: time.Now().Add(time.Hour)},
		{ID: "finder", Host: "h", PID: 3, LeaseUntil: time.Now().Add(time.Hour)},
	} {
		if err := s.RegisterReplica(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var ids []int64
	for i, code := range []string{"131016", "011002"} {
		m := store.Municipality{Code: code, Environment: "dev", Name: "x", Prefecture: "y", Config: map[string]string{}}
		_, j, err := s.CreateMunicipality(ctx, m, store.Job{Stack: code + "-dev", Code: code, Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := claim(t, s, []string{"dead", "live"}[i]); !ok || c.ID != j.ID {
			t.Fatalf("claim %d: %+v %v", j.ID, c, ok)
		}
		ids = append(ids, j.ID)
	}
	orphans, err := s.TakeOverOrphans(ctx, "finder", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(orphans) != 1 || orphans[0].ID != ids[0] {
		t.Fatalf("orphans = %+v, want only the dead replica's job %d", orphans, ids[0])
	}
	if again, _ := s.TakeOverOrphans(ctx, "other", false); len(again) != 0 {
		t.Fatalf("the orphan was taken over twice: %+v", again)
	}
	if err := s.RenewLease(ctx, "dead", time.Now().Add(time.Minute)); err == nil {
		t.Error("a replica renewed a lease that had expired: it would go on running jobs another replica took over")
	}
	if err := s.RenewLease(ctx, "live", time.Now().Add(time.Minute)); err != nil {
		t.Errorf("a live replica could not renew its lease: %v", err)
	}
	replicas, _ := s.Replicas(ctx)
	if len(replicas) != 2 {
		t.Errorf("replicas = %+v, want the dead one removed", replicas)
	}
	// With everyOtherReplica (one server, its directory locked), the live
	// replica's job and the finder's count as orphaned too: earlier processes.
	if orphans, _ := s.TakeOverOrphans(ctx, "restarted", true); len(orphans) != 2 {
		t.Errorf("exclusive takeover = %+v, want both running jobs", orphans)
	}
}

// TestNotificationsReachOtherReplicas: a job's events and the queue's
// wake-ups reach a subscriber of another handle of the same database, as
// they reach another replica.
func TestNotificationsReachOtherReplicas(t *testing.T) {
	a := storetest.OpenPostgres(t)
	ctx := context.Background()
	b, err := store.OpenPostgres(ctx, a.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	events, stopEvents := b.Subscribe(store.TopicEvents(7))
	defer stopEvents()
	jobs, stopJobs := b.Subscribe(store.TopicJobs)
	defer stopJobs()
	m := store.Municipality{Code: "131016", Environment: "dev", Name: "x", Prefecture: "y", Config: map[string]string{}}
	if _, _, err := a.CreateMunicipality(ctx, m, store.Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "up", CreatedBy: "t"},
		func(tx *sql.Tx, _ int64) error { return a.WakeWorkers(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-jobs:
	case <-time.After(10 * time.Second):
		t.Fatal("a job queued through one replica did not wake the workers of another")
	}
	if err := a.AppendEvent(ctx, 1, 1, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-events:
		t.Fatal("job 7's subscriber was woken by job 1's event")
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := a.DB.ExecContext(ctx, `SELECT pg_notify('cats', ?)`, store.TopicEvents(7)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("job 7's event notification did not reach the other handle's subscriber")
	}
}

// TestClaimsOfManyReplicasNeverOverlapOnAStack: replicas claiming side by
// side never run two jobs of one stack at once, and run each job once.
func TestClaimsOfManyReplicasNeverOverlapOnAStack(t *testing.T) {
	storetest.Run(t, testClaimsOfManyReplicasNeverOverlapOnAStack)
}

func testClaimsOfManyReplicasNeverOverlapOnAStack(t *testing.T, s *store.DB) {
	ctx := context.Background()
	const stacks, perStack, workers = 5, 6, 8
	for i := range stacks {
		code := fmt.Sprintf("1310%02d", i)
		m := store.Municipality{Code: code, Environment: "dev", Name: "x", Prefecture: "y", Config: map[string]string{}}
		if _, _, err := s.CreateMunicipality(ctx, m, store.Job{Stack: code + "-dev", Code: code, Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue); err != nil {
			t.Fatal(err)
		}
		for range perStack - 1 {
			if _, err := s.CreateJob(ctx, store.Job{Stack: code + "-dev", Code: code, Environment: "dev", Operation: "refresh", CreatedBy: "t"}, noQueue); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	runningOn := map[string]int64{}
	var order = map[string][]int64{}
	ran := map[int64]int{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replica := fmt.Sprintf("r%d", w)
			idle := 0
			for idle < 20 {
				j, err := s.Claim(ctx, replica)
				if err != nil {
					idle++
					time.Sleep(5 * time.Millisecond)
					continue
				}
				idle = 0
				mu.Lock()
				if other, busy := runningOn[j.Stack]; busy {
					errs <- fmt.Errorf("job %d of %s claimed while job %d of the same stack runs", j.ID, j.Stack, other)
				}
				runningOn[j.Stack] = j.ID
				order[j.Stack] = append(order[j.Stack], j.ID)
				ran[j.ID]++
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				delete(runningOn, j.Stack)
				mu.Unlock()
				if _, err := s.Finish(ctx, j.ID, store.JobSucceeded, "", "", nil); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(ran) != stacks*perStack {
		t.Errorf("%d jobs ran, want %d", len(ran), stacks*perStack)
	}
	for id, n := range ran {
		if n != 1 {
			t.Errorf("job %d ran %d times", id, n)
		}
	}
	for stack, ids := range order {
		for i := 1; i < len(ids); i++ {
			if ids[i] < ids[i-1] {
				t.Errorf("%s ran its jobs out of order: %v", stack, ids)
			}
		}
	}
}
