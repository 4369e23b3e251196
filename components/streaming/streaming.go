// Package streaming is the streaming tier: the Kinesis data stream producers
// write cat records to, the seed's Firehose `cats-data-stream` that delivers
// them to the data lake as Parquet (seed §4: 60 s buffer; see the buffer size
// note below), and the seed's real-time aggregation `cats-data-analysis`,
// which runs as a Lambda with tumbling windows on the same stream (DESIGN.md
// deviation 1, explained in package functions/aggregator and aggregation.go).
//
// Firehose cannot feed another consumer, so the stream is the fan-out point:
// Firehose and the aggregation each read it independently.
package streaming

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kinesis"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/datalake"
	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/iamrole"
	"github.com/cats-analytics/cats-analytics/components/internal/loggroup"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
)

// Type is the component's type token.
const Type = "cats:streaming:Streaming"

// Where Firehose writes: Parquet partitioned by the record's municipality
// and event date (the Glue table's partition keys), and failed records with
// the failure type, so no record is dropped silently.
const (
	FirehosePrefix      = datalake.RawPrefix + "municipality=!{partitionKeyFromQuery:municipality}/dt=!{partitionKeyFromQuery:dt}/"
	FirehoseErrorPrefix = datalake.ErrorsPrefix + "firehose/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
	// PartitionQuery extracts the partition keys from each JSON record (the
	// cat record writes event_time in UTC as RFC 3339, so its first 10
	// characters are the UTC date).
	PartitionQuery = "{municipality: .municipality_code, dt: .event_time[0:10]}"
)

// Args configures the tier.
type Args struct {
	// Mandatory.
	Namer      naming.Namer
	AccountID  string
	Region     string
	DataKeyArn pulumi.StringInput // stream encryption (security tier)
	LogsKeyArn pulumi.StringInput // log group encryption (security tier)

	DataLakeBucket pulumi.StringInput // bucket name
	DataLakeArn    pulumi.StringInput
	// DataLakeKMSKey is the lake's key when cats:dataLakeEncryption is aws:kms; nil with AES256.
	DataLakeKMSKey pulumi.StringInput

	GlueDatabaseName pulumi.StringInput // the analytics tier's cats_data database
	GlueTableName    pulumi.StringInput // and its cats_info table

	// From config.Parse (its Keys hold the seed's defaults and AWS's
	// ranges), used as given.
	BufferSizeMB          int // cats:firehoseBufferSizeMb
	BufferIntervalSeconds int // cats:firehoseBufferIntervalSeconds
	WindowSeconds         int // cats:aggregationWindowSeconds: tumbling window of the aggregation
	MemoryMB              int // cats:lambdaMemoryMb
	TimeoutSeconds        int // cats:lambdaTimeoutSeconds
	LogRetentionDays      int // cats:logRetentionDays

	// Prod keeps a week of records in the stream for replay (dev: a day).
	Prod bool
}

// Streaming is the tier.
type Streaming struct {
	pulumi.ResourceState

	Stream   *kinesis.Stream
	Firehose *kinesis.FirehoseDeliveryStream

	StreamName           pulumi.StringOutput `pulumi:"streamName"`
	StreamArn            pulumi.StringOutput `pulumi:"streamArn"`
	FirehoseName         pulumi.StringOutput `pulumi:"firehoseName"`
	AggregatorName       pulumi.StringOutput `pulumi:"aggregatorFunctionName"`
	AggregatorLogGroup   pulumi.StringOutput `pulumi:"aggregatorLogGroup"`
	AggregatorArchiveSHA pulumi.StringOutput `pulumi:"aggregatorSourceCodeHash"`
	// AggregatorFailureQueue holds the batches the aggregation gave up on.
	AggregatorFailureQueue pulumi.StringOutput `pulumi:"aggregatorFailureQueue"`
}

func (a *Args) check() error {
	c := tier.NewAccountCheck("streaming", a.Namer, a.AccountID, a.Region)
	c.Require("DataKeyArn and LogsKeyArn (security tier)", a.DataKeyArn, a.LogsKeyArn)
	c.Expect(a.DataLakeBucket != nil && a.DataLakeArn != nil, "the data lake (DataLakeBucket, DataLakeArn) is required")
	c.Expect(a.GlueDatabaseName != nil && a.GlueTableName != nil,
		"the Glue table (GlueDatabaseName, GlueTableName) is required for Parquet conversion")
	return c.Err()
}

// NewStreaming registers the streaming tier.
func NewStreaming(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Streaming, error) {
	// Build the handler before registering anything: a compile error stops
	// the program with nothing half-created.
	archive, archiveHash, err := aggregatorArchive()
	if err != nil {
		return nil, err
	}
	s := &Streaming{}
	if err := tier.Register(ctx, Type, name, s, args.check, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(s)
	stream, err := recordStream(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	firehose, err := newFirehose(ctx, name, args, stream, parent)
	if err != nil {
		return nil, err
	}
	agg, err := newAggregation(ctx, name, args, stream, archive, archiveHash, parent)
	if err != nil {
		return nil, err
	}
	s.Stream = stream
	s.Firehose = firehose
	s.StreamName = stream.Name
	s.StreamArn = stream.Arn
	s.FirehoseName = firehose.Name
	s.AggregatorName = agg.function.Name
	s.AggregatorLogGroup = agg.logGroup
	s.AggregatorArchiveSHA = pulumi.String(archiveHash).ToStringOutput()
	s.AggregatorFailureQueue = agg.failureQueue.Name
	if err := tier.RegisterOutputs(ctx, name, s); err != nil {
		return nil, err
	}
	return s, nil
}

// recordStream is the Kinesis data stream producers write to, encrypted
// with the data key.
func recordStream(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (*kinesis.Stream, error) {
	retention := 24
	if args.Prod {
		retention = 168 // a week to replay after an outage of a consumer
	}
	stream, err := kinesis.NewStream(ctx, name+"-records", &kinesis.StreamArgs{
		Name:              pulumi.String(args.Namer.PerStack("cats-records")),
		StreamModeDetails: &kinesis.StreamStreamModeDetailsArgs{StreamMode: pulumi.String("ON_DEMAND")},
		EncryptionType:    pulumi.String("KMS"),
		KmsKeyId:          args.DataKeyArn,
		RetentionPeriod:   pulumi.Int(retention),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the record stream: %w", err)
	}
	return stream, nil
}

func glueArns(args Args) []pulumi.StringInput {
	prefix := fmt.Sprintf("arn:aws:glue:%s:%s:", args.Region, args.AccountID)
	return []pulumi.StringInput{
		pulumi.String(prefix + "catalog"),
		pulumi.Sprintf("%sdatabase/%s", prefix, args.GlueDatabaseName),
		pulumi.Sprintf("%stable/%s/%s", prefix, args.GlueDatabaseName, args.GlueTableName),
	}
}

// newFirehose is the seed's delivery stream cats-data-stream: the record
// stream to the data lake's raw/ prefix as Parquet, partitioned by
// municipality and date, with its delivery logs.
func newFirehose(ctx *pulumi.Context, name string, args Args, stream *kinesis.Stream, parent pulumi.ResourceOption) (*kinesis.FirehoseDeliveryStream, error) {
	deliveryName := args.Namer.PerStack("cats-data-stream")
	logGroup, err := loggroup.New(ctx, name+"-firehose-logs", "/aws/kinesisfirehose/"+deliveryName, args.LogRetentionDays, args.LogsKeyArn, parent)
	if err != nil {
		return nil, fmt.Errorf("the delivery logs of Firehose: %w", err)
	}
	logStream, err := cloudwatch.NewLogStream(ctx, name+"-firehose-delivery-log", &cloudwatch.LogStreamArgs{
		Name:         pulumi.String("DestinationDelivery"),
		LogGroupName: logGroup.Name,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the Firehose delivery log stream: %w", err)
	}
	role, err := firehoseRole(ctx, name, args, stream, logGroup.Arn, parent)
	if err != nil {
		return nil, err
	}
	destination := s3Destination(args, role.Role.Arn)
	destination.CloudwatchLoggingOptions = &firehoseLogging{
		Enabled:       pulumi.Bool(true),
		LogGroupName:  logGroup.Name,
		LogStreamName: logStream.Name,
	}
	delivery, err := kinesis.NewFirehoseDeliveryStream(ctx, name+"-cats-data-stream", &kinesis.FirehoseDeliveryStreamArgs{
		Name:        pulumi.String(deliveryName),
		Destination: pulumi.String("extended_s3"),
		// With a Kinesis source, records at rest in Firehose are protected by
		// the stream's KMS encryption (Firehose rejects its own SSE setting).
		KinesisSourceConfiguration: &kinesis.FirehoseDeliveryStreamKinesisSourceConfigurationArgs{
			KinesisStreamArn: stream.Arn,
			RoleArn:          role.Role.Arn,
		},
		ExtendedS3Configuration: destination,
	}, parent, pulumi.DependsOn([]pulumi.Resource{role.Policy}))
	if err != nil {
		return nil, fmt.Errorf("create the Firehose delivery stream: %w", err)
	}
	return delivery, nil
}

// firehoseRole is the role Firehose reads the stream and writes the data lake with.
func firehoseRole(ctx *pulumi.Context, name string, args Args, stream *kinesis.Stream, logGroupArn pulumi.StringOutput, parent pulumi.ResourceOption) (*iamrole.Role, error) {
	// Firehose's documented trust: sts:ExternalId set to the account
	// (docs.aws.amazon.com/firehose/latest/dev/controlling-access.html,
	// "Allow Firehose to assume an IAM role"); Firehose passes the stream's
	// account as the external id when it assumes the role.
	role, err := iamrole.New(ctx, name+"-firehose-role", iamrole.Args{
		Name:        args.Namer.PerStack("cats-data-stream-role"),
		Description: "Firehose cats-data-stream: read the record stream, write Parquet to the data lake",
		Service:     "firehose.amazonaws.com",
		Trust:       iamdoc.Condition{"StringEquals": {"sts:ExternalId": args.AccountID}},
		Policy:      iamdoc.Document(firehoseStatements(args, stream, logGroupArn)...),
		PolicyName:  name + "-firehose-policy",
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("the role of Firehose: %w", err)
	}
	return role, nil
}

// firehoseStatements are Firehose's whole permission set: the stream, the
// raw/ and error prefixes of the data lake, the Glue schema and its own
// delivery logs.
func firehoseStatements(args Args, stream *kinesis.Stream, logGroupArn pulumi.StringOutput) []iamdoc.Statement {
	statements := append(readStreamStatements(stream, args), []iamdoc.Statement{
		{
			Sid:       "LocateDataLake",
			Actions:   []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"},
			Resources: []pulumi.StringInput{args.DataLakeArn},
		},
		{
			Sid:     "WriteRawAndErrors",
			Actions: []string{"s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"},
			Resources: []pulumi.StringInput{
				pulumi.Sprintf("%s/%s*", args.DataLakeArn, datalake.RawPrefix),
				pulumi.Sprintf("%s/%sfirehose/*", args.DataLakeArn, datalake.ErrorsPrefix),
			},
		},
		{
			Sid:       "ReadGlueSchema",
			Actions:   []string{"glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"},
			Resources: glueArns(args),
		},
		{
			Sid:       "WriteDeliveryLogs",
			Actions:   []string{"logs:PutLogEvents"},
			Resources: []pulumi.StringInput{pulumi.Sprintf("%s:log-stream:*", logGroupArn)},
		},
	}...)
	if args.DataLakeKMSKey != nil {
		statements = append(statements, lakeKeyStatement(args, "kms:GenerateDataKey", "kms:Decrypt"))
	}
	return statements
}

// lakeKeyStatement lets a writer of the data lake use its key with
// cats:dataLakeEncryption aws:kms, through S3 only.
func lakeKeyStatement(args Args, actions ...string) iamdoc.Statement {
	return iamdoc.Statement{
		Sid:       "EncryptDataLake",
		Actions:   actions,
		Resources: []pulumi.StringInput{args.DataLakeKMSKey},
		Condition: iamdoc.Condition{"StringEquals": {"kms:ViaService": "s3." + args.Region + ".amazonaws.com"}},
	}
}

// Short names for Firehose's deeply nested argument types, so the
// destination reads as the configuration it is.
type (
	firehoseS3         = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationArgs
	firehoseLogging    = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationCloudwatchLoggingOptionsArgs
	firehosePartitions = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDynamicPartitioningConfigurationArgs
	firehoseProcessing = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationProcessingConfigurationArgs
	firehoseProcessors = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationProcessingConfigurationProcessorArray
	firehoseProcessor  = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationProcessingConfigurationProcessorArgs
	firehoseParameters = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationProcessingConfigurationProcessorParameterArray
	firehoseParameter  = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationProcessingConfigurationProcessorParameterArgs
	firehoseConversion = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationArgs
	firehoseInput      = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationInputFormatConfigurationArgs
	firehoseReader     = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationInputFormatConfigurationDeserializerArgs
	firehoseOpenXJSON  = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationInputFormatConfigurationDeserializerOpenXJsonSerDeArgs
	firehoseOutput     = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationOutputFormatConfigurationArgs
	firehoseWriter     = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationOutputFormatConfigurationSerializerArgs
	firehoseParquet    = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationOutputFormatConfigurationSerializerParquetSerDeArgs
	firehoseSchema     = kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationSchemaConfigurationArgs
)

// s3Destination is where and how Firehose writes: buffered (seed §4: 60 s),
// partitioned by municipality and date, failed records under errors/.
func s3Destination(args Args, roleArn pulumi.StringOutput) *firehoseS3 {
	var lakeKey pulumi.StringPtrInput
	if args.DataLakeKMSKey != nil {
		lakeKey = args.DataLakeKMSKey.ToStringOutput()
	}
	return &firehoseS3{
		RoleArn:           roleArn,
		BucketArn:         args.DataLakeArn,
		BufferingSize:     pulumi.Int(args.BufferSizeMB),
		BufferingInterval: pulumi.Int(args.BufferIntervalSeconds),
		Prefix:            pulumi.String(FirehosePrefix),
		ErrorOutputPrefix: pulumi.String(FirehoseErrorPrefix),
		// Parquet compresses its own pages (SNAPPY); Firehose requires
		// UNCOMPRESSED with format conversion.
		CompressionFormat: pulumi.String("UNCOMPRESSED"),
		// Objects are encrypted with the lake's key under aws:kms, else by
		// the bucket's default SSE-S3 (AES-256, seed §4).
		KmsKeyArn: lakeKey,
		DynamicPartitioningConfiguration: &firehosePartitions{
			Enabled:       pulumi.Bool(true),
			RetryDuration: pulumi.Int(300),
		},
		ProcessingConfiguration: &firehoseProcessing{
			Enabled: pulumi.Bool(true),
			Processors: firehoseProcessors{&firehoseProcessor{
				Type: pulumi.String("MetadataExtraction"),
				Parameters: firehoseParameters{
					&firehoseParameter{ParameterName: pulumi.String("JsonParsingEngine"), ParameterValue: pulumi.String("JQ-1.6")},
					&firehoseParameter{ParameterName: pulumi.String("MetadataExtractionQuery"), ParameterValue: pulumi.String(PartitionQuery)},
				},
			}},
		},
		DataFormatConversionConfiguration: parquetConversion(args, roleArn),
	}
}

// parquetConversion turns the JSON records into Parquet with the Glue table's schema.
func parquetConversion(args Args, roleArn pulumi.StringOutput) *firehoseConversion {
	return &firehoseConversion{
		Enabled: pulumi.Bool(true),
		// OpenX reads the record's RFC 3339 UTC event_time as a timestamp.
		InputFormatConfiguration: &firehoseInput{Deserializer: &firehoseReader{OpenXJsonSerDe: &firehoseOpenXJSON{}}},
		OutputFormatConfiguration: &firehoseOutput{Serializer: &firehoseWriter{
			ParquetSerDe: &firehoseParquet{Compression: pulumi.String("SNAPPY")},
		}},
		SchemaConfiguration: &firehoseSchema{
			CatalogId:    pulumi.String(args.AccountID),
			Region:       pulumi.String(args.Region),
			DatabaseName: args.GlueDatabaseName,
			TableName:    args.GlueTableName,
			RoleArn:      roleArn,
			VersionId:    pulumi.String("LATEST"),
		},
	}
}

// readStreamStatements let a consumer (Firehose, the aggregation) read the
// record stream and decrypt it through Kinesis only.
func readStreamStatements(stream *kinesis.Stream, args Args) []iamdoc.Statement {
	return []iamdoc.Statement{
		{
			Sid:       "ReadRecordStream",
			Actions:   []string{"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"},
			Resources: []pulumi.StringInput{stream.Arn},
		},
		{
			Sid:       "DecryptRecordStream",
			Actions:   []string{"kms:Decrypt"},
			Resources: []pulumi.StringInput{args.DataKeyArn},
			Condition: iamdoc.Condition{"StringEquals": {"kms:ViaService": "kinesis." + args.Region + ".amazonaws.com"}},
		},
	}
}
