package store_test

import (
	"context"
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

// TestStatementsCountsWhatReachesPostgreSQL: one read is one statement; a
// transaction is its statements plus BEGIN and COMMIT (the queue benchmarks'
// statements per job rely on it).
func TestStatementsCountsWhatReachesPostgreSQL(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenPostgres(t)
	before := st.Statements()
	if _, err := st.ListMunicipalities(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got := st.Statements() - before; got != 1 {
		t.Errorf("a list of municipalities counted %d statements, want 1", got)
	}
	before = st.Statements()
	tx, err := st.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := st.Statements() - before; got != 3 {
		t.Errorf("BEGIN, SELECT 1, COMMIT counted %d statements, want 3", got)
	}
	if sqlite := storetest.OpenSQLite(t); sqlite.Statements() != 0 {
		t.Errorf("SQLite counted %d statements, want 0 (only PostgreSQL's are counted)", sqlite.Statements())
	}
}
