// Package security is the security tier (seed §7, §8): KMS keys, WAFv2 web
// ACLs, and, where the stack owns its account's baseline, CloudTrail and the
// AWS Config recorder with its managed rules.
package security

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/wafv2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/loggroup"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
)

// Type is the component's type token.
const Type = "cats:security:Security"

// CloudFrontRegion is where CLOUDFRONT-scope web ACLs, their logs and
// CloudFront's log deliveries must live.
const CloudFrontRegion = "us-east-1"

// WAFLogGroupPrefix starts the name of every log group WAF may log to.
const WAFLogGroupPrefix = "aws-waf-logs-"

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
	// DataLakeObjectARNPrefixes are the S3 object ARN prefixes (e.g.
	// arn:aws:s3:::cats-data-lake-dev/) of the data lakes whose object-level
	// reads and writes the trail records (FSBP S3.22 / S3.23); required with
	// OwnsBaseline.
	DataLakeObjectARNPrefixes []string
	// EnvironmentTrailArn is the trail of the environment stack, exported as
	// TrailArn when the stack does not own the baseline.
	EnvironmentTrailArn pulumi.StringInput
	// SeparateDataKeyPolicy creates the data key without a policy of its
	// own: the caller writes the key's whole policy as one kms.KeyPolicy,
	// DataKeyStatements and statements that name resources built from this
	// tier's outputs (the CloudFront distribution that reads a KMS-encrypted
	// data lake needs CloudFrontWebACLArn, so its statement cannot be in the
	// key's policy when the key is created). Until then the key has AWS's
	// default policy, which gives the account, and so IAM policies, full use of it.
	SeparateDataKeyPolicy bool
}

// Security is the security tier.
type Security struct {
	pulumi.ResourceState

	// DataKey is the data key; with SeparateDataKeyPolicy its policy is the caller's.
	DataKey *kms.Key

	DataKeyArn pulumi.StringOutput `pulumi:"dataKeyArn"`
	LogsKeyArn pulumi.StringOutput `pulumi:"logsKeyArn"`
	// CloudFrontLogsKeyArn encrypts the log groups in us-east-1 (CloudFront's
	// web ACL and access logs): a log group takes a key of its own region.
	CloudFrontLogsKeyArn pulumi.StringOutput `pulumi:"cloudFrontLogsKeyArn"`
	RegionalWebACLArn    pulumi.StringOutput `pulumi:"regionalWebAclArn"`
	CloudFrontWebACLArn  pulumi.StringOutput `pulumi:"cloudFrontWebAclArn"`
	TrailArn             pulumi.StringOutput `pulumi:"trailArn"`
	TrailBucketName      pulumi.StringOutput `pulumi:"trailBucketName"`
	// TrailLogGroupName is the trail's CloudWatch Logs group where the
	// stack owns the trail (the CIS metric filters read it), else "".
	TrailLogGroupName pulumi.StringOutput `pulumi:"trailLogGroupName"`
}

func (a *Args) check() error {
	c := tier.NewCheck("security")
	c.Require("AccountID", a.AccountID)
	c.Require("Region", a.Region)
	c.Require("CloudFrontProvider (us-east-1)", a.CloudFrontProvider)
	c.Require("Namer", a.Namer)
	c.Expect(a.OwnsBaseline || a.EnvironmentTrailArn != nil,
		"EnvironmentTrailArn is required when the stack does not own the baseline")
	c.Expect(!a.OwnsBaseline || len(a.DataLakeObjectARNPrefixes) > 0,
		"DataLakeObjectARNPrefixes is required with OwnsBaseline (the trail records the data lake's object events)")
	return c.Err()
}

// NewSecurity registers the security tier.
func NewSecurity(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Security, error) {
	s := &Security{}
	if err := tier.Register(ctx, Type, name, s, args.check, opts...); err != nil {
		return nil, err
	}
	logsKey, err := s.keys(ctx, name, args)
	if err != nil {
		return nil, err
	}
	if err := s.webACLs(ctx, name, args, logsKey.Arn); err != nil {
		return nil, err
	}
	if err := s.baseline(ctx, name, args, logsKey); err != nil {
		return nil, err
	}
	if err := tier.RegisterOutputs(ctx, name, s); err != nil {
		return nil, err
	}
	return s, nil
}

// keys creates the data key and the logs keys of the stack's region and of
// us-east-1, and returns the stack's region's logs key.
func (s *Security) keys(ctx *pulumi.Context, name string, args Args) (*kms.Key, error) {
	var dataStatements []iamdoc.Statement
	if !args.SeparateDataKeyPolicy {
		dataStatements = DataKeyStatements(args.AccountID)
	}
	dataKey, err := newKey(ctx, name+"-data-key", args, "cats-data",
		"Data at rest: data lake, cats-info, streams, alarms topic, Athena results", dataStatements, pulumi.Parent(s))
	if err != nil {
		return nil, fmt.Errorf("create the data key: %w", err)
	}
	logsKey, err := newKey(ctx, name+"-logs-key", args, "cats-logs",
		"CloudWatch Logs, CloudTrail and AWS Config deliveries", logsKeyStatements(args), pulumi.Parent(s))
	if err != nil {
		return nil, fmt.Errorf("create the logs key: %w", err)
	}
	cloudFrontLogsKey, err := newKey(ctx, name+"-cloudfront-logs-key", args, "cats-logs-cloudfront",
		"CloudWatch Logs in "+CloudFrontRegion+": the CloudFront web ACL's and the distribution's logs",
		[]iamdoc.Statement{rootStatement(args.AccountID), logsEncryptStatement(CloudFrontRegion, args.AccountID)},
		pulumi.Parent(s), pulumi.Provider(args.CloudFrontProvider))
	if err != nil {
		return nil, fmt.Errorf("create the %s logs key: %w", CloudFrontRegion, err)
	}
	s.DataKey = dataKey
	s.DataKeyArn = dataKey.Arn
	s.LogsKeyArn = logsKey.Arn
	s.CloudFrontLogsKeyArn = cloudFrontLogsKey.Arn
	return logsKey, nil
}

// webACLs creates the REGIONAL web ACL (ALB, API Gateway) and the CLOUDFRONT
// one (in us-east-1), each logging to an encrypted log group of its region.
func (s *Security) webACLs(ctx *pulumi.Context, name string, args Args, logsKey pulumi.StringInput) error {
	regional, err := newWebACL(ctx, name+"-waf-regional", args, "REGIONAL", pulumi.Parent(s))
	if err != nil {
		return fmt.Errorf("create the regional web ACL: %w", err)
	}
	if err := logWebACL(ctx, name+"-waf-regional", args, "regional", regional, logsKey, pulumi.Parent(s)); err != nil {
		return err
	}
	cloudFrontOpts := []pulumi.ResourceOption{pulumi.Parent(s), pulumi.Provider(args.CloudFrontProvider)}
	cloudFront, err := newWebACL(ctx, name+"-waf-cloudfront", args, "CLOUDFRONT", cloudFrontOpts...)
	if err != nil {
		return fmt.Errorf("create the CloudFront web ACL: %w", err)
	}
	if err := logWebACL(ctx, name+"-waf-cloudfront", args, "cloudfront", cloudFront, s.CloudFrontLogsKeyArn, cloudFrontOpts...); err != nil {
		return err
	}
	s.RegionalWebACLArn = regional.Arn
	s.CloudFrontWebACLArn = cloudFront.Arn
	return nil
}

// WAFLogGroupName is the log group a web ACL of the stack logs to; WAF
// accepts only names that start with WAFLogGroupPrefix.
func WAFLogGroupName(namer naming.Namer, scope string) string {
	return WAFLogGroupPrefix + namer.PerStack("cats-"+scope)
}

// logWebACL sends a web ACL's logs (FSBP WAF.11) to an encrypted log group of
// its own region, kept cats:logRetentionDays. The Authorization header is
// redacted: the API's callers sign their requests with it.
func logWebACL(ctx *pulumi.Context, name string, args Args, scope string, acl *wafWebACL, keyArn pulumi.StringInput, opts ...pulumi.ResourceOption) error {
	group, err := loggroup.New(ctx, name+"-logs", WAFLogGroupName(args.Namer, scope), args.LogRetentionDays, keyArn, opts...)
	if err != nil {
		return fmt.Errorf("web ACL logs: %w", err)
	}
	if _, err := wafv2.NewWebAclLoggingConfiguration(ctx, name+"-logging", &wafv2.WebAclLoggingConfigurationArgs{
		ResourceArn:           acl.Arn,
		LogDestinationConfigs: pulumi.StringArray{group.Arn},
		RedactedFields: wafv2.WebAclLoggingConfigurationRedactedFieldArray{&wafv2.WebAclLoggingConfigurationRedactedFieldArgs{
			SingleHeader: &wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs{Name: pulumi.String("authorization")},
		}},
	}, opts...); err != nil {
		return fmt.Errorf("log the %s web ACL: %w", scope, err)
	}
	return nil
}

// baseline creates the account's trail, AWS Config recorder and S3 public
// access block where the stack owns them; elsewhere the tier exports its
// environment stack's trail.
func (s *Security) baseline(ctx *pulumi.Context, name string, args Args, logsKey *kms.Key) error {
	if !args.OwnsBaseline {
		s.TrailArn = args.EnvironmentTrailArn.ToStringOutput()
		s.TrailBucketName = pulumi.String("").ToStringOutput()
		s.TrailLogGroupName = pulumi.String("").ToStringOutput()
		return nil
	}
	if err := accountPublicAccessBlock(ctx, name, args, pulumi.Parent(s)); err != nil {
		return err
	}
	bucket, err := trailBucket(ctx, name, args, logsKey, s)
	if err != nil {
		return err
	}
	trail, logGroup, err := newTrail(ctx, name, args, bucket, logsKey, pulumi.Parent(s))
	if err != nil {
		return err
	}
	s.TrailLogGroupName = logGroup.Name
	if err := newConfigRecorder(ctx, name, args, bucket, logsKey, pulumi.Parent(s)); err != nil {
		return err
	}
	s.TrailArn = trail.Arn
	s.TrailBucketName = bucket.Bucket.Bucket
	return nil
}

// accountPublicAccessBlock blocks public access to every bucket of the account
// (CIS 2.1.4, FSBP S3.1), whatever a bucket's own settings say.
func accountPublicAccessBlock(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) error {
	if _, err := s3.NewAccountPublicAccessBlock(ctx, name+"-account-public-access-block", &s3.AccountPublicAccessBlockArgs{
		AccountId:             pulumi.String(args.AccountID),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, parent); err != nil {
		return fmt.Errorf("block public access to the account's buckets: %w", err)
	}
	return nil
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

// DataKeyStatements are the data key's own policy statements: the account
// administers the key and CloudWatch alarms publish to the encrypted alarm
// topic. A caller that writes the key's policy (SeparateDataKeyPolicy)
// starts from them.
func DataKeyStatements(accountID string) []iamdoc.Statement {
	return []iamdoc.Statement{
		rootStatement(accountID),
		{
			// CloudWatch alarms publish to the encrypted alarm topic.
			Sid:       "CloudWatchAlarmsPublish",
			Principal: map[string]any{"Service": "cloudwatch.amazonaws.com"},
			Actions:   []string{"kms:Decrypt", "kms:GenerateDataKey*"},
			Resources: []pulumi.StringInput{iamdoc.Str("*")},
			Condition: iamdoc.SourceAccount(accountID),
		},
	}
}

// logsEncryptStatement lets CloudWatch Logs of region use the key for this
// account's log groups there, and for nothing else.
func logsEncryptStatement(region, accountID string) iamdoc.Statement {
	return iamdoc.Statement{
		Sid:       "CloudWatchLogsEncrypt",
		Principal: map[string]any{"Service": "logs." + region + ".amazonaws.com"},
		Actions:   []string{"kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"},
		Resources: []pulumi.StringInput{iamdoc.Str("*")},
		Condition: map[string]map[string]any{"ArnLike": {
			"kms:EncryptionContext:aws:logs:arn": fmt.Sprintf("arn:aws:logs:%s:%s:*", region, accountID),
		}},
	}
}

func logsKeyStatements(a Args) []iamdoc.Statement {
	return []iamdoc.Statement{
		rootStatement(a.AccountID),
		logsEncryptStatement(a.Region, a.AccountID),
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
	aliasName := "alias/" + args.Namer.PerStack(alias)
	if _, err := kms.NewAlias(ctx, name+"-alias", &kms.AliasArgs{
		Name:        pulumi.String(aliasName),
		TargetKeyId: key.KeyId,
	}, opts...); err != nil {
		return nil, fmt.Errorf("create the alias %s: %w", aliasName, err)
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
