package plan_test

import (
	"testing"

	"github.com/cats-analytics/cats-analytics/plan"
)

// TestOwnAccountMunicipalityPlansWithoutViolations: a municipality with its
// own AWS account (cats:tenancy: account) owns its baseline (the trail, the
// AWS Config recorder, the account's public access block, the CIS alarms)
// and plans as cleanly as the stacks of TestStacksPlanWithoutViolations.
func TestOwnAccountMunicipalityPlansWithoutViolations(t *testing.T) {
	for _, stack := range []string{"011002-dev", "131016-prod"} {
		t.Run(stack, func(t *testing.T) {
			res := mustPlan(t, stack, func(cfg map[string]string) { cfg["cats:tenancy"] = "account" }, plan.Options{})
			for _, v := range cleanViolations(res) {
				t.Errorf("%s violation on %s (tenancy: account): %s %s: %s", v.Level, stack, v.Policy, v.URN, v.Message)
			}
			trails := 0
			for _, r := range res.Resources {
				if r.Type == "aws:cloudtrail/trail:Trail" {
					trails++
				}
			}
			if trails != 1 {
				t.Errorf("%d trails, want the municipality's own", trails)
			}
		})
	}
}
