package streaming

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/naming"
)

func validArgs(t *testing.T) StreamingArgs {
	n, err := naming.NewNamer("dev", "")
	if err != nil {
		t.Fatal(err)
	}
	s := pulumi.String("x")
	return StreamingArgs{
		Namer: n, AccountID: "123456789012", Region: "ap-northeast-1", DataKeyArn: s, LogsKeyArn: s,
		DataLakeBucket: s, DataLakeArn: s, GlueDatabaseName: s, GlueTableName: s,
	}
}

func TestArgsDefaultToTheSeed(t *testing.T) {
	a := validArgs(t)
	if err := a.check(); err != nil {
		t.Fatal(err)
	}
	if a.MemoryMB != 1024 || a.TimeoutSeconds != 180 || a.BufferIntervalSeconds != 60 || a.BufferSizeMB != 64 || a.WindowSeconds != 60 {
		t.Errorf("defaults must be the seed's (1024 MB, 3 min, 60 s) and Firehose's Parquet minimum: %+v", a)
	}
}

func TestArgsNameTheKey(t *testing.T) {
	cases := map[string]func(*StreamingArgs){
		"cats:firehoseBufferSizeMb":          func(a *StreamingArgs) { a.BufferSizeMB = 5 },
		"cats:firehoseBufferIntervalSeconds": func(a *StreamingArgs) { a.BufferIntervalSeconds = 30 },
		"cats:aggregationWindowSeconds":      func(a *StreamingArgs) { a.WindowSeconds = 1000 },
		"cats:lambdaMemoryMb":                func(a *StreamingArgs) { a.MemoryMB = 64 },
		"cats:lambdaTimeoutSeconds":          func(a *StreamingArgs) { a.TimeoutSeconds = 901 },
		"Glue table":                         func(a *StreamingArgs) { a.GlueTableName = nil },
	}
	for key, edit := range cases {
		a := validArgs(t)
		edit(&a)
		if err := a.check(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("want an error naming %s, got %v", key, err)
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
