package compute

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/internal/harness"
)

// Every Region in elbAccountRegions has an Elastic Load Balancing account
// that elb.GetServiceAccount answers (here the offline plan's answer, the
// accounts AWS documents), and a Region outside it never asks: the plan and
// a real deploy in a Region opened since August 2022 would fail on the
// lookup, as the provider knows no account there.
func TestELBAccountRegionsAreAnswered(t *testing.T) {
	regions := append(append([]string(nil), elbAccountRegions...), "ap-south-2", "me-central-1")
	writers := map[string]map[string]any{}
	harness.MustRun(t, "dev", nil, func(ctx *pulumi.Context) error {
		for _, r := range regions {
			w, err := albLogWriter(ctx, r)
			if err != nil {
				return err
			}
			writers[r] = w
		}
		return nil
	})
	for _, r := range elbAccountRegions {
		arn, _ := writers[r]["AWS"].(string)
		if !strings.HasPrefix(arn, "arn:aws:iam::") || !strings.HasSuffix(arn, ":root") || len(arn) != len("arn:aws:iam::123456789012:root") {
			t.Errorf("%s opened before August 2022: its logs are written by ELB's account there, got %v", r, writers[r])
		}
	}
	for _, r := range []string{"ap-south-2", "me-central-1"} {
		if writers[r]["Service"] != ELBLogDeliveryService || len(writers[r]) != 1 {
			t.Errorf("%s opened after August 2022: its logs are written by %s, got %v", r, ELBLogDeliveryService, writers[r])
		}
	}
}
