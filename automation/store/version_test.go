package store_test

import (
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

// TestEveryMigrationIsApplied: each database reaches the newest version of
// its own and the shared migrations, with the tables of each step.
func TestEveryMigrationIsApplied(t *testing.T) { storetest.Run(t, testEveryMigrationIsApplied) }

func testEveryMigrationIsApplied(t *testing.T, s *store.DB) {
	var version int
	if err := s.DB.QueryRow(`SELECT MAX(version_id) FROM goose_db_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != 5 {
		t.Errorf("schema version %d, want 5 (initial, replicas, generations, fleet, queue caps)", version)
	}
	for _, table := range []string{"municipalities", "jobs", "replicas", "rollouts", "rollout_stacks", "stack_versions", "drift_status", "drift_sweeps", "fleet_leases"} {
		var n int
		if err := s.DB.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
	var generation int64
	if err := s.DB.QueryRow(`SELECT COALESCE(MAX(generation), 0) FROM municipalities`).Scan(&generation); err != nil {
		t.Errorf("municipalities.generation: %v", err)
	}
}
