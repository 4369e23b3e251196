package streaming

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kinesis"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/lambdapkg"
	"github.com/cats-analytics/cats-analytics/functions/aggregator"
)

// The seed's Kinesis Analytics application `cats-data-analysis`
// (「猫の情報に基づく集計処理」, real time) runs as the seed's Lambda of the same
// name, with the seed's role name, memory and timeout (seed §4 Lambda), on
// Kinesis tumbling windows. DESIGN.md deviation 1: Kinesis Data Analytics for
// SQL takes no new applications since 2025-10-15 and is deleted from
// 2026-01-27; its successor, Managed Service for Apache Flink, needs Java or
// Python artifacts this Go repository cannot build or test, and bills at
// least two KPUs per application around the clock, i.e. per municipality.
// The window logic is Go in functions/aggregator, unit tested there.

// AggregatorPackage is the main package of the cats-data-analysis handler.
const AggregatorPackage = lambdapkg.Module + "/functions/aggregator/cmd/aggregator"

// Event source mapping settings.
const (
	// BatchSize bounds one invocation's work well inside the seed's 3-minute
	// timeout (the benchmark aggregates 10,000 records in well under a second).
	BatchSize = 1000
	// StartingPosition: a new mapping reads what the stream retains, so no
	// record written before the function existed goes uncounted.
	StartingPosition = "TRIM_HORIZON"

	// A batch the function fails on is split in two and retried, so a record
	// that breaks the handler (it rejects bad data itself; this is for what
	// still makes it fail, e.g. one too large for memory) is isolated, and the
	// shard moves on after MaximumRetryAttempts or once a record is
	// MaximumRecordAgeSeconds old instead of stalling until the stream drops
	// it. Ten retries leave room to split a 1,000-record batch down to single
	// records (2^10 > 1,000), should each split count as one, and to ride out
	// passing S3 errors.
	MaximumRetryAttempts = 10
	// MaximumRecordAgeSeconds (6 h) is a quarter of the shortest retention
	// (dev's 24 h): a record given up on is still in the stream for hours, so
	// the failure message's sequence numbers can be replayed. Every record is
	// also in the data lake's raw/ prefix through Firehose, whatever happens
	// here, so the aggregates can be recomputed from it.
	MaximumRecordAgeSeconds = 6 * 3600
	// FailureRetentionSeconds keeps a failure message the 14 days SQS allows,
	// time to look at it after a holiday.
	FailureRetentionSeconds = 14 * 24 * 3600
)

func aggregatorArchive() (pulumi.Archive, string, error) {
	archive, hash, err := lambdapkg.Build(AggregatorPackage)
	if err != nil {
		return nil, "", fmt.Errorf("streaming: package cats-data-analysis: %w", err)
	}
	return archive, hash, nil
}

type aggregation struct {
	function     *lambda.Function
	logGroup     pulumi.StringOutput // its name
	failureQueue *sqs.Queue
}

func newAggregation(ctx *pulumi.Context, name string, args Args, stream *kinesis.Stream, archive pulumi.Archive, archiveHash string, parent pulumi.ResourceOption) (*aggregation, error) {
	failures, err := failureQueue(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	// The log group is the seed's /aws/lambda/cats-data-analysis (seed §4 CloudWatch).
	fn, err := lambdapkg.NewFunction(ctx, name+"-aggregator", lambdapkg.FunctionArgs{
		Name:           args.Namer.PerStack("cats-data-analysis"),
		Description:    "猫の情報に基づく集計処理: per-district counts in tumbling windows (seed Kinesis Analytics cats-data-analysis)",
		Archive:        archive,
		ArchiveHash:    archiveHash,
		MemoryMB:       args.MemoryMB,
		TimeoutSeconds: args.TimeoutSeconds,
		Environment: pulumi.StringMap{
			"DATA_LAKE_BUCKET": args.DataLakeBucket,
			"WINDOW_SECONDS":   pulumi.String(fmt.Sprint(args.WindowSeconds)),
		},
		Tracing:          true, // X-Ray active tracing (FSBP Lambda.7)
		LogFormat:        "Text",
		LogRetentionDays: args.LogRetentionDays,
		LogsKeyArn:       args.LogsKeyArn,
		RoleName:         args.Namer.PerStack("cats-data-analysis-role"),
		RoleDescription:  "cats-data-analysis: read the record stream, write aggregates and rejected records to the data lake",
		Policy: func(logGroupArn pulumi.StringOutput) pulumi.StringOutput {
			return iamdoc.Document(aggregatorStatements(args, stream, logGroupArn, failures)...)
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("the aggregation: %w", err)
	}
	if err := sourceMapping(ctx, name, args, stream, fn, failures, parent); err != nil {
		return nil, err
	}
	return &aggregation{function: fn.Function, logGroup: fn.LogGroup, failureQueue: failures}, nil
}

// sourceMapping feeds the record stream to the aggregation in tumbling
// windows, and sends what it gives up on to the on-failure queue.
func sourceMapping(ctx *pulumi.Context, name string, args Args, stream *kinesis.Stream, fn *lambdapkg.Function, failures *sqs.Queue, parent pulumi.ResourceOption) error {
	if _, err := lambda.NewEventSourceMapping(ctx, name+"-aggregator-source", &lambda.EventSourceMappingArgs{
		EventSourceArn:          stream.Arn,
		FunctionName:            fn.Function.Arn,
		StartingPosition:        pulumi.String(StartingPosition),
		BatchSize:               pulumi.Int(BatchSize),
		TumblingWindowInSeconds: pulumi.Int(args.WindowSeconds),
		// One batch per shard at a time, so a shard's window state sees
		// its records in order.
		ParallelizationFactor: pulumi.Int(1),
		// No ReportBatchItemFailures: the handler never fails one record (it
		// writes bad ones to errors/ and goes on); what fails it, an S3 write or
		// the window state, fails the whole batch, whose records are all in the
		// state already, so a partial checkpoint would count them twice.
		BisectBatchOnFunctionError: pulumi.Bool(true),
		MaximumRetryAttempts:       pulumi.Int(MaximumRetryAttempts),
		MaximumRecordAgeInSeconds:  pulumi.Int(MaximumRecordAgeSeconds),
		DestinationConfig: &lambda.EventSourceMappingDestinationConfigArgs{
			OnFailure: &lambda.EventSourceMappingDestinationConfigOnFailureArgs{DestinationArn: failures.Arn},
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{fn.Policy})); err != nil {
		return fmt.Errorf("map the record stream to the aggregation: %w", err)
	}
	return nil
}

// aggregatorStatements are the aggregation's whole permission set. Least
// privilege: no wildcard actions, every resource named (but X-Ray's, which
// has no resources). Metrics go out as
// embedded metric format log lines, so no cloudwatch:PutMetricData.
func aggregatorStatements(args Args, stream *kinesis.Stream, logGroupArn pulumi.StringOutput, failures *sqs.Queue) []iamdoc.Statement {
	statements := append(readStreamStatements(stream, args), []iamdoc.Statement{
		{
			Sid:     "WriteAggregatesAndRejections",
			Actions: []string{"s3:PutObject"},
			Resources: []pulumi.StringInput{
				pulumi.Sprintf("%s/%s*", args.DataLakeArn, aggregator.AggregatesPrefix),
				pulumi.Sprintf("%s/%s*", args.DataLakeArn, aggregator.ErrorsPrefix),
			},
		},
		{
			Sid:       "WriteFunctionLogs",
			Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resources: []pulumi.StringInput{pulumi.Sprintf("%s:log-stream:*", logGroupArn)},
		},
		iamdoc.TracingStatement(),
		{
			// The event source mapping sends a failed batch's description with
			// the function's role.
			Sid:       "SendFailures",
			Actions:   []string{"sqs:SendMessage"},
			Resources: []pulumi.StringInput{failures.Arn},
		},
		{
			// A sender to an SSE-KMS queue needs both (SQS developer guide,
			// "Key management": producers need kms:GenerateDataKey and kms:Decrypt).
			Sid:       "EncryptFailures",
			Actions:   []string{"kms:GenerateDataKey", "kms:Decrypt"},
			Resources: []pulumi.StringInput{args.DataKeyArn},
			Condition: iamdoc.Condition{"StringEquals": {"kms:ViaService": "sqs." + args.Region + ".amazonaws.com"}},
		},
	}...)
	if args.DataLakeKMSKey != nil {
		statements = append(statements, lakeKeyStatement(args, "kms:GenerateDataKey"))
	}
	return statements
}

// failureQueue holds the description (shard, sequence numbers, error) of
// each batch the aggregation gave up on. It is encrypted with the stack's
// data key rather than SQS-managed keys: the key's policy leaves its use to
// IAM policies of the account, so the function's role alone can be let in,
// and a key the stack controls is what every other store of the product uses.
// It takes TLS only, like the buckets.
func failureQueue(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (*sqs.Queue, error) {
	queueName := args.Namer.PerStack("cats-data-analysis-failures")
	// The queue's ARN follows from its name, so the TLS-only policy is
	// written inline with the queue rather than as a resource of its own.
	arn := fmt.Sprintf("arn:aws:sqs:%s:%s:%s", args.Region, args.AccountID, queueName)
	queue, err := sqs.NewQueue(ctx, name+"-aggregator-failures", &sqs.QueueArgs{
		Name:                    pulumi.String(queueName),
		KmsMasterKeyId:          args.DataKeyArn,
		MessageRetentionSeconds: pulumi.Int(FailureRetentionSeconds),
		Policy: iamdoc.Document(iamdoc.Statement{
			Sid:       "DenyInsecureTransport",
			Effect:    "Deny",
			Principal: map[string]any{"AWS": "*"},
			Actions:   []string{"sqs:*"},
			Resources: []pulumi.StringInput{pulumi.String(arn)},
			Condition: iamdoc.Condition{"Bool": {"aws:SecureTransport": "false"}},
		}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the on-failure queue: %w", err)
	}
	return queue, nil
}
