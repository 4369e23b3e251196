// Package security is the security tier (seed §7, §8): KMS keys, WAFv2 web
// ACLs, and, where the stack owns its account's baseline, CloudTrail and the
// AWS Config recorder with its managed rules.
package security

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cfg"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudtrail"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/wafv2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/storage"
)

// Type is the component's type token.
const Type = "cats:security:Security"

// Args configures the tier.
type Args struct {
	// Mandatory.
	Namer     naming.Namer
	AccountID string
	Region    string
	// CloudFrontProvider is an AWS provider in us-east-1: CLOUDFRONT-scope web
	// ACLs exist only there.
	CloudFrontProvider pulumi.ProviderResource

	// From config.Parse, used as given.
	LogRetentionDays int // CloudWatch Logs retention, cats:logRetentionDays
	WAFRateLimit     int // requests per IP per 5 minutes, cats:wafRateLimit

	// OwnsBaseline creates CloudTrail and the AWS Config recorder. AWS Config
	// allows one recorder per account and region, so only the stack that owns
	// the account's baseline sets it.
	OwnsBaseline bool
	// Prod retains the trail's logs when the stack is destroyed.
	Prod bool
	// EnvironmentTrailArn is the trail of the environment stack, exported as
	// TrailArn when the stack does not own the baseline.
	EnvironmentTrailArn pulumi.StringInput
	// DeferDataKeyPolicy creates the data key without its policy: the caller
	// sets the whole policy with SetDataKeyPolicy once the resources its extra
	// statements name exist (the CloudFront distribution that reads the
	// KMS-encrypted data lake needs the CLOUDFRONT web ACL of this tier, so
	// the key's policy cannot be written when the key is created). Until
	// then the key has AWS's default policy, which gives the account, and so
	// IAM policies, full use of it.
	DeferDataKeyPolicy bool
}

// Security is the security tier.
type Security struct {
	pulumi.ResourceState

	DataKeyArn          pulumi.StringOutput `pulumi:"dataKeyArn"`
	LogsKeyArn          pulumi.StringOutput `pulumi:"logsKeyArn"`
	RegionalWebACLArn   pulumi.StringOutput `pulumi:"regionalWebAclArn"`
	CloudFrontWebACLArn pulumi.StringOutput `pulumi:"cloudFrontWebAclArn"`
	TrailArn            pulumi.StringOutput `pulumi:"trailArn"`
	TrailBucketName     pulumi.StringOutput `pulumi:"trailBucketName"`

	dataKey  *kms.Key
	args     Args
	deferred bool // the data key's policy waits for SetDataKeyPolicy
}

func (a *Args) check() error {
	var errs []error
	if a.AccountID == "" {
		errs = append(errs, errors.New("security: AccountID is required"))
	}
	if a.Region == "" {
		errs = append(errs, errors.New("security: Region is required"))
	}
	if a.CloudFrontProvider == nil {
		errs = append(errs, errors.New("security: CloudFrontProvider (us-east-1) is required"))
	}
	if a.Namer.Stack() == "" {
		errs = append(errs, errors.New("security: Namer is required"))
	}
	if !a.OwnsBaseline && a.EnvironmentTrailArn == nil {
		errs = append(errs, errors.New("security: EnvironmentTrailArn is required when the stack does not own the baseline"))
	}
	return errors.Join(errs...)
}

// NewSecurity registers the security tier.
func NewSecurity(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Security, error) {
	if err := args.check(); err != nil {
		return nil, err
	}
	s := &Security{}
	if err := ctx.RegisterComponentResource(Type, name, s, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(s)

	var dataStatements []iamdoc.Statement
	if !args.DeferDataKeyPolicy {
		dataStatements = dataKeyStatements(args)
	}
	dataKey, err := newKey(ctx, name+"-data-key", args, "cats-data",
		"Data at rest: data lake, cats-info, streams, alarms topic, Athena results", dataStatements, parent)
	if err != nil {
		return nil, err
	}
	s.dataKey, s.args, s.deferred = dataKey, args, args.DeferDataKeyPolicy
	logsKey, err := newKey(ctx, name+"-logs-key", args, "cats-logs",
		"CloudWatch Logs, CloudTrail and AWS Config deliveries", logsKeyStatements(args), parent)
	if err != nil {
		return nil, err
	}
	s.DataKeyArn = dataKey.Arn
	s.LogsKeyArn = logsKey.Arn

	regional, err := newWebACL(ctx, name+"-waf-regional", args, "REGIONAL", parent)
	if err != nil {
		return nil, err
	}
	cloudFront, err := newWebACL(ctx, name+"-waf-cloudfront", args, "CLOUDFRONT", parent, pulumi.Provider(args.CloudFrontProvider))
	if err != nil {
		return nil, err
	}
	s.RegionalWebACLArn = regional.Arn
	s.CloudFrontWebACLArn = cloudFront.Arn

	if args.OwnsBaseline {
		trail, bucket, err := newTrail(ctx, name, args, logsKey, s)
		if err != nil {
			return nil, err
		}
		if err := newConfigRecorder(ctx, name, args, bucket, logsKey, parent); err != nil {
			return nil, err
		}
		s.TrailArn = trail.Arn
		s.TrailBucketName = bucket.Bucket.Bucket
	} else {
		s.TrailArn = args.EnvironmentTrailArn.ToStringOutput()
		s.TrailBucketName = pulumi.String("").ToStringOutput()
	}

	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{
		"dataKeyArn":          s.DataKeyArn,
		"logsKeyArn":          s.LogsKeyArn,
		"regionalWebAclArn":   s.RegionalWebACLArn,
		"cloudFrontWebAclArn": s.CloudFrontWebACLArn,
		"trailArn":            s.TrailArn,
		"trailBucketName":     s.TrailBucketName,
	}); err != nil {
		return nil, fmt.Errorf("register %s outputs: %w", name, err)
	}
	return s, nil
}

func rootStatement(accountID string) iamdoc.Statement {
	// Key administration stays with the account's IAM policies (the default key
	// policy); services get only what they need below.
	return iamdoc.Statement{
		Sid:       "AccountAdministers",
		Principal: map[string]any{"AWS": "arn:aws:iam::" + accountID + ":root"},
		Actions:   []string{"kms:*"},
		Resources: []pulumi.StringInput{iamdoc.Str("*")},
	}
}

func dataKeyStatements(a Args) []iamdoc.Statement {
	return []iamdoc.Statement{
		rootStatement(a.AccountID),
		{
			// CloudWatch alarms publish to the encrypted alarm topic.
			Sid:       "CloudWatchAlarmsPublish",
			Principal: map[string]any{"Service": "cloudwatch.amazonaws.com"},
			Actions:   []string{"kms:Decrypt", "kms:GenerateDataKey*"},
			Resources: []pulumi.StringInput{iamdoc.Str("*")},
			Condition: map[string]map[string]any{"StringEquals": {"aws:SourceAccount": a.AccountID}},
		},
	}
}

func logsKeyStatements(a Args) []iamdoc.Statement {
	return []iamdoc.Statement{
		rootStatement(a.AccountID),
		{
			Sid:       "CloudWatchLogsEncrypt",
			Principal: map[string]any{"Service": "logs." + a.Region + ".amazonaws.com"},
			Actions:   []string{"kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"},
			Resources: []pulumi.StringInput{iamdoc.Str("*")},
			Condition: map[string]map[string]any{"ArnLike": {
				"kms:EncryptionContext:aws:logs:arn": fmt.Sprintf("arn:aws:logs:%s:%s:*", a.Region, a.AccountID),
			}},
		},
		{
			Sid:       "CloudTrailEncrypt",
			Principal: map[string]any{"Service": "cloudtrail.amazonaws.com"},
			Actions:   []string{"kms:GenerateDataKey*"},
			Resources: []pulumi.StringInput{iamdoc.Str("*")},
			Condition: map[string]map[string]any{"StringLike": {
				"kms:EncryptionContext:aws:cloudtrail:arn": fmt.Sprintf("arn:aws:cloudtrail:*:%s:trail/*", a.AccountID),
			}},
		},
		{
			Sid:       "ServicesDescribe",
			Principal: map[string]any{"Service": []string{"cloudtrail.amazonaws.com", "config.amazonaws.com"}},
			Actions:   []string{"kms:DescribeKey"},
			Resources: []pulumi.StringInput{iamdoc.Str("*")},
		},
		{
			Sid:       "ConfigDeliver",
			Principal: map[string]any{"Service": "config.amazonaws.com"},
			Actions:   []string{"kms:Decrypt", "kms:GenerateDataKey"},
			Resources: []pulumi.StringInput{iamdoc.Str("*")},
			Condition: map[string]map[string]any{"StringEquals": {"aws:SourceAccount": a.AccountID}},
		},
	}
}

// SetDataKeyPolicy sets the data key's whole policy, the tier's own
// statements and extra, on a tier created with DeferDataKeyPolicy (a
// kms.KeyPolicy resource, the provider's way to write a key policy that names
// resources created after the key).
func (s *Security) SetDataKeyPolicy(ctx *pulumi.Context, name string, extra ...iamdoc.Statement) (*kms.KeyPolicy, error) {
	if !s.deferred {
		return nil, errors.New("security: SetDataKeyPolicy needs DeferDataKeyPolicy (the key already has its policy)")
	}
	s.deferred = false
	return kms.NewKeyPolicy(ctx, name, &kms.KeyPolicyArgs{
		KeyId:  s.dataKey.KeyId,
		Policy: iamdoc.Document(append(dataKeyStatements(s.args), extra...)...),
	}, pulumi.Parent(s))
}

// DataKeyPolicyPending is true while a deferred data key policy has not been set.
func (s *Security) DataKeyPolicyPending() bool { return s.deferred }

func newKey(ctx *pulumi.Context, name string, args Args, alias, description string, statements []iamdoc.Statement, opts ...pulumi.ResourceOption) (*kms.Key, error) {
	keyArgs := &kms.KeyArgs{
		Description:          pulumi.String(fmt.Sprintf("%s (%s)", description, args.Namer.Stack())),
		EnableKeyRotation:    pulumi.Bool(true), // FSBP KMS.4
		DeletionWindowInDays: pulumi.Int(30),
	}
	if statements != nil {
		keyArgs.Policy = iamdoc.Document(statements...)
	}
	key, err := kms.NewKey(ctx, name, keyArgs, opts...)
	if err != nil {
		return nil, err
	}
	if _, err := kms.NewAlias(ctx, name+"-alias", &kms.AliasArgs{
		Name:        pulumi.String("alias/" + args.Namer.PerStack(alias)),
		TargetKeyId: key.KeyId,
	}, opts...); err != nil {
		return nil, err
	}
	return key, nil
}

// managedRuleGroups are the AWS managed rule groups every web ACL runs, in priority order.
var managedRuleGroups = []string{
	"AWSManagedRulesAmazonIpReputationList",
	"AWSManagedRulesCommonRuleSet",
	"AWSManagedRulesKnownBadInputsRuleSet",
	"AWSManagedRulesSQLiRuleSet",
}

func newWebACL(ctx *pulumi.Context, name string, args Args, scope string, opts ...pulumi.ResourceOption) (*wafWebACL, error) {
	aclName := args.Namer.PerStack("cats-waf-" + map[string]string{"REGIONAL": "regional", "CLOUDFRONT": "cloudfront"}[scope])
	visibility := func(metric string) *wafRuleVisibility {
		return &wafRuleVisibility{
			CloudwatchMetricsEnabled: pulumi.Bool(true),
			MetricName:               pulumi.String(metric),
			SampledRequestsEnabled:   pulumi.Bool(true),
		}
	}
	var rules wafRules
	for i, group := range managedRuleGroups {
		rules = append(rules, &wafRule{
			Name:           pulumi.String("AWS-" + group),
			Priority:       pulumi.Int(i),
			OverrideAction: &wafOverride{None: &wafOverrideNone{}},
			Statement: &wafStatement{ManagedRuleGroupStatement: &wafManaged{
				Name:       pulumi.String(group),
				VendorName: pulumi.String("AWS"),
			}},
			VisibilityConfig: visibility(group),
		})
	}
	rules = append(rules, &wafRule{
		Name:     pulumi.String("rate-limit-per-ip"),
		Priority: pulumi.Int(len(managedRuleGroups)),
		Action:   &wafAction{Block: &wafBlock{}},
		Statement: &wafStatement{RateBasedStatement: &wafRate{
			Limit:            pulumi.Int(args.WAFRateLimit),
			AggregateKeyType: pulumi.String("IP"),
		}},
		VisibilityConfig: visibility("rate-limit-per-ip"),
	})
	return wafv2.NewWebAcl(ctx, name, &wafWebACLArgs{
		Name:          pulumi.String(aclName),
		Description:   pulumi.String("cats-analytics " + scope + " protection: AWS managed rules and a per-IP rate limit"),
		Scope:         pulumi.String(scope),
		DefaultAction: &wafDefault{Allow: &wafAllow{}},
		Rules:         rules,
		VisibilityConfig: &wafVisibility{
			CloudwatchMetricsEnabled: pulumi.Bool(true),
			MetricName:               pulumi.String(aclName),
			SampledRequestsEnabled:   pulumi.Bool(true),
		},
	}, opts...)
}

func newTrail(ctx *pulumi.Context, name string, args Args, logsKey *kms.Key, tier pulumi.Resource) (*cloudtrail.Trail, *storage.PrivateBucket, error) {
	opts := []pulumi.ResourceOption{pulumi.Parent(tier)}
	trailName := args.Namer.PerStack("cats-trail")
	trailArn := fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", args.Region, args.AccountID, trailName)
	bucketName, err := args.Namer.Global("cats-trail-logs")
	if err != nil {
		return nil, nil, fmt.Errorf("name the trail bucket: %w", err)
	}
	service := func(svc string) map[string]any { return map[string]any{"Service": svc} }
	bucket, err := storage.NewPrivateBucket(ctx, name+"-trail-bucket", storage.PrivateBucketArgs{
		BucketName: bucketName,
		KMSKeyArn:  logsKey.Arn,
		Retain:     args.Prod,
		Parent:     tier,
		PolicyStatements: func(arn pulumi.StringOutput) []iamdoc.Statement {
			return []iamdoc.Statement{
				{
					Sid: "CloudTrailAclCheck", Principal: service("cloudtrail.amazonaws.com"),
					Actions: []string{"s3:GetBucketAcl"}, Resources: []pulumi.StringInput{arn},
					Condition: map[string]map[string]any{"StringEquals": {"aws:SourceArn": trailArn}},
				},
				{
					Sid: "CloudTrailWrite", Principal: service("cloudtrail.amazonaws.com"),
					Actions:   []string{"s3:PutObject"},
					Resources: []pulumi.StringInput{pulumi.Sprintf("%s/AWSLogs/%s/*", arn, args.AccountID)},
					Condition: map[string]map[string]any{"StringEquals": {
						"aws:SourceArn": trailArn, "s3:x-amz-acl": "bucket-owner-full-control",
					}},
				},
				{
					Sid: "ConfigAclCheck", Principal: service("config.amazonaws.com"),
					Actions: []string{"s3:GetBucketAcl", "s3:ListBucket"}, Resources: []pulumi.StringInput{arn},
					Condition: map[string]map[string]any{"StringEquals": {"aws:SourceAccount": args.AccountID}},
				},
				{
					Sid: "ConfigWrite", Principal: service("config.amazonaws.com"),
					Actions:   []string{"s3:PutObject"},
					Resources: []pulumi.StringInput{pulumi.Sprintf("%s/config/AWSLogs/%s/Config/*", arn, args.AccountID)},
					Condition: map[string]map[string]any{"StringEquals": {
						"aws:SourceAccount": args.AccountID, "s3:x-amz-acl": "bucket-owner-full-control",
					}},
				},
			}
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create the trail bucket: %w", err)
	}

	logGroup, err := cloudwatch.NewLogGroup(ctx, name+"-trail-logs", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String("/aws/cloudtrail/" + trailName),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
		KmsKeyId:        logsKey.Arn,
	}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("create the trail log group: %w", err)
	}
	// No condition: CloudTrail documents that its CloudWatch Logs role supports
	// neither aws:SourceArn nor aws:SourceAccount
	// (docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-required-policy-for-cloudwatch-logs.html),
	// and a condition on a key it does not send would stop delivery to the log group.
	role, err := iam.NewRole(ctx, name+"-trail-role", &iam.RoleArgs{
		Name:             pulumi.String(args.Namer.PerStack("cats-trail-to-logs")),
		AssumeRolePolicy: iamdoc.AssumeRole("cloudtrail.amazonaws.com", nil),
	}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("create the trail's CloudWatch Logs role: %w", err)
	}
	rolePolicy, err := iam.NewRolePolicy(ctx, name+"-trail-role-policy", &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: iamdoc.Document(iamdoc.Statement{
			Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resources: []pulumi.StringInput{pulumi.Sprintf("%s:log-stream:*", logGroup.Arn)},
		}),
	}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("create the trail's CloudWatch Logs role policy: %w", err)
	}
	trail, err := cloudtrail.NewTrail(ctx, name+"-trail", &cloudtrail.TrailArgs{
		Name:                       pulumi.String(trailName),
		S3BucketName:               bucket.Bucket.Bucket,
		IsMultiRegionTrail:         pulumi.Bool(true), // FSBP CloudTrail.1
		IncludeGlobalServiceEvents: pulumi.Bool(true),
		EnableLogFileValidation:    pulumi.Bool(true),                    // FSBP CloudTrail.4
		KmsKeyId:                   logsKey.Arn,                          // FSBP CloudTrail.2
		CloudWatchLogsGroupArn:     pulumi.Sprintf("%s:*", logGroup.Arn), // FSBP CloudTrail.5
		CloudWatchLogsRoleArn:      role.Arn,
		EnableLogging:              pulumi.Bool(true),
	}, with(opts, pulumi.DependsOn([]pulumi.Resource{bucket.Policy, rolePolicy}))...)
	if err != nil {
		return nil, nil, fmt.Errorf("create the trail: %w", err)
	}
	return trail, bucket, nil
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

func newConfigRecorder(ctx *pulumi.Context, name string, args Args, bucket *storage.PrivateBucket, logsKey *kms.Key, opts ...pulumi.ResourceOption) error {
	// AWS Config's documented trust: this account only
	// (docs.aws.amazon.com/config/latest/developerguide/iamrole-permissions.html#iam-trust-policy).
	role, err := iam.NewRole(ctx, name+"-config-role", &iam.RoleArgs{
		Name:             pulumi.String(args.Namer.PerStack("cats-config")),
		AssumeRolePolicy: iamdoc.AssumeRole("config.amazonaws.com", iamdoc.SourceAccount(args.AccountID)),
	}, opts...)
	if err != nil {
		return fmt.Errorf("create the AWS Config role: %w", err)
	}
	if _, err := iam.NewRolePolicyAttachment(ctx, name+"-config-role-managed", &iam.RolePolicyAttachmentArgs{
		Role:      role.Name,
		PolicyArn: pulumi.String("arn:aws:iam::aws:policy/service-role/AWS_ConfigRole"),
	}, opts...); err != nil {
		return fmt.Errorf("attach AWS_ConfigRole to the AWS Config role: %w", err)
	}
	delivery, err := iam.NewRolePolicy(ctx, name+"-config-role-delivery", &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: iamdoc.Document(
			iamdoc.Statement{
				Actions:   []string{"s3:PutObject"},
				Resources: []pulumi.StringInput{pulumi.Sprintf("%s/config/AWSLogs/%s/Config/*", bucket.Bucket.Arn, args.AccountID)},
				Condition: map[string]map[string]any{"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
			},
			iamdoc.Statement{Actions: []string{"s3:GetBucketAcl"}, Resources: []pulumi.StringInput{bucket.Bucket.Arn}},
			iamdoc.Statement{Actions: []string{"kms:GenerateDataKey", "kms:Decrypt"}, Resources: []pulumi.StringInput{logsKey.Arn}},
		),
	}, opts...)
	if err != nil {
		return fmt.Errorf("create the AWS Config delivery policy: %w", err)
	}
	recorder, err := cfg.NewRecorder(ctx, name+"-config-recorder", &cfg.RecorderArgs{
		Name:    pulumi.String(args.Namer.PerStack("cats-config")),
		RoleArn: role.Arn,
		RecordingGroup: &cfg.RecorderRecordingGroupArgs{
			AllSupported:               pulumi.Bool(true),
			IncludeGlobalResourceTypes: pulumi.Bool(true),
		},
	}, opts...)
	if err != nil {
		return fmt.Errorf("create the AWS Config recorder: %w", err)
	}
	channel, err := cfg.NewDeliveryChannel(ctx, name+"-config-delivery", &cfg.DeliveryChannelArgs{
		Name:         pulumi.String(args.Namer.PerStack("cats-config")),
		S3BucketName: bucket.Bucket.Bucket,
		S3KeyPrefix:  pulumi.String("config"),
		S3KmsKeyArn:  logsKey.Arn,
	}, with(opts, pulumi.DependsOn([]pulumi.Resource{recorder, bucket.Policy, delivery}))...)
	if err != nil {
		return fmt.Errorf("create the AWS Config delivery channel: %w", err)
	}
	if _, err := cfg.NewRecorderStatus(ctx, name+"-config-recorder-status", &cfg.RecorderStatusArgs{
		Name:      recorder.Name,
		IsEnabled: pulumi.Bool(true),
	}, with(opts, pulumi.DependsOn([]pulumi.Resource{channel}))...); err != nil {
		return fmt.Errorf("enable the AWS Config recorder: %w", err)
	}
	for _, rule := range configRules {
		ruleName := strings.ReplaceAll(strings.ToLower(rule), "_", "-")
		if _, err := cfg.NewRule(ctx, name+"-config-"+ruleName, &cfg.RuleArgs{
			Name: pulumi.String(args.Namer.PerStack("cats-" + ruleName)),
			Source: &cfg.RuleSourceArgs{
				Owner:            pulumi.String("AWS"),
				SourceIdentifier: pulumi.String(rule),
			},
		}, with(opts, pulumi.DependsOn([]pulumi.Resource{recorder}))...); err != nil {
			return fmt.Errorf("create the AWS Config rule %s: %w", rule, err)
		}
	}
	return nil
}

// with returns opts plus more in a new slice, so option lists are never shared.
func with(opts []pulumi.ResourceOption, more ...pulumi.ResourceOption) []pulumi.ResourceOption {
	return slices.Concat(opts, more)
}
