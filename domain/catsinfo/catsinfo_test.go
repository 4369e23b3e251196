package catsinfo_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/domain/catrecord"
	"github.com/cats-analytics/cats-analytics/domain/catsinfo"
)

// TestRecordNamesAreTheSchemas: the index's partition key and the stored id
// are the cat record's own JSON names, so the write path stores a record's
// fields under the names the table's index and the read templates use.
func TestRecordNamesAreTheSchemas(t *testing.T) {
	b, err := json.Marshal(catrecord.Record{MunicipalityCode: "131016", RecordID: "r", EventTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var encoded map[string]any
	if err := json.Unmarshal(b, &encoded); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{catsinfo.AttrMunicipality, catsinfo.AttrRecordID} {
		if _, ok := encoded[name]; !ok {
			t.Errorf("the record has no JSON field %q: the index (by-municipality-time) or the stored id would miss it; record: %s", name, b)
		}
	}
	for _, name := range []string{catsinfo.AttrID, catsinfo.AttrTimestamp, catsinfo.AttrUpdatedAt} {
		if _, ok := encoded[name]; ok {
			t.Errorf("the record has its own field %q, which the table's bookkeeping attribute of that name would overwrite", name)
		}
	}
}

func TestTimeLayoutSortsAsTime(t *testing.T) {
	earlier := time.Date(2026, 4, 1, 9, 59, 59, 999e6, time.UTC).Format(catsinfo.TimeLayout)
	later := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC).Format(catsinfo.TimeLayout)
	if !(earlier < later) || len(earlier) != len(later) {
		t.Errorf("%s and %s: the sort key's string order must be its time order (fixed width)", earlier, later)
	}
}
