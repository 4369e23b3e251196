// Package catsinfo is the schema of the seed's DynamoDB table cats-info
// (seed §4: partition key id, sort key timestamp): its name, its key, its
// index and the attributes stored beside a cat record's own. The database
// tier creates the table with it, the write path (functions/catsapi) writes
// items with it and the API tier's read templates read them with it.
//
// An item is a cat record (catrecord.Record) under its JSON names, except
// record_id, which is stored once, as the partition key:
//
//	id                        S     partition key: the record's record_id, a lower-case UUID v4 assigned by POST
//	timestamp                 S     sort key: registration time, TimeLayout (fixed width, UTC)
//	municipality_code         S     partition key of the by-municipality-time index
//	event_time                S     RFC 3339 UTC
//	event_type, district, reporter_role, cat_sex                       S
//	latitude, longitude, cat_estimated_age_months                       N  (optional)
//	cat_colour_pattern, cat_microchip_id                                S  (optional)
//	cat_ear_tipped            BOOL
//	revision                  N     the record's current revision (1 on creation; absent on items older than revisions, read as 1)
//	updated_at                S     optimistic concurrency for PUT and DELETE, TimeLayout
//
// replaces and deleted exist only on the stream's revisions, never in the table.
package catsinfo

// Table is the seed's base name of the table; each stack's table is
// cats-info-<stack>.
const Table = "cats-info"

// The table's key schema and index.
const (
	// AttrID is the partition key: the record's record_id.
	AttrID = "id"
	// AttrTimestamp is the sort key: when the API registered the record, in
	// TimeLayout. It never changes, so an update keeps the item's key.
	AttrTimestamp = "timestamp"
	// AttrMunicipality is the partition key of IndexByMunicipalityTime: the
	// record's own municipality_code, under its JSON name.
	AttrMunicipality = "municipality_code"
	// IndexByMunicipalityTime answers "all records of a municipality in a
	// time range": partition AttrMunicipality, sort AttrTimestamp.
	IndexByMunicipalityTime = "by-municipality-time"
)

// Attributes beside the record's own.
const (
	// AttrUpdatedAt is the item's last change, in TimeLayout: PUT and DELETE
	// are conditional on it (optimistic concurrency).
	AttrUpdatedAt = "updated_at"
	// AttrRecordID is the record's JSON name of its id, stored as AttrID.
	AttrRecordID = "record_id"
)

// TimeLayout is the fixed-width UTC layout of timestamp and updated_at: fixed
// width keeps the sort key's string order the time order.
const TimeLayout = "2006-01-02T15:04:05.000Z"
