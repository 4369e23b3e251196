package api_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/api"
	"github.com/cats-analytics/cats-analytics/components/internal/lambdapkg"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

const (
	tableArn  = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/cats-info-test"
	streamArn = "arn:aws:kinesis:ap-northeast-1:123456789012:stream/cats-data-stream-test"
	dataKey   = "arn:aws:kms:ap-northeast-1:123456789012:key/data"
	logsKey   = "arn:aws:kms:ap-northeast-1:123456789012:key/logs"
	webACL    = "arn:aws:wafv2:ap-northeast-1:123456789012:regional/webacl/cats-waf-regional-test/1"
)

func testArgs(t *testing.T, stack, code string, ownsBaseline bool) api.Args {
	namer, err := naming.NewNamer(stack, "")
	if err != nil {
		t.Fatal(err)
	}
	return api.Args{
		Namer: namer, AccountID: plan.AccountID, Region: "ap-northeast-1",
		TableName: pulumi.String("cats-info-test"), TableArn: pulumi.String(tableArn),
		StreamName: pulumi.String("cats-data-stream-test"), StreamArn: pulumi.String(streamArn),
		DataKeyArn: pulumi.String(dataKey), LogsKeyArn: pulumi.String(logsKey), RegionalWebACLArn: pulumi.String(webACL),
		LogRetentionDays:      30,
		MunicipalityCode:      code,
		ManageAccountSettings: ownsBaseline,
	}
}

func run(t *testing.T, stack string, args api.Args) *harness.Recording {
	t.Helper()
	return harness.MustRun(t, stack, nil, func(ctx *pulumi.Context) error {
		_, err := api.NewAPI(ctx, "cats-api", args)
		return err
	})
}

// stacks are the kinds of stack the tier is deployed in.
var stacks = []struct {
	name, stack, code string
	ownsBaseline      bool
}{
	{"dev environment", "dev", "", true},
	{"prod environment", "prod", "", true},
	{"shared municipality", "131016-prod", "131016", false},
	{"municipality with its own account", "011002-dev", "011002", true},
}

func TestAPI(t *testing.T) {
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) {
			rec := run(t, s.stack, testArgs(t, s.stack, s.code, s.ownsBaseline))
			checkRestAPI(t, rec, s.stack)
			checkIntegrations(t, rec)
			checkFunction(t, rec, s.stack, s.code)
			checkStage(t, rec, s.ownsBaseline)
			for _, r := range rec.Resources {
				if r.Type == api.Type {
					continue
				}
				if _, ok := rec.Ancestor(r, "cats:api:"); !ok {
					t.Errorf("%s %s is not under the api component (STYLE.md: every child parented to its tier)", r.Type, r.Name)
				}
			}
		})
	}
}

func checkRestAPI(t *testing.T, rec *harness.Recording, stack string) {
	t.Helper()
	restAPI := rec.One(t, "aws:apigateway/restApi:RestApi")
	if got := restAPI.Str("name"); got != "cats-api-"+stack {
		t.Errorf("REST API name %q, want cats-api-%s (seed §4 API名 cats-api, per stack)", got, stack)
	}
	if got := restAPI.Input("endpointConfiguration").ObjectValue()["types"].StringValue(); got != "REGIONAL" {
		t.Errorf("endpoint type %q, want REGIONAL: the regional WAF ACL protects it", got)
	}

	paths := map[string]string{} // resource id → path
	for _, r := range rec.ByType("aws:apigateway/resource:Resource") {
		paths[r.ID] = r.Str("pathPart")
	}
	var got []string
	for _, m := range rec.ByType("aws:apigateway/method:Method") {
		path := "/cats"
		if paths[m.Str("resourceId")] == "{id}" {
			path = "/cats/{id}"
		}
		got = append(got, m.Str("httpMethod")+" "+path)
		if auth := m.Str("authorization"); auth != "AWS_IAM" {
			t.Errorf("%s %s authorization %q, want AWS_IAM on every method (seed §4 API Gateway: 認証 IAM)", m.Str("httpMethod"), path, auth)
		}
		if path == "/cats/{id}" && !m.Input("requestParameters").ObjectValue()["method.request.path.id"].BoolValue() {
			t.Errorf("%s /cats/{id} must require the id path parameter", m.Str("httpMethod"))
		}
	}
	sort.Strings(got)
	want := "DELETE /cats/{id},GET /cats,GET /cats/{id},POST /cats,PUT /cats/{id}"
	if strings.Join(got, ",") != want {
		t.Errorf("methods %v, want %s (seed §4: GET, POST, PUT, DELETE on /cats and /cats/{id})", got, want)
	}
}

func checkIntegrations(t *testing.T, rec *harness.Recording) {
	t.Helper()
	readRole, ok := rec.Find("aws:iam/role:Role", "cats-api-read-role")
	if !ok {
		t.Fatal("no role for the DynamoDB read integration")
	}
	fn := rec.One(t, "aws:lambda/function:Function")
	methods := map[string]string{}
	for _, r := range rec.ByType("aws:apigateway/integration:Integration") {
		methods[r.Name] = r.Str("httpMethod")
		switch r.Str("httpMethod") {
		case "GET":
			action := "Query"
			if strings.Contains(r.Name, "-cats-") {
				action = "Scan"
			}
			if r.Str("type") != "AWS" || r.Str("uri") != "arn:aws:apigateway:ap-northeast-1:dynamodb:action/"+action {
				t.Errorf("%s: type %s uri %s, want the DynamoDB %s action directly (seed §4 統合先 DynamoDB)", r.Name, r.Str("type"), r.Str("uri"), action)
			}
			if r.Str("credentials") != readRole.Outputs["arn"].StringValue() {
				t.Errorf("%s runs as %q, want the read-only role", r.Name, r.Str("credentials"))
			}
			if r.Str("passthroughBehavior") != "NEVER" {
				t.Errorf("%s passthrough %q, want NEVER: a client body must never reach DynamoDB", r.Name, r.Str("passthroughBehavior"))
			}
			tmpl := r.Input("requestTemplates").ObjectValue()["application/json"].StringValue()
			if !strings.Contains(tmpl, `"TableName": "cats-info-test"`) {
				t.Errorf("%s request template does not name the table:\n%s", r.Name, tmpl)
			}
			if action == "Query" && (!strings.Contains(tmpl, `"KeyConditionExpression": "id = :id"`) ||
				!strings.Contains(tmpl, `"S": "$util.escapeJavaScript($input.params('id'))`)) {
				t.Errorf("GET /cats/{id} request template must query the partition key id with the escaped path id:\n%s", tmpl)
			}
		default:
			if r.Str("type") != "AWS_PROXY" || r.Str("uri") != fn.Outputs["invokeArn"].StringValue() || r.Str("integrationHttpMethod") != "POST" {
				t.Errorf("%s %s: type %s uri %s, want AWS_PROXY to the write-path Lambda (seed §4 統合先 Lambda)", r.Name, r.Str("httpMethod"), r.Str("type"), r.Str("uri"))
			}
		}
	}
	if len(methods) != 5 {
		t.Errorf("%d integrations, want one per method (5): %v", len(methods), methods)
	}

	var sources []string
	for _, p := range rec.ByType("aws:lambda/permission:Permission") {
		if p.Str("principal") != "apigateway.amazonaws.com" {
			t.Errorf("permission %s principal %q", p.Name, p.Str("principal"))
		}
		sources = append(sources, strings.TrimPrefix(p.Str("sourceArn"), "arn:aws:execute-api:ap-northeast-1:123456789012:cats-api-rest-api-id"))
	}
	sort.Strings(sources)
	if got, want := strings.Join(sources, " "), "/*/DELETE/cats/* /*/POST/cats /*/PUT/cats/*"; got != want {
		t.Errorf("API Gateway may invoke the writer from %s, want exactly %s (least privilege: the write routes only)", got, want)
	}
}

type policy struct {
	Statement []struct {
		Sid      string
		Action   []string
		Resource []string
	}
}

func checkFunction(t *testing.T, rec *harness.Recording, stack, code string) {
	t.Helper()
	fn := rec.One(t, "aws:lambda/function:Function")
	if fn.Str("name") != "cats-api-writer-"+stack || fn.Str("runtime") != "provided.al2023" || fn.Str("handler") != "bootstrap" {
		t.Errorf("writer %s runtime %s handler %s, want cats-api-writer-%s on provided.al2023 with bootstrap (DESIGN.md functions)", fn.Str("name"), fn.Str("runtime"), fn.Str("handler"), stack)
	}
	if arch := fn.Input("architectures").ArrayValue(); len(arch) != 1 || arch[0].StringValue() != "arm64" {
		t.Errorf("writer architectures %v, want [arm64]", arch)
	}
	// The write path is packaged by lambdapkg, like every function of the project.
	_, hash, err := lambdapkg.Build(api.WriterPackage)
	if err != nil {
		t.Fatalf("package the write path: %v", err)
	}
	if !fn.Input("code").IsArchive() || fn.Str("sourceCodeHash") != hash {
		t.Errorf("writer code must be lambdapkg's reproducible archive of %s with its hash %s, got %q (an unchanged function must never redeploy)", api.WriterPackage, hash, fn.Str("sourceCodeHash"))
	}
	if fn.Input("tracingConfig").ObjectValue()["mode"].StringValue() != "Active" {
		t.Error("writer must trace with X-Ray (Active)")
	}
	if fn.Input("timeout").NumberValue() >= 29 {
		t.Errorf("writer timeout %v must stay under API Gateway's 29 s", fn.Input("timeout").NumberValue())
	}
	vars := fn.Input("environment").ObjectValue()["variables"].ObjectValue()
	if vars["TABLE_NAME"].StringValue() != "cats-info-test" || vars["STREAM_NAME"].StringValue() != "cats-data-stream-test" {
		t.Errorf("writer environment %v, want the table and stream names", vars)
	}
	gotCode := ""
	if v, ok := vars["MUNICIPALITY_CODE"]; ok {
		gotCode = v.StringValue()
	}
	if gotCode != code {
		t.Errorf("MUNICIPALITY_CODE %q, want %q: a municipality stack's API accepts its municipality's records only", gotCode, code)
	}

	logs, ok := rec.Find("aws:cloudwatch/logGroup:LogGroup", "cats-api-writer-logs")
	if !ok || logs.Str("name") != "/aws/lambda/cats-api-writer-"+stack || logs.Str("kmsKeyId") != logsKey || logs.Input("retentionInDays").NumberValue() != 30 {
		t.Errorf("writer log group %v, want /aws/lambda/cats-api-writer-%s with retention and the logs key", logs.Inputs, stack)
	}
	if fn.Input("loggingConfig").ObjectValue()["logGroup"].StringValue() != logs.Str("name") {
		t.Error("writer must log to its own encrypted log group")
	}

	var writerPolicy policy
	for _, rp := range rec.ByType("aws:iam/rolePolicy:RolePolicy") {
		if rp.Name == "cats-api-writer-policy" {
			if err := json.Unmarshal([]byte(rp.Str("policy")), &writerPolicy); err != nil {
				t.Fatalf("writer policy: %v", err)
			}
		}
	}
	allowed := map[string][]string{}
	for _, s := range writerPolicy.Statement {
		for _, a := range s.Action {
			allowed[a] = s.Resource
		}
	}
	want := map[string]string{
		"dynamodb:PutItem": tableArn, "dynamodb:DeleteItem": tableArn, "dynamodb:Query": tableArn,
		"kinesis:PutRecord": streamArn, "kms:Decrypt": dataKey, "kms:GenerateDataKey": dataKey,
		"logs:CreateLogStream":  "arn:aws:cloudwatch:ap-northeast-1:123456789012:cats-api-writer-logs:*",
		"logs:PutLogEvents":     "arn:aws:cloudwatch:ap-northeast-1:123456789012:cats-api-writer-logs:*",
		"xray:PutTraceSegments": "*", "xray:PutTelemetryRecords": "*",
	}
	for action, resource := range want {
		if got := allowed[action]; len(got) != 1 || got[0] != resource {
			t.Errorf("writer may %s on %v, want exactly %s", action, got, resource)
		}
	}
	for action := range allowed {
		if _, ok := want[action]; !ok {
			t.Errorf("writer may %s: more than the write path needs (least privilege)", action)
		}
	}
}

func checkStage(t *testing.T, rec *harness.Recording, ownsBaseline bool) {
	t.Helper()
	stage := rec.One(t, "aws:apigateway/stage:Stage")
	if !stage.Input("xrayTracingEnabled").BoolValue() {
		t.Error("stage must trace with X-Ray")
	}
	accessLogs, _ := rec.Find("aws:cloudwatch/logGroup:LogGroup", "cats-api-access-logs")
	settings := stage.Input("accessLogSettings").ObjectValue()
	if settings["destinationArn"].StringValue() != accessLogs.Outputs["arn"].StringValue() {
		t.Errorf("stage access logs go to %v, want the access log group", settings["destinationArn"])
	}
	if accessLogs.Str("kmsKeyId") != logsKey || accessLogs.Input("retentionInDays").NumberValue() != 30 {
		t.Errorf("access log group must be KMS-encrypted with retention: %v", accessLogs.Inputs)
	}
	var format map[string]string
	if err := json.Unmarshal([]byte(settings["format"].StringValue()), &format); err != nil {
		t.Errorf("access log format is not one JSON object per line: %v", err)
	}
	for _, field := range []string{"requestId", "caller", "userArn", "status", "wafStatus"} {
		if _, ok := format[field]; !ok {
			t.Errorf("access log lacks %s", field)
		}
	}

	ms := rec.One(t, "aws:apigateway/methodSettings:MethodSettings")
	s := ms.Input("settings").ObjectValue()
	if ms.Str("methodPath") != "*/*" || s["throttlingRateLimit"].NumberValue() != api.DefaultRateLimit || s["throttlingBurstLimit"].NumberValue() != api.DefaultBurstLimit {
		t.Errorf("stage throttling %v on %s, want %v/s burst %d on every method", s, ms.Str("methodPath"), api.DefaultRateLimit, api.DefaultBurstLimit)
	}
	if s["dataTraceEnabled"].BoolValue() {
		t.Error("full request logging would put residents' reports in the logs")
	}

	waf := rec.One(t, "aws:wafv2/webAclAssociation:WebAclAssociation")
	if waf.Str("resourceArn") != stage.Outputs["arn"].StringValue() || waf.Str("webAclArn") != webACL {
		t.Errorf("WAF association %s → %s, want the stage with the regional ACL (seed §7 WAF)", waf.Str("resourceArn"), waf.Str("webAclArn"))
	}

	accounts := rec.ByType("aws:apigateway/account:Account")
	if ownsBaseline != (len(accounts) == 1) {
		t.Errorf("%d API Gateway account settings; want one only where the stack owns the account's baseline (one setting per account)", len(accounts))
	}
}

func TestArgsAreCheckedFirst(t *testing.T) {
	args := testArgs(t, "dev", "", true)
	args.TableArn = nil
	args.TimeoutSeconds = 60
	rec, err := harness.Run("dev", nil, func(ctx *pulumi.Context) error {
		_, err := api.NewAPI(ctx, "cats-api", args)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "TableArn is required") || !strings.Contains(err.Error(), "29-second") {
		t.Errorf("error %v, want one naming TableArn and the timeout", err)
	}
	for _, r := range rec.Resources {
		if r.Type != "pulumi:pulumi:Stack" {
			t.Errorf("%s %s registered before the arguments were checked", r.Type, r.Name)
		}
	}
}
