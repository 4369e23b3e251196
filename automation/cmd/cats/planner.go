package main

import (
	"context"
	"fmt"
	"maps"

	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/plan"
)

// platformPlanner is the server's offline plan: the platform program under
// mocks, checked by the policy pack, no cloud and no credentials.
type platformPlanner struct {
	base map[string]string // config every stack gets (aws:region)
}

func newPlanner() jobs.Planner { return platformPlanner{base: baseConfig()} }

// Plan plans a stack and reports each step: the configuration checked, the
// program run, the policy pack evaluated and each of its findings. A plan
// with a mandatory violation fails, after reporting it.
func (p platformPlanner) Plan(ctx context.Context, stack string, values map[string]string, onEvent func(jobs.PlanEvent)) (jobs.PlanResult, error) {
	cfg := maps.Clone(p.base)
	maps.Copy(cfg, values)
	if _, err := config.Parse("", config.Project, stack, config.FromMap(cfg)); err != nil {
		return jobs.PlanResult{}, fmt.Errorf("check the configuration of %s: %w", stack, err)
	}
	onEvent(jobs.ConfigChecked(stack, len(cfg)))
	res, err := plan.Run(ctx, platform.Program, plan.Options{Stack: stack, Config: cfg})
	if err != nil {
		return jobs.PlanResult{}, err
	}
	onEvent(jobs.ProgramRan(len(res.Resources)))
	result := jobs.PlanResult{Stack: stack, Resources: len(res.Resources), Tiers: map[string]int{},
		MandatoryViolations: res.MandatoryViolations(), Violations: []jobs.Violation{}}
	order, byTier := res.Tiers()
	for _, tier := range order {
		result.Tiers[tier] = len(byTier[tier])
	}
	onEvent(jobs.PolicyEvaluated(len(res.Violations), result.MandatoryViolations))
	first := ""
	for _, v := range res.Violations {
		found := jobs.Violation{Policy: v.Policy, Level: v.Level, URN: v.URN, Message: v.Message, Control: v.Control}
		result.Violations = append(result.Violations, found)
		onEvent(jobs.ViolationFound(found))
		if v.Mandatory() && first == "" {
			first = fmt.Sprintf("%s on %s: %s", v.Policy, urnName(v.URN), v.Message)
		}
	}
	if result.MandatoryViolations > 0 {
		return result, fmt.Errorf("%d mandatory policy violations, e.g. %s", result.MandatoryViolations, first)
	}
	return result, nil
}
