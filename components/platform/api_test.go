package platform_test

import (
	"slices"
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

// TestAPIExecutionLogsAreDeclared: API Gateway's execution log group
// (API-Gateway-Execution-Logs_{restApiId}/{stage}) is the program's, with the
// logs key and the configured retention, before the stage logs to it; the
// stage is created explicitly, never by a deployment's stageName; the write
// path traces with X-Ray.
func TestAPIExecutionLogsAreDeclared(t *testing.T) {
	for _, kind := range stackKinds {
		t.Run(kind.name, func(t *testing.T) {
			rec := run(t, kind.stack, kind.cfg)
			restAPI := rec.One(t, "aws:apigateway/restApi:RestApi")
			stage := rec.One(t, "aws:apigateway/stage:Stage")
			group, ok := rec.Find("aws:cloudwatch/logGroup:LogGroup", "cats-api-execution-logs")
			if !ok {
				t.Fatal("no execution log group for the stage")
			}
			if want := "API-Gateway-Execution-Logs_" + restAPI.ID + "/" + stage.Str("stageName"); group.Str("name") != want {
				t.Errorf("execution log group %q, want %q (the name API Gateway writes to)", group.Str("name"), want)
			}
			logsKey, _ := rec.Find("aws:kms/key:Key", "cats-security-logs-key")
			wantRetention := 30.0
			if strings.HasSuffix(kind.stack, "prod") {
				wantRetention = 365
			}
			if group.Str("kmsKeyId") != out(logsKey, "arn") || num(group.Input("retentionInDays")) != wantRetention {
				t.Errorf("execution log group = %v, want the logs key and %v days", group.Inputs, wantRetention)
			}
			if !slices.Contains(stage.Dependencies, group.URN) {
				t.Errorf("the stage must wait for its execution log group, or API Gateway creates one itself")
			}
			for _, d := range rec.ByType("aws:apigateway/deployment:Deployment") {
				if d.Str("stageName") != "" {
					t.Errorf("deployment %s creates stage %q implicitly: stages are created explicitly", d.Name, d.Str("stageName"))
				}
			}
			writer, _ := rec.Find("aws:lambda/function:Function", "cats-api-writer")
			policy, _ := rec.Find("aws:iam/rolePolicy:RolePolicy", "cats-api-writer-policy")
			tracesActively(t, writer, policyJSON(policy))
		})
	}
}
