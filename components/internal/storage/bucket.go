// Package storage creates the private S3 buckets several tiers need (the data
// lake, its access logs, the trail's logs) the one secure way: pulumi-aws v6
// BucketV2 with its separate configuration resources (DESIGN.md deviation 6).
package storage

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
)

// PrivateBucketArgs configures a bucket.
type PrivateBucketArgs struct {
	// BucketName is the physical, globally unique name (naming.Namer.Global).
	BucketName string
	// KMSKeyArn selects SSE-KMS with that key; nil selects SSE-S3 AES-256.
	KMSKeyArn pulumi.StringInput
	// Retain keeps the bucket and its objects when the stack is destroyed (prod data).
	Retain bool
	// AccessLogBucket, when set, receives the server access logs under AccessLogPrefix.
	AccessLogBucket pulumi.StringInput
	AccessLogPrefix string
	// PolicyStatements are added to the bucket policy after the TLS-only deny.
	PolicyStatements func(bucketArn pulumi.StringOutput) []iamdoc.Statement
	// Parent is the tier component that owns the bucket.
	Parent pulumi.Resource
}

// PrivateBucket is a versioned, encrypted, TLS-only bucket with every form of
// public access blocked and ACLs disabled.
type PrivateBucket struct {
	Bucket            *s3.BucketV2
	PublicAccessBlock *s3.BucketPublicAccessBlock
	Policy            *s3.BucketPolicy
}

// NewPrivateBucket registers the bucket and its configuration, all parented to args.Parent.
func NewPrivateBucket(ctx *pulumi.Context, name string, args PrivateBucketArgs, opts ...pulumi.ResourceOption) (*PrivateBucket, error) {
	if args.BucketName == "" {
		return nil, fmt.Errorf("bucket %s: BucketName is required", name)
	}
	if args.Parent == nil {
		return nil, fmt.Errorf("bucket %s: Parent is required", name)
	}
	child := slices.Concat([]pulumi.ResourceOption{pulumi.Parent(args.Parent)}, opts)
	bucketOpts := child
	if args.Retain {
		bucketOpts = slices.Concat(child, []pulumi.ResourceOption{pulumi.RetainOnDelete(true)})
	}
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		Bucket: pulumi.String(args.BucketName),
		// Dev data may go with the stack; prod data is retained.
		ForceDestroy: pulumi.Bool(!args.Retain),
	}, bucketOpts...)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	b := &PrivateBucket{Bucket: bucket}
	after := slices.Concat(child, []pulumi.ResourceOption{pulumi.DependsOn([]pulumi.Resource{bucket})})
	if err := b.configure(ctx, name, args, after); err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	statements := []iamdoc.Statement{iamdoc.DenyInsecureTransport(bucket.Arn)}
	if args.PolicyStatements != nil {
		statements = append(statements, args.PolicyStatements(bucket.Arn)...)
	}
	// The policy waits for the public access block so a policy is never briefly public.
	b.Policy, err = s3.NewBucketPolicy(ctx, name+"-policy", &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: iamdoc.Document(statements...),
	}, slices.Concat(child, []pulumi.ResourceOption{pulumi.DependsOn([]pulumi.Resource{bucket, b.PublicAccessBlock})})...)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: write its policy: %w", name, err)
	}
	return b, nil
}

// configure disables ACLs, turns versioning on, encrypts by default, blocks
// every form of public access and, when asked, logs access.
func (b *PrivateBucket) configure(ctx *pulumi.Context, name string, args PrivateBucketArgs, after []pulumi.ResourceOption) error {
	if _, err := s3.NewBucketOwnershipControls(ctx, name+"-ownership", &s3.BucketOwnershipControlsArgs{
		Bucket: b.Bucket.ID(),
		Rule:   &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, after...); err != nil {
		return fmt.Errorf("disable ACLs: %w", err)
	}
	if _, err := s3.NewBucketVersioningV2(ctx, name+"-versioning", &s3.BucketVersioningV2Args{
		Bucket:                  b.Bucket.ID(),
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, after...); err != nil {
		return fmt.Errorf("enable versioning: %w", err)
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name+"-encryption", &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: b.Bucket.ID(),
		Rules:  s3.BucketServerSideEncryptionConfigurationV2RuleArray{encryptionRule(args.KMSKeyArn)},
	}, after...); err != nil {
		return fmt.Errorf("encrypt: %w", err)
	}
	var err error
	b.PublicAccessBlock, err = s3.NewBucketPublicAccessBlock(ctx, name+"-public-access-block", &s3.BucketPublicAccessBlockArgs{
		Bucket:                b.Bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, after...)
	if err != nil {
		return fmt.Errorf("block public access: %w", err)
	}
	if args.AccessLogBucket == nil {
		return nil
	}
	if _, err := s3.NewBucketLoggingV2(ctx, name+"-logging", &s3.BucketLoggingV2Args{
		Bucket:       b.Bucket.ID(),
		TargetBucket: args.AccessLogBucket,
		TargetPrefix: pulumi.String(args.AccessLogPrefix),
	}, after...); err != nil {
		return fmt.Errorf("log access: %w", err)
	}
	return nil
}

// ServerAccessLogStatement lets S3 deliver the server access logs of
// sourceBucket (of this account) into the log bucket under prefix, and
// nothing else (docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html).
func ServerAccessLogStatement(logBucketArn pulumi.StringOutput, prefix, accountID, sourceBucket string) iamdoc.Statement {
	return iamdoc.Statement{
		Sid:       "S3ServerAccessLogs",
		Principal: map[string]any{"Service": "logging.s3.amazonaws.com"},
		Actions:   []string{"s3:PutObject"},
		Resources: []pulumi.StringInput{pulumi.Sprintf("%s/%s*", logBucketArn, prefix)},
		Condition: iamdoc.Condition{
			"StringEquals": {"aws:SourceAccount": accountID},
			"ArnLike":      {"aws:SourceArn": "arn:aws:s3:::" + sourceBucket},
		},
	}
}

// encryptionRule is SSE-KMS with kmsKeyArn and a bucket key, or SSE-S3
// AES-256 when kmsKeyArn is nil.
func encryptionRule(kmsKeyArn pulumi.StringInput) *s3.BucketServerSideEncryptionConfigurationV2RuleArgs {
	if kmsKeyArn == nil {
		return &s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
		}
	}
	return &s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
		ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
			SseAlgorithm:   pulumi.String("aws:kms"),
			KmsMasterKeyId: kmsKeyArn,
		},
		// Bucket keys cut KMS requests (and cost) by orders of magnitude.
		BucketKeyEnabled: pulumi.Bool(true),
	}
}
