package iamdoc_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/internal/harness"
)

// Condition values that are outputs (the ARN of a distribution being created)
// render in place, beside plain values, in every statement.
func TestConditionValuesMayBeOutputs(t *testing.T) {
	doc := iamdoc.Document(
		iamdoc.Statement{
			Sid: "First", Actions: []string{"s3:GetObject"},
			Resources: []pulumi.StringInput{pulumi.String("arn:aws:s3:::a/*")},
			Condition: map[string]map[string]any{
				"StringEquals": {"AWS:SourceArn": pulumi.String("arn:aws:cloudfront::1:distribution/A"), "aws:SourceAccount": "1"},
			},
		},
		iamdoc.Statement{
			Sid: "Second", Actions: []string{"s3:GetObject"},
			Resources: []pulumi.StringInput{pulumi.String("arn:aws:s3:::b/*"), pulumi.String("arn:aws:s3:::c/*")},
			Condition: map[string]map[string]any{
				"ArnLike":      {"aws:SourceArn": pulumi.Sprintf("arn:aws:cloudfront::1:distribution/%s", pulumi.String("B"))},
				"StringEquals": {"aws:SourceAccount": "1"},
			},
		},
	)
	var policy struct {
		Statement []struct {
			Resource  []string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(harness.Await(t, doc).(string)), &policy); err != nil {
		t.Fatal(err)
	}
	want := []map[string]map[string]string{
		{"StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::1:distribution/A", "aws:SourceAccount": "1"}},
		{"ArnLike": {"aws:SourceArn": "arn:aws:cloudfront::1:distribution/B"}, "StringEquals": {"aws:SourceAccount": "1"}},
	}
	for i, s := range policy.Statement {
		if !reflect.DeepEqual(s.Condition, want[i]) {
			t.Errorf("statement %d condition %v, want %v", i, s.Condition, want[i])
		}
	}
	if got := policy.Statement[1].Resource; len(got) != 2 || got[1] != "arn:aws:s3:::c/*" {
		t.Errorf("resources %v shifted by the condition outputs", got)
	}
}
