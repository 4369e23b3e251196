package platform_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/config"
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
		if len(keys) != 2 {
			t.Errorf("%s: %d KMS keys, want the data and logs keys", env, len(keys))
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
