package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/internal/apitest"
	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/server"
)

// TestPlannerPlansThePlatform runs the server's planner on a municipality
// stack: the platform's tiers, checked by the policy pack with no mandatory
// violation, reported step by step; result and steps match openapi.yaml.
func TestPlannerPlansThePlatform(t *testing.T) {
	var steps []jobs.PlanEvent
	result, err := newPlanner().Plan(context.Background(), "131016-prod", map[string]string{"cats:alarmEmail": "ops@example.jp"},
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
	_, err := newPlanner().Plan(context.Background(), "131016-prod", map[string]string{"cats:vpcCidr": "10.0.0.0/8"},
		func(ev jobs.PlanEvent) { steps = append(steps, ev) })
	if err == nil || !strings.Contains(err.Error(), "cats:vpcCidr") {
		t.Errorf("plan with a bad VPC: %v, want an error naming cats:vpcCidr", err)
	}
	if len(steps) != 0 {
		t.Errorf("steps %v reported for a configuration the program rejects", steps)
	}
}
