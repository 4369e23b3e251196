package analytics

// NamedQuery is one of the standard analyses, saved in the workgroup.
type NamedQuery struct {
	ID          string // logical name suffix
	Name        string
	Description string
	SQL         string
}

// currentRecords reads the records as they now are: the raw data holds every
// revision of a record (functions/catsapi streams each change), and the
// duplicates Kinesis' at-least-once delivery and producer retries leave. One
// row per (municipality, record_id), its latest revision, and none for a
// record whose latest revision is its deletion. A record whose event date was
// corrected out of the date range keeps its older revision in range only if
// the range holds no later one: query a range that holds both dates.
// Parameters (Athena execution parameters, in order): municipality code,
// first date, last date (yyyy-mm-dd).
const currentRecords = `WITH current_records AS (
  SELECT * FROM (
    SELECT r.*, row_number() OVER (PARTITION BY municipality_code, record_id ORDER BY coalesce(revision, 1) DESC) AS newest
    FROM cats_info r
    WHERE municipality = ? AND dt BETWEEN ? AND ?
  ) WHERE newest = 1 AND NOT coalesce(deleted, false)
)
`

// NamedQueries are the standard analyses of the product.
var NamedQueries = []NamedQuery{
	{
		ID:   "population-by-district",
		Name: "cats: population by district over time",
		Description: "Weekly sightings per district, the distinct microchipped cats seen, and the share of sightings of ear-tipped cats. " +
			"Parameters: municipality code, first date, last date (yyyy-mm-dd).",
		SQL: currentRecords + `SELECT district,
       date_trunc('week', event_time) AS week,
       count_if(event_type = 'sighting') AS sightings,
       count(DISTINCT cat_microchip_id) AS microchipped_cats,
       round(100.0 * count_if(event_type = 'sighting' AND cat_ear_tipped) / nullif(count_if(event_type = 'sighting'), 0), 1) AS ear_tipped_pct
FROM current_records
GROUP BY 1, 2
ORDER BY 1, 2`,
	},
	{
		ID:   "tnr-coverage",
		Name: "cats: TNR coverage",
		Description: "Per district: captures, neuters, returns, and the share of sighted cats already ear-tipped (TNR coverage). " +
			"Parameters: municipality code, first date, last date (yyyy-mm-dd).",
		SQL: currentRecords + `SELECT district,
       count_if(event_type = 'capture') AS captures,
       count_if(event_type = 'neuter') AS neutered,
       count_if(event_type = 'return') AS returned,
       count_if(event_type = 'sighting') AS sightings,
       round(100.0 * count_if(event_type = 'sighting' AND cat_ear_tipped) / nullif(count_if(event_type = 'sighting'), 0), 1) AS coverage_pct
FROM current_records
GROUP BY 1
ORDER BY coverage_pct ASC NULLS FIRST, sightings DESC`,
	},
	{
		ID:   "complaint-hot-spots",
		Name: "cats: complaint hot spots",
		Description: "The 20 places (district and ~100 m grid cell) with the most complaints. " +
			"Parameters: municipality code, first date, last date (yyyy-mm-dd).",
		SQL: currentRecords + `SELECT district,
       round(latitude, 3) AS latitude_cell,
       round(longitude, 3) AS longitude_cell,
       count(*) AS complaints,
       max(event_time) AS latest
FROM current_records
WHERE event_type = 'complaint'
GROUP BY 1, 2, 3
ORDER BY complaints DESC
LIMIT 20`,
	},
}
