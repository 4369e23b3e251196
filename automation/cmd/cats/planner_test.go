package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestServerPlansThePlatform registers a municipality on a server with the
// production planner and reads the plan job's result: the platform's tiers,
// checked by the policy pack with no mandatory violation.
func TestServerPlansThePlatform(t *testing.T) {
	isolateCLI(t)
	dir := t.TempDir()
	ts := &testServer{t: t, dir: dir, tokens: createTokens(t, dir)}
	ts.startWith(func(o *ServeOptions) { o.Planner = newPlanner() })
	job := ts.wait(ts.register("131016", "千代田区", "東京都", "prod", map[string]string{"cats:alarmEmail": "ops@example.jp"}))
	mustSucceed(t, job)
	var s planSummary
	if err := json.Unmarshal(job.Result, &s); err != nil {
		t.Fatal(err)
	}
	if s.Stack != "131016-prod" || s.Resources < 50 || s.Mandatory != 0 {
		t.Errorf("plan of 131016-prod = %d resources, %d mandatory violations; want the whole platform, none", s.Resources, s.Mandatory)
	}
	for _, tier := range []string{"network", "security", "datalake", "database", "streaming", "analytics"} {
		if s.Tiers[tier] == 0 {
			t.Errorf("plan has no %s resources: %v", tier, s.Tiers)
		}
	}
}

// TestPlannerReportsProgramErrors: a plan the program refuses fails with the key at fault.
func TestPlannerReportsProgramErrors(t *testing.T) {
	_, err := newPlanner().Plan(context.Background(), "131016-prod", map[string]string{"cats:vpcCidr": "10.0.0.0/8"})
	if err == nil || !strings.Contains(err.Error(), "cats:vpcCidr") {
		t.Errorf("plan with a bad VPC: %v, want an error naming cats:vpcCidr", err)
	}
}
