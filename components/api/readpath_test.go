package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/cats-analytics/cats-analytics/components/api"
	"github.com/cats-analytics/cats-analytics/domain/catsinfo"
	"github.com/cats-analytics/cats-analytics/functions/catsapi"
	"github.com/cats-analytics/cats-analytics/internal/localaws"
)

const readTable = "cats-info-read-test"

// dynamoDBAction sends a DynamoDB API request body, as API Gateway's AWS
// integration does, and returns DynamoDB's answer.
func dynamoDBAction(t *testing.T, endpoint, action, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint+"/", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+action)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "dynamodb", localaws.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DynamoDB %s refused the rendered request (%d): %s\nrequest: %s", action, resp.StatusCode, raw, body)
	}
	var answer map[string]any
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatal(err)
	}
	return answer
}

// TestReadPathReturnsWhatTheWritePathStored writes records through the write
// path's handler, then reads them the way API Gateway does: the rendered
// request template goes to the DynamoDB API, and DynamoDB's answer goes
// through the response template. GET must give back exactly what POST answered.
func TestReadPathReturnsWhatTheWritePathStored(t *testing.T) {
	endpoints := localaws.Start(t)
	db, streams := endpoints.DynamoDB(), endpoints.Kinesis()
	ctx := context.Background()
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(readTable),
		// cats-info's key schema and index, as components/database declares them.
		AttributeDefinitions: []dbtypes.AttributeDefinition{
			{AttributeName: aws.String(catsinfo.AttrID), AttributeType: dbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(catsinfo.AttrTimestamp), AttributeType: dbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(catsinfo.AttrMunicipality), AttributeType: dbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []dbtypes.KeySchemaElement{
			{AttributeName: aws.String(catsinfo.AttrID), KeyType: dbtypes.KeyTypeHash},
			{AttributeName: aws.String(catsinfo.AttrTimestamp), KeyType: dbtypes.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []dbtypes.GlobalSecondaryIndex{{
			IndexName: aws.String(catsinfo.IndexByMunicipalityTime),
			KeySchema: []dbtypes.KeySchemaElement{
				{AttributeName: aws.String(catsinfo.AttrMunicipality), KeyType: dbtypes.KeyTypeHash},
				{AttributeName: aws.String(catsinfo.AttrTimestamp), KeyType: dbtypes.KeyTypeRange},
			},
			Projection: &dbtypes.Projection{ProjectionType: dbtypes.ProjectionTypeAll},
		}},
		BillingMode: dbtypes.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := streams.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("cats-read-test"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ { // kinesalite activates the stream asynchronously
		out, err := streams.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("cats-read-test")})
		if err == nil && out.StreamDescription.StreamStatus == "ACTIVE" {
			break
		}
		if i == 100 {
			t.Fatalf("stream not active: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	handler := &catsapi.Handler{DB: db, Stream: streams, TableName: readTable, StreamName: "cats-read-test"}

	var stored []map[string]any
	for _, body := range []string{
		`{"municipality_code":"131016","event_time":"2026-03-31T18:30:00+09:00","event_type":"neuter","district":"神田 \"錦町\" 'よく' \\ </script>",` +
			`"latitude":35.6,"longitude":139.7,"reporter_role":"veterinarian","cat_estimated_age_months":30,"cat_sex":"male",` +
			`"cat_colour_pattern":"キジトラ","cat_ear_tipped":true,"cat_microchip_id":"392141000012345"}`,
		`{"municipality_code":"131016","event_time":"2026-03-30T10:00:00Z","event_type":"adoption","district":"千代田一丁目","reporter_role":"shelter","cat_sex":"unknown","cat_ear_tipped":false}`,
	} {
		resp, err := handler.Handle(ctx, events.APIGatewayProxyRequest{HTTPMethod: "POST", Resource: "/cats", Body: body})
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /cats: %v %d %s", err, resp.StatusCode, resp.Body)
		}
		var record map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &record); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, record)
	}
	id := stored[0]["record_id"].(string)

	// GET /cats/{id}
	request := renderTemplates(t, []renderJob{{Template: api.GetItemRequestTemplate(readTable), Params: map[string]string{"id": id}}})[0]
	answer := dynamoDBAction(t, endpoints.DynamoDBURL, "Query", request.Output)
	got := renderTemplates(t, []renderJob{{Template: api.GetItemResponseTemplate(), Body: answer, Params: map[string]string{"id": id}}})[0]
	if record := decode(t, "GET /cats/{id}", got); got.Status != 0 || !reflect.DeepEqual(record, stored[0]) {
		t.Errorf("GET /cats/%s (status %d)\n got %v\nwant %v (what POST answered)", id, got.Status, record, stored[0])
	}

	// GET /cats/{id} of an unknown id
	unknown := "2f8fad5b-d9cb-469f-a165-70867728950e"
	request = renderTemplates(t, []renderJob{{Template: api.GetItemRequestTemplate(readTable), Params: map[string]string{"id": unknown}}})[0]
	answer = dynamoDBAction(t, endpoints.DynamoDBURL, "Query", request.Output)
	if got := renderTemplates(t, []renderJob{{Template: api.GetItemResponseTemplate(), Body: answer, Params: map[string]string{"id": unknown}}})[0]; got.Status != 404 {
		t.Errorf("GET of an unknown id answers status %d %s, want 404", got.Status, got.Output)
	}

	// GET /cats
	request = renderTemplates(t, []renderJob{{Template: api.ListRequestTemplate(readTable)}})[0]
	answer = dynamoDBAction(t, endpoints.DynamoDBURL, "Scan", request.Output)
	page := decode(t, "GET /cats", renderTemplates(t, []renderJob{{Template: api.ListResponseTemplate(), Body: answer}})[0])
	listed := map[string]any{}
	for _, c := range page["cats"].([]any) {
		listed[c.(map[string]any)["record_id"].(string)] = c
	}
	for _, want := range stored {
		if !reflect.DeepEqual(listed[want["record_id"].(string)], want) {
			t.Errorf("GET /cats lists %v, want %v", listed[want["record_id"].(string)], want)
		}
	}
	if len(listed) != len(stored) || page["next"] != nil {
		t.Errorf("GET /cats lists %d records with next %v, want %d and no next page", len(listed), page["next"], len(stored))
	}

	// "All records of a municipality in a time range" (the database tier's index) finds what the API wrote.
	byMunicipality, err := db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(readTable), IndexName: aws.String(catsinfo.IndexByMunicipalityTime),
		KeyConditionExpression:   aws.String("municipality_code = :m AND #t BETWEEN :from AND :to"),
		ExpressionAttributeNames: map[string]string{"#t": "timestamp"},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{
			":m":    &dbtypes.AttributeValueMemberS{Value: "131016"},
			":from": &dbtypes.AttributeValueMemberS{Value: "2000-01-01T00:00:00.000Z"},
			":to":   &dbtypes.AttributeValueMemberS{Value: "2999-01-01T00:00:00.000Z"},
		},
	})
	if err != nil || len(byMunicipality.Items) != len(stored) {
		t.Errorf("index %s finds %v records of 131016 (%v), want %d: the write path must store municipality_code", catsinfo.IndexByMunicipalityTime, byMunicipality, err, len(stored))
	}
}
