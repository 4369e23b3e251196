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
		{"a trail without the data lakes", security.Args{Namer: namer, AccountID: "1", Region: "ap-northeast-1", OwnsBaseline: true}, "DataLakeObjectARNPrefixes is required"},
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

// TestSeparateDataKeyPolicy: by default the data key carries its own policy
// (DataKeyStatements); with SeparateDataKeyPolicy the tier leaves the key's
// policy to its caller and writes none itself, inline or as a KeyPolicy (two
// writers of one key policy would undo each other on every update).
func TestSeparateDataKeyPolicy(t *testing.T) {
	namer, _ := naming.NewNamer("dev", "")
	for _, separate := range []bool{false, true} {
		rec := harness.MustRun(t, "dev", nil, func(ctx *pulumi.Context) error {
			east, err := aws.NewProvider(ctx, "us-east-1", &aws.ProviderArgs{Region: pulumi.String("us-east-1")})
			if err != nil {
				return err
			}
			_, err = security.NewSecurity(ctx, "sec", security.Args{
				Namer: namer, AccountID: plan.AccountID, Region: "ap-northeast-1", CloudFrontProvider: east,
				OwnsBaseline: true, SeparateDataKeyPolicy: separate,
				DataLakeObjectARNPrefixes: []string{"arn:aws:s3:::cats-data-lake-dev/"},
			})
			return err
		})
		key, ok := rec.Find("aws:kms/key:Key", "sec-data-key")
		if !ok {
			t.Fatal("no data key")
		}
		if n := len(rec.ByType("aws:kms/keyPolicy:KeyPolicy")); n != 0 {
			t.Errorf("separate=%v: the tier wrote %d KeyPolicy resources; the key's policy is inline or the caller's", separate, n)
		}
		if separate {
			if p := key.Str("policy"); p != "" {
				t.Errorf("SeparateDataKeyPolicy: the key must have no inline policy for its caller's KeyPolicy to replace: %s", p)
			}
			continue
		}
		for _, sid := range []string{`"Sid":"AccountAdministers"`, `"Sid":"CloudWatchAlarmsPublish"`} {
			if !strings.Contains(key.Str("policy"), sid) {
				t.Errorf("the data key's policy lacks %s (the account must keep administering the key; CloudWatch publishes to the encrypted alarm topic): %s", sid, key.Str("policy"))
			}
		}
	}
}

// TestDataKeyStatements: a caller that writes the data key's policy starts
// from the tier's own statements, so the account keeps administering the key.
func TestDataKeyStatements(t *testing.T) {
	doc, ok := harness.Await(t, iamdoc.Document(security.DataKeyStatements(plan.AccountID)...)).(string)
	if !ok {
		t.Fatal("the statements do not render as a policy")
	}
	for _, want := range []string{`"Sid":"AccountAdministers"`, `"AWS":"arn:aws:iam::` + plan.AccountID + `:root"`, `"Sid":"CloudWatchAlarmsPublish"`, `"aws:SourceAccount":"` + plan.AccountID + `"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("DataKeyStatements lack %s: %s", want, doc)
		}
	}
}
