package streaming

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kinesis"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
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
)

func aggregatorArchive() (pulumi.Archive, string, error) {
	archive, hash, err := lambdapkg.Build(AggregatorPackage)
	if err != nil {
		return nil, "", fmt.Errorf("streaming: package cats-data-analysis: %w", err)
	}
	return archive, hash, nil
}

type aggregation struct {
	function *lambda.Function
	logGroup *cloudwatch.LogGroup
}

func newAggregation(ctx *pulumi.Context, name string, args StreamingArgs, stream *kinesis.Stream, archive pulumi.Archive, archiveHash string, parent pulumi.ResourceOption) (*aggregation, error) {
	functionName := args.Namer.PerStack("cats-data-analysis")
	// Created before the function, so Lambda never auto-creates it without
	// retention or encryption (seed §4 CloudWatch: /aws/lambda/cats-data-analysis).
	logGroup, err := cloudwatch.NewLogGroup(ctx, name+"-aggregator-logs", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String("/aws/lambda/" + functionName),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
		KmsKeyId:        args.LogsKeyArn,
	}, parent)
	if err != nil {
		return nil, err
	}
	role, err := iam.NewRole(ctx, name+"-aggregator-role", &iam.RoleArgs{
		Name:             pulumi.String(args.Namer.PerStack("cats-data-analysis-role")),
		Description:      pulumi.String("cats-data-analysis: read the record stream, write aggregates and rejected records to the data lake"),
		AssumeRolePolicy: iamdoc.AssumeRole("lambda.amazonaws.com", args.AccountID),
	}, parent)
	if err != nil {
		return nil, err
	}
	// Least privilege: no wildcard actions, every resource named. Metrics go
	// out as embedded metric format log lines, so no cloudwatch:PutMetricData.
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
			Resources: []pulumi.StringInput{pulumi.Sprintf("%s:log-stream:*", logGroup.Arn)},
		},
	}...)
	if args.DataLakeKMSKey != nil {
		statements = append(statements, iamdoc.Statement{
			Sid:       "EncryptDataLake",
			Actions:   []string{"kms:GenerateDataKey"},
			Resources: []pulumi.StringInput{args.DataLakeKMSKey},
			Condition: map[string]map[string]any{"StringEquals": {"kms:ViaService": "s3." + args.Region + ".amazonaws.com"}},
		})
	}
	policy, err := iam.NewRolePolicy(ctx, name+"-aggregator-policy", &iam.RolePolicyArgs{
		Role:   role.ID(),
		Policy: iamdoc.Document(statements...),
	}, parent)
	if err != nil {
		return nil, err
	}

	function, err := lambda.NewFunction(ctx, name+"-aggregator", &lambda.FunctionArgs{
		Name:           pulumi.String(functionName),
		Description:    pulumi.String("猫の情報に基づく集計処理: per-district counts in tumbling windows (seed Kinesis Analytics cats-data-analysis)"),
		Role:           role.Arn,
		Runtime:        pulumi.String(lambdapkg.Runtime),
		Architectures:  pulumi.StringArray{pulumi.String(lambdapkg.Architecture)},
		Handler:        pulumi.String(lambdapkg.Handler),
		Code:           archive,
		SourceCodeHash: pulumi.String(archiveHash),
		MemorySize:     pulumi.Int(args.MemoryMB),
		Timeout:        pulumi.Int(args.TimeoutSeconds),
		Environment: &lambda.FunctionEnvironmentArgs{Variables: pulumi.StringMap{
			"DATA_LAKE_BUCKET": args.DataLakeBucket,
			"WINDOW_SECONDS":   pulumi.String(fmt.Sprint(args.WindowSeconds)),
		}},
		LoggingConfig: &lambda.FunctionLoggingConfigArgs{
			LogFormat: pulumi.String("Text"),
			LogGroup:  logGroup.Name,
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{logGroup, policy}))
	if err != nil {
		return nil, err
	}
	if _, err := lambda.NewEventSourceMapping(ctx, name+"-aggregator-source", &lambda.EventSourceMappingArgs{
		EventSourceArn:          stream.Arn,
		FunctionName:            function.Arn,
		StartingPosition:        pulumi.String(StartingPosition),
		BatchSize:               pulumi.Int(BatchSize),
		TumblingWindowInSeconds: pulumi.Int(args.WindowSeconds),
		// One batch per shard at a time, so a shard's window state sees
		// its records in order.
		ParallelizationFactor: pulumi.Int(1),
	}, parent, pulumi.DependsOn([]pulumi.Resource{policy})); err != nil {
		return nil, err
	}
	return &aggregation{function: function, logGroup: logGroup}, nil
}
