package diff_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/plan/diff"
)

var update = flag.Bool("update", false, "rewrite the golden files of the reports")

const urnPrefix = "::cats-analytics::cats:platform:Platform$"

// snapshot builds a small plan by hand: the golden report must not move
// when the program changes, only when the report does.
func snapshot(stack string, memory float64, lockedLake bool, violations []diff.Finding, usd float64) *diff.Snapshot {
	urn := func(typ, name string) string { return "urn:pulumi:" + stack + urnPrefix + typ + "::" + name }
	lake := map[string]any{"bucket": "cats-data-lake-" + stack}
	if lockedLake {
		lake["objectLockEnabled"] = true
	}
	return &diff.Snapshot{
		Stack: stack,
		Resources: []diff.Resource{
			{URN: urn("cats:streaming:Streaming$aws:lambda/function:Function", "cats-streaming-aggregator"), Type: "aws:lambda/function:Function",
				Name: "cats-streaming-aggregator", Custom: true, Tier: "streaming",
				Inputs: map[string]any{"name": "cats-data-analysis-" + stack, "memorySize": memory, "timeout": 180.0,
					"environment": map[string]any{"variables": map[string]any{"API_TOKEN": plan.RedactedSecret}}}},
			{URN: urn("cats:datalake:DataLake$aws:s3/bucketV2:BucketV2", "cats-datalake-bucket"), Type: "aws:s3/bucketV2:BucketV2",
				Name: "cats-datalake-bucket", Custom: true, Tier: "datalake", RetainOnDelete: true, Inputs: lake},
			{URN: urn("cats:database:Database$aws:dynamodb/table:Table", "cats-database-cats-info"), Type: "aws:dynamodb/table:Table",
				Name: "cats-database-cats-info", Custom: true, Tier: "database",
				Inputs: map[string]any{"name": "cats-info-" + stack, "hashKey": "id", "rangeKey": "timestamp"}},
		},
		Violations: violations,
		Cost:       &diff.Cost{MonthlyUSD: usd, MonthlyJPY: usd * 155},
	}
}

func smallFleet() *diff.Report {
	topic := func(stack string) diff.Finding {
		return diff.Finding{Policy: "sns-topic-encryption", Level: "mandatory", Message: "cats-alarms-" + stack + " is not encrypted with KMS",
			URN: "urn:pulumi:" + stack + urnPrefix + "cats:monitoring:Monitoring$aws:sns/topic:Topic::cats-monitoring-alarms"}
	}
	retention := diff.Finding{Policy: "log-group-retention", Level: "advisory", Message: "keeps logs 30 days",
		URN: "urn:pulumi:prod" + urnPrefix + "cats:network:Network$aws:cloudwatch/logGroup:LogGroup::cats-network-flow-logs"}
	diffs := []diff.StackDiff{
		// Every municipality moves the aggregator to 2048 MB...
		diff.Compare(snapshot("011002-prod", 1024, false, nil, 276.203), snapshot("011002-prod", 2048, true, nil, 276.203)),
		diff.Compare(snapshot("012025-prod", 1024, false, nil, 276.203), snapshot("012025-prod", 2048, false, []diff.Finding{topic("012025-prod")}, 276.203)),
		diff.Compare(snapshot("131016-prod", 512, false, nil, 276.203), snapshot("131016-prod", 2048, false, nil, 276.203)),
		diff.Compare(snapshot("141003-prod", 1024, false, nil, 276.203), snapshot("141003-prod", 2048, false, nil, 276.203)),
		diff.Compare(snapshot("271004-prod", 1024, false, nil, 276.203), snapshot("271004-prod", 2048, false, nil, 276.203)),
		// ...but one, left alone.
		diff.Compare(snapshot("472018-prod", 1024, false, nil, 276.203), snapshot("472018-prod", 1024, false, nil, 276.203)),
		// A new municipality, and a resolved finding on prod.
		diff.Compare(nil, snapshot("016012-prod", 2048, false, nil, 276.203)),
		diff.Compare(snapshot("prod", 1024, false, []diff.Finding{retention}, 276.703), snapshot("prod", 1024, false, nil, 276.703)),
	}
	return diff.Build("base-plans", "head-plans", diffs)
}

// TestDiffMarkdownGolden pins the report reviewers read. Run with -update after
// a deliberate change to the report, and read the diff of the golden file.
func TestDiffMarkdownGolden(t *testing.T) {
	var got bytes.Buffer
	opts := diff.MarkdownOptions{Notes: []string{"Costs are fixed monthly charges only (prices of 2026-12-01, ¥155/USD)."}}
	if err := smallFleet().Markdown(&got, opts); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "fleet.md.golden")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./plan/diff -run TestDiffMarkdownGolden -update)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("the Markdown report changed; if on purpose, rerun with -update and review testdata/fleet.md.golden.\n--- got\n%s", got.String())
	}
}

// TestDiffMarkdownStaysUnderItsBound: GitHub refuses a job summary over 1 MiB;
// the per-stack detail is cut first, and the cut is said.
func TestDiffMarkdownStaysUnderItsBound(t *testing.T) {
	r := smallFleet()
	var full, bounded bytes.Buffer
	if err := r.Markdown(&full, diff.MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	limit := full.Len() - 300
	if err := r.Markdown(&bounded, diff.MarkdownOptions{MaxBytes: limit}); err != nil {
		t.Fatal(err)
	}
	if bounded.Len() > limit || !bytes.Contains(bounded.Bytes(), []byte("left out to keep this report under")) {
		t.Fatalf("bounded report: %d bytes for a bound of %d:\n%s", bounded.Len(), limit, bounded.String())
	}
	if !bytes.Contains(bounded.Bytes(), []byte("### Changes")) {
		t.Fatalf("the grouped changes come before the detail and are kept")
	}
}
