package runner

import (
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

func stepEvent(op apitype.OpType, urn string, custom bool, old, new map[string]any) events.EngineEvent {
	meta := apitype.StepEventMetadata{Op: op, URN: urn, Type: "aws:s3/bucketV2:BucketV2"}
	if old != nil {
		meta.Old = &apitype.StepEventStateMetadata{URN: urn, Custom: custom, Outputs: old}
	}
	if new != nil {
		meta.New = &apitype.StepEventStateMetadata{URN: urn, Custom: custom, Outputs: new}
	}
	return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: meta}}}
}

func TestDriftCollectorNamesTheResourcesAndPropertiesThatDiffer(t *testing.T) {
	const (
		lake  = "urn:pulumi:131016-dev::cats-analytics::aws:s3/bucketV2:BucketV2::cats-data-lake"
		logs  = "urn:pulumi:131016-dev::cats-analytics::aws:cloudwatch/logGroup:LogGroup::cats-flow-logs"
		table = "urn:pulumi:131016-dev::cats-analytics::aws:dynamodb/table:Table::cats-info"
		tier  = "urn:pulumi:131016-dev::cats-analytics::cats:datalake:DataLake::cats-datalake"
	)
	d := &driftCollector{}
	for _, ev := range []events.EngineEvent{
		stepEvent(apitype.OpRefresh, lake, true, map[string]any{"tags": map[string]any{"a": "1"}, "bucket": "x", "__meta": "1"},
			map[string]any{"tags": map[string]any{"a": "2"}, "bucket": "x", "__meta": "2"}),
		stepEvent(apitype.OpRefresh, logs, true, map[string]any{"retentionInDays": 30.0}, map[string]any{"retentionInDays": 30.0}),
		stepEvent(apitype.OpRefresh, table, true, map[string]any{"name": "cats-info"}, nil),
		stepEvent(apitype.OpRefresh, tier, false, map[string]any{"a": 1.0}, map[string]any{"a": 2.0}),
		stepEvent(apitype.OpSame, logs, true, map[string]any{"x": 1.0}, map[string]any{"x": 2.0}),
	} {
		d.observe(ev)
	}
	got := d.resources()
	if len(got) != 2 {
		t.Fatalf("drifted = %+v, want the lake (tags changed) and the table (gone); a resource read back unchanged, a component and a same step are not drift", got)
	}
	// In URN order: aws:dynamodb before aws:s3.
	if got[1].URN != lake || got[1].Change != "update" || !slices.Equal(got[1].Properties, []string{"tags"}) || got[1].Name != "cats-data-lake" {
		t.Errorf("lake: %+v, want update of tags (the engine's __meta is no property)", got[1])
	}
	if got[0].URN != table || got[0].Change != "delete" || got[0].Properties != nil {
		t.Errorf("table: %+v, want delete", got[0])
	}
	if topLevel("tags.project") != "tags" || topLevel("rules[0].x") != "rules" {
		t.Error("a detailed diff's path counts as its top-level property")
	}
}
