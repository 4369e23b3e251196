package security_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/naming"
	"github.com/cats-analytics/cats-analytics/components/security"
	"github.com/cats-analytics/cats-analytics/tests/harness"
)

func TestArgsCheckedBeforeAnyRegistration(t *testing.T) {
	namer, _ := naming.NewNamer("131016-prod", "")
	tests := []struct {
		name string
		args security.SecurityArgs
		want string
	}{
		{"no account", security.SecurityArgs{Namer: namer, Region: "ap-northeast-1", OwnsBaseline: true}, "AccountID is required"},
		{"no us-east-1 provider", security.SecurityArgs{Namer: namer, AccountID: "1", Region: "ap-northeast-1", OwnsBaseline: true}, "CloudFrontProvider"},
		{"shared stack without the environment's trail", security.SecurityArgs{Namer: namer, AccountID: "1", Region: "ap-northeast-1"}, "EnvironmentTrailArn is required"},
		{"rate limit below WAF's minimum", security.SecurityArgs{Namer: namer, AccountID: "1", Region: "ap-northeast-1", OwnsBaseline: true, WafRateLimit: 10}, "cats:wafRateLimit"},
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
