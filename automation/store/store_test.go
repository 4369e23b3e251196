package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

func TestTokensAreStoredHashed(t *testing.T) { storetest.Run(t, testTokensAreStoredHashed) }

func testTokensAreStoredHashed(t *testing.T, s *store.DB) {
	ctx := context.Background()
	tok, plain, err := s.CreateToken(ctx, store.MunicipalityScope("131016"), "千代田区 onboarding")
	if err != nil {
		t.Fatal(err)
	}
	secret := plain[strings.LastIndex(plain, "_")+1:]
	var stored string
	if err := s.DB.QueryRow(`SELECT hash FROM tokens WHERE id = ?`, tok.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, secret) {
		t.Fatal("the token's secret is stored in plain text")
	}
	got, err := s.Authenticate(ctx, plain)
	if err != nil || got.Scope != "municipality:131016" {
		t.Fatalf("Authenticate(valid) = %+v, %v", got, err)
	}
	for _, bad := range []string{plain + "x", "cats_" + tok.ID + "_" + strings.Repeat("0", 64), "cats_", "Bearer " + plain, ""} {
		if _, err := s.Authenticate(ctx, bad); err != store.ErrBadToken {
			t.Errorf("Authenticate(%q) = %v, want ErrBadToken", bad, err)
		}
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, plain); err != store.ErrBadToken {
		t.Errorf("a revoked token still authenticates: %v", err)
	}
	if err := s.RevokeToken(ctx, tok.ID); err == nil {
		t.Error("revoking twice must say the token is unknown or already revoked")
	}
}

func noQueue(*sql.Tx, int64) error { return nil }

// claim claims the next claimable job for replica r, failing the test on an
// error other than "none is claimable" (ok false).
func claim(t *testing.T, s *store.DB, r string) (store.Job, bool) {
	t.Helper()
	j, err := s.Claim(context.Background(), r)
	if errors.Is(err, store.ErrNotFound) {
		return store.Job{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return j, true
}

// TestClaimKeepsOneOperationPerStackInOrder: the second job of a stack waits
// for the first, whatever replica asks; another stack's job does not.
func TestClaimKeepsOneOperationPerStackInOrder(t *testing.T) {
	storetest.Run(t, testClaimKeepsOneOperationPerStackInOrder)
}

func testClaimKeepsOneOperationPerStackInOrder(t *testing.T, s *store.DB) {
	ctx := context.Background()
	m := store.Municipality{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都", Config: map[string]string{}}
	_, first, err := s.CreateMunicipality(ctx, m, store.Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := s.CreateJob(ctx, store.Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "refresh", CreatedBy: "t"}, noQueue)
	sapporo := store.Municipality{Code: "011002", Environment: "dev", Name: "札幌市", Prefecture: "北海道", Config: map[string]string{}}
	_, other, err := s.CreateMunicipality(ctx, sapporo, store.Job{Stack: "011002-dev", Code: "011002", Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue)
	if err != nil {
		t.Fatal(err)
	}

	if j, ok := claim(t, s, "a"); !ok || j.ID != first.ID || j.State != store.JobRunning || j.Attempts != 1 {
		t.Fatalf("first claim = %+v, %v; want the stack's first job, running", j, ok)
	}
	if j, ok := claim(t, s, "b"); !ok || j.ID != other.ID {
		t.Fatalf("second claim = %+v, %v; want the other stack's job (the second of 131016-dev waits for the first)", j, ok)
	}
	if j, ok := claim(t, s, "b"); ok {
		t.Fatalf("claimed %+v while the first job of its stack runs: operations on a stack must not overlap", j)
	}
	if done, _ := s.Finish(ctx, first.ID, store.JobSucceeded, "", "", map[string]int{"create": 1}); !done {
		t.Fatal("finish failed")
	}
	if done, _ := s.Finish(ctx, first.ID, store.JobFailed, "cli_error", "late", nil); done {
		t.Fatal("a finished job finished again")
	}
	j, ok := claim(t, s, "b")
	if !ok || j.ID != second.ID {
		t.Fatalf("claim after the first finished = %+v, %v; want the second job %d", j, ok, second.ID)
	}
	if got, _ := s.GetJob(ctx, second.ID); got.State != store.JobRunning {
		t.Fatalf("claimed job = %+v, want running", got)
	}
	if cancelled, _ := s.CancelQueued(ctx, second.ID, "cancelled", "x"); cancelled {
		t.Fatal("a running job was cancelled as if queued")
	}
}

// TestClaimHonoursTheRetryTime: a job queued again after a transient failure
// waits for its retry time, and the jobs of its stack queued behind it wait
// with it (first in, first out).
func TestClaimHonoursTheRetryTime(t *testing.T) { storetest.Run(t, testClaimHonoursTheRetryTime) }

func testClaimHonoursTheRetryTime(t *testing.T, s *store.DB) {
	ctx := context.Background()
	m := store.Municipality{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都", Config: map[string]string{}}
	_, up, err := s.CreateMunicipality(ctx, m, store.Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue)
	if err != nil {
		t.Fatal(err)
	}
	refresh, _ := s.CreateJob(ctx, store.Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "refresh", CreatedBy: "t"}, noQueue)
	if _, ok := claim(t, s, "a"); !ok {
		t.Fatal("claim the up")
	}
	if err := s.RequeueAfter(ctx, up.ID, "someone-else", time.Time{}, "x"); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.GetJob(ctx, up.ID); j.State != store.JobRunning {
		t.Fatalf("a replica requeued another replica's job: %+v", j)
	}
	if err := s.RequeueAfter(ctx, up.ID, "a", time.Now().Add(time.Hour), "stack busy"); err != nil {
		t.Fatal(err)
	}
	if j, ok := claim(t, s, "a"); ok {
		t.Fatalf("claimed %+v before the up's retry time (the refresh %d must wait behind the up)", j, refresh.ID)
	}
	if err := s.RequeueAfter(ctx, up.ID, "a", time.Time{}, "now"); err != nil {
		t.Fatal(err)
	}
	if j, ok := claim(t, s, "a"); ok {
		t.Fatalf("claimed %+v: RequeueAfter changed a job that was not running", j)
	}
}

// TestRecordCLIIsKeptForRecoveryAndForgottenByTheNextAttempt: the CLI a
// running job started is what recovery looks for after a crash; a new attempt
// starts its own CLI, so the old record must not survive the claim.
func TestRecordCLIIsKeptForRecoveryAndForgottenByTheNextAttempt(t *testing.T) {
	storetest.Run(t, testRecordCLIIsKeptForRecoveryAndForgottenByTheNextAttempt)
}

func testRecordCLIIsKeptForRecoveryAndForgottenByTheNextAttempt(t *testing.T, s *store.DB) {
	ctx := context.Background()
	m := store.Municipality{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都", Config: map[string]string{}}
	_, job, err := s.CreateMunicipality(ctx, m, store.Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := claim(t, s, "a"); !ok {
		t.Fatal("claim the job")
	}
	cli := process.Identity{PID: 4242, StartTime: 123456789, BootID: "boot-1", Host: "server-a"}
	if err := s.RecordCLI(ctx, job.ID, cli); err != nil {
		t.Fatal(err)
	}
	running, err := s.RunningJobs(ctx)
	if err != nil || len(running) != 1 || running[0].CLI == nil || *running[0].CLI != cli {
		t.Fatalf("running jobs = %+v, %v; want job %d with CLI %+v, which recovery needs to find its process", running, err, job.ID, cli)
	}
	if b, _ := json.Marshal(running[0]); strings.Contains(string(b), "boot-1") || strings.Contains(string(b), "server-a") {
		t.Errorf("a job's JSON carries its CLI process (%s): the server's processes are not the clients' business", b)
	}
	if err := s.RequeueAfter(ctx, job.ID, "a", time.Time{}, "stack busy"); err != nil {
		t.Fatal(err)
	}
	again, ok := claim(t, s, "b")
	if !ok || again.CLI != nil || again.Attempts != 2 {
		t.Fatalf("second attempt = %+v, %v; want it claimed with no CLI yet", again, ok)
	}
	if got, _ := s.GetJob(ctx, job.ID); got.CLI != nil {
		t.Errorf("the store still holds the first attempt's CLI %+v after the second attempt started", got.CLI)
	}
}

// TestLastJobIsTheStacksLatestFinishedOperation: the stack's view shows its
// last update: the newest finished job of the operations asked for, not a
// queued one, not another stack's, not another operation's.
func TestLastJobIsTheStacksLatestFinishedOperation(t *testing.T) {
	storetest.Run(t, testLastJobIsTheStacksLatestFinishedOperation)
}

func testLastJobIsTheStacksLatestFinishedOperation(t *testing.T, s *store.DB) {
	ctx := context.Background()
	m := store.Municipality{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都", Config: map[string]string{}}
	job := func(stack string, op store.Operation) store.Job {
		return store.Job{Stack: stack, Code: "131016", Environment: "dev", Operation: op, CreatedBy: "t"}
	}
	_, plan, err := s.CreateMunicipality(ctx, m, job("131016-dev", "plan"), noQueue)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LastJob(ctx, "131016-dev", "up", "refresh"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("last update of a stack with none: %v, want ErrNotFound", err)
	}
	finish := func(j store.Job, state store.JobState, reason string) store.Job {
		t.Helper()
		if c, ok := claim(t, s, "a"); !ok || c.ID != j.ID {
			t.Fatalf("claim %d: got %+v, %v", j.ID, c, ok)
		}
		if _, err := s.Finish(ctx, j.ID, state, reason, "", nil); err != nil {
			t.Fatal(err)
		}
		return j
	}
	finish(plan, store.JobSucceeded, "")
	up, _ := s.CreateJob(ctx, job("131016-dev", "up"), noQueue)
	finish(up, store.JobSucceeded, "")
	refresh, _ := s.CreateJob(ctx, job("131016-dev", "refresh"), noQueue)
	finish(refresh, store.JobFailed, "provider_error")
	preview, _ := s.CreateJob(ctx, job("131016-dev", "preview"), noQueue)
	finish(preview, store.JobSucceeded, "")
	other, _ := s.CreateJob(ctx, job("011002-dev", "up"), noQueue)
	finish(other, store.JobSucceeded, "")
	if _, err := s.CreateJob(ctx, job("131016-dev", "up"), noQueue); err != nil { // queued
		t.Fatal(err)
	}
	last, err := s.LastJob(ctx, "131016-dev", "up", "refresh", "destroy")
	if err != nil || last.ID != refresh.ID || last.Reason != "provider_error" {
		t.Errorf("last update = %+v, %v; want the failed refresh %d", last, err, refresh.ID)
	}
}
