package catsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cats-analytics/cats-analytics/components/municipality"
)

// Cat is one record of cats-info as the write path stores it and puts it on the
// stream. The attribute names are the table's: id (partition key) and
// timestamp (sort key, the registration time, seed §4 DynamoDB).
//
// This is the write path's own copy of the record's shape and rules; it is to
// be replaced by the project's shared cat record type, whose JSON and DynamoDB
// layout it must match field for field (the API's GET mapping template in
// components/api reads the same attributes).
type Cat struct {
	ID               string    `json:"id" dynamodbav:"id"`
	Timestamp        string    `json:"timestamp" dynamodbav:"timestamp"`
	MunicipalityCode string    `json:"municipalityCode" dynamodbav:"municipalityCode"`
	Kind             string    `json:"kind" dynamodbav:"kind"`
	ObservedAt       string    `json:"observedAt" dynamodbav:"observedAt"`
	Count            int       `json:"count" dynamodbav:"count"`
	Location         *Location `json:"location,omitempty" dynamodbav:"location,omitempty"`
	Description      string    `json:"description,omitempty" dynamodbav:"description,omitempty"`
	UpdatedAt        string    `json:"updatedAt" dynamodbav:"updatedAt"`
}

// Location is where the cats were seen, in WGS 84 degrees.
type Location struct {
	Lat float64 `json:"lat" dynamodbav:"lat"`
	Lon float64 `json:"lon" dynamodbav:"lon"`
}

// Kinds are the record kinds the product analyses (DESIGN.md: community cats,
// TNR, sightings, complaints, adoptions).
var Kinds = []string{"sighting", "community_cat", "tnr", "complaint", "adoption"}

// Limits of a record.
const (
	MaxCount       = 1000
	MaxDescription = 2000 // characters
	// ClockSkew is how far in the future observedAt may be, for devices whose clocks run ahead.
	ClockSkew = 5 * time.Minute
)

// TimeLayout is the fixed-width UTC layout of timestamp and updatedAt: fixed
// width keeps the sort key's string order the time order.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FieldError is a rejected input: the API answers 400 with the field and the reason.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// CatInput is the body of POST /cats and PUT /cats/{id}. Pointers tell a
// missing field from a zero value.
type CatInput struct {
	ID               *string   `json:"id"`
	MunicipalityCode *string   `json:"municipalityCode"`
	Kind             *string   `json:"kind"`
	ObservedAt       *string   `json:"observedAt"`
	Count            *int      `json:"count"`
	Location         *Location `json:"location"`
	Description      *string   `json:"description"`
}

// DecodeInput parses a request body strictly: unknown fields, wrong types and
// trailing data are rejected with the field they concern.
func DecodeInput(body string) (CatInput, error) {
	var in CatInput
	if strings.TrimSpace(body) == "" {
		return in, &FieldError{Field: "body", Reason: "is empty: send a JSON cat record"}
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return in, &FieldError{Field: "body", Reason: "has data after the JSON object: send exactly one record"}
	}
	return in, nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return &FieldError{Field: field, Reason: fmt.Sprintf("must be a JSON %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Field: "body", Reason: "is not valid JSON (it ends too early)"}
	case errors.As(err, &syntaxErr):
		return &FieldError{Field: "body", Reason: fmt.Sprintf("is not valid JSON (offset %d)", syntaxErr.Offset)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &FieldError{Field: field, Reason: "is not a field of a cat record"}
	default:
		return &FieldError{Field: "body", Reason: "is not a JSON object: " + err.Error()}
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "float64":
		return "number"
	case "string":
		return "string"
	case "struct", "ptr":
		return "object"
	}
	return goKind
}

// Validate checks an input against the record's rules and returns the record
// it describes. servedCode, when set, is the only municipality this API serves.
func (in CatInput) Validate(servedCode string, now time.Time) (Cat, error) {
	var c Cat
	if in.MunicipalityCode == nil || *in.MunicipalityCode == "" {
		return c, &FieldError{Field: "municipalityCode", Reason: "is required: the 6-digit 全国地方公共団体コード, e.g. 131016"}
	}
	if err := municipality.Validate(*in.MunicipalityCode); err != nil {
		return c, &FieldError{Field: "municipalityCode", Reason: err.Error()}
	}
	if servedCode != "" && *in.MunicipalityCode != servedCode {
		return c, &FieldError{Field: "municipalityCode", Reason: fmt.Sprintf("must be %s: this API serves that municipality only", servedCode)}
	}
	c.MunicipalityCode = *in.MunicipalityCode

	if in.Kind == nil || *in.Kind == "" {
		return c, &FieldError{Field: "kind", Reason: "is required: one of " + strings.Join(Kinds, ", ")}
	}
	if !contains(Kinds, *in.Kind) {
		return c, &FieldError{Field: "kind", Reason: fmt.Sprintf("%q is not one of %s", *in.Kind, strings.Join(Kinds, ", "))}
	}
	c.Kind = *in.Kind

	if in.ObservedAt == nil || *in.ObservedAt == "" {
		return c, &FieldError{Field: "observedAt", Reason: "is required: an RFC 3339 time such as 2026-04-01T09:30:00+09:00"}
	}
	observed, err := time.Parse(time.RFC3339, *in.ObservedAt)
	if err != nil {
		return c, &FieldError{Field: "observedAt", Reason: "must be an RFC 3339 time such as 2026-04-01T09:30:00+09:00"}
	}
	if observed.After(now.Add(ClockSkew)) {
		return c, &FieldError{Field: "observedAt", Reason: "is in the future"}
	}
	c.ObservedAt = observed.UTC().Format(TimeLayout)

	if in.Count == nil {
		return c, &FieldError{Field: "count", Reason: "is required: the number of cats, 1 or more"}
	}
	if *in.Count < 1 || *in.Count > MaxCount {
		return c, &FieldError{Field: "count", Reason: fmt.Sprintf("must be between 1 and %d", MaxCount)}
	}
	c.Count = *in.Count

	if in.Location != nil {
		// Japan lies within these bounds; anything outside is a swapped or mistyped coordinate.
		if in.Location.Lat < 20 || in.Location.Lat > 46 {
			return c, &FieldError{Field: "location.lat", Reason: "must be a latitude in Japan (20 to 46)"}
		}
		if in.Location.Lon < 122 || in.Location.Lon > 154 {
			return c, &FieldError{Field: "location.lon", Reason: "must be a longitude in Japan (122 to 154)"}
		}
		loc := *in.Location
		c.Location = &loc
	}
	if in.Description != nil {
		if !utf8.ValidString(*in.Description) {
			return c, &FieldError{Field: "description", Reason: "must be valid UTF-8"}
		}
		if n := utf8.RuneCountInString(*in.Description); n > MaxDescription {
			return c, &FieldError{Field: "description", Reason: fmt.Sprintf("has %d characters; at most %d", n, MaxDescription)}
		}
		c.Description = *in.Description
	}
	return c, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
