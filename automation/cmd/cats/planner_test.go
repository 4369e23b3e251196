package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/internal/apitest"
	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/server"
	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// TestPlannerPlansThePlatform runs the server's planner on a municipality
// stack: the platform's tiers, checked by the policy pack with no mandatory
// violation, reported step by step; result and steps match openapi.yaml.
func TestPlannerPlansThePlatform(t *testing.T) {
	var steps []jobs.PlanEvent
	result, err := newPlanner(nil).Plan(context.Background(), "131016-prod", map[string]string{"cats:alarmEmail": "ops@example.jp"},
		func(ev jobs.PlanEvent) { steps = append(steps, ev) })
	if err != nil {
		t.Fatal(err)
	}
	if result.Stack != "131016-prod" || result.Resources < 50 || result.MandatoryViolations != 0 {
		t.Errorf("plan of 131016-prod = %d resources, %d mandatory violations; want the whole platform, none", result.Resources, result.MandatoryViolations)
	}
	for _, tier := range []string{"network", "security", "datalake", "database", "streaming", "analytics"} {
		if result.Tiers[tier] == 0 {
			t.Errorf("plan has no %s resources: %v", tier, result.Tiers)
		}
	}
	want := []string{jobs.StepConfig, jobs.StepProgram, jobs.StepPolicy}
	for range result.Violations {
		want = append(want, jobs.StepViolation)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.Step)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("plan steps %v, want %v: one event per step and per violation", got, want)
	}
	if *steps[1].Resources != result.Resources {
		t.Errorf("program step reports %d resources, the result %d", *steps[1].Resources, result.Resources)
	}
	c := apitest.NewChecker(t, server.OpenAPI())
	b, _ := json.Marshal(result)
	if err := c.Validate("PlanResult", b); err != nil {
		t.Errorf("plan result does not match openapi.yaml: %v", err)
	}
	for _, s := range steps {
		b, _ := json.Marshal(s)
		if err := c.Validate("PlanEvent", b); err != nil {
			t.Errorf("plan event %s does not match openapi.yaml: %v", b, err)
		}
	}
}

// TestPlannerReportsProgramErrors: a plan the program refuses fails with the
// key at fault, before any step is reported done.
func TestPlannerReportsProgramErrors(t *testing.T) {
	var steps []jobs.PlanEvent
	_, err := newPlanner(nil).Plan(context.Background(), "131016-prod", map[string]string{"cats:vpcCidr": "10.0.0.0/8"},
		func(ev jobs.PlanEvent) { steps = append(steps, ev) })
	if err == nil || !strings.Contains(err.Error(), "cats:vpcCidr") || strings.Contains(err.Error(), "\n") {
		t.Errorf("plan with a bad VPC: %v, want a one-line error naming cats:vpcCidr", err)
	}
	if reason, _ := runner.Explain(err); reason != runner.ReasonProgramError {
		t.Errorf("plan with a bad VPC failed for %s, want %s: a client tells its own mistakes from the server's", reason, runner.ReasonProgramError)
	}
	if len(steps) != 0 {
		t.Errorf("steps %v reported for a configuration the program rejects", steps)
	}
}

// TestPlannerAppliesThePolicyConfig: the server's --policy-config reaches
// the offline plan as it reaches previews and ups, so a rule the platform
// team tightens fails the plan with policy_violation.
func TestPlannerAppliesThePolicyConfig(t *testing.T) {
	strict, err := rules.ParseConfig(map[string]any{"log-group-retention": map[string]any{
		"enforcementLevel": "mandatory", "minimumRetentionDays": 400.0}})
	if err != nil {
		t.Fatal(err)
	}
	result, err := newPlanner(strict).Plan(context.Background(), "131016-prod", nil, func(jobs.PlanEvent) {})
	if reason, _ := runner.Explain(err); err == nil || reason != runner.ReasonPolicyViolation {
		t.Fatalf("plan with log-group-retention mandatory at 400 days: %v (%s), want %s: prod keeps logs 365 days", err, reason, runner.ReasonPolicyViolation)
	}
	found := 0
	for _, v := range result.Violations {
		if v.Policy == "log-group-retention" && v.Level == "mandatory" {
			found++
		}
	}
	if found == 0 || result.MandatoryViolations < found {
		t.Errorf("plan result lists %d mandatory log-group-retention violations (%d mandatory in all): %+v", found, result.MandatoryViolations, result.Violations)
	}
}
