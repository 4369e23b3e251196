// Package datalake is the data lake tier: the seed's S3 bucket `cats-data-lake`
// (seed §4: versioning on, SSE AES-256), its access-log bucket, lifecycle
// rules and the prefixes the other tiers read and write.
package datalake

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/storage"
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
	// PolicyStatements are added to the data lake's bucket policy (e.g. the
	// edge tier's read access to published/).
	PolicyStatements func(bucketArn pulumi.StringOutput) []iamdoc.Statement
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
	var errs []error
	if a.Namer.Stack() == "" {
		errs = append(errs, errors.New("datalake: Namer is required"))
	}
	if a.AccountID == "" {
		errs = append(errs, errors.New("datalake: AccountID is required"))
	}
	if a.Encryption == config.EncryptionKMS && a.DataKeyArn == nil {
		errs = append(errs, errors.New("cats:dataLakeEncryption: aws:kms needs the security tier's data key (DataKeyArn)"))
	}
	return errors.Join(errs...)
}

// RegionalDomainName is the data lake bucket's regional endpoint
// (<bucket>.s3.<region>.amazonaws.com), known from the stack's names before
// the bucket exists: the CloudFront distribution of published/ is created
// first, because the bucket's one policy names it (PolicyStatements).
func RegionalDomainName(namer naming.Namer, region string) (string, error) {
	bucket, err := namer.Global("cats-data-lake")
	if err != nil {
		return "", err
	}
	return bucket + ".s3." + region + ".amazonaws.com", nil
}

// NewDataLake registers the data lake tier.
func NewDataLake(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*DataLake, error) {
	if err := args.check(); err != nil {
		return nil, err
	}
	lakeName, err := args.Namer.Global("cats-data-lake")
	if err != nil {
		return nil, err
	}
	logsName, err := args.Namer.Global("cats-data-lake-logs")
	if err != nil {
		return nil, err
	}
	d := &DataLake{}
	if err := ctx.RegisterComponentResource(Type, name, d, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(d)

	// Server access logs can only be delivered to a bucket with SSE-S3
	// (AES-256), whatever the data lake itself uses; only the data lake of
	// this account may deliver.
	logs, err := storage.NewPrivateBucket(ctx, name+"-access-logs", storage.PrivateBucketArgs{
		BucketName: logsName,
		Retain:     args.Retain,
		Parent:     d,
		PolicyStatements: func(arn pulumi.StringOutput) []iamdoc.Statement {
			return []iamdoc.Statement{{
				Sid:       "S3ServerAccessLogs",
				Principal: map[string]any{"Service": "logging.s3.amazonaws.com"},
				Actions:   []string{"s3:PutObject"},
				Resources: []pulumi.StringInput{pulumi.Sprintf("%s/%s*", arn, accessLogPrefix)},
				Condition: map[string]map[string]any{
					"StringEquals": {"aws:SourceAccount": args.AccountID},
					"ArnLike":      {"aws:SourceArn": "arn:aws:s3:::" + lakeName},
				},
			}}
		},
	})
	if err != nil {
		return nil, err
	}

	var kmsKey pulumi.StringInput
	if args.Encryption == config.EncryptionKMS {
		kmsKey = args.DataKeyArn
	}
	lake, err := storage.NewPrivateBucket(ctx, name+"-bucket", storage.PrivateBucketArgs{
		BucketName:       lakeName,
		KMSKeyArn:        kmsKey,
		Retain:           args.Retain,
		AccessLogBucket:  logs.Bucket.Bucket,
		AccessLogPrefix:  accessLogPrefix,
		PolicyStatements: args.PolicyStatements,
		Parent:           d,
	})
	if err != nil {
		return nil, err
	}

	if err := lifecycle(ctx, name, args, lake.Bucket, logs.Bucket, parent); err != nil {
		return nil, err
	}
	for _, prefix := range Prefixes {
		// A folder marker per prefix, so the layout exists before the first
		// delivery and shows in the console.
		if _, err := s3.NewBucketObjectv2(ctx, name+"-prefix-"+prefix[:len(prefix)-1], &s3.BucketObjectv2Args{
			Bucket:  lake.Bucket.ID(),
			Key:     pulumi.String(prefix),
			Content: pulumi.String(""),
		}, parent, pulumi.DependsOn([]pulumi.Resource{lake.Policy})); err != nil {
			return nil, err
		}
	}

	d.Bucket = lake.Bucket
	d.BucketName = lake.Bucket.Bucket
	d.BucketArn = lake.Bucket.Arn
	d.BucketRegionalDomainName = lake.Bucket.BucketRegionalDomainName
	d.AccessLogBucketName = logs.Bucket.Bucket
	if kmsKey != nil {
		d.KMSKeyArn = kmsKey.ToStringOutput()
	} else {
		d.KMSKeyArn = pulumi.String("").ToStringOutput()
	}
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{
		"bucketName":               d.BucketName,
		"bucketArn":                d.BucketArn,
		"bucketRegionalDomainName": d.BucketRegionalDomainName,
		"accessLogBucketName":      d.AccessLogBucketName,
		"kmsKeyArn":                d.KMSKeyArn,
	}); err != nil {
		return nil, fmt.Errorf("register %s outputs: %w", name, err)
	}
	return d, nil
}

const accessLogPrefix = "cats-data-lake/"

func lifecycle(ctx *pulumi.Context, name string, args Args, lake, logs *s3.BucketV2, parent pulumi.ResourceOption) error {
	// Old versions are kept long enough to undo a mistake: a year in prod.
	noncurrentDays := 30
	logDays := 90
	if args.Retain {
		noncurrentDays = 365
		logDays = 365
	}
	abort := &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{DaysAfterInitiation: pulumi.Int(IncompleteUploadDays)}
	prefixFilter := func(p string) *s3.BucketLifecycleConfigurationV2RuleFilterArgs {
		return &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String(p)}
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-lifecycle", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: lake.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{
			&s3.BucketLifecycleConfigurationV2RuleArgs{
				Id:     pulumi.String("raw-to-cheaper-classes"),
				Status: pulumi.String("Enabled"),
				Filter: prefixFilter(RawPrefix),
				Transitions: s3.BucketLifecycleConfigurationV2RuleTransitionArray{
					&s3.BucketLifecycleConfigurationV2RuleTransitionArgs{Days: pulumi.Int(RawToInfrequentAccessDays), StorageClass: pulumi.String("STANDARD_IA")},
					&s3.BucketLifecycleConfigurationV2RuleTransitionArgs{Days: pulumi.Int(RawToGlacierIRDays), StorageClass: pulumi.String("GLACIER_IR")},
				},
			},
			&s3.BucketLifecycleConfigurationV2RuleArgs{
				Id:                             pulumi.String("athena-results-expire"),
				Status:                         pulumi.String("Enabled"),
				Filter:                         prefixFilter(AthenaResultsPrefix),
				Expiration:                     &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(AthenaResultsDays)},
				NoncurrentVersionExpiration:    &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(1)},
				AbortIncompleteMultipartUpload: abort,
			},
			&s3.BucketLifecycleConfigurationV2RuleArgs{
				// Every prefix: stale versions and uploads are cleaned; current
				// objects of curated/, published/ and errors/ stay in Standard.
				Id:     pulumi.String("noncurrent-versions"),
				Status: pulumi.String("Enabled"),
				Filter: prefixFilter(""),
				NoncurrentVersionExpiration: &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
					NoncurrentDays: pulumi.Int(noncurrentDays),
				},
				AbortIncompleteMultipartUpload: abort,
			},
		},
	}, parent); err != nil {
		return err
	}
	_, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-access-logs-lifecycle", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: logs.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{
			&s3.BucketLifecycleConfigurationV2RuleArgs{
				Id:                             pulumi.String("access-logs-expire"),
				Status:                         pulumi.String("Enabled"),
				Filter:                         prefixFilter(""),
				Expiration:                     &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(logDays)},
				NoncurrentVersionExpiration:    &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(1)},
				AbortIncompleteMultipartUpload: abort,
			},
		},
	}, parent)
	return err
}
