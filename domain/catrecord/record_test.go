package catrecord

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

func valid() Record {
	lat, lon, age := 35.6895, 139.6917, 18
	return Record{
		MunicipalityCode: "131016", RecordID: "r-0001", EventTime: now.Add(-time.Hour),
		EventType: Sighting, District: "千代田一丁目", Latitude: &lat, Longitude: &lon,
		Reporter: Resident, EstimatedAgeMonths: &age, Sex: Female, ColourPattern: "キジトラ",
		EarTipped: true, MicrochipID: "392141000012345",
	}
}

func TestValidRecordRoundTrips(t *testing.T) {
	r := valid()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"event_time":"2026-04-01T11:00:00Z"`) {
		t.Errorf("event_time must be UTC with Z, the form Firehose's OpenX SerDe reads as a timestamp: %s", b)
	}
	got, err := Parse(b, now)
	if err != nil {
		t.Fatalf("a valid record must parse: %v", err)
	}
	if got.RecordID != r.RecordID || !got.EventTime.Equal(r.EventTime) || *got.Latitude != *r.Latitude {
		t.Errorf("round trip changed the record: %+v", got)
	}
}

func TestInvalidRecordsNameTheirField(t *testing.T) {
	bad := func(edit func(*Record)) Record { r := valid(); edit(&r); return r }
	lat := 91.0
	cases := []struct {
		name   string
		record Record
		field  string
	}{
		{"unknown municipality", bad(func(r *Record) { r.MunicipalityCode = "131017" }), "municipality_code"},
		{"missing id", bad(func(r *Record) { r.RecordID = "" }), "record_id"},
		{"id with slash", bad(func(r *Record) { r.RecordID = "a/b" }), "record_id"},
		{"no event time", bad(func(r *Record) { r.EventTime = time.Time{} }), "event_time"},
		{"future event", bad(func(r *Record) { r.EventTime = now.Add(time.Hour) }), "event_time"},
		{"unknown event type", bad(func(r *Record) { r.EventType = "feeding" }), "event_type"},
		{"no district", bad(func(r *Record) { r.District = "" }), "district"},
		{"latitude alone", bad(func(r *Record) { r.Longitude = nil }), "latitude"},
		{"latitude out of range", bad(func(r *Record) { r.Latitude = &lat }), "latitude"},
		{"unknown reporter", bad(func(r *Record) { r.Reporter = "cat" }), "reporter_role"},
		{"unknown sex", bad(func(r *Record) { r.Sex = "" }), "cat_sex"},
		{"short microchip", bad(func(r *Record) { r.MicrochipID = "123" }), "cat_microchip_id"},
		{"negative revision", bad(func(r *Record) { r.Revision = -1 }), "revision"},
		{"deleted first revision", bad(func(r *Record) { r.Deleted = true }), "deleted"},
		{"first revision replaces", bad(func(r *Record) { r.Replaces = &Counted{EventTime: now, EventType: Sighting, District: "d"} }), "replaces"},
		{"deletion replaces", bad(func(r *Record) {
			r.Revision, r.Deleted, r.Replaces = 3, true, &Counted{EventTime: now, EventType: Sighting, District: "d"}
		}), "replaces"},
		{"replaced event type", bad(func(r *Record) {
			r.Revision, r.Replaces = 2, &Counted{EventTime: now, EventType: "feeding", District: "d"}
		}), "replaces.event_type"},
		{"replaced district", bad(func(r *Record) { r.Revision, r.Replaces = 2, &Counted{EventTime: now, EventType: Sighting} }), "replaces.district"},
		{"replaced event time", bad(func(r *Record) { r.Revision, r.Replaces = 2, &Counted{EventType: Sighting, District: "d"} }), "replaces.event_time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.record.Validate(now)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("want a FieldError naming %s, got %v", c.field, err)
			}
		})
	}
}

func TestParseNamesTheField(t *testing.T) {
	cases := map[string]string{
		`{"municipality_code":131016}`: "municipality_code",
		`{"event_time":"yesterday"}`:   "event_time",
		`{"colour":"black"}`:           "colour",
		`not json`:                     "(record)",
	}
	for input, field := range cases {
		_, err := Parse([]byte(input), now)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("Parse(%s): want a FieldError naming %s, got %v", input, field, err)
		}
	}
}

// TestColumnsMatchTheJSONEncoding guards the Glue schema against the type:
// every key the encoder writes is a column, every column is written, and each
// column's Hive type fits the JSON value Firehose will convert.
func TestColumnsMatchTheJSONEncoding(t *testing.T) {
	// Every optional field set (a deletion never also replaces, but the
	// encoding of each field is what is checked here).
	full := valid()
	full.Revision, full.Deleted = 3, true
	full.Replaces = &Counted{EventTime: now.In(time.FixedZone("JST", 9*3600)), EventType: Complaint, District: "千代田二丁目", EarTipped: true}
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	var encoded map[string]any
	if err := json.Unmarshal(b, &encoded); err != nil {
		t.Fatal(err)
	}
	cols := map[string]string{}
	for _, c := range Columns() {
		cols[c.Name] = c.Type
	}
	for key, value := range encoded {
		typ, ok := cols[key]
		if !ok {
			t.Errorf("JSON key %q has no Glue column: Firehose would drop it from the Parquet files", key)
			continue
		}
		if inner, ok := strings.CutPrefix(typ, "struct<"); ok {
			object, isObject := value.(map[string]any)
			fields := strings.Split(strings.TrimSuffix(inner, ">"), ",")
			if !isObject || len(object) != len(fields) {
				t.Errorf("column %s is %s but the record encodes %v", key, typ, value)
				continue
			}
			for _, f := range fields {
				name, fieldType, _ := strings.Cut(f, ":")
				if !fitsHive(fieldType, object[name]) {
					t.Errorf("column %s.%s is %s but the record encodes %T %v", key, name, fieldType, object[name], object[name])
				}
			}
			continue
		}
		if !fitsHive(typ, value) {
			t.Errorf("column %s is %s but the record encodes %T %v", key, typ, value, value)
		}
	}
	for name := range cols {
		if _, ok := encoded[name]; !ok {
			t.Errorf("Glue column %q is never written by the record's encoding", name)
		}
	}
	for _, p := range PartitionKeys {
		if _, clash := cols[p.Name]; clash {
			t.Errorf("partition key %s must not also be a column (Glue rejects the table)", p.Name)
		}
	}
}

// fitsHive tells whether a decoded JSON value converts to the Hive type.
func fitsHive(typ string, value any) bool {
	switch typ {
	case "string":
		_, ok := value.(string)
		return ok
	case "timestamp":
		s, _ := value.(string)
		_, err := time.Parse(time.RFC3339Nano, s)
		return err == nil && strings.HasSuffix(s, "Z")
	case "double", "int", "bigint":
		_, ok := value.(float64)
		return ok
	case "boolean":
		_, ok := value.(bool)
		return ok
	}
	return false
}

// TestRevisionsRoundTrip: an update's revision carries what the previous one
// counted, in UTC, and decodes back the same.
func TestRevisionsRoundTrip(t *testing.T) {
	r := valid()
	r.Revision = 2
	r.Replaces = &Counted{EventTime: time.Date(2026, 3, 31, 18, 0, 0, 0, time.FixedZone("JST", 9*3600)), EventType: Complaint, District: "千代田二丁目"}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"replaces":{"event_time":"2026-03-31T09:00:00Z","event_type":"complaint","district":"千代田二丁目","cat_ear_tipped":false}`) {
		t.Errorf("replaces encodes as %s", b)
	}
	got, err := Parse(b, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != 2 || *got.Replaces != (Counted{EventTime: time.Date(2026, 3, 31, 9, 0, 0, 0, time.UTC), EventType: Complaint, District: "千代田二丁目"}) {
		t.Errorf("round trip: %+v %+v", got, got.Replaces)
	}
	if v := valid().Version(); v != 1 {
		t.Errorf("a record without revision is version %d, want 1", v)
	}
	if c := valid().Counted(); c.District != "千代田一丁目" || c.EventType != Sighting || !c.EarTipped {
		t.Errorf("Counted() = %+v", c)
	}
}

// TestDecodeLeavesValidationToTheCaller: a producer that completes a record
// (the API assigns record_id) decodes it strictly first and validates after;
// FieldErrors then lists every problem, each naming its field.
func TestDecodeLeavesValidationToTheCaller(t *testing.T) {
	r := valid()
	r.RecordID = ""
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil || got.RecordID != "" || got.District != r.District {
		t.Fatalf("Decode of a record without record_id: %+v %v, want it decoded and not yet validated", got, err)
	}
	if _, err := Decode([]byte(`{"colour":"black"}`)); len(FieldErrors(err)) != 1 || FieldErrors(err)[0].Field != "colour" {
		t.Errorf("Decode must refuse unknown fields naming them, got %v", err)
	}
	r.EventType, r.Sex = "feeding", "tom"
	var fields []string
	for _, fe := range FieldErrors(r.Validate(now)) {
		fields = append(fields, fe.Field)
	}
	if strings.Join(fields, ",") != "record_id,event_type,cat_sex" {
		t.Errorf("FieldErrors = %v, want record_id,event_type,cat_sex: every problem, in the order the fields are checked", fields)
	}
	if FieldErrors(nil) != nil {
		t.Error("FieldErrors(nil) must be empty")
	}
}
