package diff

import (
	"context"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/plan/cost"
)

// TestDiffComparesUnchangedInputsWithoutDecoding: a plan read back from its
// results file and the same plan made in process hold byte-identical inputs,
// so an unchanged resource is never decoded; decoding every input of a fleet
// is what made a diff of 1,747 stacks slow.
func TestDiffComparesUnchangedInputsWithoutDecoding(t *testing.T) {
	cfg, err := plan.StackConfig("../..", "131016-prod")
	if err != nil {
		t.Fatal(err)
	}
	res, err := plan.Run(context.Background(), platform.Program, plan.Options{Stack: "131016-prod", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := cost.Default()
	if err != nil {
		t.Fatal(err)
	}
	path := StateFile(t.TempDir(), res.Stack)
	if err := WritePlan(path, res, catalog.Estimate(res)); err != nil {
		t.Fatal(err)
	}
	base, err := Load(path, catalog)
	if err != nil {
		t.Fatal(err)
	}
	head := FromResult(res, catalog.Estimate(res))
	if d := Compare(base, head); len(d.Changes) > 0 {
		t.Fatalf("the same plan must not differ: %+v", d.Changes)
	}
	for _, s := range []*Snapshot{base, head} {
		for _, r := range s.Resources {
			if r.Inputs != nil {
				t.Fatalf("%s: unchanged inputs were decoded: the results file and FromResult must write them alike", r.URN)
			}
		}
	}
}
