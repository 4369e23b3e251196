package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/process"
)

func open(t *testing.T) *SQLite {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestTokensAreStoredHashed(t *testing.T) {
	s, ctx := open(t), context.Background()
	tok, plain, err := s.CreateToken(ctx, MunicipalityScope("131016"), "千代田区 onboarding")
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
		if _, err := s.Authenticate(ctx, bad); err != ErrBadToken {
			t.Errorf("Authenticate(%q) = %v, want ErrBadToken", bad, err)
		}
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, plain); err != ErrBadToken {
		t.Errorf("a revoked token still authenticates: %v", err)
	}
	if err := s.RevokeToken(ctx, tok.ID); err == nil {
		t.Error("revoking twice must say the token is unknown or already revoked")
	}
}

func noQueue(*sql.Tx, int64) error { return nil }

// TestStartKeepsOneOperationPerStackInOrder: the second job of a stack waits
// for the first; another stack's job does not.
func TestStartKeepsOneOperationPerStackInOrder(t *testing.T) {
	s, ctx := open(t), context.Background()
	m := Municipality{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都", Config: map[string]string{}}
	_, first, err := s.CreateMunicipality(ctx, m, Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := s.CreateJob(ctx, Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "refresh", CreatedBy: "t"}, noQueue)
	sapporo := Municipality{Code: "011002", Environment: "dev", Name: "札幌市", Prefecture: "北海道", Config: map[string]string{}}
	_, other, err := s.CreateMunicipality(ctx, sapporo, Job{Stack: "011002-dev", Code: "011002", Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue)
	if err != nil {
		t.Fatal(err)
	}

	if _, ok, _ := s.Start(ctx, second.ID); ok {
		t.Fatal("the second job started before the first: operations on a stack must run in order")
	}
	if _, ok, _ := s.Start(ctx, first.ID); !ok {
		t.Fatal("the first job could not start")
	}
	if _, ok, _ := s.Start(ctx, second.ID); ok {
		t.Fatal("the second job started while the first runs")
	}
	if _, ok, _ := s.Start(ctx, other.ID); !ok {
		t.Fatal("another stack's job must not wait")
	}
	if again, ok, _ := s.Start(ctx, first.ID); ok || again.State != JobRunning {
		t.Fatal("a running job was claimed twice")
	}
	if done, _ := s.Finish(ctx, first.ID, JobSucceeded, "", "", map[string]int{"create": 1}); !done {
		t.Fatal("finish failed")
	}
	if done, _ := s.Finish(ctx, first.ID, JobFailed, "cli_error", "late", nil); done {
		t.Fatal("a finished job finished again")
	}
	if _, ok, _ := s.Start(ctx, second.ID); !ok {
		t.Fatal("the second job could not start after the first finished")
	}
	if cancelled, _ := s.CancelQueued(ctx, second.ID, "cancelled", "x"); cancelled {
		t.Fatal("a running job was cancelled as if queued")
	}
}

// TestRecordCLIIsKeptForRecoveryAndForgottenByTheNextAttempt: the CLI a
// running job started is what recovery looks for after a crash; a new attempt
// starts its own CLI, so the old record must not survive the claim.
func TestRecordCLIIsKeptForRecoveryAndForgottenByTheNextAttempt(t *testing.T) {
	s, ctx := open(t), context.Background()
	m := Municipality{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都", Config: map[string]string{}}
	_, job, err := s.CreateMunicipality(ctx, m, Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Start(ctx, job.ID); !ok || err != nil {
		t.Fatalf("start: %v %v", ok, err)
	}
	cli := process.Identity{PID: 4242, StartTime: 123456789, BootID: "boot-1", Host: "server-a"}
	if err := s.RecordCLI(ctx, job.ID, cli); err != nil {
		t.Fatal(err)
	}
	running, err := s.RunningJobs(ctx)
	if err != nil || len(running) != 1 || running[0].CLI == nil || *running[0].CLI != cli {
		t.Fatalf("running jobs = %+v, %v; want job %d with CLI %+v, which recovery needs to find its process", running, err, job.ID, cli)
	}
	if b, _ := json.Marshal(running[0]); strings.Contains(string(b), "4242") || strings.Contains(string(b), "server-a") {
		t.Errorf("a job's JSON carries its CLI process (%s): the server's processes are not the clients' business", b)
	}
	if err := s.Requeue(ctx, job.ID, "stack busy"); err != nil {
		t.Fatal(err)
	}
	again, ok, err := s.Start(ctx, job.ID)
	if !ok || err != nil || again.CLI != nil {
		t.Fatalf("second attempt = %+v, %v, %v; want it claimed with no CLI yet", again, ok, err)
	}
	if got, _ := s.GetJob(ctx, job.ID); got.CLI != nil {
		t.Errorf("the store still holds the first attempt's CLI %+v after the second attempt started", got.CLI)
	}
}

// TestOpenAddsTheCLIColumnsToAnOlderDatabase: a data directory created before
// the jobs recorded their CLI opens, keeps its jobs, and gains the columns.
func TestOpenAddsTheCLIColumnsToAnOlderDatabase(t *testing.T) {
	dir, ctx := t.TempDir(), context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cats.db"))
	if err != nil {
		t.Fatal(err)
	}
	older := strings.NewReplacer(
		",\n\tcli_pid        INTEGER NOT NULL DEFAULT 0", "",
		",\n\tcli_start_time INTEGER NOT NULL DEFAULT 0", "",
		",\n\tcli_boot_id    TEXT NOT NULL DEFAULT ''", "",
		",\n\tcli_host       TEXT NOT NULL DEFAULT ''", "",
		"\treason       TEXT NOT NULL DEFAULT '',\n", "").Replace(schema)
	if older == schema {
		t.Fatal("the test's older schema equals the current one: update the test with the schema")
	}
	if _, err := db.Exec(older); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO jobs (stack, code, environment, operation, state, created_by, created_at) VALUES ('131016-dev', '131016', 'dev', 'up', 'running', 't', '2026-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("open an older database: %v", err)
	}
	defer s.Close()
	running, err := s.RunningJobs(ctx)
	if err != nil || len(running) != 1 || running[0].CLI != nil {
		t.Fatalf("jobs of the older database = %+v, %v; want its running job, with no CLI recorded", running, err)
	}
	if err := s.RecordCLI(ctx, running[0].ID, process.Identity{PID: 1, StartTime: 2, BootID: "b", Host: "h"}); err != nil {
		t.Errorf("record a CLI in the older database: %v", err)
	}
	if _, err := s.Finish(ctx, running[0].ID, JobFailed, "interrupted", "the server stopped", nil); err != nil {
		t.Errorf("finish a job with its reason in the older database: %v", err)
	}
	if j, _ := s.GetJob(ctx, running[0].ID); j.Reason != "interrupted" {
		t.Errorf("the older database keeps no reason: %+v", j)
	}
}

// TestLastJobIsTheStacksLatestFinishedOperation: the stack's view shows its
// last update: the newest finished job of the operations asked for, not a
// queued one, not another stack's, not another operation's.
func TestLastJobIsTheStacksLatestFinishedOperation(t *testing.T) {
	s, ctx := open(t), context.Background()
	m := Municipality{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都", Config: map[string]string{}}
	job := func(stack, op string) Job {
		return Job{Stack: stack, Code: "131016", Environment: "dev", Operation: op, CreatedBy: "t"}
	}
	_, plan, err := s.CreateMunicipality(ctx, m, job("131016-dev", "plan"), noQueue)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LastJob(ctx, "131016-dev", "up", "refresh"); !errors.Is(err, ErrNotFound) {
		t.Errorf("last update of a stack with none: %v, want ErrNotFound", err)
	}
	finish := func(j Job, state, reason string) Job {
		t.Helper()
		if _, ok, err := s.Start(ctx, j.ID); !ok || err != nil {
			t.Fatalf("start %d: %v %v", j.ID, ok, err)
		}
		if _, err := s.Finish(ctx, j.ID, state, reason, "", nil); err != nil {
			t.Fatal(err)
		}
		return j
	}
	finish(plan, JobSucceeded, "")
	up, _ := s.CreateJob(ctx, job("131016-dev", "up"), noQueue)
	finish(up, JobSucceeded, "")
	refresh, _ := s.CreateJob(ctx, job("131016-dev", "refresh"), noQueue)
	finish(refresh, JobFailed, "provider_error")
	preview, _ := s.CreateJob(ctx, job("131016-dev", "preview"), noQueue)
	finish(preview, JobSucceeded, "")
	if _, err := s.CreateJob(ctx, job("131016-dev", "up"), noQueue); err != nil { // queued
		t.Fatal(err)
	}
	other, _ := s.CreateJob(ctx, job("011002-dev", "up"), noQueue)
	finish(other, JobSucceeded, "")
	last, err := s.LastJob(ctx, "131016-dev", "up", "refresh", "destroy")
	if err != nil || last.ID != refresh.ID || last.Reason != "provider_error" {
		t.Errorf("last update = %+v, %v; want the failed refresh %d", last, err, refresh.ID)
	}
}
