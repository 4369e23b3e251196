package security

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cfg"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudtrail"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/iamrole"
	"github.com/cats-analytics/cats-analytics/components/internal/loggroup"
	"github.com/cats-analytics/cats-analytics/components/internal/storage"
)

// The account's baseline, created by the stack that owns it: a multi-region
// CloudTrail trail and the AWS Config recorder, both delivering to one
// encrypted bucket.

func trailName(args Args) string { return args.Namer.PerStack("cats-trail") }

// TrailAccessLogPrefix is where the trail bucket's server access logs land
// in their bucket.
const TrailAccessLogPrefix = "trail-bucket/"

// trailBucket is the private bucket CloudTrail and AWS Config deliver to,
// with its server access logs (FSBP CloudTrail.7, CIS 3.4) in a bucket of
// their own.
func trailBucket(ctx *pulumi.Context, name string, args Args, logsKey *kms.Key, owner pulumi.Resource) (*storage.PrivateBucket, error) {
	bucketName, err := args.Namer.Global("cats-trail-logs")
	if err != nil {
		return nil, fmt.Errorf("name the trail bucket: %w", err)
	}
	accessLogs, err := trailAccessLogBucket(ctx, name, args, bucketName, owner)
	if err != nil {
		return nil, err
	}
	trailArn := fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", args.Region, args.AccountID, trailName(args))
	bucket, err := storage.NewPrivateBucket(ctx, name+"-trail-bucket", storage.PrivateBucketArgs{
		BucketName:      bucketName,
		KMSKeyArn:       logsKey.Arn,
		Retain:          args.Prod,
		Parent:          owner,
		AccessLogBucket: accessLogs.Bucket.Bucket,
		AccessLogPrefix: TrailAccessLogPrefix,
		PolicyStatements: func(arn pulumi.StringOutput) []iamdoc.Statement {
			return trailBucketStatements(arn, trailArn, args.AccountID)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create the trail bucket: %w", err)
	}
	return bucket, nil
}

// trailAccessLogBucket receives the trail bucket's server access logs:
// private, versioned, TLS-only and encrypted like every bucket of the
// program, with SSE-S3 because S3 delivers server access logs to no other
// kind of encryption; only the trail bucket of this account may deliver.
func trailAccessLogBucket(ctx *pulumi.Context, name string, args Args, trailBucketName string, owner pulumi.Resource) (*storage.PrivateBucket, error) {
	bucketName, err := args.Namer.Global("cats-trail-access")
	if err != nil {
		return nil, fmt.Errorf("name the trail bucket's access log bucket: %w", err)
	}
	bucket, err := storage.NewPrivateBucket(ctx, name+"-trail-access-logs", storage.PrivateBucketArgs{
		BucketName: bucketName,
		Retain:     args.Prod,
		Parent:     owner,
		PolicyStatements: func(arn pulumi.StringOutput) []iamdoc.Statement {
			return []iamdoc.Statement{storage.ServerAccessLogStatement(arn, TrailAccessLogPrefix, args.AccountID, trailBucketName)}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create the trail bucket's access log bucket: %w", err)
	}
	return bucket, nil
}

// trailBucketStatements let this account's trail, and AWS Config on this
// account's behalf, check the bucket and write under their own prefixes.
func trailBucketStatements(bucketArn pulumi.StringOutput, trailArn, accountID string) []iamdoc.Statement {
	cloudTrail := map[string]any{"Service": "cloudtrail.amazonaws.com"}
	config := map[string]any{"Service": "config.amazonaws.com"}
	written := "bucket-owner-full-control"
	return []iamdoc.Statement{
		{
			Sid: "CloudTrailAclCheck", Principal: cloudTrail,
			Actions: []string{"s3:GetBucketAcl"}, Resources: []pulumi.StringInput{bucketArn},
			Condition: iamdoc.Condition{"StringEquals": {"aws:SourceArn": trailArn}},
		},
		{
			Sid: "CloudTrailWrite", Principal: cloudTrail,
			Actions:   []string{"s3:PutObject"},
			Resources: []pulumi.StringInput{pulumi.Sprintf("%s/AWSLogs/%s/*", bucketArn, accountID)},
			Condition: iamdoc.Condition{"StringEquals": {"aws:SourceArn": trailArn, "s3:x-amz-acl": written}},
		},
		{
			Sid: "ConfigAclCheck", Principal: config,
			Actions: []string{"s3:GetBucketAcl", "s3:ListBucket"}, Resources: []pulumi.StringInput{bucketArn},
			Condition: iamdoc.SourceAccount(accountID),
		},
		{
			Sid: "ConfigWrite", Principal: config,
			Actions:   []string{"s3:PutObject"},
			Resources: []pulumi.StringInput{pulumi.Sprintf("%s/config/AWSLogs/%s/Config/*", bucketArn, accountID)},
			Condition: iamdoc.Condition{"StringEquals": {"aws:SourceAccount": accountID, "s3:x-amz-acl": written}},
		},
	}
}

// TrailEventSelectors are what the trail records: every management event,
// read and write (FSBP CloudTrail.1, CIS 3.1), and the object-level reads and
// writes of the data lakes under objectARNPrefixes (FSBP S3.22 / S3.23, CIS
// 3.8 / 3.9): who read or changed residents' reports.
func TrailEventSelectors(objectARNPrefixes []string) cloudtrail.TrailAdvancedEventSelectorArray {
	equals := func(field string, values ...string) *cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs {
		return &cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs{Field: pulumi.String(field), Equals: pulumi.ToStringArray(values)}
	}
	return cloudtrail.TrailAdvancedEventSelectorArray{
		// No readOnly selector: both read and write events.
		&cloudtrail.TrailAdvancedEventSelectorArgs{
			Name:           pulumi.String("Management events, read and write"),
			FieldSelectors: cloudtrail.TrailAdvancedEventSelectorFieldSelectorArray{equals("eventCategory", "Management")},
		},
		&cloudtrail.TrailAdvancedEventSelectorArgs{
			Name: pulumi.String("Data lake object reads and writes"),
			FieldSelectors: cloudtrail.TrailAdvancedEventSelectorFieldSelectorArray{
				equals("eventCategory", "Data"),
				equals("resources.type", "AWS::S3::Object"),
				&cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs{
					Field: pulumi.String("resources.ARN"), StartsWiths: pulumi.ToStringArray(objectARNPrefixes),
				},
			},
		},
	}
}

// newTrail is the multi-region trail, with its CloudWatch Logs delivery.
func newTrail(ctx *pulumi.Context, name string, args Args, bucket *storage.PrivateBucket, logsKey *kms.Key, parent pulumi.ResourceOption) (*cloudtrail.Trail, *cloudwatch.LogGroup, error) {
	logGroup, err := loggroup.New(ctx, name+"-trail-logs", "/aws/cloudtrail/"+trailName(args), args.LogRetentionDays, logsKey.Arn, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("trail: %w", err)
	}
	// No condition: CloudTrail documents that its CloudWatch Logs role supports
	// neither aws:SourceArn nor aws:SourceAccount
	// (docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-required-policy-for-cloudwatch-logs.html),
	// and a condition on a key it does not send would stop delivery to the log group.
	role, err := iamrole.New(ctx, name+"-trail-role", iamrole.Args{
		Name:    args.Namer.PerStack("cats-trail-to-logs"),
		Service: "cloudtrail.amazonaws.com",
		Policy: iamdoc.Document(iamdoc.Statement{
			Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resources: []pulumi.StringInput{pulumi.Sprintf("%s:log-stream:*", logGroup.Arn)},
		}),
		PolicyName: name + "-trail-role-policy",
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("trail's CloudWatch Logs delivery: %w", err)
	}
	trail, err := cloudtrail.NewTrail(ctx, name+"-trail", &cloudtrail.TrailArgs{
		Name:                       pulumi.String(trailName(args)),
		S3BucketName:               bucket.Bucket.Bucket,
		IsMultiRegionTrail:         pulumi.Bool(true), // FSBP CloudTrail.1
		IncludeGlobalServiceEvents: pulumi.Bool(true),
		EnableLogFileValidation:    pulumi.Bool(true),                    // FSBP CloudTrail.4
		KmsKeyId:                   logsKey.Arn,                          // FSBP CloudTrail.2
		CloudWatchLogsGroupArn:     pulumi.Sprintf("%s:*", logGroup.Arn), // FSBP CloudTrail.5
		CloudWatchLogsRoleArn:      role.Role.Arn,
		EnableLogging:              pulumi.Bool(true),
		AdvancedEventSelectors:     TrailEventSelectors(args.DataLakeObjectARNPrefixes),
	}, parent, pulumi.DependsOn([]pulumi.Resource{bucket.Policy, role.Policy}))
	if err != nil {
		return nil, nil, fmt.Errorf("create the trail: %w", err)
	}
	return trail, logGroup, nil
}

// configRules are the AWS Config managed rules that watch what the policy pack
// enforces at deploy time: encryption, WAF and the trail.
var configRules = []string{
	"CLOUD_TRAIL_ENABLED",
	"MULTI_REGION_CLOUD_TRAIL_ENABLED",
	"CLOUD_TRAIL_ENCRYPTION_ENABLED",
	"CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED",
	"CMK_BACKING_KEY_ROTATION_ENABLED",
	"S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
	"S3_BUCKET_SSL_REQUESTS_ONLY",
	"S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED",
	"DYNAMODB_TABLE_ENCRYPTED_KMS",
	"KINESIS_STREAM_ENCRYPTED",
	"CLOUDWATCH_LOG_GROUP_ENCRYPTED",
	"SNS_ENCRYPTED_KMS",
	"API_GW_ASSOCIATED_WITH_WAF",
	"ALB_WAF_ENABLED",
	// CloudFront's rules (CLOUDFRONT_ASSOCIATED_WITH_WAF, …) evaluate only in
	// us-east-1, where this recorder does not run; the policy pack covers them.
}

// newConfigRecorder is the account's one AWS Config recorder, delivering to
// the trail bucket, and the managed rules it evaluates.
func newConfigRecorder(ctx *pulumi.Context, name string, args Args, bucket *storage.PrivateBucket, logsKey *kms.Key, parent pulumi.ResourceOption) error {
	role, err := configRole(ctx, name, args, bucket, logsKey, parent)
	if err != nil {
		return err
	}
	recorder, err := cfg.NewRecorder(ctx, name+"-config-recorder", &cfg.RecorderArgs{
		Name:    pulumi.String(args.Namer.PerStack("cats-config")),
		RoleArn: role.Role.Arn,
		RecordingGroup: &cfg.RecorderRecordingGroupArgs{
			AllSupported:               pulumi.Bool(true),
			IncludeGlobalResourceTypes: pulumi.Bool(true),
		},
	}, parent)
	if err != nil {
		return fmt.Errorf("create the AWS Config recorder: %w", err)
	}
	channel, err := cfg.NewDeliveryChannel(ctx, name+"-config-delivery", &cfg.DeliveryChannelArgs{
		Name:         pulumi.String(args.Namer.PerStack("cats-config")),
		S3BucketName: bucket.Bucket.Bucket,
		S3KeyPrefix:  pulumi.String("config"),
		S3KmsKeyArn:  logsKey.Arn,
	}, parent, pulumi.DependsOn([]pulumi.Resource{recorder, bucket.Policy, role.Policy}))
	if err != nil {
		return fmt.Errorf("create the AWS Config delivery channel: %w", err)
	}
	if _, err := cfg.NewRecorderStatus(ctx, name+"-config-recorder-status", &cfg.RecorderStatusArgs{
		Name:      recorder.Name,
		IsEnabled: pulumi.Bool(true),
	}, parent, pulumi.DependsOn([]pulumi.Resource{channel})); err != nil {
		return fmt.Errorf("enable the AWS Config recorder: %w", err)
	}
	return configManagedRules(ctx, name, args, recorder, parent)
}

// configRole is the role AWS Config records and delivers with.
func configRole(ctx *pulumi.Context, name string, args Args, bucket *storage.PrivateBucket, logsKey *kms.Key, parent pulumi.ResourceOption) (*iamrole.Role, error) {
	// AWS Config's documented trust: this account only
	// (docs.aws.amazon.com/config/latest/developerguide/iamrole-permissions.html#iam-trust-policy).
	role, err := iamrole.New(ctx, name+"-config-role", iamrole.Args{
		Name:    args.Namer.PerStack("cats-config"),
		Service: "config.amazonaws.com",
		Trust:   iamdoc.SourceAccount(args.AccountID),
		Managed: []iamrole.Managed{{Name: name + "-config-role-managed", PolicyArn: "arn:aws:iam::aws:policy/service-role/AWS_ConfigRole"}},
		Policy: iamdoc.Document(
			iamdoc.Statement{
				Actions:   []string{"s3:PutObject"},
				Resources: []pulumi.StringInput{pulumi.Sprintf("%s/config/AWSLogs/%s/Config/*", bucket.Bucket.Arn, args.AccountID)},
				Condition: iamdoc.Condition{"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
			},
			iamdoc.Statement{Actions: []string{"s3:GetBucketAcl"}, Resources: []pulumi.StringInput{bucket.Bucket.Arn}},
			iamdoc.Statement{Actions: []string{"kms:GenerateDataKey", "kms:Decrypt"}, Resources: []pulumi.StringInput{logsKey.Arn}},
		),
		PolicyName: name + "-config-role-delivery",
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("AWS Config role: %w", err)
	}
	return role, nil
}

// configManagedRules creates the AWS Config managed rules of configRules.
func configManagedRules(ctx *pulumi.Context, name string, args Args, recorder *cfg.Recorder, parent pulumi.ResourceOption) error {
	for _, rule := range configRules {
		ruleName := strings.ReplaceAll(strings.ToLower(rule), "_", "-")
		if _, err := cfg.NewRule(ctx, name+"-config-"+ruleName, &cfg.RuleArgs{
			Name: pulumi.String(args.Namer.PerStack("cats-" + ruleName)),
			Source: &cfg.RuleSourceArgs{
				Owner:            pulumi.String("AWS"),
				SourceIdentifier: pulumi.String(rule),
			},
		}, parent, pulumi.DependsOn([]pulumi.Resource{recorder})); err != nil {
			return fmt.Errorf("create the AWS Config rule %s: %w", rule, err)
		}
	}
	return nil
}
