package platform_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/security"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

func TestTrail(t *testing.T) {
	for _, env := range environments {
		t.Run(env, func(t *testing.T) {
			rec := run(t, env, nil)
			trail := rec.One(t, "aws:cloudtrail/trail:Trail")
			for _, prop := range []string{"isMultiRegionTrail", "enableLogFileValidation", "includeGlobalServiceEvents", "enableLogging"} {
				if v := trail.Input(prop); !v.IsBool() || !v.BoolValue() {
					t.Errorf("trail %s = %v, want true (FSBP CloudTrail.1/.4)", prop, v)
				}
			}
			logsKey, _ := rec.Find("aws:kms/key:Key", "cats-security-logs-key")
			if got, want := trail.Str("kmsKeyId"), logsKey.Outputs["arn"].StringValue(); got != want {
				t.Errorf("trail KMS key = %q, want the logs key %q (FSBP CloudTrail.2)", got, want)
			}
			if !strings.HasSuffix(trail.Str("cloudWatchLogsGroupArn"), ":*") || trail.Str("cloudWatchLogsRoleArn") == "" {
				t.Errorf("trail must deliver to CloudWatch Logs (FSBP CloudTrail.5): %v", trail.Inputs)
			}
			bucketName := trail.Str("s3BucketName")
			if bucketName != "cats-trail-logs-"+env {
				t.Errorf("trail bucket = %q, want the stack-suffixed cats-trail-logs-%s", bucketName, env)
			}
			assertPrivateBucket(t, rec, "cats-security-trail-bucket")
			bucket, _ := rec.Find("aws:s3/bucketV2:BucketV2", "cats-security-trail-bucket")
			if force := bucket.Input("forceDestroy").BoolValue(); force == (env == "prod") {
				t.Errorf("%s trail bucket forceDestroy = %v: prod logs are retained, dev's are not", env, force)
			}
		})
	}
}

func TestEveryKeyRotates(t *testing.T) {
	for _, env := range environments {
		rec := run(t, env, nil)
		keys := rec.ByType("aws:kms/key:Key")
		if len(keys) != 3 {
			t.Errorf("%s: %d KMS keys, want the data key and the logs keys of the stack's region and of us-east-1", env, len(keys))
		}
		for _, k := range keys {
			if !k.Input("enableKeyRotation").BoolValue() {
				t.Errorf("%s: key %s does not rotate (FSBP KMS.4)", env, k.Name)
			}
			var doc struct {
				Statement []struct{ Principal map[string]any }
			}
			if err := json.Unmarshal([]byte(k.Str("policy")), &doc); err != nil || len(doc.Statement) == 0 {
				t.Errorf("%s: key %s has no key policy: %v", env, k.Name, err)
			}
		}
	}
}

func TestWebACLs(t *testing.T) {
	for _, env := range environments {
		t.Run(env, func(t *testing.T) {
			rec := run(t, env, nil)
			scopes := map[string]plan.Resource{}
			for _, acl := range rec.ByType("aws:wafv2/webAcl:WebAcl") {
				scopes[acl.Str("scope")] = acl
			}
			if len(scopes) != 2 || scopes["REGIONAL"].Type == "" || scopes["CLOUDFRONT"].Type == "" {
				t.Fatalf("web ACL scopes = %v, want REGIONAL and CLOUDFRONT (WAFv2, deviation 2)", keys(scopes))
			}
			if p := scopes["CLOUDFRONT"].Provider; !strings.Contains(p, "pulumi:providers:aws::cats-us-east-1") {
				t.Errorf("CLOUDFRONT ACL provider = %q, want the us-east-1 provider (CloudFront ACLs live only there)", p)
			}
			provider, _ := rec.Find("pulumi:providers:aws", "cats-us-east-1")
			if provider.Str("region") != "us-east-1" {
				t.Errorf("CloudFront provider region = %q", provider.Str("region"))
			}
			if scopes["REGIONAL"].Provider != "" && strings.Contains(scopes["REGIONAL"].Provider, "us-east-1") {
				t.Errorf("REGIONAL ACL must live in the stack's region")
			}
			for scope, acl := range scopes {
				if _, ok := acl.Input("defaultAction").ObjectValue()["allow"]; !ok {
					t.Errorf("%s ACL default action is not allow", scope)
				}
				var managed []string
				rateLimit := 0.0
				for _, r := range acl.Input("rules").ArrayValue() {
					st := r.ObjectValue()["statement"].ObjectValue()
					if m, ok := st["managedRuleGroupStatement"]; ok {
						managed = append(managed, m.ObjectValue()["vendorName"].StringValue()+"/"+m.ObjectValue()["name"].StringValue())
					}
					if rb, ok := st["rateBasedStatement"]; ok {
						rateLimit = rb.ObjectValue()["limit"].NumberValue()
						if _, blocks := r.ObjectValue()["action"].ObjectValue()["block"]; !blocks {
							t.Errorf("%s rate rule does not block", scope)
						}
					}
					if !r.ObjectValue()["visibilityConfig"].ObjectValue()["cloudwatchMetricsEnabled"].BoolValue() {
						t.Errorf("%s rule %v has no metrics", scope, r.ObjectValue()["name"])
					}
				}
				wantManaged := []string{"AWS/AWSManagedRulesAmazonIpReputationList", "AWS/AWSManagedRulesCommonRuleSet", "AWS/AWSManagedRulesKnownBadInputsRuleSet", "AWS/AWSManagedRulesSQLiRuleSet"}
				if !equal(managed, wantManaged) {
					t.Errorf("%s managed rule groups = %v, want %v", scope, managed, wantManaged)
				}
				if rateLimit != 2000 {
					t.Errorf("%s rate limit = %v, want the default 2000 per 5 minutes", scope, rateLimit)
				}
			}
		})
	}
}

func TestRateLimitFromConfig(t *testing.T) {
	rec := run(t, "dev", map[string]string{"cats:wafRateLimit": "500"})
	for _, acl := range rec.ByType("aws:wafv2/webAcl:WebAcl") {
		found := false
		for _, r := range acl.Input("rules").ArrayValue() {
			if rb, ok := r.ObjectValue()["statement"].ObjectValue()["rateBasedStatement"]; ok {
				found = rb.ObjectValue()["limit"].NumberValue() == 500
			}
		}
		if !found {
			t.Errorf("%s does not use cats:wafRateLimit 500", acl.Name)
		}
	}
}

func TestBaselineOwnership(t *testing.T) {
	tests := []struct {
		stack  string
		config map[string]string
		owns   bool
	}{
		{"dev", nil, true},
		{"prod", nil, true},
		{"131016-prod", nil, false},
		{"131016-prod", map[string]string{"cats:tenancy": "account"}, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.stack, tt.config), func(t *testing.T) {
			rec := run(t, tt.stack, tt.config)
			recorders := len(rec.ByType("aws:cfg/recorder:Recorder"))
			trails := len(rec.ByType("aws:cloudtrail/trail:Trail"))
			want := 0
			if tt.owns {
				want = 1
			}
			if recorders != want || trails != want {
				t.Errorf("%d Config recorders and %d trails, want %d of each: AWS Config allows one recorder per account and region, and only the baseline owner creates it",
					recorders, trails, want)
			}
			if tt.owns {
				if n := len(rec.ByType("aws:cfg/rule:Rule")); n < 10 {
					t.Errorf("%d Config rules, want the encryption, WAF and trail rules", n)
				}
				status := rec.One(t, "aws:cfg/recorderStatus:RecorderStatus")
				if !status.Input("isEnabled").BoolValue() {
					t.Error("Config recorder is not enabled")
				}
				return
			}
			ref := rec.One(t, "pulumi:pulumi:StackReference")
			if ref.Str("name") != harness.EnvironmentStack(config.Prod) {
				t.Errorf("municipality stack references %q, want its environment stack", ref.Str("name"))
			}
		})
	}
}

func TestSharedMunicipalityUsesTheEnvironmentTrail(t *testing.T) {
	trailArn := runPlatform(t, "131016-prod", nil).outputs["trailArn"]
	if want := environmentOutput(config.Prod, "trailArn"); trailArn != want || want == "" {
		t.Errorf("municipality trailArn = %v, want the environment stack's trail %s", trailArn, want)
	}
}

// TestTrailRecordsManagementAndDataLakeEvents: FSBP CloudTrail.1 (read and
// write management events) and S3.22 / S3.23 (the data lakes' object
// events), where the stack owns the trail.
func TestTrailRecordsManagementAndDataLakeEvents(t *testing.T) {
	cases := []struct {
		name, stack string
		cfg         map[string]string
		own         string
		shared      bool // an environment: its municipalities' data lakes too
	}{
		{"dev", "dev", nil, "cats-data-lake-dev", true},
		{"prod", "prod", nil, "cats-data-lake-prod", true},
		{"own account", "011002-dev", map[string]string{"cats:tenancy": "account"}, "cats-data-lake-011002-dev", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := run(t, tc.stack, tc.cfg)
			trail := rec.One(t, "aws:cloudtrail/trail:Trail")
			if v := trail.Input("eventSelectors"); v.IsArray() && len(v.ArrayValue()) > 0 {
				t.Errorf("trail has basic event selectors %v: one kind of selector only", v)
			}
			selectors := trail.Input("advancedEventSelectors").ArrayValue()
			var management, data bool
			for _, sel := range selectors {
				fields := map[string]resource.PropertyMap{}
				for _, f := range sel.ObjectValue()["fieldSelectors"].ArrayValue() {
					fields[f.ObjectValue()["field"].StringValue()] = f.ObjectValue()
				}
				if _, ok := fields["readOnly"]; ok {
					t.Errorf("selector %v filters on readOnly: the trail must record reads and writes (CloudTrail.1)", sel)
				}
				switch category := strs(fields["eventCategory"]["equals"]); {
				case equal(category, []string{"Management"}):
					management = true
				case equal(category, []string{"Data"}):
					if got := strs(fields["resources.type"]["equals"]); !equal(got, []string{"AWS::S3::Object"}) {
						t.Errorf("data selector resources.type = %v, want S3 objects", got)
					}
					prefixes := strs(fields["resources.ARN"]["startsWiths"])
					if !slices.Contains(prefixes, "arn:aws:s3:::"+tc.own+"/") {
						t.Errorf("data events under %v, want the stack's data lake %s (S3.22/S3.23)", prefixes, tc.own)
					}
					covers := func(bucket string) bool {
						return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix("arn:aws:s3:::"+bucket+"/raw/x", p) })
					}
					if covers("cats-data-lake-131016-prod") != tc.shared {
						t.Errorf("data events under %v: a shared municipality's data lake covered = %v, want %v", prefixes, !tc.shared, tc.shared)
					}
					if covers("cats-data-lake-logs-" + tc.stack) {
						t.Errorf("data events under %v cover the access log bucket: every log delivery would be an event", prefixes)
					}
					data = true
				}
			}
			if !management || !data {
				t.Errorf("trail selectors %v: management events = %v, data lake events = %v, want both", selectors, management, data)
			}
		})
	}
}

// TestTrailBucketLogsAccess: FSBP CloudTrail.7 / CIS 3.4, into a bucket that
// is itself private, encrypted and TLS-only.
func TestTrailBucketLogsAccess(t *testing.T) {
	for _, env := range environments {
		t.Run(env, func(t *testing.T) {
			rec := run(t, env, nil)
			trailBucket, _ := rec.Find("aws:s3/bucketV2:BucketV2", "cats-security-trail-bucket")
			logs, ok := rec.Find("aws:s3/bucketV2:BucketV2", "cats-security-trail-access-logs")
			if !ok {
				t.Fatal("no access log bucket for the trail bucket")
			}
			assertPrivateBucket(t, rec, "cats-security-trail-access-logs")
			logging := configuring(rec, "aws:s3/bucketLoggingV2:BucketLoggingV2", "bucket", trailBucket.ID)
			if len(logging) != 1 || logging[0].Str("targetBucket") != logs.Str("bucket") || logging[0].Str("targetPrefix") != "trail-bucket/" {
				t.Fatalf("trail bucket logging = %v, want its access logs in %s under trail-bucket/", logging, logs.Str("bucket"))
			}
			policy, _ := rec.Find("aws:s3/bucketPolicy:BucketPolicy", "cats-security-trail-access-logs-policy")
			found, _, condition := statement(t, policyJSON(policy), "S3ServerAccessLogs")
			if !found || condition["ArnLike"]["aws:SourceArn"] != "arn:aws:s3:::"+trailBucket.Str("bucket") {
				t.Errorf("the access log bucket must admit the trail bucket's log delivery only: %s", policyJSON(policy))
			}
			underTier(t, rec, logs, security.Type)
		})
	}
}

// TestAccountPublicAccessBlock: S3.1 / CIS 2.1.4, in the stacks that own
// their account's baseline and in no other.
func TestAccountPublicAccessBlock(t *testing.T) {
	for _, kind := range stackKinds {
		t.Run(kind.name, func(t *testing.T) {
			rec := run(t, kind.stack, kind.cfg)
			blocks := rec.ByType("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock")
			if !kind.ownsBaseline {
				if len(blocks) != 0 {
					t.Errorf("a shared municipality stack sets its environment account's public access block")
				}
				return
			}
			if len(blocks) != 1 {
				t.Fatalf("%d account public access blocks, want one (CIS 2.1.4, FSBP S3.1)", len(blocks))
			}
			for _, p := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
				if !boolean(blocks[0].Input(p)) {
					t.Errorf("account public access block %s is off", p)
				}
			}
			if blocks[0].Str("accountId") != plan.AccountID {
				t.Errorf("account public access block of %q, want the stack's account", blocks[0].Str("accountId"))
			}
		})
	}
}

// TestWebACLsLog: FSBP WAF.11, each ACL to a KMS-encrypted aws-waf-logs-
// group of its own region.
func TestWebACLsLog(t *testing.T) {
	for _, kind := range stackKinds {
		t.Run(kind.name, func(t *testing.T) {
			rec := run(t, kind.stack, kind.cfg)
			groups := map[string]plan.Resource{}
			for _, g := range rec.ByType("aws:cloudwatch/logGroup:LogGroup") {
				groups[out(g, "arn")] = g
			}
			keys := map[string]plan.Resource{}
			for _, k := range rec.ByType("aws:kms/key:Key") {
				keys[out(k, "arn")] = k
			}
			configs := rec.ByType("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
			logged := map[string]bool{}
			for _, c := range configs {
				dests := strs(c.Input("logDestinationConfigs"))
				if len(dests) != 1 {
					t.Fatalf("%s logs to %v, want one log group", c.Name, dests)
				}
				group, ok := groups[dests[0]]
				if !ok {
					t.Fatalf("%s logs to %s, not a log group of the stack", c.Name, dests[0])
				}
				if !strings.HasPrefix(group.Str("name"), security.WAFLogGroupPrefix) {
					t.Errorf("WAF log group %q must start with %s", group.Str("name"), security.WAFLogGroupPrefix)
				}
				key, ok := keys[group.Str("kmsKeyId")]
				if !ok {
					t.Errorf("WAF log group %s is not encrypted with a key of the stack", group.Str("name"))
				}
				if key.Provider != group.Provider || c.Provider != group.Provider {
					t.Errorf("%s: logging %q, group %q and key %q must share a region", c.Name, c.Provider, group.Provider, key.Provider)
				}
				if num(group.Input("retentionInDays")) <= 0 {
					t.Errorf("WAF log group %s keeps its logs forever", group.Str("name"))
				}
				logged[c.Str("resourceArn")] = true
			}
			for _, acl := range rec.ByType("aws:wafv2/webAcl:WebAcl") {
				if !logged[out(acl, "arn")] {
					t.Errorf("web ACL %s does not log (FSBP WAF.11)", acl.Str("name"))
				}
			}
			if len(configs) != 2 {
				t.Errorf("%d WAF logging configurations, want one per web ACL", len(configs))
			}
		})
	}
}
