package platform_test

import (
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/internal/harness"
)

func TestAPIPerStack(t *testing.T) {
	for _, tc := range stackKinds {
		t.Run(tc.name, func(t *testing.T) {
			r := runPlatform(t, tc.stack, tc.cfg)
			underPlatform(t, r.rec, "cats:api:Api")
			checkAPIWiring(t, r.rec, tc.stack, r.outputs["apiUrl"], tc.ownsBaseline)
		})
	}
}

// checkAPIWiring: the api tier reads and writes the data tiers' cats-info and
// record stream, a municipality stack's API takes its own records only, and
// only the stack owning the account's baseline sets API Gateway's account role.
func checkAPIWiring(t *testing.T, rec *harness.Recording, stack, apiURL string, ownsBaseline bool) {
	t.Helper()
	table := rec.One(t, "aws:dynamodb/table:Table")
	stream := rec.One(t, "aws:kinesis/stream:Stream")
	writer, ok := rec.Find("aws:lambda/function:Function", "cats-api-writer")
	if !ok {
		t.Fatal("no write-path Lambda cats-api-writer (seed §4 API Gateway: 統合先 Lambda)")
	}
	vars := writer.Input("environment").ObjectValue()["variables"].ObjectValue()
	if vars["TABLE_NAME"].StringValue() != table.Str("name") || vars["STREAM_NAME"].StringValue() != stream.Str("name") {
		t.Errorf("write path writes %v, want the data tiers' table %s and stream %s", vars, table.Str("name"), stream.Str("name"))
	}
	code := ""
	if v, ok := vars["MUNICIPALITY_CODE"]; ok {
		code = v.StringValue()
	}
	want := "" // an environment stack's API takes any municipality's records
	if stack != "dev" && stack != "prod" {
		want = strings.SplitN(stack, "-", 2)[0] // a municipality stack's, its own only
	}
	if code != want {
		t.Errorf("%s: write path MUNICIPALITY_CODE %q, want %q", stack, code, want)
	}
	reads := 0
	for _, i := range rec.ByType("aws:apigateway/integration:Integration") {
		if i.Str("type") == "AWS" {
			reads++
		}
		if i.Str("type") == "AWS" && !strings.Contains(i.Input("requestTemplates").ObjectValue()["application/json"].StringValue(), `"TableName": "`+table.Str("name")+`"`) {
			t.Errorf("GET integration %s does not query the data tiers' table %s", i.Name, table.Str("name"))
		}
	}
	if reads != 2 {
		t.Errorf("%d DynamoDB integrations, want GET /cats and GET /cats/{id} (seed §4 API Gateway: 統合先 DynamoDB)", reads)
	}
	if accounts := rec.ByType("aws:apigateway/account:Account"); (len(accounts) == 1) != ownsBaseline || len(accounts) > 1 {
		t.Errorf("%s: %d API Gateway account settings, want one exactly when the stack owns the account's baseline (one per account and region)", stack, len(accounts))
	}
	stage := rec.One(t, "aws:apigateway/stage:Stage")
	if apiURL == "" || apiURL != stage.Outputs["invokeUrl"].StringValue() {
		t.Errorf("apiUrl %q, want the stage's invoke URL %q", apiURL, stage.Outputs["invokeUrl"].StringValue())
	}
}
