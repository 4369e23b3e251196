// Package security is the security tier (seed §7, §8): KMS keys, WAFv2 web
// ACLs, and, where the stack owns its account's baseline, CloudTrail and the
// AWS Config recorder with its managed rules.
package security

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/wafv2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
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

	DataKeyArn          pulumi.StringOutput `pulumi:"dataKeyArn"`
	LogsKeyArn          pulumi.StringOutput `pulumi:"logsKeyArn"`
	RegionalWebACLArn   pulumi.StringOutput `pulumi:"regionalWebAclArn"`
	CloudFrontWebACLArn pulumi.StringOutput `pulumi:"cloudFrontWebAclArn"`
	TrailArn            pulumi.StringOutput `pulumi:"trailArn"`
	TrailBucketName     pulumi.StringOutput `pulumi:"trailBucketName"`
}

func (a *Args) check() error {
	c := tier.NewCheck("security")
	c.Require("AccountID", a.AccountID)
	c.Require("Region", a.Region)
	c.Require("CloudFrontProvider (us-east-1)", a.CloudFrontProvider)
	c.Require("Namer", a.Namer)
	c.Expect(a.OwnsBaseline || a.EnvironmentTrailArn != nil,
		"EnvironmentTrailArn is required when the stack does not own the baseline")
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
	if err := s.webACLs(ctx, name, args); err != nil {
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

// keys creates the data key and the logs key, and returns the logs key.
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
	s.DataKey = dataKey
	s.DataKeyArn = dataKey.Arn
	s.LogsKeyArn = logsKey.Arn
	return logsKey, nil
}

// webACLs creates the REGIONAL web ACL (ALB, API Gateway) and the CLOUDFRONT one (in us-east-1).
func (s *Security) webACLs(ctx *pulumi.Context, name string, args Args) error {
	regional, err := newWebACL(ctx, name+"-waf-regional", args, "REGIONAL", pulumi.Parent(s))
	if err != nil {
		return fmt.Errorf("create the regional web ACL: %w", err)
	}
	cloudFront, err := newWebACL(ctx, name+"-waf-cloudfront", args, "CLOUDFRONT", pulumi.Parent(s), pulumi.Provider(args.CloudFrontProvider))
	if err != nil {
		return fmt.Errorf("create the CloudFront web ACL: %w", err)
	}
	s.RegionalWebACLArn = regional.Arn
	s.CloudFrontWebACLArn = cloudFront.Arn
	return nil
}

// baseline creates the account's trail and AWS Config recorder where the
// stack owns them; elsewhere the tier exports its environment stack's trail.
func (s *Security) baseline(ctx *pulumi.Context, name string, args Args, logsKey *kms.Key) error {
	if !args.OwnsBaseline {
		s.TrailArn = args.EnvironmentTrailArn.ToStringOutput()
		s.TrailBucketName = pulumi.String("").ToStringOutput()
		return nil
	}
	bucket, err := trailBucket(ctx, name, args, logsKey, s)
	if err != nil {
		return err
	}
	trail, err := newTrail(ctx, name, args, bucket, logsKey, pulumi.Parent(s))
	if err != nil {
		return err
	}
	if err := newConfigRecorder(ctx, name, args, bucket, logsKey, pulumi.Parent(s)); err != nil {
		return err
	}
	s.TrailArn = trail.Arn
	s.TrailBucketName = bucket.Bucket.Bucket
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
