// Package datalake is the data lake tier: the seed's S3 bucket `cats-data-lake`
// (seed §4: versioning on, SSE AES-256), its access-log bucket, lifecycle
// rules and the prefixes the other tiers read and write.
package datalake

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/storage"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
)

// Type is the component's type token.
const Type = "cats:datalake:DataLake"

// Prefixes of the data lake. Firehose writes raw/ (Parquet, partitioned by
// municipality and date), the aggregation writes curated/, CloudFront serves
// only published/ (DESIGN.md deviation 4), Athena writes athena-results/, and
// every record a tier could not process lands under errors/ with the reason.
const (
	RawPrefix           = "raw/"
	CuratedPrefix       = "curated/"
	PublishedPrefix     = "published/"
	AthenaResultsPrefix = "athena-results/"
	ErrorsPrefix        = "errors/"
)

// Prefixes lists the prefixes created as folder markers, in that order.
var Prefixes = []string{RawPrefix, CuratedPrefix, PublishedPrefix, AthenaResultsPrefix, ErrorsPrefix}

// Lifecycle of raw data: residents' reports are read often while fresh and
// rarely after a season, so they move to cheaper classes (S3 Standard-IA needs
// 30 days; Glacier Instant Retrieval keeps Athena queries working).
const (
	RawToInfrequentAccessDays = 30
	RawToGlacierIRDays        = 180
	AthenaResultsDays         = 30 // query results are re-creatable
	IncompleteUploadDays      = 7
)

// Args configures the tier.
type Args struct {
	// Mandatory.
	Namer     naming.Namer
	AccountID string
	// Defaulted.
	Encryption string // config.EncryptionAES256 (seed §4, default) or config.EncryptionKMS
	// Optional.
	DataKeyArn pulumi.StringInput // required with config.EncryptionKMS
	// Retain keeps both buckets and their objects when the stack is destroyed
	// (prod); dev data goes with the stack.
	Retain bool
	// PublishedReaderArn is the CloudFront distribution that, and no other,
	// may read published/ (PublishedReadStatement); nil lets none.
	PublishedReaderArn pulumi.StringInput
}

// DataLake is the tier.
type DataLake struct {
	pulumi.ResourceState

	Bucket *s3.BucketV2

	BucketName               pulumi.StringOutput `pulumi:"bucketName"`
	BucketArn                pulumi.StringOutput `pulumi:"bucketArn"`
	BucketRegionalDomainName pulumi.StringOutput `pulumi:"bucketRegionalDomainName"`
	AccessLogBucketName      pulumi.StringOutput `pulumi:"accessLogBucketName"`
	// KMSKeyArn is the key objects are encrypted with; empty with AES256.
	KMSKeyArn pulumi.StringOutput `pulumi:"kmsKeyArn"`
}

func (a *Args) check() error {
	c := tier.NewCheck("datalake")
	c.Require("Namer", a.Namer)
	c.Require("AccountID", a.AccountID)
	c.ExpectConfig(a.Encryption != config.EncryptionKMS || a.DataKeyArn != nil,
		"cats:dataLakeEncryption: aws:kms needs the security tier's data key (DataKeyArn)")
	return c.Err()
}

// RegionalDomainName is the data lake bucket's regional endpoint
// (<bucket>.s3.<region>.amazonaws.com), known from the stack's names before
// the bucket exists: the CloudFront distribution of published/ is created
// first, because the bucket's one policy names it (PublishedReaderArn).
func RegionalDomainName(namer naming.Namer, region string) (string, error) {
	bucket, err := BucketName(namer)
	if err != nil {
		return "", err
	}
	return bucket + ".s3." + region + ".amazonaws.com", nil
}

// BucketName is the data lake bucket's name, known from the stack's names.
func BucketName(namer naming.Namer) (string, error) { return namer.Global(lakeBase) }

// ObjectARNPrefixes are the object ARN prefixes the trail of a stack that
// owns its account's baseline records data events under: its own data lake
// and, for an environment stack, the data lakes of the municipality stacks
// that share its account (cats-data-lake-<code>-<env>, a code starts with a
// digit; the access log buckets, cats-data-lake-logs-…, do not match).
func ObjectARNPrefixes(namer naming.Namer, environmentStack bool) ([]string, error) {
	own, err := BucketName(namer)
	if err != nil {
		return nil, err
	}
	prefixes := []string{"arn:aws:s3:::" + own + "/"}
	if environmentStack {
		for digit := '0'; digit <= '9'; digit++ {
			prefixes = append(prefixes, "arn:aws:s3:::"+lakeBase+"-"+string(digit))
		}
	}
	return prefixes, nil
}

// Base names of the buckets.
const (
	lakeBase = "cats-data-lake"
	logsBase = "cats-data-lake-logs"
)

// NewDataLake registers the data lake tier.
func NewDataLake(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*DataLake, error) {
	d := &DataLake{}
	if err := tier.Register(ctx, Type, name, d, args.check, opts...); err != nil {
		return nil, err
	}
	lakeName, err := BucketName(args.Namer)
	if err != nil {
		return nil, fmt.Errorf("name the data lake bucket: %w", err)
	}
	logs, err := accessLogBucket(ctx, name, args, lakeName, d)
	if err != nil {
		return nil, err
	}
	lake, err := lakeBucket(ctx, name, args, lakeName, logs, d)
	if err != nil {
		return nil, err
	}
	if err := lifecycle(ctx, name, args, lake.Bucket, logs.Bucket, pulumi.Parent(d)); err != nil {
		return nil, err
	}
	if err := folders(ctx, name, lake, pulumi.Parent(d)); err != nil {
		return nil, err
	}
	d.Bucket = lake.Bucket
	d.BucketName = lake.Bucket.Bucket
	d.BucketArn = lake.Bucket.Arn
	d.BucketRegionalDomainName = lake.Bucket.BucketRegionalDomainName
	d.AccessLogBucketName = logs.Bucket.Bucket
	d.KMSKeyArn = pulumi.String("").ToStringOutput()
	if key := lakeKey(args); key != nil {
		d.KMSKeyArn = key.ToStringOutput()
	}
	if err := tier.RegisterOutputs(ctx, name, d); err != nil {
		return nil, err
	}
	return d, nil
}

// lakeKey is the key of SSE-KMS, or nil for the seed's AES-256.
func lakeKey(args Args) pulumi.StringInput {
	if args.Encryption == config.EncryptionKMS {
		return args.DataKeyArn
	}
	return nil
}

// accessLogBucket receives the data lake's server access logs. They can only
// be delivered to a bucket with SSE-S3 (AES-256), whatever the data lake
// itself uses; only the data lake of this account may deliver.
func accessLogBucket(ctx *pulumi.Context, name string, args Args, lakeName string, owner pulumi.Resource) (*storage.PrivateBucket, error) {
	logsName, err := args.Namer.Global(logsBase)
	if err != nil {
		return nil, fmt.Errorf("name the access log bucket: %w", err)
	}
	logs, err := storage.NewPrivateBucket(ctx, name+"-access-logs", storage.PrivateBucketArgs{
		BucketName: logsName,
		Retain:     args.Retain,
		Parent:     owner,
		PolicyStatements: func(arn pulumi.StringOutput) []iamdoc.Statement {
			return []iamdoc.Statement{storage.ServerAccessLogStatement(arn, accessLogPrefix, args.AccountID, lakeName)}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create the access log bucket: %w", err)
	}
	return logs, nil
}

// lakeBucket is the seed's cats-data-lake.
func lakeBucket(ctx *pulumi.Context, name string, args Args, lakeName string, logs *storage.PrivateBucket, owner pulumi.Resource) (*storage.PrivateBucket, error) {
	lake, err := storage.NewPrivateBucket(ctx, name+"-bucket", storage.PrivateBucketArgs{
		BucketName:      lakeName,
		KMSKeyArn:       lakeKey(args),
		Retain:          args.Retain,
		AccessLogBucket: logs.Bucket.Bucket,
		AccessLogPrefix: accessLogPrefix,
		PolicyStatements: func(arn pulumi.StringOutput) []iamdoc.Statement {
			if args.PublishedReaderArn == nil {
				return nil
			}
			return []iamdoc.Statement{PublishedReadStatement(arn, args.PublishedReaderArn)}
		},
		Parent: owner,
	})
	if err != nil {
		return nil, fmt.Errorf("create the data lake bucket: %w", err)
	}
	return lake, nil
}

// PublishedReadStatement is the data lake bucket policy statement that lets
// one CloudFront distribution, and no other, read objects under published/.
func PublishedReadStatement(bucketArn, distributionArn pulumi.StringInput) iamdoc.Statement {
	return iamdoc.Statement{
		Sid:       "CloudFrontReadsPublished",
		Principal: map[string]any{"Service": "cloudfront.amazonaws.com"},
		Actions:   []string{"s3:GetObject"},
		Resources: []pulumi.StringInput{pulumi.Sprintf("%s/%s*", bucketArn, PublishedPrefix)},
		Condition: iamdoc.Condition{"StringEquals": {"AWS:SourceArn": distributionArn}},
	}
}

// folders creates a folder marker per prefix, so the layout exists before
// the first delivery and shows in the console.
func folders(ctx *pulumi.Context, name string, lake *storage.PrivateBucket, parent pulumi.ResourceOption) error {
	for _, prefix := range Prefixes {
		if _, err := s3.NewBucketObjectv2(ctx, name+"-prefix-"+prefix[:len(prefix)-1], &s3.BucketObjectv2Args{
			Bucket:  lake.Bucket.ID(),
			Key:     pulumi.String(prefix),
			Content: pulumi.String(""),
		}, parent, pulumi.DependsOn([]pulumi.Resource{lake.Policy})); err != nil {
			return fmt.Errorf("create the folder %s: %w", prefix, err)
		}
	}
	return nil
}

const accessLogPrefix = "cats-data-lake/"

// Short names for the lifecycle configuration's argument types.
type (
	lifecycleRule        = s3.BucketLifecycleConfigurationV2RuleArgs
	lifecycleRules       = s3.BucketLifecycleConfigurationV2RuleArray
	lifecycleFilter      = s3.BucketLifecycleConfigurationV2RuleFilterArgs
	lifecycleTransition  = s3.BucketLifecycleConfigurationV2RuleTransitionArgs
	lifecycleExpiration  = s3.BucketLifecycleConfigurationV2RuleExpirationArgs
	lifecycleNoncurrent  = s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs
	lifecycleAbortUpload = s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs
)

// lifecycle moves raw data to cheaper classes and expires what can be
// recreated or is stale, in the data lake and its access logs. Old versions
// are kept long enough to undo a mistake: a year in prod.
func lifecycle(ctx *pulumi.Context, name string, args Args, lake, logs *s3.BucketV2, parent pulumi.ResourceOption) error {
	noncurrentDays, logDays := 30, 90
	if args.Retain {
		noncurrentDays, logDays = 365, 365
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-lifecycle", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: lake.ID(),
		Rules:  lakeLifecycleRules(noncurrentDays),
	}, parent); err != nil {
		return fmt.Errorf("create the data lake's lifecycle: %w", err)
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-access-logs-lifecycle", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: logs.ID(),
		Rules: lifecycleRules{&lifecycleRule{
			Id:                             pulumi.String("access-logs-expire"),
			Status:                         pulumi.String("Enabled"),
			Filter:                         &lifecycleFilter{Prefix: pulumi.String("")},
			Expiration:                     &lifecycleExpiration{Days: pulumi.Int(logDays)},
			NoncurrentVersionExpiration:    &lifecycleNoncurrent{NoncurrentDays: pulumi.Int(1)},
			AbortIncompleteMultipartUpload: &lifecycleAbortUpload{DaysAfterInitiation: pulumi.Int(IncompleteUploadDays)},
		}},
	}, parent); err != nil {
		return fmt.Errorf("create the access logs' lifecycle: %w", err)
	}
	return nil
}

func lakeLifecycleRules(noncurrentDays int) lifecycleRules {
	abort := &lifecycleAbortUpload{DaysAfterInitiation: pulumi.Int(IncompleteUploadDays)}
	return lifecycleRules{
		&lifecycleRule{
			Id:     pulumi.String("raw-to-cheaper-classes"),
			Status: pulumi.String("Enabled"),
			Filter: &lifecycleFilter{Prefix: pulumi.String(RawPrefix)},
			Transitions: s3.BucketLifecycleConfigurationV2RuleTransitionArray{
				&lifecycleTransition{Days: pulumi.Int(RawToInfrequentAccessDays), StorageClass: pulumi.String("STANDARD_IA")},
				&lifecycleTransition{Days: pulumi.Int(RawToGlacierIRDays), StorageClass: pulumi.String("GLACIER_IR")},
			},
		},
		&lifecycleRule{
			Id:                             pulumi.String("athena-results-expire"),
			Status:                         pulumi.String("Enabled"),
			Filter:                         &lifecycleFilter{Prefix: pulumi.String(AthenaResultsPrefix)},
			Expiration:                     &lifecycleExpiration{Days: pulumi.Int(AthenaResultsDays)},
			NoncurrentVersionExpiration:    &lifecycleNoncurrent{NoncurrentDays: pulumi.Int(1)},
			AbortIncompleteMultipartUpload: abort,
		},
		&lifecycleRule{
			// Every prefix: stale versions and uploads are cleaned; current
			// objects of curated/, published/ and errors/ stay in Standard.
			Id:                             pulumi.String("noncurrent-versions"),
			Status:                         pulumi.String("Enabled"),
			Filter:                         &lifecycleFilter{Prefix: pulumi.String("")},
			NoncurrentVersionExpiration:    &lifecycleNoncurrent{NoncurrentDays: pulumi.Int(noncurrentDays)},
			AbortIncompleteMultipartUpload: abort,
		},
	}
}
