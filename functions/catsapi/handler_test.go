package catsapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
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
	// The table's key is the seed's: partition key id, sort key timestamp, on demand (seed §4 DynamoDB).
	if _, err := e.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(e.table),
		AttributeDefinitions: []dbtypes.AttributeDefinition{
			{AttributeName: aws.String("id"), AttributeType: dbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("timestamp"), AttributeType: dbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []dbtypes.KeySchemaElement{
			{AttributeName: aws.String("id"), KeyType: dbtypes.KeyTypeHash},
			{AttributeName: aws.String("timestamp"), KeyType: dbtypes.KeyTypeRange},
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

func decodeStream(t *testing.T, r kintypes.Record) catsapi.StreamRecord {
	t.Helper()
	var s catsapi.StreamRecord
	if err := json.Unmarshal(r.Data, &s); err != nil {
		t.Fatalf("stream record %q is not JSON: %v", r.Data, err)
	}
	return s
}

const validBody = `{"municipalityCode":"131016","kind":"sighting","observedAt":"2026-03-31T18:30:00+09:00","count":2,"location":{"lat":35.694,"lon":139.753},"description":"三毛猫と黒猫"}`

func TestWritePathAgainstDynamoDBAndKinesis(t *testing.T) {
	e := newEnv(t, "131016")

	created := e.call(http.MethodPost, "/cats", "", validBody)
	if created.StatusCode != http.StatusCreated {
		t.Fatalf("POST /cats: got %d %s, want 201", created.StatusCode, created.Body)
	}
	var cat catsapi.Cat
	if err := json.Unmarshal([]byte(created.Body), &cat); err != nil {
		t.Fatalf("POST /cats answered %q: %v", created.Body, err)
	}
	if created.Headers["Location"] != "/cats/"+cat.ID {
		t.Errorf("POST /cats Location = %q, want /cats/%s", created.Headers["Location"], cat.ID)
	}
	if cat.ObservedAt != "2026-03-31T09:30:00.000Z" {
		t.Errorf("observedAt stored as %q, want UTC 2026-03-31T09:30:00.000Z (one layout keeps string order = time order)", cat.ObservedAt)
	}

	items := e.items()
	if len(items) != 1 {
		t.Fatalf("after POST the table has %d items, want 1", len(items))
	}
	item := items[0]
	if s, ok := item["id"].(*dbtypes.AttributeValueMemberS); !ok || s.Value != cat.ID {
		t.Errorf("item id = %#v, want S %s (partition key id, seed §4)", item["id"], cat.ID)
	}
	if s, ok := item["timestamp"].(*dbtypes.AttributeValueMemberS); !ok || s.Value != cat.Timestamp {
		t.Errorf("item timestamp = %#v, want S %s (sort key timestamp, seed §4)", item["timestamp"], cat.Timestamp)
	}
	if n, ok := item["count"].(*dbtypes.AttributeValueMemberN); !ok || n.Value != "2" {
		t.Errorf("item count = %#v, want N 2: the API's GET mapping template reads count as a number", item["count"])
	}
	if m, ok := item["location"].(*dbtypes.AttributeValueMemberM); !ok || m.Value["lat"] == nil {
		t.Errorf("item location = %#v, want a map with lat and lon", item["location"])
	}

	// The same record exists once in the table even when a client retries with a changed body.
	updatedBody := strings.Replace(validBody, `"count":2`, `"count":3`, 1)
	updated := e.call(http.MethodPut, "/cats/{id}", cat.ID, updatedBody)
	if updated.StatusCode != http.StatusOK {
		t.Fatalf("PUT /cats/%s: got %d %s, want 200", cat.ID, updated.StatusCode, updated.Body)
	}
	var after catsapi.Cat
	_ = json.Unmarshal([]byte(updated.Body), &after)
	if after.ID != cat.ID || after.Timestamp != cat.Timestamp || after.Count != 3 || after.UpdatedAt <= cat.UpdatedAt {
		t.Errorf("PUT changed the wrong things: before %+v after %+v; want same id and registration timestamp, count 3, later updatedAt", cat, after)
	}
	if items := e.items(); len(items) != 1 {
		t.Errorf("after PUT the table has %d items, want 1: an update replaces the record, it does not add one", len(items))
	} else if n := items[0]["count"].(*dbtypes.AttributeValueMemberN); n.Value != "3" {
		t.Errorf("after PUT count is %s in the table, want 3", n.Value)
	}

	deleted := e.call(http.MethodDelete, "/cats/{id}", cat.ID, "")
	if deleted.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /cats/%s: got %d %s, want 204", cat.ID, deleted.StatusCode, deleted.Body)
	}
	if items := e.items(); len(items) != 0 {
		t.Errorf("after DELETE the table has %d items, want 0", len(items))
	}
	if again := e.call(http.MethodDelete, "/cats/{id}", cat.ID, ""); again.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: got %d %s, want 404", again.StatusCode, again.Body)
	}
	if missing := e.call(http.MethodPut, "/cats/{id}", cat.ID, validBody); missing.StatusCode != http.StatusNotFound {
		t.Errorf("PUT of a deleted record: got %d %s, want 404", missing.StatusCode, missing.Body)
	}

	// Every change reaches the stream that feeds Firehose and cats-data-analysis, in order.
	records := e.streamRecords()
	var ops []string
	for _, r := range records {
		s := decodeStream(t, r)
		ops = append(ops, s.Operation)
		if aws.ToString(r.PartitionKey) != "131016" {
			t.Errorf("stream record partition key %q, want the municipality code 131016 (keeps a municipality's changes in order)", aws.ToString(r.PartitionKey))
		}
		if s.ID != cat.ID || s.MunicipalityCode != "131016" || s.Kind != "sighting" {
			t.Errorf("stream record %s carries %+v, want the record %s", s.Operation, s.Cat, cat.ID)
		}
	}
	if got := strings.Join(ops, ","); got != "created,updated,deleted" {
		t.Errorf("stream operations = %s, want created,updated,deleted", got)
	}
	if s := decodeStream(t, records[1]); s.Count != 3 {
		t.Errorf("updated stream record has count %d, want 3", s.Count)
	}
}

func TestBadInputAnswers400NamingTheField(t *testing.T) {
	e := newEnv(t, "131016")
	const someID = "0f8fad5b-d9cb-469f-a165-70867728950e"
	replace := func(old, new string) string { return strings.Replace(validBody, old, new, 1) }
	long := strings.Repeat("猫", catsapi.MaxDescription+1)
	cases := []struct {
		name, method, resource, id, body string
		field, reason                    string
	}{
		{"empty body", "POST", "/cats", "", "", "body", "is empty"},
		{"not JSON", "POST", "/cats", "", "{", "body", "not valid JSON"},
		{"two objects", "POST", "/cats", "", validBody + validBody, "body", "after the JSON object"},
		{"unknown field", "POST", "/cats", "", replace(`"count":2`, `"count":2,"colour":"black"`), "colour", "is not a field of a cat record"},
		{"id on create", "POST", "/cats", "", replace(`{`, `{"id":"x",`), "id", "assigned by the API"},
		{"missing municipality", "POST", "/cats", "", replace(`"municipalityCode":"131016",`, ``), "municipalityCode", "is required"},
		{"bad check digit", "POST", "/cats", "", replace(`131016`, `131017`), "municipalityCode", "check digit"},
		{"other municipality", "POST", "/cats", "", replace(`131016`, `011002`), "municipalityCode", "must be 131016"},
		{"unknown kind", "POST", "/cats", "", replace(`"sighting"`, `"dog"`), "kind", `"dog" is not one of`},
		{"missing kind", "POST", "/cats", "", replace(`"kind":"sighting",`, ``), "kind", "is required"},
		{"bad time", "POST", "/cats", "", replace(`2026-03-31T18:30:00+09:00`, `yesterday`), "observedAt", "RFC 3339"},
		{"future time", "POST", "/cats", "", replace(`2026-03-31T18:30:00+09:00`, `2026-04-02T00:00:00Z`), "observedAt", "in the future"},
		{"count zero", "POST", "/cats", "", replace(`"count":2`, `"count":0`), "count", "between 1 and 1000"},
		{"count as text", "POST", "/cats", "", replace(`"count":2`, `"count":"two"`), "count", "must be a JSON number"},
		{"missing count", "POST", "/cats", "", replace(`"count":2,`, ``), "count", "is required"},
		{"latitude outside Japan", "POST", "/cats", "", replace(`35.694`, `135.694`), "location.lat", "latitude in Japan"},
		{"longitude outside Japan", "POST", "/cats", "", replace(`139.753`, `39.753`), "location.lon", "longitude in Japan"},
		{"description too long", "POST", "/cats", "", replace(`"三毛猫と黒猫"`, `"`+long+`"`), "description", "at most 2000"},
		{"bad path id", "PUT", "/cats/{id}", "not-a-uuid", validBody, "id", "lower-case UUID"},
		{"id differs from path", "PUT", "/cats/{id}", someID, replace(`{`, `{"id":"1f8fad5b-d9cb-469f-a165-70867728950e",`), "id", "must match the id in the path"},
		{"bad delete id", "DELETE", "/cats/{id}", "../etc", "", "id", "lower-case UUID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := e.call(c.method, c.resource, c.id, c.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("got %d %s, want 400", resp.StatusCode, resp.Body)
			}
			var answer struct{ Error, Field, Reason string }
			if err := json.Unmarshal([]byte(resp.Body), &answer); err != nil {
				t.Fatalf("400 body %q is not JSON: %v", resp.Body, err)
			}
			if answer.Field != c.field || !strings.Contains(answer.Reason, c.reason) {
				t.Errorf("400 answer %s: want field %q and a reason containing %q", resp.Body, c.field, c.reason)
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

func TestMunicipalityCannotChangeOnEnvironmentStack(t *testing.T) {
	e := newEnv(t, "") // an environment stack serves any municipality
	created := e.call(http.MethodPost, "/cats", "", strings.Replace(validBody, "131016", "011002", 1))
	if created.StatusCode != http.StatusCreated {
		t.Fatalf("POST for 011002 on an environment stack: got %d %s, want 201", created.StatusCode, created.Body)
	}
	var cat catsapi.Cat
	_ = json.Unmarshal([]byte(created.Body), &cat)
	moved := e.call(http.MethodPut, "/cats/{id}", cat.ID, validBody)
	if moved.StatusCode != http.StatusBadRequest || !strings.Contains(moved.Body, `"field":"municipalityCode"`) {
		t.Errorf("moving a record to another municipality: got %d %s, want 400 on municipalityCode", moved.StatusCode, moved.Body)
	}
}

func TestStreamFailureUndoesTheWrite(t *testing.T) {
	e := newEnv(t, "131016")
	created := e.call(http.MethodPost, "/cats", "", validBody)
	if created.StatusCode != http.StatusCreated {
		t.Fatalf("POST /cats: got %d %s", created.StatusCode, created.Body)
	}
	var cat catsapi.Cat
	_ = json.Unmarshal([]byte(created.Body), &cat)

	// The stream disappears: every change must be refused and leave the table as it was.
	e.handler.StreamName = "cats-data-stream-missing"
	if resp := e.call(http.MethodPost, "/cats", "", validBody); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST with the stream down: got %d %s, want 503", resp.StatusCode, resp.Body)
	}
	if resp := e.call(http.MethodPut, "/cats/{id}", cat.ID, strings.Replace(validBody, `"count":2`, `"count":9`, 1)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("PUT with the stream down: got %d %s, want 503", resp.StatusCode, resp.Body)
	}
	if resp := e.call(http.MethodDelete, "/cats/{id}", cat.ID, ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("DELETE with the stream down: got %d %s, want 503", resp.StatusCode, resp.Body)
	}
	items := e.items()
	if len(items) != 1 {
		t.Fatalf("table has %d items after refused changes, want only the first record", len(items))
	}
	if n := items[0]["count"].(*dbtypes.AttributeValueMemberN); n.Value != "2" {
		t.Errorf("refused PUT left count %s in the table, want 2: the table and the data lake must not disagree", n.Value)
	}
	if n := len(e.streamRecords()); n != 1 {
		t.Errorf("stream has %d records, want only the first creation", n)
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
	created := e.call(http.MethodPost, "/cats", "", validBody)
	var cat catsapi.Cat
	if err := json.Unmarshal([]byte(created.Body), &cat); err != nil || created.StatusCode != http.StatusCreated {
		t.Fatalf("POST /cats: %d %s", created.StatusCode, created.Body)
	}
	other := *e.handler
	e.handler.DB = &interleaved{Table: e.db, before: func() {
		// Someone else updates the record after this request read it.
		if resp, _ := other.Handle(context.Background(), events.APIGatewayProxyRequest{
			HTTPMethod: http.MethodPut, Resource: "/cats/{id}", PathParameters: map[string]string{"id": cat.ID},
			Body: strings.Replace(validBody, `"count":2`, `"count":7`, 1),
		}); resp.StatusCode != http.StatusOK {
			t.Errorf("the other writer's PUT: %d %s", resp.StatusCode, resp.Body)
		}
	}}
	resp := e.call(http.MethodPut, "/cats/{id}", cat.ID, strings.Replace(validBody, `"count":2`, `"count":3`, 1))
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("PUT over a concurrent change: got %d %s, want 409 (no lost update)", resp.StatusCode, resp.Body)
	}
	if n := e.items()[0]["count"].(*dbtypes.AttributeValueMemberN); n.Value != "7" {
		t.Errorf("count is %s, want the other writer's 7 kept", n.Value)
	}
	var ops []string
	for _, r := range e.streamRecords() {
		ops = append(ops, decodeStream(t, r).Operation)
	}
	if strings.Join(ops, ",") != "created,updated" {
		t.Errorf("stream operations %v, want created,updated: the refused PUT publishes nothing", ops)
	}
}
