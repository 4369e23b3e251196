package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/process"
)

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
		"\treason       TEXT NOT NULL DEFAULT '',\n", "").Replace(sqliteSchema)
	if older == sqliteSchema {
		t.Fatal("the test's older sqliteSchema equals the current one: update the test with the sqliteSchema")
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
