// Package catrecord is the cat record: the one type the producers write to the
// stream, the aggregator reads, the Glue table describes and the tests build.
// Its JSON encoding is what Firehose converts to Parquet with the Glue schema
// (Columns), so the two are generated from the same struct and cannot drift.
package catrecord

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

// EventType is what happened to or about a cat.
type EventType string

// Event types, in the order a community cat's TNR story usually runs.
const (
	Sighting  EventType = "sighting"
	Capture   EventType = "capture"
	Neuter    EventType = "neuter"
	Return    EventType = "return"
	Adoption  EventType = "adoption"
	Complaint EventType = "complaint"
	Death     EventType = "death"
)

// EventTypes lists every valid event type.
var EventTypes = []EventType{Sighting, Capture, Neuter, Return, Adoption, Complaint, Death}

// Sex of the cat as the reporter saw it.
type Sex string

// Sexes.
const (
	Female     Sex = "female"
	Male       Sex = "male"
	SexUnknown Sex = "unknown"
)

// Sexes lists every valid sex.
var Sexes = []Sex{Female, Male, SexUnknown}

// ReporterRole is who made the report.
type ReporterRole string

// Reporter roles.
const (
	Resident       ReporterRole = "resident"
	Volunteer      ReporterRole = "volunteer"
	MunicipalStaff ReporterRole = "municipal_staff"
	Veterinarian   ReporterRole = "veterinarian"
	Shelter        ReporterRole = "shelter"
)

// ReporterRoles lists every valid reporter role.
var ReporterRoles = []ReporterRole{Resident, Volunteer, MunicipalStaff, Veterinarian, Shelter}

// Record is one report about one cat. The json tags are the column names of
// the Glue table cats_info; the glue tags give each column's Hive type.
type Record struct {
	// MunicipalityCode is the 6-digit 全国地方公共団体コード of the reporting municipality.
	MunicipalityCode string `json:"municipality_code" glue:"string"`
	// RecordID is unique per report; producers use it as the Kinesis partition
	// key, so a retried put lands on the same shard and the aggregator can
	// recognise the duplicate.
	RecordID string `json:"record_id" glue:"string"`
	// EventTime is when the event happened (not when it was reported), in UTC.
	EventTime time.Time    `json:"event_time" glue:"timestamp"`
	EventType EventType    `json:"event_type" glue:"string"`
	District  string       `json:"district" glue:"string"` // 町丁目 or the municipality's own district name
	Latitude  *float64     `json:"latitude,omitempty" glue:"double"`
	Longitude *float64     `json:"longitude,omitempty" glue:"double"`
	Reporter  ReporterRole `json:"reporter_role" glue:"string"`

	// The cat.
	EstimatedAgeMonths *int   `json:"cat_estimated_age_months,omitempty" glue:"int"`
	Sex                Sex    `json:"cat_sex" glue:"string"`
	ColourPattern      string `json:"cat_colour_pattern,omitempty" glue:"string"` // e.g. キジトラ, 三毛, ハチワレ
	// EarTipped: the cat carries the ear notch (さくら耳) of a TNR'd community cat.
	EarTipped   bool   `json:"cat_ear_tipped" glue:"boolean"`
	MicrochipID string `json:"cat_microchip_id,omitempty" glue:"string"` // 15-digit ISO 11784 number

	// The record's history. A report can be corrected or withdrawn; every
	// change is streamed as a new revision, so the data lake keeps each
	// version and the aggregation can take back what an older one counted.

	// Revision numbers the versions of a record: 1 when it is created, one
	// more with each update and with its deletion. The API sets it; a producer
	// that never changes its records may leave it out (read as 1).
	Revision int `json:"revision,omitempty" glue:"int"`
	// Deleted marks a tombstone: the record was deleted, and this last
	// revision carries the content it had, so what it counted can be taken back.
	Deleted bool `json:"deleted,omitempty" glue:"boolean"`
	// Replaces is what the previous revision counted, on an update: the
	// aggregation takes it back from its own window and district before
	// counting this revision.
	Replaces *Counted `json:"replaces,omitempty" glue:"struct"`
}

// Counted is the part of a record the aggregation counts by: when and where
// it happened, and what it adds to the counts.
type Counted struct {
	EventTime time.Time `json:"event_time" glue:"timestamp"`
	EventType EventType `json:"event_type" glue:"string"`
	District  string    `json:"district" glue:"string"`
	EarTipped bool      `json:"cat_ear_tipped" glue:"boolean"`
}

// Counted returns what the record counts.
func (r Record) Counted() Counted {
	return Counted{EventTime: r.EventTime.UTC(), EventType: r.EventType, District: r.District, EarTipped: r.EarTipped}
}

// Version is the record's revision, 1 when the producer left it out.
func (r Record) Version() int { return max(r.Revision, 1) }

// PartitionKey is the Kinesis partition key producers put the record with:
// its id, so a retried put lands on the same shard, in the same window state,
// where the aggregation recognises the duplicate.
func (r Record) PartitionKey() string { return r.RecordID }

// FieldError is a validation failure of one field, named by its JSON name.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Limits on free-text fields: they end up in Parquet columns, metric
// dimensions and S3 keys, so they are kept short and printable.
const (
	maxRecordID = 128
	maxDistrict = 64
	maxColour   = 64
	maxAge      = 12 * 30 // months; no cat lives 30 years
)

var (
	recordIDPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)
	microchipPattern = regexp.MustCompile(`^\d{15}$`)
)

// Validate checks every field and returns all problems at once, each a
// *FieldError naming its field. now bounds event times from above (a report
// cannot describe the future, beyond a little clock skew).
func (r Record) Validate(now time.Time) error {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if err := municipality.Validate(r.MunicipalityCode); err != nil {
		fail("municipality_code", "%v", err)
	}
	switch {
	case r.RecordID == "":
		fail("record_id", "is required")
	case len(r.RecordID) > maxRecordID:
		fail("record_id", "is %d bytes; at most %d", len(r.RecordID), maxRecordID)
	case !recordIDPattern.MatchString(r.RecordID):
		fail("record_id", "%q may hold only letters, digits and . _ : -", r.RecordID)
	}
	r.Counted().check("", now, fail)
	if (r.Latitude == nil) != (r.Longitude == nil) {
		fail("latitude", "latitude and longitude must be given together")
	}
	if r.Latitude != nil && (*r.Latitude < -90 || *r.Latitude > 90) {
		fail("latitude", "%v is outside -90..90", *r.Latitude)
	}
	if r.Longitude != nil && (*r.Longitude < -180 || *r.Longitude > 180) {
		fail("longitude", "%v is outside -180..180", *r.Longitude)
	}
	if !contains(ReporterRoles, r.Reporter) {
		fail("reporter_role", "%q must be one of %s", r.Reporter, join(ReporterRoles))
	}
	if r.EstimatedAgeMonths != nil && (*r.EstimatedAgeMonths < 0 || *r.EstimatedAgeMonths > maxAge) {
		fail("cat_estimated_age_months", "%d is outside 0..%d", *r.EstimatedAgeMonths, maxAge)
	}
	if !contains(Sexes, r.Sex) {
		fail("cat_sex", "%q must be one of %s", r.Sex, join(Sexes))
	}
	if utf8.RuneCountInString(r.ColourPattern) > maxColour || !printable(r.ColourPattern) {
		fail("cat_colour_pattern", "must be at most %d printable characters", maxColour)
	}
	if r.MicrochipID != "" && !microchipPattern.MatchString(r.MicrochipID) {
		fail("cat_microchip_id", "%q must be the 15-digit ISO 11784 number", r.MicrochipID)
	}
	switch {
	case r.Revision < 0:
		fail("revision", "%d must be 1 or more (or omitted, read as 1)", r.Revision)
	case r.Deleted && r.Revision < 2:
		fail("deleted", "a deletion is a later revision of a record: revision must be 2 or more")
	case r.Replaces != nil && r.Revision < 2:
		fail("replaces", "only a later revision (2 or more) replaces an earlier one")
	}
	if r.Deleted && r.Replaces != nil {
		fail("replaces", "a deletion replaces nothing: it takes back its own content")
	}
	if r.Replaces != nil {
		r.Replaces.check("replaces.", now, fail)
	}
	return errors.Join(errs...)
}

// check applies the record's rules to the fields the aggregation counts by,
// reporting each problem under prefix+its JSON name: a record's own fields
// and those of the revision it replaces are held to the same rules.
func (c Counted) check(prefix string, now time.Time, fail func(field, format string, args ...any)) {
	switch {
	case c.EventTime.IsZero():
		fail(prefix+"event_time", "is required (RFC 3339, e.g. 2026-04-01T09:30:00Z)")
	case c.EventTime.Year() < 2000:
		fail(prefix+"event_time", "%s is before 2000", c.EventTime.Format(time.RFC3339))
	case !now.IsZero() && c.EventTime.After(now.Add(MaxClockSkew)):
		fail(prefix+"event_time", "%s is in the future", c.EventTime.Format(time.RFC3339))
	}
	if !contains(EventTypes, c.EventType) {
		fail(prefix+"event_type", "%q must be one of %s", c.EventType, join(EventTypes))
	}
	district := strings.TrimSpace(c.District)
	switch {
	case district == "":
		fail(prefix+"district", "is required")
	case district != c.District:
		fail(prefix+"district", "%q has leading or trailing spaces", c.District)
	case utf8.RuneCountInString(c.District) > maxDistrict || !printable(c.District):
		fail(prefix+"district", "must be at most %d printable characters", maxDistrict)
	}
}

// MaxClockSkew is how far in the future an event time may lie before the
// record is rejected: producers' clocks are not perfect.
const MaxClockSkew = 5 * time.Minute

// Parse decodes one JSON record strictly (unknown fields are an error, so a
// producer's typo is reported rather than lost) and validates it.
func Parse(data []byte, now time.Time) (Record, error) {
	r, err := Decode(data)
	if err != nil {
		return Record{}, err
	}
	if err := r.Validate(now); err != nil {
		return Record{}, err
	}
	return r, nil
}

// Decode is Parse without the validation, for producers that complete a
// record (the API assigns record_id) before validating it: the same strict
// decoding, errors naming the field, event time in UTC.
func Decode(data []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, decodeError(err)
	}
	if dec.More() {
		return Record{}, &FieldError{Field: "(record)", Reason: "trailing data after the JSON object"}
	}
	r.EventTime = r.EventTime.UTC()
	if r.Replaces != nil {
		r.Replaces.EventTime = r.Replaces.EventTime.UTC()
	}
	return r, nil
}

// FieldErrors lists the field errors of an error returned by Validate, Parse
// or Decode, in the order the fields were checked.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		walk(errors.Unwrap(err))
	}
	walk(err)
	return out
}

// decodeError names the field a JSON error is about where the decoder says.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var timeErr *time.ParseError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &FieldError{Field: typeErr.Field, Reason: fmt.Sprintf("must be a JSON %s, not %s", typeErr.Type.Kind(), typeErr.Value)}
	case errors.As(err, &timeErr):
		return &FieldError{Field: "event_time", Reason: "must be RFC 3339, e.g. 2026-04-01T09:30:00Z"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &FieldError{Field: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Reason: "is not a field of the cat record"}
	}
	return &FieldError{Field: "(record)", Reason: "is not a JSON object: " + err.Error()}
}

// MarshalJSON writes the event time in UTC with a Z suffix, the timestamp form
// Firehose's OpenX JSON SerDe parses into a Parquet timestamp.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	p := plain(r)
	p.EventTime = r.EventTime.UTC()
	if r.Replaces != nil {
		c := *r.Replaces
		c.EventTime = c.EventTime.UTC()
		p.Replaces = &c
	}
	return json.Marshal(p)
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func join[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}
