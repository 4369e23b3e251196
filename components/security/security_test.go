package security_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/security"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

func TestArgsCheckedBeforeAnyRegistration(t *testing.T) {
	namer, _ := naming.NewNamer("131016-prod", "")
	tests := []struct {
		name string
		args security.Args
		want string
	}{
		{"no account", security.Args{Namer: namer, Region: "ap-northeast-1", OwnsBaseline: true}, "AccountID is required"},
		{"no us-east-1 provider", security.Args{Namer: namer, AccountID: "1", Region: "ap-northeast-1", OwnsBaseline: true}, "CloudFrontProvider"},
		{"shared stack without the environment's trail", security.Args{Namer: namer, AccountID: "1", Region: "ap-northeast-1"}, "EnvironmentTrailArn is required"},
		{"no namer", security.Args{AccountID: "1", Region: "ap-northeast-1", OwnsBaseline: true}, "Namer is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := harness.Run("131016-prod", nil, func(ctx *pulumi.Context) error {
				_, err := security.NewSecurity(ctx, "sec", tt.args)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			if len(rec.Resources) != 0 {
				t.Errorf("%d resources registered before the error", len(rec.Resources))
			}
		})
	}
}

// TestDeferredDataKeyPolicy: a tier created with DeferDataKeyPolicy leaves
// the data key's policy to one SetDataKeyPolicy, which keeps the tier's own
// statements; on a tier whose key already has its policy the call is refused
// (two writers of one key policy would undo each other on every update).
func TestDeferredDataKeyPolicy(t *testing.T) {
	namer, _ := naming.NewNamer("dev", "")
	for _, deferred := range []bool{true, false} {
		var setErr error
		var pendingBefore, pendingAfter bool
		rec := harness.MustRun(t, "dev", nil, func(ctx *pulumi.Context) error {
			east, err := aws.NewProvider(ctx, "us-east-1", &aws.ProviderArgs{Region: pulumi.String("us-east-1")})
			if err != nil {
				return err
			}
			s, err := security.NewSecurity(ctx, "sec", security.Args{
				Namer: namer, AccountID: plan.AccountID, Region: "ap-northeast-1", CloudFrontProvider: east,
				OwnsBaseline: true, DeferDataKeyPolicy: deferred,
			})
			if err != nil {
				return err
			}
			pendingBefore = s.DataKeyPolicyPending()
			_, setErr = s.SetDataKeyPolicy(ctx, "sec-data-key-policy", iamdoc.Statement{
				Sid: "Extra", Principal: map[string]any{"Service": "cloudfront.amazonaws.com"},
				Actions: []string{"kms:Decrypt"}, Resources: []pulumi.StringInput{iamdoc.Str("*")},
			})
			pendingAfter = s.DataKeyPolicyPending()
			return nil
		})
		key, _ := rec.Find("aws:kms/key:Key", "sec-data-key")
		policies := rec.ByType("aws:kms/keyPolicy:KeyPolicy")
		if !deferred {
			if setErr == nil || len(policies) != 0 || key.Str("policy") == "" || pendingBefore {
				t.Errorf("without DeferDataKeyPolicy the key keeps its inline policy and SetDataKeyPolicy is refused: err %v, %d key policies", setErr, len(policies))
			}
			continue
		}
		if setErr != nil || !pendingBefore || pendingAfter {
			t.Fatalf("deferred: SetDataKeyPolicy err %v, pending %v → %v", setErr, pendingBefore, pendingAfter)
		}
		if key.Str("policy") != "" || len(policies) != 1 || policies[0].Str("keyId") != key.Outputs["keyId"].StringValue() {
			t.Fatalf("deferred: the data key must have no inline policy and one KeyPolicy, got %q and %d", key.Str("policy"), len(policies))
		}
		for _, sid := range []string{`"Sid":"AccountAdministers"`, `"Sid":"CloudWatchAlarmsPublish"`, `"Sid":"Extra"`} {
			if !strings.Contains(policies[0].Str("policy"), sid) {
				t.Errorf("the data key's policy lacks %s (the account must keep administering the key; CloudWatch publishes to the encrypted alarm topic): %s", sid, policies[0].Str("policy"))
			}
		}
	}
}
