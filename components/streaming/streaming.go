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
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kinesis"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/datalake"
	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
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
	var errs []error
	if a.Namer.Stack() == "" {
		errs = append(errs, errors.New("streaming: Namer is required"))
	}
	if a.AccountID == "" || a.Region == "" {
		errs = append(errs, errors.New("streaming: AccountID and Region are required"))
	}
	if a.DataKeyArn == nil || a.LogsKeyArn == nil {
		errs = append(errs, errors.New("streaming: DataKeyArn and LogsKeyArn (security tier) are required"))
	}
	if a.DataLakeBucket == nil || a.DataLakeArn == nil {
		errs = append(errs, errors.New("streaming: the data lake (DataLakeBucket, DataLakeArn) is required"))
	}
	if a.GlueDatabaseName == nil || a.GlueTableName == nil {
		errs = append(errs, errors.New("streaming: the Glue table (GlueDatabaseName, GlueTableName) is required for Parquet conversion"))
	}
	return errors.Join(errs...)
}

// NewStreaming registers the streaming tier.
func NewStreaming(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Streaming, error) {
	if err := args.check(); err != nil {
		return nil, err
	}
	// Build the handler before registering anything: a compile error stops
	// the program with nothing half-created.
	archive, archiveHash, err := aggregatorArchive()
	if err != nil {
		return nil, err
	}
	s := &Streaming{}
	if err := ctx.RegisterComponentResource(Type, name, s, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	parent := pulumi.Parent(s)

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
	s.AggregatorLogGroup = agg.logGroup.Name
	s.AggregatorArchiveSHA = pulumi.String(archiveHash).ToStringOutput()
	s.AggregatorFailureQueue = agg.failureQueue.Name
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{
		"streamName":               s.StreamName,
		"streamArn":                s.StreamArn,
		"firehoseName":             s.FirehoseName,
		"aggregatorFunctionName":   s.AggregatorName,
		"aggregatorLogGroup":       s.AggregatorLogGroup,
		"aggregatorSourceCodeHash": s.AggregatorArchiveSHA,
		"aggregatorFailureQueue":   s.AggregatorFailureQueue,
	}); err != nil {
		return nil, fmt.Errorf("register %s outputs: %w", name, err)
	}
	return s, nil
}

func glueArns(args Args) []pulumi.StringInput {
	prefix := fmt.Sprintf("arn:aws:glue:%s:%s:", args.Region, args.AccountID)
	return []pulumi.StringInput{
		pulumi.String(prefix + "catalog"),
		pulumi.Sprintf("%sdatabase/%s", prefix, args.GlueDatabaseName),
		pulumi.Sprintf("%stable/%s/%s", prefix, args.GlueDatabaseName, args.GlueTableName),
	}
}

func newFirehose(ctx *pulumi.Context, name string, args Args, stream *kinesis.Stream, parent pulumi.ResourceOption) (*kinesis.FirehoseDeliveryStream, error) {
	deliveryName := args.Namer.PerStack("cats-data-stream")
	logGroup, err := cloudwatch.NewLogGroup(ctx, name+"-firehose-logs", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String("/aws/kinesisfirehose/" + deliveryName),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
		KmsKeyId:        args.LogsKeyArn,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the Firehose log group: %w", err)
	}
	logStream, err := cloudwatch.NewLogStream(ctx, name+"-firehose-delivery-log", &cloudwatch.LogStreamArgs{
		Name:         pulumi.String("DestinationDelivery"),
		LogGroupName: logGroup.Name,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the Firehose delivery log stream: %w", err)
	}

	// Firehose's documented trust: sts:ExternalId set to the account
	// (docs.aws.amazon.com/firehose/latest/dev/controlling-access.html,
	// "Allow Firehose to assume an IAM role"); Firehose passes the stream's
	// account as the external id when it assumes the role.
	role, err := iam.NewRole(ctx, name+"-firehose-role", &iam.RoleArgs{
		Name:             pulumi.String(args.Namer.PerStack("cats-data-stream-role")),
		Description:      pulumi.String("Firehose cats-data-stream: read the record stream, write Parquet to the data lake"),
		AssumeRolePolicy: iamdoc.AssumeRole("firehose.amazonaws.com", iamdoc.Condition{"StringEquals": {"sts:ExternalId": args.AccountID}}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the Firehose role: %w", err)
	}
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
			Resources: []pulumi.StringInput{pulumi.Sprintf("%s:log-stream:*", logGroup.Arn)},
		},
	}...)
	if args.DataLakeKMSKey != nil {
		statements = append(statements, iamdoc.Statement{
			Sid:       "EncryptDataLake",
			Actions:   []string{"kms:GenerateDataKey", "kms:Decrypt"},
			Resources: []pulumi.StringInput{args.DataLakeKMSKey},
			Condition: map[string]map[string]any{"StringEquals": {"kms:ViaService": "s3." + args.Region + ".amazonaws.com"}},
		})
	}
	policy, err := iam.NewRolePolicy(ctx, name+"-firehose-policy", &iam.RolePolicyArgs{
		Role:   role.ID(),
		Policy: iamdoc.Document(statements...),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the Firehose policy: %w", err)
	}

	param := func(n, v string) *kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationProcessingConfigurationProcessorParameterArgs {
		return &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationProcessingConfigurationProcessorParameterArgs{
			ParameterName: pulumi.String(n), ParameterValue: pulumi.String(v),
		}
	}
	var lakeKey pulumi.StringPtrInput
	if args.DataLakeKMSKey != nil {
		lakeKey = args.DataLakeKMSKey.ToStringOutput()
	}
	delivery, err := kinesis.NewFirehoseDeliveryStream(ctx, name+"-cats-data-stream", &kinesis.FirehoseDeliveryStreamArgs{
		Name:        pulumi.String(deliveryName),
		Destination: pulumi.String("extended_s3"),
		// With a Kinesis source, records at rest in Firehose are protected by
		// the stream's KMS encryption (Firehose rejects its own SSE setting).
		KinesisSourceConfiguration: &kinesis.FirehoseDeliveryStreamKinesisSourceConfigurationArgs{
			KinesisStreamArn: stream.Arn,
			RoleArn:          role.Arn,
		},
		ExtendedS3Configuration: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationArgs{
			RoleArn:           role.Arn,
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
			DynamicPartitioningConfiguration: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDynamicPartitioningConfigurationArgs{
				Enabled:       pulumi.Bool(true),
				RetryDuration: pulumi.Int(300),
			},
			ProcessingConfiguration: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationProcessingConfigurationArgs{
				Enabled: pulumi.Bool(true),
				Processors: kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationProcessingConfigurationProcessorArray{
					&kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationProcessingConfigurationProcessorArgs{
						Type: pulumi.String("MetadataExtraction"),
						Parameters: kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationProcessingConfigurationProcessorParameterArray{
							param("JsonParsingEngine", "JQ-1.6"),
							param("MetadataExtractionQuery", PartitionQuery),
						},
					},
				},
			},
			DataFormatConversionConfiguration: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationArgs{
				Enabled: pulumi.Bool(true),
				InputFormatConfiguration: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationInputFormatConfigurationArgs{
					Deserializer: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationInputFormatConfigurationDeserializerArgs{
						// OpenX reads the record's RFC 3339 UTC event_time as a timestamp.
						OpenXJsonSerDe: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationInputFormatConfigurationDeserializerOpenXJsonSerDeArgs{},
					},
				},
				OutputFormatConfiguration: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationOutputFormatConfigurationArgs{
					Serializer: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationOutputFormatConfigurationSerializerArgs{
						ParquetSerDe: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationOutputFormatConfigurationSerializerParquetSerDeArgs{
							Compression: pulumi.String("SNAPPY"),
						},
					},
				},
				SchemaConfiguration: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationDataFormatConversionConfigurationSchemaConfigurationArgs{
					CatalogId:    pulumi.String(args.AccountID),
					Region:       pulumi.String(args.Region),
					DatabaseName: args.GlueDatabaseName,
					TableName:    args.GlueTableName,
					RoleArn:      role.Arn,
					VersionId:    pulumi.String("LATEST"),
				},
			},
			CloudwatchLoggingOptions: &kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationCloudwatchLoggingOptionsArgs{
				Enabled:       pulumi.Bool(true),
				LogGroupName:  logGroup.Name,
				LogStreamName: logStream.Name,
			},
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{policy}))
	if err != nil {
		return nil, fmt.Errorf("create the Firehose delivery stream: %w", err)
	}
	return delivery, nil
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
			Condition: map[string]map[string]any{"StringEquals": {"kms:ViaService": "kinesis." + args.Region + ".amazonaws.com"}},
		},
	}
}
