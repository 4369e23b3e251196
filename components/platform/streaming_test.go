package platform_test

import (
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/internal/lambdapkg"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/components/streaming"
	"github.com/cats-analytics/cats-analytics/domain/catrecord"
	"github.com/cats-analytics/cats-analytics/functions/aggregator"
	"github.com/cats-analytics/cats-analytics/internal/harness"
)

const (
	streamType   = "aws:kinesis/stream:Stream"
	firehoseType = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
	functionType = "aws:lambda/function:Function"
	esmType      = "aws:lambda/eventSourceMapping:EventSourceMapping"
	logGroupType = "aws:cloudwatch/logGroup:LogGroup"
	roleType     = "aws:iam/role:Role"
	rolePolType  = "aws:iam/rolePolicy:RolePolicy"
)

func TestRecordStream(t *testing.T) {
	for _, stack := range environments {
		t.Run(stack, func(t *testing.T) {
			rec := run(t, stack, nil)
			s := named(t, rec, streamType, "name", "cats-records-"+stack)
			underTier(t, rec, s, streaming.Type)
			if str(in(s, "streamModeDetails", "streamMode")) != "ON_DEMAND" {
				t.Errorf("the record stream must be on-demand (no shard planning per municipality)")
			}
			if s.Str("encryptionType") != "KMS" || !strings.Contains(s.Str("kmsKeyId"), "data-key") {
				t.Errorf("the record stream must be encrypted with the data key (policy: Kinesis encryption at rest)")
			}
			want := 24.0
			if stack == "prod" {
				want = 168
			}
			if num(in(s, "retentionPeriod")) != want {
				t.Errorf("retention in %s must be %v hours, got %v", stack, want, num(in(s, "retentionPeriod")))
			}
		})
	}
}

func TestFirehose(t *testing.T) {
	for _, stack := range environments {
		t.Run(stack, func(t *testing.T) {
			rec := run(t, stack, nil)
			fh := named(t, rec, firehoseType, "name", "cats-data-stream-"+stack)
			underTier(t, rec, fh, streaming.Type)
			stream := named(t, rec, streamType, "name", "cats-records-"+stack)
			if str(in(fh, "kinesisSourceConfiguration", "kinesisStreamArn")) != out(stream, "arn") {
				t.Errorf("cats-data-stream must read the record stream (Firehose cannot feed another consumer, DESIGN.md deviation 1)")
			}
			if !in(fh, "serverSideEncryption").IsNull() {
				t.Errorf("with a Kinesis source Firehose's at-rest encryption is the stream's KMS; its own SSE block is rejected")
			}
			s3 := in(fh, "extendedS3Configuration")
			if fh.Str("destination") != "extended_s3" || str(get(s3, "bucketArn")) != "arn:aws:s3:::cats-data-lake-"+stack {
				t.Errorf("cats-data-stream must deliver to cats-data-lake (seed §4 Firehose 宛先), got %s", str(get(s3, "bucketArn")))
			}
			if num(get(s3, "bufferingInterval")) != 60 {
				t.Errorf("buffer interval must be the seed's 60 s, got %v", num(get(s3, "bufferingInterval")))
			}
			if num(get(s3, "bufferingSize")) != 64 {
				t.Errorf("buffer size must be 64 MB: Firehose rejects less with Parquet conversion (the seed's 5 MB cannot deploy), got %v", num(get(s3, "bufferingSize")))
			}
			prefix := str(get(s3, "prefix"))
			if !strings.HasPrefix(prefix, "raw/") {
				t.Errorf("records land under raw/: %s", prefix)
			}
			for _, p := range catrecord.PartitionKeys {
				mustContain(t, prefix, p.Name+"=!{partitionKeyFromQuery:"+p.Name+"}", "the prefix must partition like the Glue table")
			}
			errPrefix := str(get(s3, "errorOutputPrefix"))
			if !strings.HasPrefix(errPrefix, "errors/") || !strings.Contains(errPrefix, "!{firehose:error-output-type}") {
				t.Errorf("failed records must land under errors/ with their failure type, got %q", errPrefix)
			}
			if !boolean(get(s3, "dynamicPartitioningConfiguration", "enabled")) {
				t.Errorf("dynamic partitioning must be on to partition by the record's municipality and date")
			}
			procs := get(s3, "processingConfiguration", "processors").ArrayValue()
			if len(procs) != 1 || str(get(procs[0], "type")) != "MetadataExtraction" {
				t.Fatalf("one MetadataExtraction processor expected, got %v", procs)
			}
			var query string
			for _, p := range get(procs[0], "parameters").ArrayValue() {
				if str(get(p, "parameterName")) == "MetadataExtractionQuery" {
					query = str(get(p, "parameterValue"))
				}
			}
			for _, p := range catrecord.PartitionKeys {
				mustContain(t, query, p.Name+":", "the JQ query must extract every partition key")
			}
			mustContain(t, query, ".municipality_code", "the municipality partition comes from the record's municipality_code")
			mustContain(t, query, ".event_time[0:10]", "the date partition is the event's UTC date")

			conv := get(s3, "dataFormatConversionConfiguration")
			if !boolean(get(conv, "enabled")) || get(conv, "outputFormatConfiguration", "serializer", "parquetSerDe").IsNull() ||
				get(conv, "inputFormatConfiguration", "deserializer", "openXJsonSerDe").IsNull() {
				t.Errorf("cats-data-stream must convert the JSON records to Parquet: %v", conv)
			}
			schema := get(conv, "schemaConfiguration")
			if str(get(schema, "databaseName")) != "cats_data_"+stack || str(get(schema, "tableName")) != "cats_info" {
				t.Errorf("Parquet conversion must use the Glue table cats_data_%s.cats_info, got %v", stack, schema)
			}
			if str(get(s3, "compressionFormat")) != "UNCOMPRESSED" {
				t.Errorf("Firehose requires UNCOMPRESSED with Parquet conversion (Parquet compresses itself)")
			}
			logs := get(s3, "cloudwatchLoggingOptions")
			if !boolean(get(logs, "enabled")) || str(get(logs, "logGroupName")) != "/aws/kinesisfirehose/cats-data-stream-"+stack {
				t.Errorf("delivery errors must be logged to CloudWatch: %v", logs)
			}
			lg := named(t, rec, logGroupType, "name", "/aws/kinesisfirehose/cats-data-stream-"+stack)
			if !strings.Contains(lg.Str("kmsKeyId"), "logs-key") || num(in(lg, "retentionInDays")) <= 0 {
				t.Errorf("the Firehose log group must be KMS-encrypted with a retention")
			}
			// The Firehose role may read the Glue schema and write only raw/ and its error prefix.
			role := named(t, rec, roleType, "name", "cats-data-stream-role-"+stack)
			pol := policyJSON(named(t, rec, rolePolType, "role", role.ID))
			mustContain(t, pol, "glue:GetTableVersions", "Firehose reads the Glue schema for Parquet conversion")
			mustContain(t, pol, "/raw/*", "Firehose writes raw/")
			mustContain(t, pol, "/errors/firehose/*", "Firehose writes its error prefix")
			noWildcards(t, pol)
		})
	}
}

func TestAggregationLambda(t *testing.T) {
	_, hash, err := lambdapkg.Build(streaming.AggregatorPackage)
	if err != nil {
		t.Fatal(err)
	}
	for _, stack := range environments {
		t.Run(stack, func(t *testing.T) {
			rec := run(t, stack, nil)
			fn := named(t, rec, functionType, "name", "cats-data-analysis-"+stack)
			underTier(t, rec, fn, streaming.Type)
			if num(in(fn, "memorySize")) != 1024 || num(in(fn, "timeout")) != 180 {
				t.Errorf("cats-data-analysis must have 1024 MB and a 3-minute timeout (seed §4 Lambda), got %v MB %v s",
					num(in(fn, "memorySize")), num(in(fn, "timeout")))
			}
			if fn.Str("runtime") != "provided.al2023" || strings.Join(strs(in(fn, "architectures")), ",") != "arm64" || fn.Str("handler") != "bootstrap" {
				t.Errorf("cats-data-analysis must run the Go binary on provided.al2023/arm64: %s %v %s",
					fn.Str("runtime"), strs(in(fn, "architectures")), fn.Str("handler"))
			}
			if !in(fn, "code").IsArchive() || fn.Str("sourceCodeHash") != hash {
				t.Errorf("the function's code must be the reproducible archive with its hash %s, got %q", hash, fn.Str("sourceCodeHash"))
			}
			role := named(t, rec, roleType, "name", "cats-data-analysis-role-"+stack)
			if fn.Str("role") != out(role, "arn") {
				t.Errorf("cats-data-analysis must run as cats-data-analysis-role (seed §4 実行ロール)")
			}
			env := in(fn, "environment", "variables")
			if str(get(env, "WINDOW_SECONDS")) != "60" || str(get(env, "DATA_LAKE_BUCKET")) != "cats-data-lake-"+stack {
				t.Errorf("the handler must know its window and bucket: %v", env)
			}

			lg := named(t, rec, logGroupType, "name", "/aws/lambda/cats-data-analysis-"+stack)
			wantRetention := 30.0
			if stack == "prod" {
				wantRetention = 365
			}
			if num(in(lg, "retentionInDays")) != wantRetention || !strings.Contains(lg.Str("kmsKeyId"), "logs-key") {
				t.Errorf("/aws/lambda/cats-data-analysis (seed §4 CloudWatch) must keep logs %v days, KMS-encrypted: %v %s",
					wantRetention, num(in(lg, "retentionInDays")), lg.Str("kmsKeyId"))
			}
			if str(in(fn, "loggingConfig", "logGroup")) != lg.Str("name") {
				t.Errorf("the function must log to its pre-created log group")
			}

			esm := named(t, rec, esmType, "functionName", out(fn, "arn"))
			stream := named(t, rec, streamType, "name", "cats-records-"+stack)
			if esm.Str("eventSourceArn") != out(stream, "arn") || num(in(esm, "tumblingWindowInSeconds")) != 60 ||
				esm.Str("startingPosition") != "TRIM_HORIZON" {
				t.Errorf("cats-data-analysis must read the record stream in 60 s tumbling windows (seed: real time): %v", esm.Inputs)
			}

			pol := policyJSON(named(t, rec, rolePolType, "role", role.ID))
			mustContain(t, pol, "kinesis:GetRecords", "the aggregator reads the stream")
			mustContain(t, pol, "/"+aggregator.AggregatesPrefix+"*", "the aggregator writes curated aggregates")
			mustContain(t, pol, "/"+aggregator.ErrorsPrefix+"*", "the aggregator writes rejected records")
			if strings.Contains(pol, "cloudwatch:PutMetricData") || strings.Contains(pol, "logs:CreateLogGroup") {
				t.Errorf("least privilege: metrics go out as EMF log lines and the log group exists: %s", pol)
			}
			noWildcards(t, pol)
			tracesActively(t, fn, pol)
		})
	}
}

func TestStreamingConfig(t *testing.T) {
	rec := run(t, "dev", map[string]string{"cats:lambdaMemoryMb": "2048", "cats:aggregationWindowSeconds": "300"})
	fn := named(t, rec, functionType, "name", "cats-data-analysis-dev")
	if num(in(fn, "memorySize")) != 2048 {
		t.Errorf("cats:lambdaMemoryMb must reach the function")
	}
	if num(in(named(t, rec, esmType, "functionName", out(fn, "arn")), "tumblingWindowInSeconds")) != 300 || str(in(fn, "environment", "variables", "WINDOW_SECONDS")) != "300" {
		t.Errorf("cats:aggregationWindowSeconds must reach the mapping and the handler alike")
	}

	_, err := harness.Run("dev", map[string]string{"cats:firehoseBufferSizeMb": "5"}, platform.Program)
	if err == nil || !strings.Contains(err.Error(), "cats:firehoseBufferSizeMb") {
		t.Errorf("a 5 MB buffer cannot deploy with Parquet conversion: the program must refuse it naming the key, got %v", err)
	}
}
