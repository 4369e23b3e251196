package main

import (
	"context"
	"fmt"
	"maps"

	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// platformPlanner is the server's offline plan: the platform program under
// mocks, checked by the policy pack, no cloud and no credentials.
type platformPlanner struct {
	base map[string]string // config every stack gets (aws:region)
}

// planSummary is a plan job's result: the resources by tier and the policy findings.
type planSummary struct {
	Stack      string            `json:"stack"`
	Resources  int               `json:"resources"`
	Tiers      map[string]int    `json:"tiers"`
	Mandatory  int               `json:"mandatoryViolations"`
	Violations []rules.Violation `json:"violations"`
}

func newPlanner() jobs.Planner { return platformPlanner{base: baseConfig()} }

func (p platformPlanner) Plan(ctx context.Context, stack string, config map[string]string) (any, error) {
	cfg := maps.Clone(p.base)
	maps.Copy(cfg, config)
	res, err := plan.Run(ctx, platform.Program, plan.Options{Stack: stack, Config: cfg})
	if err != nil {
		return nil, err
	}
	order, byTier := res.Tiers()
	s := planSummary{Stack: stack, Resources: len(res.Resources), Tiers: map[string]int{}, Mandatory: res.MandatoryViolations(), Violations: res.Violations}
	for _, tier := range order {
		s.Tiers[tier] = len(byTier[tier])
	}
	if s.Violations == nil {
		s.Violations = []rules.Violation{}
	}
	if s.Mandatory > 0 {
		first := ""
		for _, v := range s.Violations {
			if v.Mandatory() {
				first = fmt.Sprintf("%s on %s: %s", v.Policy, urnName(v.URN), v.Message)
				break
			}
		}
		return nil, fmt.Errorf("%d mandatory policy violations, e.g. %s", s.Mandatory, first)
	}
	return s, nil
}
