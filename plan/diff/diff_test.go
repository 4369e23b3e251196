package diff_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/plan/cost"
	"github.com/cats-analytics/cats-analytics/plan/diff"
)

// side is one side of a pair of plans: config changes and a registration
// mutation on top of the stack's own configuration.
type side struct {
	config map[string]string
	mutate func(*plan.Resource)
}

func catalog(t testing.TB) *cost.Catalog {
	t.Helper()
	c, err := cost.Default()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func planStack(t testing.TB, stack string, s side) *plan.Result {
	t.Helper()
	cfg, err := plan.StackConfig("../..", stack)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range s.config {
		cfg[k] = v
	}
	res, err := plan.Run(context.Background(), platform.Program, plan.Options{Stack: stack, Config: cfg, Mutate: s.mutate})
	if err != nil {
		t.Fatalf("plan %s: %v", stack, err)
	}
	return res
}

// pair plans a stack twice, writes the base as `cats plan --state-out` does,
// reads it back and compares it with the head planned in process: the path
// `cats plan --diff` takes.
func pair(t testing.TB, stack string, base, head side) diff.StackDiff {
	t.Helper()
	c := catalog(t)
	baseRes := planStack(t, stack, base)
	path := diff.StateFile(t.TempDir(), stack)
	if err := diff.WritePlan(path, baseRes, c.Estimate(baseRes)); err != nil {
		t.Fatal(err)
	}
	before, err := diff.Load(path, c)
	if err != nil {
		t.Fatal(err)
	}
	headRes := planStack(t, stack, head)
	return diff.Compare(before, diff.FromResult(headRes, c.Estimate(headRes)))
}

func find(d diff.StackDiff, typ, name string) (diff.Change, bool) {
	i := slices.IndexFunc(d.Changes, func(c diff.Change) bool { return c.Type == typ && c.Name == name })
	if i < 0 {
		return diff.Change{}, false
	}
	return d.Changes[i], true
}

func on(typ, name string, f func(*plan.Resource)) func(*plan.Resource) {
	return func(r *plan.Resource) {
		if r.Type == typ && (name == "" || r.Name == name) {
			f(r)
		}
	}
}

const principal = "arn:aws:quicksight:ap-northeast-1:123456789012:user/default/analyst"

var quicksightOn = map[string]string{"cats:quicksightEnabled": "true", "cats:quicksightPrincipal": principal}

func TestDiffOfIdenticalPlansIsEmpty(t *testing.T) {
	d := pair(t, "131016-prod", side{}, side{})
	if d.Status != diff.Unchanged || len(d.Changes) > 0 || len(d.NewViolations) > 0 {
		t.Fatalf("two plans of the same program and config must not differ (or every PR would report noise): %+v", d.Changes)
	}
	if d.CostBefore == nil || d.CostAfter == nil || d.CostBefore.MonthlyUSD != d.CostAfter.MonthlyUSD {
		t.Fatalf("the cost must be carried on both sides and equal: %+v → %+v", d.CostBefore, d.CostAfter)
	}
}

func TestDiffCreatesAndDeletes(t *testing.T) {
	created := pair(t, "131016-dev", side{}, side{config: quicksightOn})
	deleted := pair(t, "131016-dev", side{config: quicksightOn}, side{})
	for _, typ := range []string{"aws:quicksight/dataSource:DataSource", "aws:quicksight/dataSet:DataSet", "aws:quicksight/dashboard:Dashboard"} {
		if !slices.ContainsFunc(created.Changes, func(c diff.Change) bool { return c.Type == typ && c.Op == diff.Create }) {
			t.Errorf("turning QuickSight on must create a %s, got %+v", typ, created.Changes)
		}
		if !slices.ContainsFunc(deleted.Changes, func(c diff.Change) bool { return c.Type == typ && c.Op == diff.Delete }) {
			t.Errorf("turning QuickSight off must delete the %s, got %+v", typ, deleted.Changes)
		}
	}
	r := diff.Build("base", "head", []diff.StackDiff{created})
	if r.Summary.Creates < 3 || r.Summary.Deletes != 0 {
		t.Errorf("summary of turning QuickSight on: %+v", r.Summary)
	}
}

func TestDiffUpdateListsTheChangedPaths(t *testing.T) {
	d := pair(t, "131016-prod", side{}, side{config: map[string]string{"cats:lambdaMemoryMb": "2048"}})
	c, ok := find(d, "aws:lambda/function:Function", "cats-streaming-aggregator")
	if !ok {
		t.Fatalf("cats:lambdaMemoryMb must change the cats-data-analysis Lambda, changes: %+v", d.Changes)
	}
	if c.Op != diff.Update {
		t.Errorf("memorySize is changed in place (awsmodel's table for Lambda functions), got %s", c.Op)
	}
	if len(c.Paths) != 1 || c.Paths[0].Path != "memorySize" || c.Paths[0].Old != 1024.0 || c.Paths[0].New != 2048.0 {
		t.Fatalf("want memorySize 1024 → 2048, got %+v", c.Paths)
	}
	if c.PhysicalName != "cats-data-analysis-131016-prod" {
		t.Errorf("the change names the function as AWS does: %q", c.PhysicalName)
	}
	if len(d.Changes) != 1 {
		t.Errorf("only the aggregator changes, got %d changes: %+v", len(d.Changes), d.Changes)
	}
}

func TestDiffFlagsReplacingAStatefulResource(t *testing.T) {
	t.Run("renamed buckets", func(t *testing.T) {
		// A global suffix renames every bucket: AWS cannot rename one.
		d := pair(t, "dev", side{}, side{config: map[string]string{"cats:globalSuffix": "acme"}})
		lake, ok := find(d, "aws:s3/bucketV2:BucketV2", "cats-datalake-bucket")
		if !ok || lake.Op != diff.Replace || !slices.Contains(lake.ReplaceBecause, "bucket") || lake.Stateful != "the data lake bucket" {
			t.Fatalf("renaming the data lake bucket replaces it and must be flagged stateful: %+v", lake)
		}
		if lake.DeleteFirst {
			t.Errorf("a renamed bucket is created before the old one is deleted")
		}
		if trail, ok := find(d, "aws:s3/bucketV2:BucketV2", "cats-security-trail-bucket"); !ok || trail.Stateful != "the trail bucket" || trail.Op != diff.Replace {
			t.Errorf("the trail bucket is replaced too and holds the audit log: %+v", trail)
		}
		r := diff.Build("base", "head", []diff.StackDiff{d})
		if len(r.Warnings) < 2 || !strings.Contains(r.Warnings[0], "the data lake bucket") && !strings.Contains(r.Warnings[1], "the data lake bucket") {
			t.Fatalf("the report must call the replacements out: %v", r.Warnings)
		}
		var md bytes.Buffer
		if err := r.Markdown(&md, diff.MarkdownOptions{}); err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(md.String(), "| | |")
		if !strings.Contains(head, "**⚠ replaces the data lake bucket `cats-datalake-bucket`") {
			t.Errorf("the replacement must be in bold above the summary table (where data is lost):\n%s", head)
		}
	})
	t.Run("same name", func(t *testing.T) {
		// Object Lock can only be set when a bucket is created: the bucket
		// keeps its name, so the old one must go first.
		d := pair(t, "131016-prod", side{}, side{mutate: on("aws:s3/bucketV2:BucketV2", "cats-datalake-bucket", func(r *plan.Resource) {
			r.Inputs["objectLockEnabled"] = resource.NewBoolProperty(true)
		})})
		lake, ok := find(d, "aws:s3/bucketV2:BucketV2", "cats-datalake-bucket")
		if !ok || lake.Op != diff.Replace || !lake.DeleteFirst || !lake.RetainedOnDelete {
			t.Fatalf("want a delete-first replacement of the retained data lake bucket, got %+v", lake)
		}
		r := diff.Build("base", "head", []diff.StackDiff{d})
		// Retained and keeping its name, the old bucket blocks its replacement.
		if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "removed by hand") ||
			!strings.Contains(r.Warnings[0], "retained on delete") {
			t.Fatalf("warnings: %v", r.Warnings)
		}
	})
	t.Run("type not in the replacement table", func(t *testing.T) {
		d := pair(t, "131016-prod", side{}, side{mutate: on("aws:sqs/queue:Queue", "", func(r *plan.Resource) {
			r.Inputs["messageRetentionSeconds"] = resource.NewNumberProperty(86400)
		})})
		q, ok := find(d, "aws:sqs/queue:Queue", "cats-streaming-aggregator-failures")
		if !ok || q.Op != diff.MayReplace {
			t.Fatalf("awsmodel does not list SQS queues: the diff cannot know and must say may replace, got %+v", q)
		}
	})
}

func TestDiffMasksSecrets(t *testing.T) {
	const secret = "hunter2-very-secret"
	d := pair(t, "131016-prod", side{}, side{mutate: on("aws:lambda/function:Function", "cats-streaming-aggregator", func(r *plan.Resource) {
		vars := r.Inputs["environment"].ObjectValue()["variables"].ObjectValue()
		vars["API_TOKEN"] = resource.MakeSecret(resource.NewStringProperty(secret))
		vars["WINDOW_SECONDS"] = resource.MakeSecret(resource.NewStringProperty("120"))
	})})
	c, ok := find(d, "aws:lambda/function:Function", "cats-streaming-aggregator")
	if !ok {
		t.Fatal("the aggregator's environment changed")
	}
	paths := map[string]diff.PathChange{}
	for _, p := range c.Paths {
		paths[p.Path] = p
	}
	added, changed := paths["environment.variables.API_TOKEN"], paths["environment.variables.WINDOW_SECONDS"]
	if diff.Show(added.New, added.NewAbsent) != plan.RedactedSecret || !added.OldAbsent {
		t.Errorf("a new secret shows as (none) → [secret], got %+v", added)
	}
	if diff.Show(changed.Old, changed.OldAbsent) != `"60"` || diff.Show(changed.New, changed.NewAbsent) != plan.RedactedSecret {
		t.Errorf("a value that becomes secret shows its old value and [secret], got %+v", changed)
	}
	r := diff.Build("base", "head", []diff.StackDiff{d})
	var out bytes.Buffer
	if err := r.Markdown(&out, diff.MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.JSON(&out); err != nil {
		t.Fatal(err)
	}
	if err := r.Text(&out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), secret) || strings.Contains(out.String(), `"120"`) {
		t.Fatalf("a secret must never reach a report (it is posted on the pull request)")
	}
	if !strings.Contains(out.String(), plan.RedactedSecret) {
		t.Fatalf("the reports must show that a secret changed")
	}
}

func TestDiffPolicyResultsThatAppearAndDisappear(t *testing.T) {
	rotationOff := on("aws:kms/key:Key", "cats-security-data-key", func(r *plan.Resource) {
		r.Inputs["enableKeyRotation"] = resource.NewBoolProperty(false)
	})
	topicUnencrypted := on("aws:sns/topic:Topic", "", func(r *plan.Resource) { delete(r.Inputs, "kmsMasterKeyId") })
	d := pair(t, "131016-prod", side{mutate: rotationOff}, side{mutate: topicUnencrypted})
	if !slices.ContainsFunc(d.NewViolations, func(f diff.Finding) bool { return f.Policy == "sns-topic-encryption" && f.Mandatory() }) {
		t.Errorf("an unencrypted alarm topic must appear as a new mandatory violation, got %+v", d.NewViolations)
	}
	if !slices.ContainsFunc(d.ResolvedViolations, func(f diff.Finding) bool { return f.Policy == "kms-key-rotation" }) {
		t.Errorf("turning key rotation back on must resolve kms-key-rotation, got %+v", d.ResolvedViolations)
	}
	r := diff.Build("base", "head", []diff.StackDiff{d})
	if r.Summary.NewMandatory == 0 || r.Summary.ResolvedMandatory == 0 {
		t.Fatalf("summary: %+v", r.Summary)
	}
	if len(r.Policy) < 2 || !r.Policy[0].Appeared || r.Policy[0].Level != "mandatory" {
		t.Errorf("a new mandatory violation leads the policy results: %+v", r.Policy)
	}
}

// TestDiffFleetGrouping: the same change in many stacks reads as one line with
// the count; the stacks that differ are listed.
func TestDiffFleetGrouping(t *testing.T) {
	stacks := []string{"011002-prod", "012025-prod", "131016-prod", "141003-prod", "271004-prod", "472018-prod"}
	const odd, untouched = "141003-prod", "472018-prod"
	var diffs []diff.StackDiff
	for _, stack := range stacks {
		head := side{config: map[string]string{"cats:lambdaMemoryMb": "2048", "cats:logRetentionDays": "400"}}
		switch stack {
		case odd:
			head.config = map[string]string{"cats:lambdaMemoryMb": "4096", "cats:logRetentionDays": "400"}
		case untouched:
			head = side{}
		}
		diffs = append(diffs, pair(t, stack, side{}, head))
	}
	r := diff.Build("base", "head", diffs)
	var memory []diff.Group
	for _, g := range r.Groups {
		if g.Type == "aws:lambda/function:Function" && g.Name == "cats-streaming-aggregator" {
			memory = append(memory, g)
		}
	}
	if len(memory) != 2 {
		t.Fatalf("want one group for 1024 → 2048 and one for 1024 → 4096, got %+v", memory)
	}
	g := memory[0]
	if len(g.Stacks) != 4 || g.Population != 6 || g.Paths[0].Path != "memorySize" || g.Paths[0].New != 2048.0 {
		t.Fatalf("the 2048 group: %d stacks of %d, paths %+v", len(g.Stacks), g.Population, g.Paths)
	}
	if g.StacksPhrase() != "4 of 6 municipality stacks (prod)" {
		t.Errorf("phrase %q", g.StacksPhrase())
	}
	exceptions := map[string]string{}
	for _, e := range g.Exceptions {
		exceptions[e.Stack] = e.Change
	}
	if len(exceptions) != 2 || exceptions[untouched] != "no change" || !strings.Contains(exceptions[odd], "memorySize 1024 → 4096") {
		t.Fatalf("the stacks that differ must be listed with what they do instead: %v", exceptions)
	}
	// Names that carry the stack group too: every log group of the five
	// changed stacks gets 400 days, whatever its name.
	var retention *diff.Group
	for i, g := range r.Groups {
		if g.Name == "cats-streaming-aggregator-logs" {
			retention = &r.Groups[i]
		}
	}
	if retention == nil || len(retention.Stacks) != 5 || retention.PhysicalName != "/aws/lambda/cats-data-analysis-{stack}" {
		t.Fatalf("the aggregator's log group must group across stacks with its name normalized: %+v", retention)
	}
	var text bytes.Buffer
	if err := r.Text(&text); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(text.String(), "update aws:lambda/function:Function cats-streaming-aggregator in ")
	if lines != 2 {
		t.Errorf("the change to every stack must read as one line (and the odd one as another), got %d:\n%s", lines, text.String())
	}
}

func TestDiffNewAndRemovedStacks(t *testing.T) {
	c := catalog(t)
	baseDir, headDir := t.TempDir(), t.TempDir()
	for dir, stacks := range map[string][]string{baseDir: {"011002-prod", "131016-prod"}, headDir: {"131016-prod", "472018-prod"}} {
		for _, stack := range stacks {
			res := planStack(t, stack, side{})
			if err := diff.WritePlan(diff.StateFile(dir, stack), res, c.Estimate(res)); err != nil {
				t.Fatal(err)
			}
		}
	}
	diffs, err := diff.Dirs(baseDir, headDir, c, 2)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]diff.Status{}
	for _, d := range diffs {
		status[d.Stack] = d.Status
	}
	if status["011002-prod"] != diff.Removed || status["131016-prod"] != diff.Unchanged || status["472018-prod"] != diff.New {
		t.Fatalf("statuses: %v", status)
	}
	r := diff.Build(baseDir, headDir, diffs)
	if r.Summary.New != 1 || r.Summary.Removed != 1 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "011002-prod") {
		t.Fatalf("a stack the head no longer plans must be called out: %+v %v", r.Summary, r.Warnings)
	}
	if len(r.Groups) != 0 {
		t.Errorf("new and removed stacks are listed apart, not grouped resource by resource: %+v", r.Groups)
	}
}

// TestDiffBaseWithoutResults: a base branch older than the results file still
// diffs; its policy results and cost are computed from the state file.
func TestDiffBaseWithoutResults(t *testing.T) {
	c := catalog(t)
	res := planStack(t, "dev", side{mutate: on("aws:kms/key:Key", "", func(r *plan.Resource) {
		r.Inputs["enableKeyRotation"] = resource.NewBoolProperty(false)
	})})
	path := diff.StateFile(t.TempDir(), "dev")
	if err := diff.WritePlan(path, res, c.Estimate(res)); err != nil {
		t.Fatal(err)
	}
	withResults, err := diff.Load(path, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(diff.ResultsFile(path)); err != nil {
		t.Fatal(err)
	}
	recomputed, err := diff.Load(path, c)
	if err != nil {
		t.Fatal(err)
	}
	if !recomputed.Recomputed || withResults.Recomputed {
		t.Fatalf("Recomputed must say where the results came from")
	}
	if len(recomputed.Violations) != len(withResults.Violations) || len(recomputed.Violations) == 0 {
		t.Errorf("the pack on the state file must find what it found on the plan: %d vs %d", len(recomputed.Violations), len(withResults.Violations))
	}
	if recomputed.Cost == nil || recomputed.Cost.MonthlyUSD != withResults.Cost.MonthlyUSD {
		t.Errorf("the estimate of the state file must equal the plan's: %+v vs %+v", recomputed.Cost, withResults.Cost)
	}
	if d := diff.Compare(recomputed, withResults); len(d.Changes) > 0 {
		t.Errorf("the same plan read both ways must not differ: %+v", d.Changes)
	}
}

// TestDiffStatefulRolesFindTheirResources keeps StatefulRoles true: a role that
// no longer matches (a renamed resource) would silently stop the warning.
func TestDiffStatefulRolesFindTheirResources(t *testing.T) {
	want := map[string]map[string]int{
		// The keys: data, logs, and the logs key of us-east-1 (CloudFront's logs).
		"dev":         {"the data lake bucket": 1, "cats-info": 1, "a KMS key": 3, "the trail bucket": 1},
		"131016-prod": {"the data lake bucket": 1, "cats-info": 1, "a KMS key": 3},
	}
	for stack, roles := range want {
		got := map[string]int{}
		for _, r := range diff.FromResult(planStack(t, stack, side{}), nil).Resources {
			if role := diff.Stateful(r); role != "" {
				got[role]++
			}
		}
		for role, n := range roles {
			if got[role] != n {
				t.Errorf("%s: %q matches %d resources, want %d", stack, role, got[role], n)
			}
		}
		if len(got) != len(roles) {
			t.Errorf("%s: roles %v, want %v", stack, got, roles)
		}
	}
}

func TestDiffStacksSkipsResultsFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"dev.json", "dev.results.json", "131016-prod.json", "131016-prod.results.json", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := diff.Stacks(dir)
	if err != nil || !slices.Equal(got, []string{"131016-prod", "dev"}) {
		t.Fatalf("stacks %v, %v", got, err)
	}
}

func TestDiffStacksPhrase(t *testing.T) {
	muni := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%06d-prod", 10000+i)
		}
		return out
	}
	for _, tc := range []struct {
		g    diff.Group
		want string
	}{
		{diff.Group{Stacks: muni(1747), Population: 1747, Kinds: []string{"municipality stacks (prod)"}}, "all 1,747 municipality stacks (prod)"},
		{diff.Group{Stacks: muni(1746), Population: 1747, Kinds: []string{"municipality stacks (prod)"}}, "1,746 of 1,747 municipality stacks (prod)"},
		{diff.Group{Stacks: append(muni(3), "dev", "prod"), Population: 5, Kinds: []string{"environment stacks", "municipality stacks (prod)"}},
			"all 5 stacks (2 environment stacks, 3 municipality stacks (prod))"},
		{diff.Group{Stacks: muni(2), Population: 1747, Kinds: []string{"municipality stacks (prod)"}}, "2 stacks (010000-prod, 010001-prod)"},
		{diff.Group{Stacks: []string{"dev"}, Population: 1, Kinds: []string{"environment stacks"}}, "1 stack (dev)"},
	} {
		if got := tc.g.StacksPhrase(); got != tc.want {
			t.Errorf("%d of %d stacks: %q, want %q", len(tc.g.Stacks), tc.g.Population, got, tc.want)
		}
	}
}
