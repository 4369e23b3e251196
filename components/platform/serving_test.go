package platform_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

// environmentOutputs are what a prod environment stack exports for its shared municipality stacks.
var environmentOutputs = harness.WithStackOutputs("organization/cats-analytics/prod", map[string]any{
	"trailArn": "arn:aws:cloudtrail:ap-northeast-1:123456789012:trail/cats-trail-prod",
	"zoneId":   "ZPRODZONE",
})

// servingRun runs the platform for a stack and reads the outputs the serving tiers add.
func servingRun(t *testing.T, stack string, cfg map[string]string) (*harness.Recording, map[string]string) {
	t.Helper()
	outputs := map[string]string{}
	rec := harness.MustRun(t, stack, cfg, func(ctx *pulumi.Context) error {
		c, err := platform.LoadConfig(ctx)
		if err != nil {
			return err
		}
		p, err := platform.NewPlatform(ctx, "cats", platform.PlatformArgs{Config: c, AccountID: plan.AccountID})
		if err != nil {
			return err
		}
		// An ApplyT on an output built from a plain value (pulumi.String(…).ToStringOutput())
		// belongs to no run, so the run does not wait for it: await each value here.
		outputs = harness.AwaitStrings(t, map[string]pulumi.StringOutput{
			"zoneId": p.ZoneID, "appUrl": p.AppURL, "apiUrl": p.ApiURL, "alarmTopicArn": p.AlarmTopicArn,
		})
		return nil
	}, environmentOutputs)
	return rec, outputs
}

func TestServingTiersPerStack(t *testing.T) {
	for _, tc := range []struct {
		name, stack string
		cfg         map[string]string
		wantZone    string // "" none, "own" created here, else the referenced id
		wantURL     string
		prod        bool
	}{
		{"dev", "dev", nil, "own", "https://app.cats.example.com", false},
		{"prod", "prod", nil, "own", "https://app.cats.example.com", true},
		{"shared municipality", "131016-prod", nil, "ZPRODZONE", "https://app-131016.cats.example.com", true},
		{"municipality with its own account", "011002-dev", map[string]string{"cats:tenancy": "account"}, "own", "https://app-011002.cats.example.com", false},
		{"no domain", "dev", map[string]string{"cats:domain": "none"}, "", "http://", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, outputs := servingRun(t, tc.stack, tc.cfg)

			for _, tier := range []string{"cats:api:Api", "cats:compute:Compute", "cats:monitoring:Monitoring"} {
				r := rec.One(t, tier)
				if p, ok := rec.Parent(r); !ok || p.Type != platform.Type {
					t.Errorf("%s is not a child of the platform component", tier)
				}
			}
			zones := rec.ByType("aws:route53/zone:Zone")
			switch tc.wantZone {
			case "":
				if len(zones) != 0 || len(rec.ByType("aws:acm/certificate:Certificate")) != 0 || outputs["zoneId"] != "" {
					t.Errorf("cats:domain none: want no zone and no certificates, got %d zones, zoneId %q", len(zones), outputs["zoneId"])
				}
			case "own":
				if len(zones) != 1 || zones[0].Str("name") != "cats.example.com" {
					t.Fatalf("want the hosted zone cats.example.com in this stack (seed §4 Route53), got %d", len(zones))
				}
				if outputs["zoneId"] != zones[0].Outputs["zoneId"].StringValue() {
					t.Errorf("zoneId output %q, want the zone's id: shared municipality stacks read it", outputs["zoneId"])
				}
			default:
				if len(zones) != 0 {
					t.Errorf("a shared municipality stack must not create a second zone")
				}
				record, ok := rec.Find("aws:route53/record:Record", "cats-compute-app-record")
				if !ok || record.Str("zoneId") != tc.wantZone {
					t.Errorf("app record in zone %q, want the environment's %s (StackReference zoneId)", record.Str("zoneId"), tc.wantZone)
				}
			}
			if !strings.HasPrefix(outputs["appUrl"], tc.wantURL) {
				t.Errorf("appUrl %q, want %s…", outputs["appUrl"], tc.wantURL)
			}

			https := false
			for _, l := range rec.ByType("aws:lb/listener:Listener") {
				if l.Str("protocol") == "HTTPS" {
					https = true
				}
			}
			if https != (tc.wantZone != "") {
				t.Errorf("HTTPS listener %v, want it exactly when a domain (and so a certificate) exists", https)
			}
			alb := rec.One(t, "aws:lb/loadBalancer:LoadBalancer")
			if alb.Input("enableDeletionProtection").BoolValue() != tc.prod {
				t.Errorf("ALB deletion protection %v, want %v", alb.Input("enableDeletionProtection").BoolValue(), tc.prod)
			}
			waf := map[string]bool{}
			for _, a := range rec.ByType("aws:wafv2/webAclAssociation:WebAclAssociation") {
				waf[a.Str("resourceArn")] = true
			}
			if !waf[alb.Outputs["arn"].StringValue()] {
				t.Error("the ALB is not associated with the regional WAF ACL (seed §7 WAF)")
			}
			topic := rec.One(t, "aws:sns/topic:Topic")
			if outputs["alarmTopicArn"] != topic.Outputs["arn"].StringValue() {
				t.Errorf("alarmTopicArn output %q, want the topic", outputs["alarmTopicArn"])
			}
			checkApiWiring(t, rec, tc.stack, outputs["apiUrl"], tc.wantZone != "ZPRODZONE")
			checkAlarmTargets(t, rec, tc.stack)
		})
	}
}

// checkApiWiring: the api tier reads and writes the data tiers' cats-info and
// record stream, a municipality stack's API takes its own records only, and
// only the stack owning the account's baseline sets API Gateway's account role.
func checkApiWiring(t *testing.T, rec *harness.Recording, stack, apiURL string, ownsBaseline bool) {
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

// checkAlarmTargets: every serving and data path has its alarm (seed §4
// アラーム: CPU, memory, error rate), each on the resource this stack created.
func checkAlarmTargets(t *testing.T, rec *harness.Recording, stack string) {
	t.Helper()
	dimension := func(alarm plan.Resource, key string) string {
		if d := alarm.Input("dimensions"); d.IsObject() {
			return d.ObjectValue()[resource.PropertyKey(key)].StringValue()
		}
		for _, q := range alarm.Input("metricQueries").ArrayValue() {
			if m := q.ObjectValue()["metric"]; m.IsObject() {
				return m.ObjectValue()["dimensions"].ObjectValue()[resource.PropertyKey(key)].StringValue()
			}
		}
		return ""
	}
	writer, _ := rec.Find("aws:lambda/function:Function", "cats-api-writer")
	analysis := ""
	for _, fn := range rec.ByType("aws:lambda/function:Function") {
		if strings.HasPrefix(fn.Str("name"), "cats-data-analysis") {
			analysis = fn.Str("name")
		}
	}
	firehose := rec.One(t, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream").Str("name")
	restAPI := rec.One(t, "aws:apigateway/restApi:RestApi").Str("name")
	want := map[string][2]string{
		"cats-ecs-cpu-" + stack:                        {"ServiceName", ""},
		"cats-ecs-memory-" + stack:                     {"ServiceName", ""},
		"cats-api-5xx-" + stack:                        {"ApiName", restAPI},
		"cats-lambda-api-writer-errors-" + stack:       {"FunctionName", writer.Str("name")},
		"cats-lambda-analysis-errors-" + stack:         {"FunctionName", analysis},
		"cats-firehose-data-stream-delivery-" + stack:  {"DeliveryStreamName", firehose},
		"cats-firehose-data-stream-freshness-" + stack: {"DeliveryStreamName", firehose},
	}
	alarms := rec.ByType("aws:cloudwatch/metricAlarm:MetricAlarm")
	if len(alarms) != len(want) {
		t.Errorf("%d alarms, want %d: ECS CPU and memory, API 5xx, the two functions' error rates, Firehose delivery and freshness", len(alarms), len(want))
	}
	for _, alarm := range alarms {
		w, ok := want[alarm.Str("name")]
		if !ok {
			t.Errorf("unexpected alarm %s", alarm.Str("name"))
			continue
		}
		if got := dimension(alarm, w[0]); w[1] != "" && got != w[1] || got == "" {
			t.Errorf("alarm %s watches %s %q, want %q (the resource this stack created)", alarm.Str("name"), w[0], got, w[1])
		}
	}
}

func TestAlarmEmailIsSubscribed(t *testing.T) {
	rec, _ := servingRun(t, "dev", map[string]string{"cats:alarmEmail": "ops@example.jp"})
	sub := rec.One(t, "aws:sns/topicSubscription:TopicSubscription")
	if sub.Str("endpoint") != "ops@example.jp" {
		t.Errorf("subscription endpoint %q, want cats:alarmEmail", sub.Str("endpoint"))
	}
}

// TestProgramRunsForEveryKindOfStack runs the program itself (main.go's
// entry point, with its exports) on each kind of stack the serving tiers
// distinguish.
func TestProgramRunsForEveryKindOfStack(t *testing.T) {
	for _, tc := range []struct {
		stack string
		cfg   map[string]string
	}{
		{"dev", nil},
		{"prod", nil},
		{"131016-prod", nil},
		{"011002-dev", map[string]string{"cats:tenancy": "account"}},
		{"dev", map[string]string{"cats:domain": "none", "cats:alarmEmail": "ops@example.jp"}},
	} {
		rec := harness.MustRun(t, tc.stack, tc.cfg, platform.Program, environmentOutputs)
		if n := len(rec.ByType("aws:ecs/service:Service")); n != 1 {
			t.Errorf("%s %v: %d ECS services, want 1", tc.stack, tc.cfg, n)
		}
	}
}

// policyDoc is an IAM policy document as iamdoc writes it.
type policyDoc struct {
	Statement []struct {
		Sid       string
		Principal map[string]any
		Action    any
		Resource  any
		Condition map[string]map[string]any
	}
}

func statement(t *testing.T, policy, sid string) (found bool, resource any, condition map[string]map[string]any) {
	t.Helper()
	var doc policyDoc
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatalf("policy %q: %v", policy, err)
	}
	for _, s := range doc.Statement {
		if s.Sid == sid {
			return true, s.Resource, s.Condition
		}
	}
	return false, nil, nil
}

// TestCdnServesOnlyPublishedData: the distribution's origin is this stack's
// data lake, through origin access control on published/ only, and the data
// lake's one bucket policy lets exactly this distribution read that prefix
// (DESIGN.md deviation 4: CloudFront on the raw data lake would publish
// residents' reports).
func TestCdnServesOnlyPublishedData(t *testing.T) {
	for _, tc := range []struct {
		name, stack string
		cfg         map[string]string
		wantURL     string
	}{
		{"dev", "dev", nil, "https://www.cats.example.com"},
		{"shared municipality", "131016-prod", nil, "https://131016.cats.example.com"},
		{"no domain", "dev", map[string]string{"cats:domain": "none"}, "https://cats-cdn-distribution.cloudfront.net"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cdnURL string
			rec := harness.MustRun(t, tc.stack, tc.cfg, func(ctx *pulumi.Context) error {
				c, err := platform.LoadConfig(ctx)
				if err != nil {
					return err
				}
				p, err := platform.NewPlatform(ctx, "cats", platform.PlatformArgs{Config: c, AccountID: plan.AccountID})
				if err != nil {
					return err
				}
				cdnURL = harness.Await(t, p.CdnURL).(string)
				return nil
			}, environmentOutputs)

			dist := rec.One(t, "aws:cloudfront/distribution:Distribution")
			var lake plan.Resource
			for _, b := range rec.ByType("aws:s3/bucketV2:BucketV2") {
				if strings.HasPrefix(b.Str("bucket"), "cats-data-lake-") && !strings.HasPrefix(b.Str("bucket"), "cats-data-lake-logs-") {
					lake = b
				}
			}
			origins := dist.Input("origins").ArrayValue()
			if len(origins) != 1 {
				t.Fatalf("distribution has %d origins, want the data lake only", len(origins))
			}
			origin := origins[0].ObjectValue()
			if got, want := origin["domainName"].StringValue(), lake.Outputs["bucketRegionalDomainName"].StringValue(); got != want || want == "" {
				t.Errorf("CDN origin %q, want this stack's data lake %q (seed §4 CloudFront オリジン S3)", got, want)
			}
			// CloudFront refuses an origin path that ends in a slash.
			if origin["originPath"].StringValue() != "/published" || origin["originAccessControlId"].StringValue() == "" {
				t.Errorf("origin path %q with OAC %q, want /published through origin access control (DESIGN.md deviation 4)",
					origin["originPath"].StringValue(), origin["originAccessControlId"].StringValue())
			}
			if cdnURL != tc.wantURL {
				t.Errorf("cdnUrl %q, want %q", cdnURL, tc.wantURL)
			}

			var lakePolicy string
			for _, bp := range rec.ByType("aws:s3/bucketPolicy:BucketPolicy") {
				if bp.Str("bucket") == lake.Str("bucket") {
					lakePolicy = bp.Str("policy")
				}
			}
			found, res, cond := statement(t, lakePolicy, "CloudFrontReadsPublished")
			distArn := dist.Outputs["arn"].StringValue()
			if !found || fmt.Sprint(res) != "[arn:aws:s3:::"+lake.Str("bucket")+"/published/*]" || cond["StringEquals"]["AWS:SourceArn"] != distArn {
				t.Errorf("data lake policy %s: want CloudFrontReadsPublished on published/* for the distribution %s only", lakePolicy, distArn)
			}
			if !strings.Contains(lakePolicy, "aws:SecureTransport") {
				t.Errorf("the data lake's one policy must keep its TLS-only statement beside the CloudFront read: %s", lakePolicy)
			}
			if n := len(rec.ByType("aws:kms/keyPolicy:KeyPolicy")); n != 0 {
				t.Errorf("with SSE-S3 (the seed's AES-256) the data key needs no CloudFront statement, got %d key policies", n)
			}
		})
	}
}

// TestKMSDataLakeLetsTheDistributionDecrypt: with cats:dataLakeEncryption
// aws:kms, S3 decrypts published objects for CloudFront only if the data
// key's policy allows the distribution; it must, and only that distribution,
// while keeping the key's own statements.
func TestKMSDataLakeLetsTheDistributionDecrypt(t *testing.T) {
	for _, stack := range []string{"dev", "131016-prod"} {
		t.Run(stack, func(t *testing.T) {
			rec, _ := servingRun(t, stack, map[string]string{"cats:dataLakeEncryption": "aws:kms"})
			dataKey, ok := rec.Find("aws:kms/key:Key", "cats-security-data-key")
			if !ok {
				t.Fatal("no data key")
			}
			if p := dataKey.Str("policy"); p != "" {
				t.Errorf("the data key's policy must be set once, by its KeyPolicy, not also inline: %s", p)
			}
			policies := rec.ByType("aws:kms/keyPolicy:KeyPolicy")
			if len(policies) != 1 || policies[0].Str("keyId") != dataKey.Outputs["keyId"].StringValue() {
				t.Fatalf("want one KeyPolicy on the data key, got %d", len(policies))
			}
			policy := policies[0].Str("policy")
			dist := rec.One(t, "aws:cloudfront/distribution:Distribution")
			found, _, cond := statement(t, policy, "CloudFrontDecryptsPublished")
			if !found || cond["StringEquals"]["AWS:SourceArn"] != dist.Outputs["arn"].StringValue() {
				t.Errorf("data key policy %s: want CloudFrontDecryptsPublished for the distribution %s only", policy, dist.Outputs["arn"].StringValue())
			}
			for _, sid := range []string{"AccountAdministers", "CloudWatchAlarmsPublish"} {
				if ok, _, _ := statement(t, policy, sid); !ok {
					t.Errorf("data key policy lost its own statement %s: %s", sid, policy)
				}
			}
			if strings.Contains(policy, "kms:Encrypt") || strings.Contains(policy, "kms:GenerateDataKey\"") {
				t.Errorf("CloudFront only reads: %s", policy)
			}
		})
	}
}
