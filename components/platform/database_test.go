package platform_test

import (
	"testing"

	"github.com/cats-analytics/cats-analytics/components/database"
	"github.com/cats-analytics/cats-analytics/domain/catsinfo"
)

func TestDatabase(t *testing.T) {
	for _, stack := range environments {
		t.Run(stack, func(t *testing.T) {
			rec := run(t, stack, nil)
			prod := stack == "prod"
			table := named(t, rec, "aws:dynamodb/table:Table", "name", "cats-info-"+stack)
			underTier(t, rec, table, database.Type)
			if table.Str("hashKey") != "id" || table.Str("rangeKey") != "timestamp" {
				t.Errorf("cats-info keys must be id/timestamp (seed §4 DynamoDB), got %s/%s", table.Str("hashKey"), table.Str("rangeKey"))
			}
			if table.Str("billingMode") != "PAY_PER_REQUEST" {
				t.Errorf("cats-info must be on-demand (seed §4: オンデマンド), got %s", table.Str("billingMode"))
			}
			if !boolean(in(table, "serverSideEncryption", "enabled")) || str(in(table, "serverSideEncryption", "kmsKeyArn")) == "" {
				t.Errorf("cats-info must be encrypted with the data key (seed §7)")
			}
			if !boolean(in(table, "pointInTimeRecovery", "enabled")) {
				t.Errorf("cats-info must have point-in-time recovery")
			}
			if boolean(in(table, "deletionProtectionEnabled")) != prod || table.RetainOnDelete != prod {
				t.Errorf("cats-info deletion protection and retain-on-delete must be %v in %s", prod, stack)
			}
			gsis := in(table, "globalSecondaryIndexes").ArrayValue()
			if len(gsis) != 1 {
				t.Fatalf("cats-info needs the municipality/time GSI, got %d indexes", len(gsis))
			}
			g := gsis[0]
			if str(get(g, "name")) != catsinfo.IndexByMunicipalityTime || str(get(g, "hashKey")) != "municipality_code" ||
				str(get(g, "rangeKey")) != "timestamp" || str(get(g, "projectionType")) != "ALL" {
				t.Errorf("the GSI must answer 'all records of a municipality in a time range' (municipality_code/timestamp, ALL): %v", g)
			}
			attrs := map[string]string{}
			for _, a := range in(table, "attributes").ArrayValue() {
				attrs[str(get(a, "name"))] = str(get(a, "type"))
			}
			for _, k := range []string{"id", "timestamp", "municipality_code"} {
				if attrs[k] != "S" {
					t.Errorf("key attribute %s must be declared as a string, got %v", k, attrs)
				}
			}
		})
	}
}
