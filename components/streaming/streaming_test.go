package streaming

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/naming"
)

func validArgs(t *testing.T) Args {
	n, err := naming.NewNamer("dev", "")
	if err != nil {
		t.Fatal(err)
	}
	s := pulumi.String("x")
	return Args{
		Namer: n, AccountID: "123456789012", Region: "ap-northeast-1", DataKeyArn: s, LogsKeyArn: s,
		DataLakeBucket: s, DataLakeArn: s, GlueDatabaseName: s, GlueTableName: s,
	}
}

// TestArgsCheckTheWiring: the tier checks what the platform wires into it;
// the ranges of its configured values (buffer, window, memory, timeout) are
// config.Parse's.
func TestArgsCheckTheWiring(t *testing.T) {
	if a := validArgs(t); a.check() != nil {
		t.Errorf("complete wiring refused: %v", a.check())
	}
	cases := map[string]func(*Args){
		"Glue table":        func(a *Args) { a.GlueTableName = nil },
		"Namer is required": func(a *Args) { a.Namer = naming.Namer{} },
		"DataKeyArn":        func(a *Args) { a.DataKeyArn = nil },
		"data lake":         func(a *Args) { a.DataLakeArn = nil },
	}
	for want, edit := range cases {
		a := validArgs(t)
		edit(&a)
		if err := a.check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error naming %s, got %v", want, err)
		}
	}
}

func TestPartitionQueryMatchesThePrefix(t *testing.T) {
	for _, key := range []string{"municipality", "dt"} {
		if !strings.Contains(PartitionQuery, key+":") || !strings.Contains(FirehosePrefix, "!{partitionKeyFromQuery:"+key+"}") {
			t.Errorf("partition key %s must be both extracted and used in the prefix", key)
		}
	}
}
