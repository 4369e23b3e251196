package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

var chiyoda = store.Municipality{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都", Config: map[string]string{}}

func chiyodaJob(op store.Operation) store.Job {
	return store.Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: op, CreatedBy: "t"}
}

func destroyJob() store.Job {
	j := chiyodaJob("destroy")
	j.RemoveStack = true
	return j
}

func register(t *testing.T, s *store.DB) store.Municipality {
	t.Helper()
	m, _, err := s.CreateMunicipality(context.Background(), chiyoda, chiyodaJob("plan"), noQueue)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func stateOf(t *testing.T, s *store.DB) store.Municipality {
	t.Helper()
	m, err := s.GetMunicipality(context.Background(), "131016", "dev")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMarkDeletingAcceptsExactlyOneOfConcurrentCalls: 32 DELETEs of one stack
// at once queued several destroys when the state was read outside the
// transaction; the conditional update accepts exactly one.
func TestMarkDeletingAcceptsExactlyOneOfConcurrentCalls(t *testing.T) {
	storetest.Run(t, testMarkDeletingAcceptsExactlyOneOfConcurrentCalls)
}

func testMarkDeletingAcceptsExactlyOneOfConcurrentCalls(t *testing.T, s *store.DB) {
	ctx := context.Background()
	m := register(t, s)
	var wg sync.WaitGroup
	results := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := s.MarkDeleting(ctx, "131016", "dev", destroyJob(), noQueue)
			results <- err
		})
	}
	wg.Wait()
	close(results)
	accepted := 0
	for err := range results {
		switch {
		case err == nil:
			accepted++
		case !errors.Is(err, store.ErrNotActive):
			t.Errorf("a refused destroy must say the stack is being deleted (store.ErrNotActive), got %v", err)
		}
	}
	if accepted != 1 {
		t.Fatalf("%d of 32 concurrent destroys were queued, want exactly 1", accepted)
	}
	list, err := s.ListJobs(ctx, "131016-dev", 100)
	if err != nil {
		t.Fatal(err)
	}
	destroys := 0
	for _, j := range list {
		if j.Operation == "destroy" {
			destroys++
			if j.Generation != m.Generation {
				t.Errorf("the destroy belongs to generation %d, want the registration's %d", j.Generation, m.Generation)
			}
		}
	}
	if destroys != 1 {
		t.Fatalf("%d destroy jobs recorded, want 1", destroys)
	}
}

// TestAnOlderDestroyNeverRemovesARegistrationMadeAgain: a destroy belongs to
// the registration it was queued for; once the stack is registered again, that
// destroy removes nothing.
func TestAnOlderDestroyNeverRemovesARegistrationMadeAgain(t *testing.T) {
	storetest.Run(t, testAnOlderDestroyNeverRemovesARegistrationMadeAgain)
}

func testAnOlderDestroyNeverRemovesARegistrationMadeAgain(t *testing.T, s *store.DB) {
	ctx := context.Background()
	first := register(t, s)
	older, err := s.MarkDeleting(ctx, "131016", "dev", destroyJob(), noQueue)
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := s.DeleteMunicipality(ctx, "131016", "dev", older.Generation); !removed || err != nil {
		t.Fatalf("the destroy's own registration was not removed: %v %v", removed, err)
	}
	again := register(t, s)
	if again.Generation == first.Generation {
		t.Fatalf("a registration made again kept generation %d", first.Generation)
	}
	// The older destroy finishing late (or a duplicate of it) removes nothing.
	if removed, err := s.DeleteMunicipality(ctx, "131016", "dev", older.Generation); removed || err != nil {
		t.Fatalf("an older destroy removed the new registration: %v %v", removed, err)
	}
	// Not even when the new registration is itself being deleted.
	if _, err := s.MarkDeleting(ctx, "131016", "dev", destroyJob(), noQueue); err != nil {
		t.Fatal(err)
	}
	if removed, _ := s.DeleteMunicipality(ctx, "131016", "dev", older.Generation); removed {
		t.Fatal("an older destroy removed the new registration while it was being deleted")
	}
	if got := stateOf(t, s); got.Generation != again.Generation {
		t.Fatalf("registration generation %d, want %d", got.Generation, again.Generation)
	}
}

// TestADestroyThatEndsWithoutRemovingReturnsTheStackToActive: a cancelled,
// failed or interrupted destroy left the stack deleting for good, so every
// later job, destroy or registration got 409.
func TestADestroyThatEndsWithoutRemovingReturnsTheStackToActive(t *testing.T) {
	storetest.Run(t, testADestroyThatEndsWithoutRemovingReturnsTheStackToActive)
}

func testADestroyThatEndsWithoutRemovingReturnsTheStackToActive(t *testing.T, s *store.DB) {
	ctx := context.Background()
	register(t, s)
	for _, end := range []struct {
		name  string
		apply func(store.Job) (bool, error)
	}{
		{"cancelled before it started", func(j store.Job) (bool, error) { return s.CancelQueued(ctx, j.ID, "cancelled", "cancelled on request") }},
		{"cancelled while it ran", func(j store.Job) (bool, error) {
			return s.Finish(ctx, j.ID, store.JobCancelled, "cancelled", "cancelled on request", nil)
		}},
		{"failed", func(j store.Job) (bool, error) {
			return s.Finish(ctx, j.ID, store.JobFailed, "provider_error", "refused", nil)
		}},
	} {
		j, err := s.MarkDeleting(ctx, "131016", "dev", destroyJob(), noQueue)
		if err != nil {
			t.Fatalf("%s: queue the destroy: %v", end.name, err)
		}
		if _, err := s.CreateJob(ctx, chiyodaJob("up"), noQueue); !errors.Is(err, store.ErrNotActive) {
			t.Fatalf("%s: a job on a stack being deleted: %v, want ErrNotActive", end.name, err)
		}
		if end.name != "cancelled before it started" {
			finishJobsAhead(t, s, j)
		}
		if done, err := end.apply(j); !done || err != nil {
			t.Fatalf("%s: end the destroy: %v %v", end.name, done, err)
		}
		if got := stateOf(t, s); got.State != store.MunicipalityActive {
			t.Fatalf("%s: the stack is %s after its destroy ended, want active", end.name, got.State)
		}
		if _, err := s.CreateJob(ctx, chiyodaJob("up"), noQueue); err != nil {
			t.Fatalf("%s: a job after the destroy ended: %v", end.name, err)
		}
	}
	// A job that is not a destroy changes nothing when it fails.
	if _, err := s.MarkDeleting(ctx, "131016", "dev", destroyJob(), noQueue); err != nil {
		t.Fatal(err)
	}
	list, _ := s.ListJobs(ctx, "131016-dev", 100)
	for _, j := range list {
		if j.Operation == "up" && j.State == store.JobQueued {
			if _, err := s.CancelQueued(ctx, j.ID, "cancelled", "x"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := stateOf(t, s); got.State != store.MunicipalityDeleting {
		t.Fatalf("cancelling an up returned a stack being deleted to %s", got.State)
	}
}

// finishJobsAhead claims the stack's jobs in the queue's order and runs those
// queued before j to success, as the queue would, until j itself is claimed
// (running).
func finishJobsAhead(t *testing.T, s *store.DB, j store.Job) {
	t.Helper()
	ctx := context.Background()
	for {
		next, err := s.Claim(ctx, "test-replica")
		if err != nil {
			t.Fatalf("claim the jobs ahead of job %d: %v", j.ID, err)
		}
		if next.ID == j.ID {
			return
		}
		if _, err := s.Finish(ctx, next.ID, store.JobSucceeded, "", "", nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCreateJobNeedsAnActiveRegistration: the check and the insert are one
// transaction, so no job slips in behind a destroy.
func TestCreateJobNeedsAnActiveRegistration(t *testing.T) {
	storetest.Run(t, testCreateJobNeedsAnActiveRegistration)
}

func testCreateJobNeedsAnActiveRegistration(t *testing.T, s *store.DB) {
	ctx := context.Background()
	if _, err := s.CreateJob(ctx, chiyodaJob("up"), noQueue); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a job on an unregistered stack: %v, want ErrNotFound", err)
	}
	m := register(t, s)
	j, err := s.CreateJob(ctx, chiyodaJob("up"), noQueue)
	if err != nil || j.Generation != m.Generation {
		t.Fatalf("a job on an active stack: %+v, %v (generation want %d)", j, err, m.Generation)
	}
	if _, _, err := s.CreateMunicipality(ctx, chiyoda, chiyodaJob("plan"), noQueue); !errors.Is(err, store.ErrExists) {
		t.Fatalf("registering twice: %v, want ErrExists", err)
	}
	list, _ := s.ListJobs(ctx, "131016-dev", 100)
	if len(list) != 2 {
		t.Fatalf("a refused registration left a job: %d jobs, want 2", len(list))
	}
}

// TestDatabaseFilesAreOwnerOnly: cats.db and its WAL were 0644 and an existing
// data directory kept its mode; they hold token hashes and the audit log.
func TestDatabaseFilesAreOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cats.db", "cats.db-wal"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	register(t, s) // writes the WAL
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v, want 0700", fi.Mode().Perm())
	}
	for _, f := range []string{"cats.db", "cats.db-wal", "cats.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}
