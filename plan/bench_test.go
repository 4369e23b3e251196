package plan_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
	"github.com/cats-analytics/cats-analytics/plan"
)

// BenchmarkPlanStack is one warm `cats plan --stack dev` without output:
// config, program under mocks, rules, graph (goal: under one second).
func BenchmarkPlanStack(b *testing.B) {
	for _, stack := range []string{"dev", "131016-prod"} {
		b.Run(stack, func(b *testing.B) {
			for b.Loop() {
				mustPlan(b, stack, nil, plan.Options{})
			}
		})
	}
}

func municipalityStacks(env string) []string {
	all := municipality.All()
	stacks := make([]string, len(all))
	for i, m := range all {
		stacks[i] = m.Code + "-" + env
	}
	return stacks
}

// BenchmarkPlanAllMunicipalities plans every municipality stack of municipality.All() (1,747) in
// parallel on all cores (goal: under one minute).
func BenchmarkPlanAllMunicipalities(b *testing.B) {
	stacks := municipalityStacks("prod")
	for b.Loop() {
		start := time.Now()
		checkAll(b, plan.Many(context.Background(), platform.Program, "..", stacks, runtime.GOMAXPROCS(0), nil, nil))
		b.ReportMetric(float64(len(stacks))/time.Since(start).Seconds(), "stacks/s")
	}
}

// TestEveryMunicipalityPlans plans every municipality stack of one
// environment: each must plan and have no mandatory violation. How fast is
// BenchmarkPlanAllMunicipalities' business, never a test's.
func TestEveryMunicipalityPlans(t *testing.T) {
	stacks := municipalityStacks("dev")
	// 1,741 municipalities, plus the six Northern Territories villages the
	// official code list carries.
	if len(stacks) < 1741 {
		t.Fatalf("municipality.All() lists %d municipalities, want at least 1,741", len(stacks))
	}
	checkAll(t, plan.Many(context.Background(), platform.Program, "..", stacks, runtime.GOMAXPROCS(0), nil, nil))
}

func checkAll(t testing.TB, summaries []plan.Summary) {
	t.Helper()
	for _, s := range summaries {
		if s.Error != "" || s.Mandatory > 0 {
			t.Fatalf("%s: error %q, %d mandatory violations", s.Stack, s.Error, s.Mandatory)
		}
	}
}
