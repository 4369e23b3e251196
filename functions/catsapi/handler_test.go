package catsapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/cats-analytics/cats-analytics/domain/catrecord"
	"github.com/cats-analytics/cats-analytics/domain/catsinfo"
	"github.com/cats-analytics/cats-analytics/functions/aggregator"
	"github.com/cats-analytics/cats-analytics/functions/catsapi"
	"github.com/cats-analytics/cats-analytics/internal/localaws"
)

// env is one test's DynamoDB table and Kinesis stream on the local emulators.
type env struct {
	t       *testing.T
	db      *dynamodb.Client
	kinesis *kinesis.Client
	table   string
	stream  string
	handler *catsapi.Handler
}

// clock advances a millisecond per call, so every write has its own updatedAt.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

var testNow = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, servedCode string) *env {
	t.Helper()
	endpoints := localaws.Start(t)
	e := &env{t: t, db: endpoints.DynamoDB(), kinesis: endpoints.Kinesis(), table: "cats-info-test", stream: "cats-data-stream-test"}
	ctx := context.Background()
	// The table as the database tier creates it (domain/catsinfo); the items
	// are checked below against the seed's names (seed §4 DynamoDB).
	if _, err := e.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(e.table),
		AttributeDefinitions: []dbtypes.AttributeDefinition{
			{AttributeName: aws.String(catsinfo.AttrID), AttributeType: dbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(catsinfo.AttrTimestamp), AttributeType: dbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []dbtypes.KeySchemaElement{
			{AttributeName: aws.String(catsinfo.AttrID), KeyType: dbtypes.KeyTypeHash},
			{AttributeName: aws.String(catsinfo.AttrTimestamp), KeyType: dbtypes.KeyTypeRange},
		},
		BillingMode: dbtypes.BillingModePayPerRequest,
	}); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := e.kinesis.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(e.stream), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	waitActive(t, e.kinesis, e.stream)
	c := &clock{now: testNow}
	e.handler = &catsapi.Handler{
		DB: e.db, Stream: e.kinesis, TableName: e.table, StreamName: e.stream,
		MunicipalityCode: servedCode, Now: c.Now,
	}
	return e
}

func waitActive(t *testing.T, k *kinesis.Client, stream string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		out, err := k.DescribeStream(context.Background(), &kinesis.DescribeStreamInput{StreamName: aws.String(stream)})
		if err == nil && out.StreamDescription.StreamStatus == kintypes.StreamStatusActive {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("stream %s did not become active", stream)
}

func (e *env) call(method, resource, id, body string) events.APIGatewayProxyResponse {
	e.t.Helper()
	req := events.APIGatewayProxyRequest{HTTPMethod: method, Resource: resource, Body: body}
	if id != "" {
		req.PathParameters = map[string]string{"id": id}
	}
	resp, err := e.handler.Handle(context.Background(), req)
	if err != nil {
		e.t.Fatalf("%s %s returned an error instead of an HTTP answer: %v", method, resource, err)
	}
	return resp
}

// items returns every item of the table.
func (e *env) items() []map[string]dbtypes.AttributeValue {
	e.t.Helper()
	out, err := e.db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(e.table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		e.t.Fatalf("scan: %v", err)
	}
	return out.Items
}

// streamRecords returns every record on the stream's shard, in order.
func (e *env) streamRecords() []kintypes.Record {
	e.t.Helper()
	ctx := context.Background()
	shards, err := e.kinesis.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(e.stream)})
	if err != nil || len(shards.Shards) != 1 {
		e.t.Fatalf("list shards: %v (%d shards)", err, len(shards.Shards))
	}
	it, err := e.kinesis.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(e.stream), ShardId: shards.Shards[0].ShardId, ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		e.t.Fatalf("shard iterator: %v", err)
	}
	out, err := e.kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		e.t.Fatalf("get records: %v", err)
	}
	return out.Records
}

// streamed decodes a stream record the way the aggregation
// (cats-data-analysis) does, with catrecord.Parse: strictly, unknown fields
// refused, every field validated.
func streamed(t *testing.T, r kintypes.Record) catrecord.Record {
	t.Helper()
	rec, err := catrecord.Parse(r.Data, testNow.Add(time.Hour))
	if err != nil {
		t.Fatalf("stream record %s is not a valid catrecord.Record: %v (the aggregation would reject it)", r.Data, err)
	}
	return rec
}

// validBody is a cat record as catrecord encodes it, without record_id (the API assigns it).
const validBody = `{"municipality_code":"131016","event_time":"2026-03-31T18:30:00+09:00","event_type":"sighting",` +
	`"district":"千代田一丁目","latitude":35.694,"longitude":139.753,"reporter_role":"resident",` +
	`"cat_estimated_age_months":18,"cat_sex":"female","cat_colour_pattern":"三毛","cat_ear_tipped":true}`

func decodeStored(t *testing.T, resp events.APIGatewayProxyResponse) catsapi.Stored {
	t.Helper()
	var s catsapi.Stored
	if err := json.Unmarshal([]byte(resp.Body), &s); err != nil {
		t.Fatalf("answer %q is not a stored record: %v", resp.Body, err)
	}
	return s
}

// create POSTs a record that must be accepted and returns what the API answered.
func (e *env) create(body string) catsapi.Stored {
	e.t.Helper()
	created := e.call(http.MethodPost, "/cats", "", body)
	if created.StatusCode != http.StatusCreated {
		e.t.Fatalf("POST /cats %s: got %d %s, want 201", body, created.StatusCode, created.Body)
	}
	return decodeStored(e.t, created)
}

func TestWritePathAgainstDynamoDBAndKinesis(t *testing.T) {
	e := newEnv(t, "131016")

	created := e.call(http.MethodPost, "/cats", "", validBody)
	if created.StatusCode != http.StatusCreated {
		t.Fatalf("POST /cats: got %d %s, want 201", created.StatusCode, created.Body)
	}
	cat := decodeStored(t, created)
	if created.Headers["Location"] != "/cats/"+cat.RecordID {
		t.Errorf("POST /cats Location = %q, want /cats/%s", created.Headers["Location"], cat.RecordID)
	}
	if !strings.Contains(created.Body, `"record_id":"`+cat.RecordID+`"`) || !strings.Contains(created.Body, `"timestamp":"`) || !strings.Contains(created.Body, `"updated_at":"`) {
		t.Errorf("POST answer %s must carry the record (record_id assigned) and timestamp and updated_at", created.Body)
	}
	if want := time.Date(2026, 3, 31, 9, 30, 0, 0, time.UTC); !cat.EventTime.Equal(want) || cat.EventTime.Location() != time.UTC {
		t.Errorf("event_time stored as %v, want %v in UTC (catrecord keeps event times in UTC)", cat.EventTime, want)
	}

	items := e.items()
	if len(items) != 1 {
		t.Fatalf("after POST the table has %d items, want 1", len(items))
	}
	item := items[0]
	wantS := map[string]string{
		"id":                 cat.RecordID,  // partition key id (seed §4)
		"timestamp":          cat.Timestamp, // sort key timestamp (seed §4)
		"municipality_code":  "131016",      // partition key of the by-municipality-time index (domain/catsinfo)
		"event_time":         "2026-03-31T09:30:00Z",
		"event_type":         "sighting",
		"district":           "千代田一丁目",
		"reporter_role":      "resident",
		"cat_sex":            "female",
		"cat_colour_pattern": "三毛",
		"updated_at":         cat.UpdatedAt,
	}
	for attr, want := range wantS {
		if s, ok := item[attr].(*dbtypes.AttributeValueMemberS); !ok || s.Value != want {
			t.Errorf("item %s = %#v, want S %q (the GET mapping templates and the index read it)", attr, item[attr], want)
		}
	}
	for attr, want := range map[string]string{"latitude": "35.694", "longitude": "139.753", "cat_estimated_age_months": "18"} {
		if n, ok := item[attr].(*dbtypes.AttributeValueMemberN); !ok || n.Value != want {
			t.Errorf("item %s = %#v, want N %s: the GET mapping templates read it as a number", attr, item[attr], want)
		}
	}
	if b, ok := item["cat_ear_tipped"].(*dbtypes.AttributeValueMemberBOOL); !ok || !b.Value {
		t.Errorf("item cat_ear_tipped = %#v, want BOOL true", item["cat_ear_tipped"])
	}
	for _, absent := range []string{"record_id", "cat_microchip_id"} {
		if v, ok := item[absent]; ok {
			t.Errorf("item has %s = %#v: record_id is stored once, as id, and an absent optional field is no attribute", absent, v)
		}
	}
	if !strings.HasPrefix(cat.Timestamp, "2026-04-01T00:00:00.") || len(cat.Timestamp) != len(catsinfo.TimeLayout) {
		t.Errorf("timestamp %q, want the registration time in the fixed-width layout %s (string order = time order)", cat.Timestamp, catsinfo.TimeLayout)
	}

	// An update keeps the record's id and registration time and replaces the rest.
	updatedBody := strings.Replace(validBody, `"event_type":"sighting"`, `"event_type":"capture"`, 1)
	updated := e.call(http.MethodPut, "/cats/{id}", cat.RecordID, updatedBody)
	if updated.StatusCode != http.StatusOK {
		t.Fatalf("PUT /cats/%s: got %d %s, want 200", cat.RecordID, updated.StatusCode, updated.Body)
	}
	after := decodeStored(t, updated)
	if after.RecordID != cat.RecordID || after.Timestamp != cat.Timestamp || after.EventType != catrecord.Capture || after.UpdatedAt <= cat.UpdatedAt {
		t.Errorf("PUT changed the wrong things: before %+v after %+v; want same id and registration timestamp, event_type capture, later updated_at", cat, after)
	}
	if items := e.items(); len(items) != 1 {
		t.Errorf("after PUT the table has %d items, want 1: an update replaces the record, it does not add one", len(items))
	} else if v := items[0]["event_type"].(*dbtypes.AttributeValueMemberS); v.Value != "capture" {
		t.Errorf("after PUT event_type is %s in the table, want capture", v.Value)
	}

	deleted := e.call(http.MethodDelete, "/cats/{id}", cat.RecordID, "")
	if deleted.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /cats/%s: got %d %s, want 204", cat.RecordID, deleted.StatusCode, deleted.Body)
	}
	if items := e.items(); len(items) != 0 {
		t.Errorf("after DELETE the table has %d items, want 0", len(items))
	}
	if again := e.call(http.MethodDelete, "/cats/{id}", cat.RecordID, ""); again.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: got %d %s, want 404", again.StatusCode, again.Body)
	}
	if missing := e.call(http.MethodPut, "/cats/{id}", cat.RecordID, validBody); missing.StatusCode != http.StatusNotFound {
		t.Errorf("PUT of a deleted record: got %d %s, want 404", missing.StatusCode, missing.Body)
	}

	// The creation, the update and the deletion reach the stream that feeds
	// Firehose and cats-data-analysis as revisions 1, 2 and 3 of the record:
	// the update says what it replaces, the deletion is a tombstone with the
	// last content.
	records := e.streamRecords()
	var types []string
	var revisions []catrecord.Record
	for _, r := range records {
		rec := streamed(t, r)
		revisions = append(revisions, rec)
		types = append(types, string(rec.EventType))
		if aws.ToString(r.PartitionKey) != cat.RecordID {
			t.Errorf("stream record partition key %q, want the record id %s (catrecord.Record.PartitionKey: a retry lands on the same shard)", aws.ToString(r.PartitionKey), cat.RecordID)
		}
		if rec.RecordID != cat.RecordID || rec.MunicipalityCode != "131016" || rec.District != "千代田一丁目" {
			t.Errorf("stream record carries %+v, want the record %s", rec, cat.RecordID)
		}
		for _, key := range []string{`"timestamp"`, `"updated_at"`, `"operation"`, `"id"`} {
			if strings.Contains(string(r.Data), key+":") {
				t.Errorf("stream record %s carries %s: the stream carries catrecord's encoding only (Firehose's Glue schema and the aggregation know no other field)", r.Data, key)
			}
		}
	}
	if got := strings.Join(types, ","); got != "sighting,capture,capture" {
		t.Fatalf("stream carries event types %s, want sighting,capture,capture (the creation, the update, the deletion's last content)", got)
	}
	create, update, deletion := revisions[0], revisions[1], revisions[2]
	if create.Revision != 1 || create.Deleted || create.Replaces != nil {
		t.Errorf("the creation streams %+v, want revision 1, replacing nothing", create)
	}
	wantReplaced := catrecord.Counted{EventTime: cat.EventTime, EventType: catrecord.Sighting, District: "千代田一丁目", EarTipped: true}
	if update.Revision != 2 || update.Deleted || update.Replaces == nil || *update.Replaces != wantReplaced {
		t.Errorf("the update streams revision %d replacing %+v, want revision 2 replacing %+v", update.Revision, update.Replaces, wantReplaced)
	}
	if deletion.Revision != 3 || !deletion.Deleted || deletion.Replaces != nil || deletion.District != "千代田一丁目" {
		t.Errorf("the deletion streams %+v, want revision 3, a tombstone carrying the last content", deletion)
	}
	if cat.Revision != 1 || after.Revision != 2 {
		t.Errorf("answers carry revisions %d and %d, want 1 after POST and 2 after PUT", cat.Revision, after.Revision)
	}
}

// TestRevisionGuardsAnUpdate: a PUT that names the revision it read
// succeeds only while the record is at that revision.
func TestRevisionGuardsAnUpdate(t *testing.T) {
	e := newEnv(t, "131016")
	cat := e.create(validBody)
	edit := func(revision int, eventType string) events.APIGatewayProxyResponse {
		body := strings.Replace(validBody, `{`, fmt.Sprintf(`{"revision":%d,`, revision), 1)
		return e.call(http.MethodPut, "/cats/{id}", cat.RecordID, strings.Replace(body, `"sighting"`, `"`+eventType+`"`, 1))
	}
	if resp := edit(1, "capture"); resp.StatusCode != http.StatusOK || decodeStored(t, resp).Revision != 2 {
		t.Fatalf("PUT of revision 1, the current one: %d %s, want 200 at revision 2", resp.StatusCode, resp.Body)
	}
	if resp := edit(1, "neuter"); resp.StatusCode != http.StatusConflict {
		t.Errorf("PUT of revision 1 after it moved on: %d %s, want 409", resp.StatusCode, resp.Body)
	}
	if v := e.items()[0]["event_type"].(*dbtypes.AttributeValueMemberS); v.Value != "capture" {
		t.Errorf("event_type is %s after the stale PUT, want capture kept", v.Value)
	}
	if n, ok := e.items()[0]["revision"].(*dbtypes.AttributeValueMemberN); !ok || n.Value != "2" {
		t.Errorf("item revision = %#v, want N 2 (the GET mapping templates read it)", e.items()[0]["revision"])
	}
	if n := len(e.streamRecords()); n != 2 {
		t.Errorf("stream has %d records, want 2: the refused PUT publishes nothing", n)
	}
}

// TestStreamedRecordsAreCountedByTheAggregation hands what the write path put
// on the stream to the aggregation's own decoding and counting
// (functions/aggregator, the Lambda cats-data-analysis): none may be
// rejected, and each counts where its event type says.
func TestStreamedRecordsAreCountedByTheAggregation(t *testing.T) {
	e := newEnv(t, "")
	bodies := []string{
		validBody,
		strings.Replace(validBody, `"event_type":"sighting"`, `"event_type":"complaint"`, 1),
		strings.NewReplacer(`"131016"`, `"011002"`, `"latitude":35.694,"longitude":139.753,`, ``, `,"cat_estimated_age_months":18`, ``).Replace(validBody),
	}
	var ids []string
	for _, body := range bodies {
		resp := e.call(http.MethodPost, "/cats", "", body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: got %d %s", body, resp.StatusCode, resp.Body)
		}
		ids = append(ids, decodeStored(t, resp).RecordID)
	}
	// The first sighting was really in 千代田二丁目; the complaint is withdrawn.
	if resp := e.call(http.MethodPut, "/cats/{id}", ids[0], strings.Replace(validBody, "千代田一丁目", "千代田二丁目", 1)); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := e.call(http.MethodDelete, "/cats/{id}", ids[1], ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, resp.Body)
	}
	records := e.streamRecords()
	if len(records) != len(bodies)+2 {
		t.Fatalf("stream holds %d records, want %d: three creations, an update, a deletion", len(records), len(bodies)+2)
	}
	batch := make([]aggregator.Input, len(records))
	for i, r := range records {
		batch[i] = aggregator.Input{SequenceNumber: aws.ToString(r.SequenceNumber), Arrival: aws.ToTime(r.ApproximateArrivalTimestamp), Data: r.Data}
	}
	agg := aggregator.Aggregator{Window: time.Minute}
	state := aggregator.NewState()
	if rejected := agg.Add(state, aggregator.WindowStart(testNow, time.Minute), batch); len(rejected) != 0 {
		t.Fatalf("cats-data-analysis rejected what the API streamed: %+v (one cat record type, DESIGN.md; issue: producers and the aggregator share catrecord)", rejected)
	}
	if state.Stats.Records != len(records) || state.Stats.Updates != 1 || state.Stats.Deletions != 1 || state.Stats.Duplicates != 0 {
		t.Errorf("aggregation stats %+v, want %d revisions counted (1 update, 1 deletion), no duplicates", state.Stats, len(records))
	}
	// What the aggregation counts is what the table now holds.
	counted := map[string]int{}
	for _, row := range agg.Aggregates(state) {
		for event, n := range map[string]int{"sighting": row.Sightings, "complaint": row.Complaints} {
			if n != 0 {
				counted[row.Municipality+" "+row.District+" "+event] += n
			}
		}
	}
	held := map[string]int{}
	for _, item := range e.items() {
		s := func(attr string) string { return item[attr].(*dbtypes.AttributeValueMemberS).Value }
		held[s("municipality_code")+" "+s("district")+" "+s("event_type")]++
	}
	want := map[string]int{"131016 千代田二丁目 sighting": 1, "011002 千代田一丁目 sighting": 1}
	if !reflect.DeepEqual(counted, want) || !reflect.DeepEqual(held, want) {
		t.Errorf("the aggregation counts %v and the table holds %v, want both %v", counted, held, want)
	}
}

func TestBadInputAnswers400NamingTheField(t *testing.T) {
	e := newEnv(t, "131016")
	const someID = "0f8fad5b-d9cb-469f-a165-70867728950e"
	replace := func(old, new string) string {
		if !strings.Contains(validBody, old) {
			t.Fatalf("test body lacks %s", old)
		}
		return strings.Replace(validBody, old, new, 1)
	}
	cases := []struct {
		name, method, resource, id, body string
		field, reason                    string
	}{
		{"empty body", "POST", "/cats", "", "", "(record)", "is empty"},
		{"not JSON", "POST", "/cats", "", "{", "(record)", "not a JSON object"},
		{"two objects", "POST", "/cats", "", validBody + validBody, "(record)", "trailing data"},
		{"unknown field", "POST", "/cats", "", replace(`"cat_sex":"female"`, `"cat_sex":"female","colour":"black"`), "colour", "is not a field of the cat record"},
		{"record id on create", "POST", "/cats", "", replace(`{`, `{"record_id":"x",`), "record_id", "assigned by the API"},
		{"missing municipality", "POST", "/cats", "", replace(`"municipality_code":"131016",`, ``), "municipality_code", ""},
		{"bad check digit", "POST", "/cats", "", replace(`131016`, `131017`), "municipality_code", "check digit"},
		{"other municipality", "POST", "/cats", "", replace(`131016`, `011002`), "municipality_code", "must be 131016"},
		{"unknown event type", "POST", "/cats", "", replace(`"sighting"`, `"feeding"`), "event_type", `"feeding" must be one of`},
		{"missing event type", "POST", "/cats", "", replace(`"event_type":"sighting",`, ``), "event_type", "must be one of"},
		{"bad time", "POST", "/cats", "", replace(`2026-03-31T18:30:00+09:00`, `yesterday`), "event_time", "RFC 3339"},
		{"future time", "POST", "/cats", "", replace(`2026-03-31T18:30:00+09:00`, `2026-04-02T00:00:00Z`), "event_time", "in the future"},
		{"missing district", "POST", "/cats", "", replace(`"district":"千代田一丁目",`, ``), "district", "is required"},
		{"age as text", "POST", "/cats", "", replace(`"cat_estimated_age_months":18`, `"cat_estimated_age_months":"18"`), "cat_estimated_age_months", "must be a JSON int"},
		{"latitude alone", "POST", "/cats", "", replace(`"longitude":139.753,`, ``), "latitude", "together"},
		{"latitude out of range", "POST", "/cats", "", replace(`35.694`, `135.694`), "latitude", "outside -90..90"},
		{"unknown reporter", "POST", "/cats", "", replace(`"resident"`, `"cat"`), "reporter_role", "must be one of"},
		{"bad microchip", "POST", "/cats", "", replace(`"cat_ear_tipped":true`, `"cat_ear_tipped":true,"cat_microchip_id":"123"`), "cat_microchip_id", "15-digit"},
		{"bad path id", "PUT", "/cats/{id}", "not-a-uuid", validBody, "id", "lower-case UUID"},
		{"record id differs from path", "PUT", "/cats/{id}", someID, replace(`{`, `{"record_id":"1f8fad5b-d9cb-469f-a165-70867728950e",`), "record_id", "must match the id in the path"},
		{"bad delete id", "DELETE", "/cats/{id}", "../etc", "", "id", "lower-case UUID"},
		{"revision on create", "POST", "/cats", "", replace(`{`, `{"revision":1,`), "revision", "assigned by the API"},
		{"negative revision", "PUT", "/cats/{id}", someID, replace(`{`, `{"revision":-1,`), "revision", "1 or more"},
		{"deleted from a client", "PUT", "/cats/{id}", someID, replace(`{`, `{"deleted":true,`), "deleted", "DELETE /cats/{id}"},
		{"replaces from a client", "POST", "/cats", "", replace(`{`, `{"replaces":{"event_type":"sighting"},`), "replaces", "set by the API"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := e.call(c.method, c.resource, c.id, c.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("got %d %s, want 400", resp.StatusCode, resp.Body)
			}
			var answer struct {
				Error, Field, Reason string
				Problems             []struct{ Field, Reason string }
			}
			if err := json.Unmarshal([]byte(resp.Body), &answer); err != nil {
				t.Fatalf("400 body %q is not JSON: %v", resp.Body, err)
			}
			if answer.Field != c.field || !strings.Contains(answer.Reason, c.reason) {
				t.Errorf("400 answer %s: want field %q and a reason containing %q (catrecord's error names the field)", resp.Body, c.field, c.reason)
			}
			if len(answer.Problems) == 0 || answer.Problems[0].Field != answer.Field {
				t.Errorf("400 answer %s must list its problems, the named field first", resp.Body)
			}
			t.Logf("%s %s → 400 %s", c.method, c.resource, resp.Body)
		})
	}
	if n := len(e.items()); n != 0 {
		t.Errorf("rejected requests wrote %d items to the table", n)
	}
	if n := len(e.streamRecords()); n != 0 {
		t.Errorf("rejected requests put %d records on the stream", n)
	}
}

func TestEveryProblemIsListed(t *testing.T) {
	e := newEnv(t, "")
	body := strings.NewReplacer(`"sighting"`, `"feeding"`, `"female"`, `"tom"`).Replace(validBody)
	resp := e.call(http.MethodPost, "/cats", "", body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got %d %s, want 400", resp.StatusCode, resp.Body)
	}
	for _, field := range []string{`"field":"event_type"`, `"field":"cat_sex"`} {
		if !strings.Contains(resp.Body, field) {
			t.Errorf("400 answer %s must name every bad field (%s), so a client fixes its record in one round trip", resp.Body, field)
		}
	}
}

func TestMunicipalityCannotChangeOnEnvironmentStack(t *testing.T) {
	e := newEnv(t, "") // an environment stack serves any municipality
	cat := e.create(strings.Replace(validBody, "131016", "011002", 1))
	moved := e.call(http.MethodPut, "/cats/{id}", cat.RecordID, validBody)
	if moved.StatusCode != http.StatusBadRequest || !strings.Contains(moved.Body, `"field":"municipality_code"`) {
		t.Errorf("moving a record to another municipality: got %d %s, want 400 on municipality_code", moved.StatusCode, moved.Body)
	}
}

func TestStreamFailureUndoesTheWrite(t *testing.T) {
	e := newEnv(t, "131016")
	cat := e.create(validBody)

	// The stream disappears: every change must be refused and leave the table as it was.
	e.handler.StreamName = "cats-data-stream-missing"
	if resp := e.call(http.MethodPost, "/cats", "", validBody); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST with the stream down: got %d %s, want 503", resp.StatusCode, resp.Body)
	}
	if resp := e.call(http.MethodPut, "/cats/{id}", cat.RecordID, strings.Replace(validBody, `"sighting"`, `"adoption"`, 1)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("PUT with the stream down: got %d %s, want 503", resp.StatusCode, resp.Body)
	}
	if resp := e.call(http.MethodDelete, "/cats/{id}", cat.RecordID, ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("DELETE with the stream down: got %d %s, want 503", resp.StatusCode, resp.Body)
	}
	items := e.items()
	if len(items) != 1 {
		t.Fatalf("table has %d items after refused changes, want only the first record", len(items))
	}
	if v := items[0]["event_type"].(*dbtypes.AttributeValueMemberS); v.Value != "sighting" {
		t.Errorf("refused PUT left event_type %s in the table, want sighting: the table and the data lake must not disagree", v.Value)
	}
	if v, ok := items[0]["updated_at"].(*dbtypes.AttributeValueMemberS); !ok || v.Value != cat.UpdatedAt {
		t.Errorf("after the refused DELETE the item's updated_at is %#v, want %s: the record as it was", items[0]["updated_at"], cat.UpdatedAt)
	}
	// The stream is back: the record can still be changed (the undone
	// deletion left it as it was, not half-deleted).
	e.handler.StreamName = e.stream
	if resp := e.call(http.MethodDelete, "/cats/{id}", cat.RecordID, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE once the stream is back: %d %s, want 204", resp.StatusCode, resp.Body)
	}
	e.handler.StreamName = "cats-data-stream-missing"
	if n := len(e.streamRecords()); n != 2 {
		t.Errorf("stream has %d records, want the first creation and the final deletion only", n)
	}
}

func TestBase64BodiesAreDecoded(t *testing.T) {
	e := newEnv(t, "")
	resp, err := e.handler.Handle(context.Background(), events.APIGatewayProxyRequest{
		HTTPMethod: http.MethodPost, Resource: "/cats", IsBase64Encoded: true,
		Body: base64.StdEncoding.EncodeToString([]byte(validBody)),
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Errorf("base64 POST: %v %d %s, want 201", err, resp.StatusCode, resp.Body)
	}
}

func TestReadsAndOtherRoutesAreNotServed(t *testing.T) {
	e := newEnv(t, "")
	for _, c := range []struct {
		method, resource string
		want             int
	}{
		{"GET", "/cats", http.StatusMethodNotAllowed},
		{"GET", "/cats/{id}", http.StatusMethodNotAllowed},
		{"POST", "/cats/{id}", http.StatusMethodNotAllowed},
		{"POST", "/dogs", http.StatusNotFound},
	} {
		if resp := e.call(c.method, c.resource, "", ""); resp.StatusCode != c.want {
			t.Errorf("%s %s: got %d, want %d (reads go from API Gateway to DynamoDB directly)", c.method, c.resource, resp.StatusCode, c.want)
		}
	}
}

// interleaved lets another writer change the record between the handler's
// read and its write, on the real table.
type interleaved struct {
	catsapi.Table
	before func()
}

func (i *interleaved) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if i.before != nil {
		before := i.before
		i.before = nil
		before()
	}
	return i.Table.PutItem(ctx, in, opts...)
}

func TestConcurrentUpdateAnswers409(t *testing.T) {
	e := newEnv(t, "131016")
	cat := e.create(validBody)
	other := *e.handler
	e.handler.DB = &interleaved{Table: e.db, before: func() {
		// Someone else updates the record after this request read it.
		if resp, _ := other.Handle(context.Background(), events.APIGatewayProxyRequest{
			HTTPMethod: http.MethodPut, Resource: "/cats/{id}", PathParameters: map[string]string{"id": cat.RecordID},
			Body: strings.Replace(validBody, `"sighting"`, `"capture"`, 1),
		}); resp.StatusCode != http.StatusOK {
			t.Errorf("the other writer's PUT: %d %s", resp.StatusCode, resp.Body)
		}
	}}
	resp := e.call(http.MethodPut, "/cats/{id}", cat.RecordID, strings.Replace(validBody, `"sighting"`, `"neuter"`, 1))
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("PUT over a concurrent change: got %d %s, want 409 (no lost update)", resp.StatusCode, resp.Body)
	}
	if v := e.items()[0]["event_type"].(*dbtypes.AttributeValueMemberS); v.Value != "capture" {
		t.Errorf("event_type is %s, want the other writer's capture kept", v.Value)
	}
	var types []string
	for _, r := range e.streamRecords() {
		types = append(types, string(streamed(t, r).EventType))
	}
	if strings.Join(types, ",") != "sighting,capture" {
		t.Errorf("stream carries %v, want sighting,capture: the refused PUT publishes nothing", types)
	}
}
