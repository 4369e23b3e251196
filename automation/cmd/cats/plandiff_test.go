package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/plan/diff"
)

// TestPlanCost: the table and the JSON plan carry the same estimate (dev:
// $230.193, hand-computed in plan/cost's tests).
func TestPlanCost(t *testing.T) {
	var table bytes.Buffer
	if err := run(context.Background(), []string{"plan", "--stack", "dev"}, env(projectDir), &table); err != nil {
		t.Fatalf("%v\n%s", err, table.String())
	}
	for _, want := range []string{
		`Estimated fixed monthly cost: \$230\.19 \(¥35,680\), at ¥155/USD`,
		`(?m)^network +\$48\.91 +¥7,581$`,
		`(?m)^network +cats-network-vpc +NAT gateways \(1\) +730 hours +\$0\.062/hour\* +\$45\.26$`,
		`Not included, usage-based`,
		`(?m)^datalake +aws:s3/bucketV2:BucketV2 +cats-datalake-bucket +storage per GB-month`,
	} {
		if !regexp.MustCompile(want).MatchString(table.String()) {
			t.Errorf("the plan's table lacks %q:\n%s", want, table.String())
		}
	}
	var doc bytes.Buffer
	if err := run(context.Background(), []string{"plan", "--stack", "dev", "--json", "--usd-jpy", "100"}, env(projectDir), &doc); err != nil {
		t.Fatal(err)
	}
	var plan struct {
		Cost struct {
			MonthlyUSD  float64           `json:"monthlyUsd"`
			MonthlyJPY  float64           `json:"monthlyJpy"`
			NotIncluded []json.RawMessage `json:"notIncluded"`
		} `json:"cost"`
	}
	if err := json.Unmarshal(doc.Bytes(), &plan); err != nil {
		t.Fatal(err)
	}
	if math.Abs(plan.Cost.MonthlyUSD-230.193) > 1e-6 || math.Abs(plan.Cost.MonthlyJPY-23019.3) > 1e-4 || len(plan.Cost.NotIncluded) == 0 {
		t.Fatalf("--json must carry the estimate the table prints, converted at --usd-jpy: %+v", plan.Cost)
	}
}

func writeCodes(t *testing.T, codes ...string) string {
	t.Helper()
	list := filepath.Join(t.TempDir(), "codes.csv")
	if err := os.WriteFile(list, []byte(strings.Join(codes, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return list
}

// TestPlanAllMunicipalitiesCost: the fleet total is the sum of the stacks'
// (3 × $277.303 = $831.909).
func TestPlanAllMunicipalitiesCost(t *testing.T) {
	list := writeCodes(t, "131016", "011002", "472018")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"plan", "--all-municipalities", list, "--env", "prod"}, env(projectDir), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Estimated fixed monthly cost of the 3 stacks: $831.91 (¥128,946), $277.30 each") {
		t.Fatalf("the fleet total is missing or wrong:\n%s", out.String())
	}
}

// projectWith copies the project's stack files with one Pulumi.yaml value
// changed: a change of the repository, as a pull request would make it.
func projectWith(t *testing.T, key, old, new string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"} {
		raw, err := os.ReadFile(filepath.Join("../../..", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "Pulumi.yaml" {
			re := regexp.MustCompile(`(?s)(` + regexp.QuoteMeta(key) + `:\n(?:    [^\n]*\n)*?    value: )"` + regexp.QuoteMeta(old) + `"`)
			if !re.Match(raw) {
				t.Fatalf("Pulumi.yaml has no %s value %q", key, old)
			}
			raw = re.ReplaceAll(raw, []byte(`${1}"`+new+`"`))
		}
		if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPlanDiffFleet runs what the pull request workflow runs: the base and
// the head planned with --state-out, then compared with --diff --head.
func TestPlanDiffFleet(t *testing.T) {
	list := writeCodes(t, "131016", "011002", "472018")
	base, head := t.TempDir(), t.TempDir()
	if err := run(context.Background(), []string{"plan", "--all-municipalities", list, "--env", "prod", "--state-out", base}, env(projectDir), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	headProject := projectWith(t, "cats:lambdaMemoryMb", "1024", "2048")
	err := run(context.Background(), []string{"plan", "--all-municipalities", list, "--env", "prod", "--state-out", head, "--project-dir", headProject},
		env(projectDir), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(diff.ResultsFile(diff.StateFile(base, "131016-prod"))); err != nil {
		t.Fatalf("--state-out must write the results beside each state file: %v", err)
	}
	var md bytes.Buffer
	if err := run(context.Background(), []string{"plan", "--diff", base, "--head", head, "--format", "markdown"}, env(projectDir), &md); err != nil {
		t.Fatalf("a change without new violations must pass: %v\n%s", err, md.String())
	}
	for _, want := range []string{
		"## Offline plan diff: 3 stacks, 3 changed",
		"- update `aws:lambda/function:Function` `cats-streaming-aggregator` (`cats-data-analysis-{stack}`) in all 3 municipality stacks (prod)\n  - `memorySize`: `1024` → `2048`\n",
		"| estimated fixed monthly cost | $831.91 → $831.91 (+$0.00) |",
		"<details><summary><code>472018-prod</code>: 1 × update",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, md.String())
		}
	}
	// The same comparison, planning the head in process.
	var doc bytes.Buffer
	err = run(context.Background(), []string{"plan", "--all-municipalities", list, "--env", "prod", "--project-dir", headProject, "--diff", base, "--json"},
		env(projectDir), &doc)
	if err != nil {
		t.Fatal(err)
	}
	var report diff.Report
	if err := json.Unmarshal(doc.Bytes(), &report); err != nil {
		t.Fatal(err)
	}
	if report.Summary.Changed != 3 || len(report.Groups) != 1 || len(report.Groups[0].Stacks) != 3 {
		t.Fatalf("planning the head in process must give the same diff: %+v, %d groups", report.Summary, len(report.Groups))
	}
}

// TestPlanDiffFailsOnNewMandatoryViolation: the pull request check fails on
// a mandatory violation the base did not have, and says which.
func TestPlanDiffFailsOnNewMandatoryViolation(t *testing.T) {
	base := t.TempDir()
	if err := run(context.Background(), []string{"plan", "--stack", "dev", "--state-out", diff.StateFile(base, "dev")}, env(projectDir), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"plan", "--stack", "dev", "--diff", base}, env(projectDir), &out); err != nil {
		t.Fatalf("an unchanged stack must pass: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "0 changed") {
		t.Errorf("an unchanged stack reads as such:\n%s", out.String())
	}
	config := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(config, []byte(`{"log-group-retention": {"enforcementLevel": "mandatory", "minimumRetentionDays": 365}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := run(context.Background(), []string{"plan", "--stack", "dev", "--diff", diff.StateFile(base, "dev"), "--policy-config", config}, env(projectDir), &out)
	if !errors.Is(err, errMandatory) {
		t.Fatalf("a new mandatory violation must fail the check, got %v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`new mandatory violation log-group-retention on aws:cloudwatch/logGroup:LogGroup`).MatchString(out.String()) {
		t.Errorf("the report must name the new violation:\n%s", out.String())
	}
}

func TestPlanDiffUsage(t *testing.T) {
	for _, args := range [][]string{
		{"plan", "--stack", "dev", "--head", "x"},
		{"plan", "--diff", "x", "--head", "y", "--stack", "dev"},
		{"plan", "--stack", "dev", "--format", "markdown"},
		{"plan", "--stack", "dev", "--diff", "x", "--json", "--format", "markdown"},
		{"plan", "--stack", "dev", "--diff", "x", "--format", "html"},
		{"plan", "--stack", "dev", "--usd-jpy", "-1"},
	} {
		if err := run(context.Background(), args, env(projectDir), &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("%v: want a usage error, got %v", args, err)
		}
	}
	missing := filepath.Join(t.TempDir(), "no-such-plans")
	if err := run(context.Background(), []string{"plan", "--stack", "dev", "--diff", missing}, env(projectDir), &bytes.Buffer{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing base must fail rather than report every stack as new, got %v", err)
	}
}
