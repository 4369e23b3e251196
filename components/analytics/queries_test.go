package analytics

import (
	"database/sql"
	"reflect"
	"testing"

	_ "modernc.org/sqlite" // window functions are standard SQL: SQLite runs the CTE as Athena does
)

// TestCurrentRecordsReadsTheLatestRevision runs the named queries' common
// table expression on SQLite over raw rows as Firehose writes them: every
// revision of a record, redelivered duplicates, deletions, and rows of other
// municipalities and dates. Athena's own functions (count_if, date_trunc) are
// not SQLite's, so only the expression every query starts from is run here.
func TestCurrentRecordsReadsTheLatestRevision(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE cats_info (municipality TEXT, dt TEXT, municipality_code TEXT, record_id TEXT,
		event_type TEXT, district TEXT, revision INTEGER, deleted BOOLEAN)`); err != nil {
		t.Fatal(err)
	}
	rows := []struct {
		code, dt, id, eventType, district string
		revision                          any // NULL: written before revisions existed
		deleted                           any // NULL: not a deletion
	}{
		{"131016", "2026-04-01", "moved", "sighting", "A", 1, nil},
		{"131016", "2026-04-01", "moved", "sighting", "B", 2, nil},
		{"131016", "2026-04-01", "moved", "sighting", "B", 2, nil}, // redelivered
		{"131016", "2026-04-01", "withdrawn", "complaint", "A", 1, nil},
		{"131016", "2026-04-01", "withdrawn", "complaint", "A", 2, true},
		{"131016", "2026-04-01", "old", "capture", "C", nil, nil},
		{"131016", "2026-04-01", "old", "capture", "C", nil, nil}, // redelivered
		{"131016", "2026-04-02", "kept", "adoption", "A", 1, false},
		{"131016", "2026-05-01", "out-of-range", "sighting", "A", 1, nil},
		{"011002", "2026-04-01", "moved", "sighting", "Z", 1, nil}, // another municipality's record id
	}
	for _, r := range rows {
		if _, err := db.Exec(`INSERT INTO cats_info VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.code, r.dt, r.code, r.id, r.eventType, r.district, r.revision, r.deleted); err != nil {
			t.Fatal(err)
		}
	}
	result, err := db.Query(currentRecords+`SELECT record_id, district FROM current_records ORDER BY record_id`, "131016", "2026-04-01", "2026-04-30")
	if err != nil {
		t.Fatalf("the CTE does not run: %v", err)
	}
	defer result.Close()
	got := map[string]string{}
	for result.Next() {
		var id, district string
		if err := result.Scan(&id, &district); err != nil {
			t.Fatal(err)
		}
		if _, twice := got[id]; twice {
			t.Errorf("record %s read twice", id)
		}
		got[id] = district
	}
	if err := result.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"moved": "B", "old": "C", "kept": "A"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("current records %v, want %v: the latest revision of each record once, deletions left out", got, want)
	}
}
