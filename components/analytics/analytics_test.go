package analytics

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
)

// TestArgsCheckTheWiring: the tier checks what the platform wires into it;
// the configuration's rules (QuickSight's principal and municipality, the
// municipality code) are config.Parse's.
func TestArgsCheckTheWiring(t *testing.T) {
	n, err := naming.NewNamer("dev", "")
	if err != nil {
		t.Fatal(err)
	}
	base := Args{Namer: n, AccountID: "123456789012", Region: "ap-northeast-1",
		DataLakeBucket: pulumi.String("b"), DataLakeArn: pulumi.String("arn"), Encryption: config.EncryptionAES256}
	if err := base.check(); err != nil {
		t.Errorf("complete wiring refused: %v", err)
	}
	a := base
	a.Encryption = config.EncryptionKMS
	if err := a.check(); err == nil || !strings.Contains(err.Error(), "DataLakeKMSKey") {
		t.Errorf("aws:kms without the lake's key must be refused naming DataLakeKMSKey (Athena results are encrypted with it), got %v", err)
	}
	a = base
	a.DataLakeArn = nil
	if err := a.check(); err == nil || !strings.Contains(err.Error(), "DataLakeArn") {
		t.Errorf("a missing data lake must be refused, got %v", err)
	}
}

func TestNamedQueriesTakeTheirParameters(t *testing.T) {
	for _, q := range NamedQueries {
		if n := strings.Count(q.SQL, "?"); n != 3 {
			t.Errorf("%s: want 3 execution parameters (municipality, first date, last date), got %d", q.Name, n)
		}
		if !strings.Contains(q.SQL, "dt BETWEEN ? AND ?") {
			t.Errorf("%s: must prune partitions by date", q.Name)
		}
	}
}

func TestDashboardSQLShowsOneMunicipality(t *testing.T) {
	sql := DashboardSQL("cats_data_131016_prod", "131016")
	if !strings.Contains(sql, `"cats_data_131016_prod"."cats_info"`) || !strings.Contains(sql, "municipality = '131016'") {
		t.Errorf("the data set must read one municipality's partitions: %s", sql)
	}
}

func TestAggregateColumns(t *testing.T) {
	cols := map[string]string{}
	for _, c := range AggregateColumns() {
		cols[c.Name] = c.Type
	}
	for name, typ := range map[string]string{"municipality_code": "string", "district": "string", "window_start": "string", "sightings": "bigint", "late_records": "bigint"} {
		if cols[name] != typ {
			t.Errorf("column %s must be %s, got %q (all: %v)", name, typ, cols[name], cols)
		}
	}
}
