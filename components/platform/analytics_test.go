package platform_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/components/analytics"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/domain/catrecord"
	"github.com/cats-analytics/cats-analytics/functions/aggregator"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

const (
	glueDBType    = "aws:glue/catalogDatabase:CatalogDatabase"
	glueTableType = "aws:glue/catalogTable:CatalogTable"
)

func TestGlueAndAthena(t *testing.T) {
	for _, stack := range environments {
		t.Run(stack, func(t *testing.T) {
			rec := run(t, stack, nil)
			db := named(t, rec, glueDBType, "name", "cats_data_"+stack)
			underTier(t, rec, db, analytics.Type)
			table := named(t, rec, glueTableType, "name", "cats_info")
			if table.Str("databaseName") != "cats_data_"+stack {
				t.Errorf("cats_info must live in cats_data (seed §4 Athena)")
			}
			sd := in(table, "storageDescriptor")
			if str(get(sd, "location")) != "s3://cats-data-lake-"+stack+"/raw/" {
				t.Errorf("cats_info must read what Firehose writes under raw/, got %s", str(get(sd, "location")))
			}
			if !strings.Contains(str(get(sd, "serDeInfo", "serializationLibrary")), "Parquet") {
				t.Errorf("cats_info must be Parquet, as Firehose converts it")
			}
			var parts []string
			for _, p := range in(table, "partitionKeys").ArrayValue() {
				parts = append(parts, str(get(p, "name")))
			}
			if strings.Join(parts, "/") != "municipality/dt" {
				t.Errorf("cats_info must be partitioned like Firehose writes (municipality, dt), got %v", parts)
			}
			params := in(table, "parameters")
			mustContain(t, str(get(params, "storage.location.template")), "raw/municipality=${municipality}/dt=${dt}/",
				"partition projection must find Firehose's partitions")
			if str(get(params, "projection.enabled")) != "true" || str(get(params, "projection.municipality.type")) != "injected" {
				t.Errorf("an environment stack's table projects partitions, the municipality injected by each query: %v", params)
			}

			catalog := named(t, rec, "aws:athena/dataCatalog:DataCatalog", "name", "cats_data_catalog_"+stack)
			if catalog.Str("type") != "GLUE" || str(in(catalog, "parameters", "catalog-id")) != plan.AccountID {
				t.Errorf("cats_data_catalog (seed §4) must be the account's Glue catalog: %v", catalog.Inputs)
			}

			wg := rec.One(t, "aws:athena/workgroup:Workgroup")
			cfg := in(wg, "configuration")
			if !boolean(get(cfg, "enforceWorkgroupConfiguration")) {
				t.Errorf("the workgroup must enforce its result settings")
			}
			if str(get(cfg, "resultConfiguration", "outputLocation")) != "s3://cats-data-lake-"+stack+"/athena-results/" {
				t.Errorf("Athena results must stay in the data lake's athena-results/, got %s", str(get(cfg, "resultConfiguration", "outputLocation")))
			}
			if str(get(cfg, "resultConfiguration", "encryptionConfiguration", "encryptionOption")) != "SSE_S3" {
				t.Errorf("Athena results must be encrypted (SSE_S3 with the seed's AES-256 lake)")
			}

			queries := rec.ByType("aws:athena/namedQuery:NamedQuery")
			var names []string
			for _, q := range queries {
				names = append(names, q.Str("name"))
				if q.Str("database") != "cats_data_"+stack || q.Str("workgroup") != wg.Str("name") {
					t.Errorf("named query %s must run on cats_data in the stack's workgroup", q.Str("name"))
				}
				sql := q.Str("query")
				mustContain(t, sql, "FROM cats_info", "named queries read cats_info")
				mustContain(t, sql, "municipality = ?", "named queries prune to one municipality's partitions")
				mustContain(t, sql, "PARTITION BY municipality_code, record_id", "named queries drop at-least-once duplicates")
			}
			sort.Strings(names)
			want := []string{"cats: complaint hot spots", "cats: population by district over time", "cats: TNR coverage"}
			sort.Strings(want)
			if !reflect.DeepEqual(names, want) {
				t.Errorf("the standard analyses must be saved as named queries: got %v", names)
			}
			if len(rec.ByType("aws:quicksight/dataSource:DataSource")) != 0 {
				t.Errorf("QuickSight needs an account subscription: off unless cats:quicksightEnabled")
			}
		})
	}
}

// TestGlueSchemaMatchesTheRecordType checks the deployed table against the
// record type's JSON encoding (not against catrecord.Columns, which built it):
// the columns Firehose converts with are exactly the keys producers send.
func TestGlueSchemaMatchesTheRecordType(t *testing.T) {
	rec := run(t, "dev", nil)
	table := named(t, rec, glueTableType, "name", "cats_info")
	columns := map[string]string{}
	for _, c := range in(table, "storageDescriptor", "columns").ArrayValue() {
		columns[str(get(c, "name"))] = str(get(c, "type"))
	}
	lat, lon, age := 35.0, 139.0, 12
	full := catrecord.Record{
		MunicipalityCode: "131016", RecordID: "r", EventTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		EventType: catrecord.Sighting, District: "d", Latitude: &lat, Longitude: &lon, Reporter: catrecord.Resident,
		EstimatedAgeMonths: &age, Sex: catrecord.Female, ColourPattern: "三毛", EarTipped: true, MicrochipID: "392141000012345",
		// Every history field too (a deletion never also replaces; only the encoding is checked here).
		Revision: 2, Deleted: true,
		Replaces: &catrecord.Counted{EventTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), EventType: catrecord.Complaint, District: "e"},
	}
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	var encoded map[string]any
	if err := json.Unmarshal(b, &encoded); err != nil {
		t.Fatal(err)
	}
	hive := map[string]string{"string": "string", "float64": "double", "bool": "boolean"}
	for key, value := range encoded {
		typ, ok := columns[key]
		if !ok {
			t.Errorf("the record writes %q but cats_info has no such column: Firehose would drop it", key)
			continue
		}
		goType := reflect.TypeOf(value).String()
		switch {
		case strings.HasPrefix(typ, "struct<") && goType == "map[string]interface {}":
			// A nested object: its keys are the struct's fields (catrecord's
			// tests check each field's type).
			var fields []string
			for _, f := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(typ, "struct<"), ">"), ",") {
				name, _, _ := strings.Cut(f, ":")
				fields = append(fields, name)
			}
			var keys []string
			for k := range value.(map[string]any) {
				keys = append(keys, k)
			}
			sort.Strings(fields)
			sort.Strings(keys)
			if !reflect.DeepEqual(fields, keys) {
				t.Errorf("column %s is %s but the record writes the keys %v", key, typ, keys)
			}
		case key == "event_time" && typ == "timestamp":
		case goType == "float64" && (typ == "int" || typ == "double"):
		case hive[goType] == typ:
		default:
			t.Errorf("column %s is %s but the record writes a JSON %s", key, typ, goType)
		}
	}
	for name := range columns {
		if _, ok := encoded[name]; !ok {
			t.Errorf("cats_info has column %q that the record never writes", name)
		}
	}
}

func TestMunicipalityStackAndQuickSight(t *testing.T) {
	const principal = "arn:aws:quicksight:ap-northeast-1:123456789012:user/default/analyst"
	cases := []struct{ stack, database string }{
		{"131016-prod", "cats_data_131016_prod"},
		{"dev", "cats_data_dev"}, // an environment stack whose default tenant is 131016
	}
	for _, c := range cases {
		t.Run(c.stack, func(t *testing.T) {
			config := map[string]string{"cats:quicksightEnabled": "true", "cats:quicksightPrincipal": principal}
			if c.stack == "dev" {
				config["cats:municipalityCode"] = "131016"
			}
			rec := run(t, c.stack, config)
			table := named(t, rec, glueTableType, "name", "cats_info")
			params := in(table, "parameters")
			if str(get(params, "projection.municipality.type")) != "enum" || str(get(params, "projection.municipality.values")) != "131016" {
				t.Errorf("a stack serving one municipality projects it, so queries need no municipality filter: %v", params)
			}
			named(t, rec, glueDBType, "name", c.database)

			source := rec.One(t, "aws:quicksight/dataSource:DataSource")
			if source.Str("type") != "ATHENA" || str(in(source, "parameters", "athena", "workGroup")) != "cats-analytics-"+c.stack {
				t.Errorf("the QuickSight data source must be Athena on the stack's workgroup (seed §4 QuickSight): %v", source.Inputs)
			}
			dataSet := rec.One(t, "aws:quicksight/dataSet:DataSet")
			sql := str(in(dataSet, "physicalTableMaps").ArrayValue()[0].ObjectValue()["customSql"].ObjectValue()["sqlQuery"])
			mustContain(t, sql, `"`+c.database+`"."cats_info"`, "the data set reads the stack's table")
			mustContain(t, sql, "municipality = '131016'", "the data set shows the stack's municipality")
			dashboard := rec.One(t, analytics.DashboardType)
			decl := in(dashboard, "definition", "dataSetIdentifiersDeclarations").ArrayValue()
			if len(decl) != 1 || str(get(decl[0], "dataSetArn")) != out(dataSet, "arn") {
				t.Errorf("the dashboard must visualise the data set: %v", decl)
			}
			for _, r := range []plan.Resource{source, dataSet, dashboard} {
				perms := in(r, "permissions").ArrayValue()
				if len(perms) != 1 || str(get(perms[0], "principal")) != principal {
					t.Errorf("%s must be shared with cats:quicksightPrincipal", r.Type)
				}
				if str(in(r, "tags", "municipality-code")) != "131016" {
					t.Errorf("%s must carry the standard tags", r.Type)
				}
			}
		})
	}
}

func TestQuickSightNeedsAMunicipality(t *testing.T) {
	_, err := harness.Run("dev", map[string]string{
		"cats:quicksightEnabled":   "true",
		"cats:quicksightPrincipal": "arn:aws:quicksight:ap-northeast-1:123456789012:user/default/analyst",
	}, platform.Program)
	if err == nil || !strings.Contains(err.Error(), "cats:municipalityCode") {
		t.Errorf("a dashboard of an environment stack without a municipality must be refused naming cats:municipalityCode, got %v", err)
	}
}

// TestAggregatesTableMatchesTheHandlerOutput checks the table over curated/
// against what the aggregation writes: its location holds the handler's
// objects and its columns are exactly the JSON keys of an aggregate row.
func TestAggregatesTableMatchesTheHandlerOutput(t *testing.T) {
	for _, stack := range environments {
		t.Run(stack, func(t *testing.T) {
			rec := run(t, stack, nil)
			table := named(t, rec, glueTableType, "name", analytics.AggregatesTableName)
			location := str(in(table, "storageDescriptor", "location"))
			key := aggregator.AggregateKey("131016", "2026-04-01", time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC), "shardId-000000000000", "49590338271490256608559692538361571095921575989136588898")
			if location != "s3://cats-data-lake-"+stack+"/"+aggregator.AggregatesPrefix {
				t.Errorf("cats_window_aggregates must read curated/aggregates/, got %s", location)
			}
			mustContain(t, "s3://cats-data-lake-"+stack+"/"+key, strings.TrimSuffix(location, "/")+"/municipality=131016/dt=2026-04-01/",
				"the handler's objects must sit in the table's projected partitions")

			row, err := json.Marshal(aggregator.Aggregate{Municipality: "131016", District: "d", WindowStart: time.Now(), WindowEnd: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			var encoded map[string]any
			if err := json.Unmarshal(row, &encoded); err != nil {
				t.Fatal(err)
			}
			columns := map[string]bool{}
			for _, c := range in(table, "storageDescriptor", "columns").ArrayValue() {
				columns[str(get(c, "name"))] = true
			}
			for k := range encoded {
				if !columns[k] {
					t.Errorf("the handler writes %q but cats_window_aggregates has no such column", k)
				}
			}
			if len(columns) != len(encoded) {
				t.Errorf("cats_window_aggregates has %d columns, the handler writes %d keys", len(columns), len(encoded))
			}
		})
	}
}
