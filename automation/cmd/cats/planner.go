package main

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// platformPlanner is the server's offline plan: the platform program under
// mocks, checked by the policy pack, no cloud and no credentials.
type platformPlanner struct {
	base   map[string]string // config every stack gets (aws:region)
	policy map[string]rules.PolicyConfig
}

// newPlanner plans with the server's policy pack config (--policy-config),
// the one its previews and ups run with.
func newPlanner(policy map[string]rules.PolicyConfig) jobs.Planner {
	return platformPlanner{base: baseConfig(), policy: policy}
}

// Plan plans a stack and reports each step: the configuration checked, the
// program run, the policy pack evaluated and each of its findings. A plan
// with a mandatory violation fails, after reporting it.
func (p platformPlanner) Plan(ctx context.Context, stack string, values map[string]string, onEvent func(jobs.PlanEvent)) (jobs.PlanResult, error) {
	cfg := maps.Clone(p.base)
	maps.Copy(cfg, values)
	if _, err := config.Parse("", config.Project, stack, config.FromMap(cfg)); err != nil {
		return jobs.PlanResult{}, programError(fmt.Errorf("check the configuration of %s: %w", stack, err))
	}
	onEvent(jobs.ConfigChecked(stack, len(cfg)))
	res, err := plan.Run(ctx, platform.Program, plan.Options{Stack: stack, Config: cfg, PolicyConfig: p.policy})
	if err != nil {
		return jobs.PlanResult{}, programError(err)
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
		result.Violations = append(result.Violations, v)
		onEvent(jobs.ViolationFound(v))
		if v.Mandatory() && first == "" {
			first = fmt.Sprintf("%s on %s: %s", v.Policy, urnName(v.URN), v.Message)
		}
	}
	if result.MandatoryViolations > 0 {
		return result, &runner.Failure{Reason: runner.ReasonPolicyViolation,
			Message: fmt.Sprintf("plan of %s: %d mandatory policy violations, e.g. %s", stack, result.MandatoryViolations, first)}
	}
	return result, nil
}

// programError is a plan that failed in the program (or its configuration):
// its message is one line (a configuration error lists a problem a line).
func programError(err error) error {
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, strings.TrimSuffix(l, ":"))
		}
	}
	return &runner.Failure{Reason: runner.ReasonProgramError, Message: strings.Join(lines, ": "), Err: err}
}
