package analytics_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/analytics"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

// fieldIDs collects every fieldId under v, in any field well.
func fieldIDs(v resource.PropertyValue) []string {
	var ids []string
	switch {
	case v.IsObject():
		for k, child := range v.ObjectValue() {
			if k == "fieldId" && child.IsString() {
				ids = append(ids, child.StringValue())
				continue
			}
			ids = append(ids, fieldIDs(child)...)
		}
	case v.IsArray():
		for _, child := range v.ArrayValue() {
			ids = append(ids, fieldIDs(child)...)
		}
	}
	return ids
}

// TestDashboardFieldIDsAreUnique walks the dashboard definition the tier
// registers: QuickSight rejects a definition in which two fields of one
// visual share a FieldId, and filters, actions and formats name fields by id
// across the whole definition, so no id may repeat anywhere.
func TestDashboardFieldIDsAreUnique(t *testing.T) {
	namer, err := naming.NewNamer("131016-prod", "")
	if err != nil {
		t.Fatal(err)
	}
	rec := harness.MustRun(t, "131016-prod", nil, func(ctx *pulumi.Context) error {
		_, err := analytics.NewAnalytics(ctx, "cats-analytics", analytics.Args{
			Namer: namer, AccountID: plan.AccountID, Region: "ap-northeast-1",
			DataLakeBucket: pulumi.String("cats-data-lake-131016-prod"), DataLakeArn: pulumi.String("arn:aws:s3:::cats-data-lake-131016-prod"),
			MunicipalityCode: "131016", Prod: true,
			QuickSightEnabled: true, QuickSightPrincipal: "arn:aws:quicksight:ap-northeast-1:123456789012:user/default/analyst",
		})
		return err
	})
	dashboard := rec.One(t, analytics.DashboardType)
	sheets := dashboard.Input("definition")
	if !sheets.IsObject() || !sheets.ObjectValue()["sheets"].IsArray() {
		t.Fatalf("the dashboard has no sheets in its definition: %v", dashboard.Input("definition"))
	}
	seen := map[string]string{} // field id → visual
	visuals := 0
	for _, sheet := range sheets.ObjectValue()["sheets"].ArrayValue() {
		for _, visual := range sheet.ObjectValue()["visuals"].ArrayValue() {
			for kind, body := range visual.ObjectValue() {
				visuals++
				visualID := body.ObjectValue()["visualId"].StringValue()
				ids := fieldIDs(body)
				if len(ids) == 0 {
					t.Errorf("%s %s has no fields", kind, visualID)
				}
				inVisual := map[string]bool{}
				for _, id := range ids {
					if inVisual[id] {
						t.Errorf("%s %s uses field id %q twice: QuickSight requires a FieldId unique within its visual", kind, visualID, id)
					}
					inVisual[id] = true
					if other, ok := seen[id]; ok && other != visualID {
						t.Errorf("field id %q is in visuals %s and %s: filters and actions name fields by id across the dashboard", id, other, visualID)
					}
					seen[id] = visualID
				}
			}
		}
	}
	if visuals < 2 {
		t.Errorf("want the dashboard's two visuals (by district, over time), got %d", visuals)
	}
}
