package store

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestFleetSchemaRunsOnPostgreSQL runs the fleet's migration step on the
// PostgreSQL the machines run (127.0.0.1:5432, trust auth), through psql, in
// a database of its own: the step must work on both databases the server
// supports. CATS_TEST_POSTGRES names another host; =off skips the test
// where no PostgreSQL runs.
func TestFleetSchemaRunsOnPostgreSQL(t *testing.T) {
	host := os.Getenv("CATS_TEST_POSTGRES")
	if host == "off" {
		t.Skip("CATS_TEST_POSTGRES=off")
	}
	if host == "" {
		host = "127.0.0.1"
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatalf("psql is needed to check the schema on PostgreSQL (apt-get install postgresql-client), or set CATS_TEST_POSTGRES=off: %v", err)
	}
	db := fmt.Sprintf("cats_fleet_schema_%d", os.Getpid())
	run := func(database, sql string) {
		t.Helper()
		cmd := exec.Command(psql, "-h", host, "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", database)
		cmd.Stdin = strings.NewReader(sql)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("psql on %s: %v\n%s", database, err, out)
		}
	}
	run("postgres", "CREATE DATABASE "+db)
	t.Cleanup(func() { run("postgres", "DROP DATABASE IF EXISTS "+db) })
	// Twice: the step runs at every start.
	run(db, FleetSchema())
	run(db, FleetSchema())
	// The upserts the store makes, with values for the placeholders.
	run(db, `INSERT INTO fleet_leases (name, holder, expires_at) VALUES ('fleet-controller', 'a', '2026-12-01T00:00:00.000000Z') ON CONFLICT (name) DO NOTHING;
INSERT INTO stack_versions (stack, version, job_id, deployed_at) VALUES ('131016-dev', 'v1', 2, 't')
	ON CONFLICT (stack) DO UPDATE SET version = excluded.version, job_id = excluded.job_id, deployed_at = excluded.deployed_at
	WHERE stack_versions.job_id < excluded.job_id;
INSERT INTO drift_status (stack, code, environment, status, resources, error, job_id, checked_at, checking)
	VALUES ('131016-dev', '131016', 'dev', 'in_sync', '[]', '', 3, 't', 0)
	ON CONFLICT (stack) DO UPDATE SET status = excluded.status, checking = CASE WHEN drift_status.checking = excluded.job_id THEN 0 ELSE drift_status.checking END
	WHERE drift_status.job_id < excluded.job_id;`)
}
