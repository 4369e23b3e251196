package rules

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

type kind string

const (
	compliant kind = "compliant" // the rule must stay silent
	violation kind = "violation" // one way of breaking the rule
	unknowns  kind = "unknown"   // a value the verdict depends on is unknown (preview)
	override  kind = "config"    // a config property changes the verdict
)

type ruleCase struct {
	name      string
	kind      kind
	resources []policyx.AnalyzerResource
	config    map[string]any
	level     *policyx.EnforcementLevel // a level set by the pack config
	stack     string                    // the stack's name ("test" unless set)
	wantFail  bool
	wantText  string // a substring of one message when wantFail
}

func c(name string, k kind, fail bool, text string, rs ...policyx.AnalyzerResource) ruleCase {
	return ruleCase{name: name, kind: k, wantFail: fail, wantText: text, resources: rs}
}

func (rc ruleCase) with(config map[string]any) ruleCase { rc.config = config; return rc }

// at sets the pack config's level for the rule.
func (rc ruleCase) at(l policyx.EnforcementLevel) ruleCase { rc.level = &l; return rc }

// on names the stack the resources belong to (their URNs say so).
func (rc ruleCase) on(stack string) ruleCase { rc.stack = stack; return rc }

var (
	b1  = bucket("data-lake")
	key = "arn:aws:kms:ap-northeast-1:123456789012:key/k"
)

// ruleCases holds, for every rule of the pack, hand-built resources that
// comply, that break it in each way, that carry unknown values, and that
// change the verdict through config. TestEveryRuleIsCovered keeps it complete.
var ruleCases = map[string][]ruleCase{
	"s3-bucket-encryption": {
		c("AES256 configuration linked by name", compliant, false, "", b1, sse(b1, "AES256")),
		c("KMS configuration linked by dependency", compliant, false, "", b1,
			dependsOn(func() policyx.AnalyzerResource {
				s := sse(b1, "aws:kms")
				s.Properties = s.Properties.Set("bucket", unknown)
				return s
			}(), "bucket", b1)),
		c("inline configuration on a legacy bucket", compliant, false, "",
			res("aws:s3/bucket:Bucket", "legacy", map[string]any{"bucket": "legacy", "serverSideEncryptionConfiguration": map[string]any{
				"rule": map[string]any{"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": "AES256"}}}})),
		c("no configuration", violation, true, "no server-side encryption configuration refers to it", b1),
		c("configuration of another bucket", violation, true, "no server-side encryption", b1, sse(bucket("other"), "AES256")),
		c("unsupported algorithm", violation, true, `SSE algorithm "none"`, b1, sse(b1, "none")),
		c("configuration without rules", violation, true, "has no rule", b1,
			res(sseConfigTypes[0], "empty", map[string]any{"bucket": b1.Name + "-physical"})),
		c("unknown algorithm", unknowns, true, "unknown", b1, sse(b1, unknown)),
		c("unknown bucket link without dependency", unknowns, true, "unknown", b1,
			func() policyx.AnalyzerResource {
				s := sse(b1, "AES256")
				s.Properties = s.Properties.Set("bucket", unknown)
				return s
			}()),
		c("requireKms rejects AES256", override, true, "is not one of aws:kms", b1, sse(b1, "AES256")).with(map[string]any{"requireKms": true}),
		c("requireKms accepts aws:kms", override, false, "", b1, sse(b1, "aws:kms")).with(map[string]any{"requireKms": true}),
		c("exempted bucket", override, false, "", b1).with(map[string]any{"exemptResources": []any{"data-lake"}}),
	},
	"dynamodb-table-encryption": {
		c("KMS encryption", compliant, false, "", res("aws:dynamodb/table:Table", "cats-info", map[string]any{"serverSideEncryption": map[string]any{"enabled": true, "kmsKeyArn": key}})),
		c("AWS managed key", violation, true, "customer managed key", res("aws:dynamodb/table:Table", "cats-info", map[string]any{"serverSideEncryption": map[string]any{"enabled": true}})),
		c("aws/dynamodb alias", violation, true, "customer managed key", res("aws:dynamodb/table:Table", "cats-info", map[string]any{"serverSideEncryption": map[string]any{"enabled": true, "kmsKeyArn": "arn:aws:kms:ap-northeast-1:1:alias/aws/dynamodb"}})),
		c("unknown key", unknowns, true, "unknown", res("aws:dynamodb/table:Table", "cats-info", map[string]any{"serverSideEncryption": map[string]any{"enabled": true, "kmsKeyArn": unknown}})),
		c("no serverSideEncryption", violation, true, "serverSideEncryption.enabled", res("aws:dynamodb/table:Table", "cats-info", nil)),
		c("disabled", violation, true, "serverSideEncryption.enabled", res("aws:dynamodb/table:Table", "cats-info", map[string]any{"serverSideEncryption": map[string]any{"enabled": false}})),
		c("unknown enabled", unknowns, true, "unknown", res("aws:dynamodb/table:Table", "cats-info", map[string]any{"serverSideEncryption": map[string]any{"enabled": unknown}})),
		c("exempted table", override, false, "", res("aws:dynamodb/table:Table", "cats-info", nil)).with(map[string]any{"exemptResources": []any{"cats-info"}}),
	},
	"kinesis-stream-encryption": {
		c("KMS with key", compliant, false, "", res("aws:kinesis/stream:Stream", "s", map[string]any{"encryptionType": "KMS", "kmsKeyId": "alias/aws/kinesis"})),
		c("no encryption", violation, true, "encryptionType must be KMS", res("aws:kinesis/stream:Stream", "s", map[string]any{"encryptionType": "NONE"})),
		c("KMS without key", violation, true, "kmsKeyId", res("aws:kinesis/stream:Stream", "s", map[string]any{"encryptionType": "KMS"})),
		c("unknown key", unknowns, true, "unknown", res("aws:kinesis/stream:Stream", "s", map[string]any{"encryptionType": "KMS", "kmsKeyId": unknown})),
		c("exempted stream", override, false, "", res("aws:kinesis/stream:Stream", "s", nil)).with(map[string]any{"exemptResources": []any{"urn:pulumi:test::cats-analytics::aws:kinesis/stream:Stream::s"}}),
	},
	"firehose-encryption": {
		c("SSE enabled", compliant, false, "", res("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "f", map[string]any{"serverSideEncryption": map[string]any{"enabled": true}})),
		c("Kinesis source", compliant, false, "", res("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "f", map[string]any{"kinesisSourceConfiguration": map[string]any{"kinesisStreamArn": "arn"}})),
		c("no SSE", violation, true, "serverSideEncryption.enabled", res("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "f", nil)),
		c("unknown SSE", unknowns, true, "unknown", res("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "f", map[string]any{"serverSideEncryption": unknown})),
		c("exempted stream", override, false, "", res("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "f", nil)).with(map[string]any{"exemptResources": []any{"f"}}),
	},
	"log-group-encryption": {
		c("KMS key", compliant, false, "", res("aws:cloudwatch/logGroup:LogGroup", "lg", map[string]any{"kmsKeyId": key})),
		c("no key", violation, true, "kmsKeyId", res("aws:cloudwatch/logGroup:LogGroup", "lg", nil)),
		c("empty key", violation, true, "kmsKeyId", res("aws:cloudwatch/logGroup:LogGroup", "lg", map[string]any{"kmsKeyId": ""})),
		c("unknown key", unknowns, true, "unknown", res("aws:cloudwatch/logGroup:LogGroup", "lg", map[string]any{"kmsKeyId": unknown})),
		c("exempted group", override, false, "", res("aws:cloudwatch/logGroup:LogGroup", "lg", nil)).with(map[string]any{"exemptResources": []any{"lg"}}),
	},
	"sns-topic-encryption": {
		c("KMS key", compliant, false, "", res("aws:sns/topic:Topic", "alarms", map[string]any{"kmsMasterKeyId": key})),
		c("no key", violation, true, "kmsMasterKeyId", res("aws:sns/topic:Topic", "alarms", nil)),
		c("unknown key", unknowns, true, "unknown", res("aws:sns/topic:Topic", "alarms", map[string]any{"kmsMasterKeyId": unknown})),
		c("exempted topic", override, false, "", res("aws:sns/topic:Topic", "alarms", nil)).with(map[string]any{"exemptResources": []any{"alarms"}}),
	},
	"athena-workgroup-encryption": {
		c("SSE_KMS enforced", compliant, false, "", res("aws:athena/workgroup:Workgroup", "wg", map[string]any{"configuration": map[string]any{
			"enforceWorkgroupConfiguration": true,
			"resultConfiguration":           map[string]any{"encryptionConfiguration": map[string]any{"encryptionOption": "SSE_KMS", "kmsKeyArn": key}}}})),
		c("no encryption", violation, true, "encryptionOption", res("aws:athena/workgroup:Workgroup", "wg", map[string]any{"configuration": map[string]any{}})),
		c("not enforced", violation, true, "enforceWorkgroupConfiguration", res("aws:athena/workgroup:Workgroup", "wg", map[string]any{"configuration": map[string]any{
			"enforceWorkgroupConfiguration": false,
			"resultConfiguration":           map[string]any{"encryptionConfiguration": map[string]any{"encryptionOption": "SSE_S3"}}}})),
		c("unknown option", unknowns, true, "unknown", res("aws:athena/workgroup:Workgroup", "wg", map[string]any{"configuration": map[string]any{
			"resultConfiguration": map[string]any{"encryptionConfiguration": map[string]any{"encryptionOption": unknown}}}})),
		c("exempted workgroup", override, false, "", res("aws:athena/workgroup:Workgroup", "wg", nil)).with(map[string]any{"exemptResources": []any{"wg"}}),
	},
	"ebs-encryption": {
		c("encrypted launch template", compliant, false, "", res("aws:ec2/launchTemplate:LaunchTemplate", "lt", map[string]any{
			"blockDeviceMappings": []any{map[string]any{"deviceName": "/dev/xvda", "ebs": map[string]any{"encrypted": "true"}}}})),
		c("template relying on default encryption", compliant, false, "", res("aws:ec2/launchTemplate:LaunchTemplate", "lt", nil),
			res("aws:ebs/encryptionByDefault:EncryptionByDefault", "default", map[string]any{"enabled": true})),
		c("encrypted volume", compliant, false, "", res("aws:ebs/volume:Volume", "v", map[string]any{"encrypted": true})),
		c("unencrypted volume", violation, true, "encrypted must be true", res("aws:ebs/volume:Volume", "v", map[string]any{"encrypted": false})),
		c("template without mappings", violation, true, "no block device mapping", res("aws:ec2/launchTemplate:LaunchTemplate", "lt", nil)),
		c("template with an unencrypted device", violation, true, "encrypted must be true", res("aws:ec2/launchTemplate:LaunchTemplate", "lt", map[string]any{
			"blockDeviceMappings": []any{map[string]any{"ebs": map[string]any{"encrypted": "false"}}}})),
		c("instance root not encrypted", violation, true, "rootBlockDevice", res("aws:ec2/instance:Instance", "i", nil)),
		c("unknown encrypted", unknowns, true, "unknown", res("aws:ebs/volume:Volume", "v", map[string]any{"encrypted": unknown})),
		c("exempted volume", override, false, "", res("aws:ebs/volume:Volume", "v", nil)).with(map[string]any{"exemptResources": []any{"v"}}),
	},
	"s3-tls-only": {
		c("TLS-only policy", compliant, false, "", b1, bucketPolicy(b1, tlsOnlyPolicy)),
		c("no policy", violation, true, "no bucket policy refers to it", b1),
		c("policy without the deny", violation, true, "no Deny statement", b1, bucketPolicy(b1, `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}`)),
		c("deny for one principal only", violation, true, "no Deny statement", b1, bucketPolicy(b1, strings.ReplaceAll(tlsOnlyPolicy, `{"AWS":"*"}`, `{"AWS":"arn:aws:iam::1:root"}`))),
		c("unknown policy", unknowns, true, "unknown", b1, bucketPolicy(b1, unknown)),
		c("exempted bucket", override, false, "", b1).with(map[string]any{"exemptResources": []any{"data-lake"}}),
	},
	"cloudfront-https-only": {
		c("redirect and https-only origin", compliant, false, "", res("aws:cloudfront/distribution:Distribution", "cdn", map[string]any{
			"defaultCacheBehavior":  map[string]any{"viewerProtocolPolicy": "redirect-to-https"},
			"orderedCacheBehaviors": []any{map[string]any{"viewerProtocolPolicy": "https-only"}},
			"origins":               []any{map[string]any{"customOriginConfig": map[string]any{"originProtocolPolicy": "https-only"}}}})),
		c("allow-all default", violation, true, "viewers must use HTTPS", res("aws:cloudfront/distribution:Distribution", "cdn", map[string]any{
			"defaultCacheBehavior": map[string]any{"viewerProtocolPolicy": "allow-all"}})),
		c("allow-all ordered", violation, true, "orderedCacheBehaviors[0]", res("aws:cloudfront/distribution:Distribution", "cdn", map[string]any{
			"defaultCacheBehavior":  map[string]any{"viewerProtocolPolicy": "https-only"},
			"orderedCacheBehaviors": []any{map[string]any{"viewerProtocolPolicy": "allow-all"}}})),
		c("http origin", violation, true, "https-only", res("aws:cloudfront/distribution:Distribution", "cdn", map[string]any{
			"defaultCacheBehavior": map[string]any{"viewerProtocolPolicy": "https-only"},
			"origins":              []any{map[string]any{"customOriginConfig": map[string]any{"originProtocolPolicy": "http-only"}}}})),
		c("unknown policy", unknowns, true, "unknown", res("aws:cloudfront/distribution:Distribution", "cdn", map[string]any{
			"defaultCacheBehavior": map[string]any{"viewerProtocolPolicy": unknown}})),
		c("exempted distribution", override, false, "", res("aws:cloudfront/distribution:Distribution", "cdn", nil)).with(map[string]any{"exemptResources": []any{"cdn"}}),
	},
	"alb-https-listeners": {
		c("HTTPS listener", compliant, false, "", res("aws:lb/listener:Listener", "l", map[string]any{"protocol": "HTTPS", "certificateArn": "arn"})),
		c("HTTP redirect", compliant, false, "", res("aws:lb/listener:Listener", "l", map[string]any{"protocol": "HTTP",
			"defaultActions": []any{map[string]any{"type": "redirect", "redirect": map[string]any{"protocol": "HTTPS", "statusCode": "HTTP_301"}}}})),
		c("awsx ALB with an HTTPS listener", compliant, false, "", res(awsxALBType, "alb", map[string]any{"listener": map[string]any{"protocol": "HTTPS", "port": 443}})),
		c("HTTP forward", violation, true, "must only redirect to HTTPS", res("aws:lb/listener:Listener", "l", map[string]any{"protocol": "HTTP",
			"defaultActions": []any{map[string]any{"type": "forward", "targetGroupArn": "tg"}}})),
		c("awsx ALB without listener", violation, true, "HTTP listener on port 80", res(awsxALBType, "alb", nil)),
		c("unknown protocol", unknowns, true, "unknown", res("aws:lb/listener:Listener", "l", map[string]any{"protocol": unknown})),
		c("exempted listener", override, false, "", res("aws:lb/listener:Listener", "l", map[string]any{"protocol": "HTTP"})).with(map[string]any{"exemptResources": []any{"l"}}),
	},
	"cloudfront-waf": {
		c("web ACL set", compliant, false, "", res("aws:cloudfront/distribution:Distribution", "cdn", map[string]any{"webAclId": cloudFrontACL})),
		c("no web ACL", violation, true, "webAclId", res("aws:cloudfront/distribution:Distribution", "cdn", nil)),
		c("unknown web ACL", unknowns, true, "unknown", res("aws:cloudfront/distribution:Distribution", "cdn", map[string]any{"webAclId": unknown})),
		c("exempted distribution", override, false, "", res("aws:cloudfront/distribution:Distribution", "cdn", nil)).with(map[string]any{"exemptResources": []any{"cdn"}}),
	},
	"apigateway-stage-waf": {
		c("associated by dependency", compliant, false, "", stage(), association(stage(), regionalACL)),
		c("associated by ARN", compliant, false, "", stage(), res(webACLAssociationType, "a", map[string]any{
			"resourceArn": "arn:aws:apigateway:ap-northeast-1::/restapis/api123/stages/v1", "webAclArn": regionalACL})),
		c("no association", violation, true, "no WAFv2 web ACL association", stage()),
		c("association without web ACL", violation, true, "no WAFv2 web ACL association", stage(), association(stage(), "")),
		c("unknown target", unknowns, true, "unknown", stage(), res(webACLAssociationType, "a", map[string]any{"resourceArn": unknown, "webAclArn": regionalACL})),
		c("exempted stage", override, false, "", stage()).with(map[string]any{"exemptResources": []any{"v1"}}),
	},
	"alb-waf": {
		c("public ALB associated", compliant, false, "", alb("alb", nil), association(alb("alb", nil), regionalACL)),
		c("internal ALB associated", compliant, false, "", alb("alb", map[string]any{"internal": true}), association(alb("alb", map[string]any{"internal": true}), regionalACL)),
		c("network load balancer", compliant, false, "", alb("nlb", map[string]any{"loadBalancerType": "network"})),
		c("public ALB without WAF", violation, true, "no WAFv2 web ACL association", alb("alb", nil)),
		c("internal ALB without WAF (ELB.16 covers every ALB)", violation, true, "no WAFv2 web ACL association", alb("alb", map[string]any{"internal": true})),
		c("public awsx ALB without WAF", violation, true, "no WAFv2 web ACL association", res(awsxALBType, "alb", nil)),
		c("unknown load balancer type", unknowns, true, "unknown", alb("alb", map[string]any{"loadBalancerType": unknown})),
		c("exempted ALB", override, false, "", alb("alb", nil)).with(map[string]any{"exemptResources": []any{"alb"}}),
	},
	"cloudtrail-enabled": {
		c("compliant trail", compliant, false, "", trail(nil)),
		c("environment reference with trailArn", compliant, false, "", stackRef("organization/cats-analytics/prod", map[string]any{"trailArn": "arn:aws:cloudtrail:ap-northeast-1:1:trail/t"})).on("131016-prod"),
		c("environment reference, inputs only", compliant, false, "", stackRef("organization/cats-analytics/dev", nil)).on("131016-dev"),
		c("no trail, no reference", violation, true, "no CloudTrail trail", res("aws:s3/bucketV2:BucketV2", "b", nil)),
		c("single-region trail", violation, true, "isMultiRegionTrail", trail(map[string]any{"isMultiRegionTrail": false})),
		c("no log validation", violation, true, "enableLogFileValidation", trail(map[string]any{"enableLogFileValidation": false})),
		c("no KMS", violation, true, "kmsKeyId", trail(map[string]any{"kmsKeyId": nil})),
		c("logging off", violation, true, "enableLogging", trail(map[string]any{"enableLogging": false})),
		c("no CloudWatch Logs", violation, true, "cloudWatchLogsGroupArn", trail(map[string]any{"cloudWatchLogsGroupArn": nil})),
		c("reference to another project", violation, true, "organization/other/prod is not it", stackRef("organization/other/prod", nil)).on("131016-prod"),
		c("reference to the other environment", violation, true, "does not reference cats-analytics/prod", stackRef("organization/cats-analytics/dev", nil)).on("131016-prod"),
		c("reference to a staging stack", violation, true, "is not it", stackRef("acme/cats-analytics/staging", nil)).on("131016-prod"),
		c("environment stack with a reference instead of a trail", violation, true, "owns its account's baseline", stackRef("organization/cats-analytics/prod", nil)).on("prod"),
		c("account-tenancy municipality (Config recorder) with a reference", violation, true, "owns its account's baseline",
			stackRef("organization/cats-analytics/prod", nil), res(configRecorderType, "recorder", nil)).on("131016-prod"),
		c("environment without trailArn", violation, true, "exports no trailArn", stackRef("organization/cats-analytics/prod", map[string]any{"vpcId": "v"})).on("131016-prod"),
		c("read-only management events", violation, true, "read and write management events", trail(map[string]any{
			"eventSelectors": []any{map[string]any{"readWriteType": "ReadOnly", "includeManagementEvents": true}}})),
		c("management events excluded", violation, true, "read and write management events", trail(map[string]any{
			"eventSelectors": []any{map[string]any{"readWriteType": "All", "includeManagementEvents": false}}})),
		c("advanced selectors for data events only", violation, true, "read and write management events", trail(map[string]any{
			"advancedEventSelectors": []any{map[string]any{"fieldSelectors": []any{map[string]any{"field": "eventCategory", "equals": []any{"Data"}}}}}})),
		c("unknown validation", unknowns, true, "unknown", trail(map[string]any{"enableLogFileValidation": unknown})),
		c("advanced selectors for all management events", compliant, false, "", trail(map[string]any{
			"advancedEventSelectors": []any{map[string]any{"fieldSelectors": []any{map[string]any{"field": "eventCategory", "equals": []any{"Management"}}}}}})),
		c("read and write selectors together", compliant, false, "", trail(map[string]any{
			"eventSelectors": []any{map[string]any{"readWriteType": "ReadOnly"}, map[string]any{"readWriteType": "WriteOnly"}}})),
		c("unknown event selectors", unknowns, true, "unknown", trail(map[string]any{"eventSelectors": unknown})),
		c("advisory by pack config", override, true, "no CloudTrail trail", res("aws:s3/bucketV2:BucketV2", "b", nil)).at(policyx.EnforcementLevelAdvisory),
		c("CloudWatch Logs not required", override, false, "", trail(map[string]any{"cloudWatchLogsGroupArn": nil})).with(map[string]any{"requireCloudWatchLogs": false}),
	},
	"s3-public-access-block": {
		c("all four on", compliant, false, "", b1, pab(b1, nil)),
		c("no block", violation, true, "no public access block refers to it", b1),
		c("policy not blocked", violation, true, "blockPublicPolicy must be true", b1, pab(b1, map[string]any{"blockPublicPolicy": false})),
		c("ACLs not ignored", violation, true, "ignorePublicAcls must be true", b1, pab(b1, map[string]any{"ignorePublicAcls": nil})),
		c("unknown flag", unknowns, true, "unknown", b1, pab(b1, map[string]any{"restrictPublicBuckets": unknown})),
		c("exempted bucket", override, false, "", b1).with(map[string]any{"exemptResources": []any{"data-lake"}}),
	},
	"no-open-ingress": {
		c("HTTPS open on a public ALB's group", compliant, false, "", sg("alb-sg", ingress(443, "0.0.0.0/0")),
			dependsOn(alb("alb", map[string]any{"securityGroups": []any{unknown}}), "securityGroups", sg("alb-sg"))),
		c("SSH from the VPC", compliant, false, "", sg("app-sg", ingress(22, "10.0.0.0/16"))),
		c("SSH from the internet", violation, true, "opens port 22", sg("app-sg", ingress(22, "0.0.0.0/0"))),
		c("all traffic from IPv6", violation, true, "all protocols", sg("app-sg", map[string]any{"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": []any{"::/0"}})),
		c("port range rule resource", violation, true, "opens port 3389", res(securityGroupRuleType, "r", map[string]any{
			"type": "ingress", "protocol": "tcp", "fromPort": 80, "toPort": 8080, "cidrBlocks": []any{"0.0.0.0/0"}})),
		c("vpc ingress rule", violation, true, "opens port 3306", res(ingressRuleType, "r", map[string]any{"ipProtocol": "tcp", "fromPort": 3306, "toPort": 3306, "cidrIpv4": "0.0.0.0/0"})),
		c("HTTPS open without a load balancer", violation, true, "no internet-facing load balancer", sg("alb-sg", ingress(443, "0.0.0.0/0"))),
		c("unknown CIDR", unknowns, true, "unknown", sg("app-sg", map[string]any{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": unknown})),
		c("authorized port 8443", override, false, "", sg("app-sg", ingress(8443, "0.0.0.0/0"))).with(map[string]any{"authorizedPorts": []any{8443.0}, "requirePublicLoadBalancer": false}),
		c("load balancer not required", override, false, "", sg("alb-sg", ingress(443, "0.0.0.0/0"))).with(map[string]any{"requirePublicLoadBalancer": false}),
	},
	"kms-key-rotation": {
		c("rotating key", compliant, false, "", res("aws:kms/key:Key", "k", map[string]any{"enableKeyRotation": true})),
		c("asymmetric key", compliant, false, "", res("aws:kms/key:Key", "k", map[string]any{"customerMasterKeySpec": "RSA_2048"})),
		c("rotation off", violation, true, "enableKeyRotation", res("aws:kms/key:Key", "k", map[string]any{"enableKeyRotation": false})),
		c("rotation unset", violation, true, "enableKeyRotation", res("aws:kms/key:Key", "k", nil)),
		c("unknown rotation", unknowns, true, "unknown", res("aws:kms/key:Key", "k", map[string]any{"enableKeyRotation": unknown})),
		c("exempted key", override, false, "", res("aws:kms/key:Key", "k", nil)).with(map[string]any{"exemptResources": []any{"k"}}),
	},
	"log-group-retention": {
		c("30 days", compliant, false, "", res("aws:cloudwatch/logGroup:LogGroup", "lg", map[string]any{"retentionInDays": 30})),
		c("never expires", violation, true, "forever", res("aws:cloudwatch/logGroup:LogGroup", "lg", nil)),
		c("too short", violation, true, "below the minimum of 30", res("aws:cloudwatch/logGroup:LogGroup", "lg", map[string]any{"retentionInDays": 7})),
		c("unknown retention", unknowns, true, "unknown", res("aws:cloudwatch/logGroup:LogGroup", "lg", map[string]any{"retentionInDays": unknown})),
		c("prod minimum of 365", override, true, "below the minimum of 365", res("aws:cloudwatch/logGroup:LogGroup", "lg", map[string]any{"retentionInDays": 30})).with(map[string]any{"minimumRetentionDays": 365.0}),
		c("never expire allowed", override, false, "", res("aws:cloudwatch/logGroup:LogGroup", "lg", nil)).with(map[string]any{"allowNeverExpire": true}),
	},
}

func stage() policyx.AnalyzerResource {
	return res("aws:apigateway/stage:Stage", "v1", map[string]any{"restApi": "api123", "stageName": "v1"})
}

func TestRules(t *testing.T) {
	for name, cases := range ruleCases {
		rule, ok := ByName(name)
		if !ok {
			t.Errorf("cases for %s, which the pack does not have", name)
			continue
		}
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				stack := tc.stack
				if stack == "" {
					stack = "test"
				}
				for _, dryRun := range []bool{false, true} {
					e := &Evaluator{Rules: []Rule{rule}, Config: map[string]PolicyConfig{name: {Properties: tc.config, EnforcementLevel: tc.level}}, DryRun: dryRun}
					// Every stack has its root resource, which stack-wide findings name.
					vs := e.All(inStack(stack, append([]policyx.AnalyzerResource{res(stackType, "cats-analytics-"+stack, nil)}, tc.resources...)...))
					if !tc.wantFail {
						if len(vs) > 0 {
							t.Fatalf("%s must pass (%s), got %v", name, tc.kind, vs)
						}
						continue
					}
					if len(vs) == 0 {
						t.Fatalf("%s must fire on %q (%s): a rule that cannot fire protects nothing", name, tc.name, tc.kind)
					}
					if !slices.ContainsFunc(vs, func(v Violation) bool { return strings.Contains(v.Message, tc.wantText) }) {
						t.Errorf("%s: no message contains %q: %v", name, tc.wantText, vs)
					}
					want := rule.Level
					if tc.level != nil {
						want = *tc.level
					}
					if tc.kind == unknowns && dryRun && want == policyx.EnforcementLevelMandatory {
						// A preview cannot know the value: reported, but it does
						// not block; `pulumi up` checks the real value.
						want = policyx.EnforcementLevelAdvisory
					}
					for _, v := range vs {
						if v.Policy != name || v.EnforcementLevel != want || v.URN == "" {
							t.Errorf("dryRun=%v: want %s at %s with a URN, got %+v", dryRun, name, LevelName(want), v)
						}
					}
				}
			})
		}
	}
}

// TestEveryRuleIsCovered keeps ruleCases complete: every rule has compliant,
// violating, unknown-value and config cases.
func TestEveryRuleIsCovered(t *testing.T) {
	for _, r := range All() {
		kinds := map[kind]bool{}
		for _, tc := range ruleCases[r.Name] {
			kinds[tc.kind] = true
		}
		for _, k := range []kind{compliant, violation, unknowns, override} {
			if !kinds[k] {
				t.Errorf("rule %s has no %s case in ruleCases", r.Name, k)
			}
		}
	}
}

// TestRuleMetadata checks what the issue asks of every rule: a name, a
// description, an FSBP (or AWS Config) control, an explicit level, a schema;
// and that the mandatory set is the one DESIGN.md names.
func TestRuleMetadata(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range All() {
		if seen[r.Name] {
			t.Errorf("duplicate rule %s", r.Name)
		}
		seen[r.Name] = true
		if r.Description == "" || r.Control == "" || r.Schema() == nil {
			t.Errorf("rule %s needs a description, a control and a schema", r.Name)
		}
		if (r.Resource == nil) == (r.Stack == nil) || (r.Resource != nil && len(r.Types) == 0) {
			t.Errorf("rule %s must be either a resource rule with types or a stack rule", r.Name)
		}
		for k, v := range r.Properties {
			if _, ok := v["default"]; !ok {
				t.Errorf("rule %s: config property %s has no default", r.Name, k)
			}
		}
	}
	mandatory := []string{"s3-bucket-encryption", "dynamodb-table-encryption", "kinesis-stream-encryption", "firehose-encryption",
		"log-group-encryption", "sns-topic-encryption", "athena-workgroup-encryption", "ebs-encryption", "s3-tls-only",
		"cloudfront-https-only", "alb-https-listeners", "cloudfront-waf", "apigateway-stage-waf", "alb-waf", "cloudtrail-enabled"}
	for _, name := range mandatory {
		r, ok := ByName(name)
		if !ok || r.Level != policyx.EnforcementLevelMandatory {
			t.Errorf("%s must exist and be mandatory by default (encryption, WAF and CloudTrail rules, issue 5)", name)
		}
	}
}

// TestPanicBecomesViolation: a rule that trips over an unknown value must
// neither crash the pack nor pass the resource.
func TestPanicBecomesViolation(t *testing.T) {
	careless := Rule{Name: "careless", Level: policyx.EnforcementLevelMandatory, Types: []string{"aws:kms/key:Key"},
		Resource: func(c *Check, r policyx.AnalyzerResource) {
			_ = r.Properties.Get("description").AsString() // panics on an unknown value
		}}
	e := &Evaluator{Rules: []Rule{careless}}
	vs := e.Resource(res("aws:kms/key:Key", "k", map[string]any{"description": unknown}))
	if len(vs) != 1 || !vs[0].Mandatory() || !strings.Contains(vs[0].Message, "could not evaluate") {
		t.Fatalf("a panicking rule must report a violation at its level, got %v", vs)
	}
}

func TestLevelOverrides(t *testing.T) {
	advisory, disabled := policyx.EnforcementLevelAdvisory, policyx.EnforcementLevelDisabled
	key := res("aws:kms/key:Key", "k", nil)
	e := &Evaluator{Rules: All(), Config: map[string]PolicyConfig{"kms-key-rotation": {EnforcementLevel: &advisory}}}
	if vs := e.Resource(key); len(vs) != 1 || vs[0].Mandatory() {
		t.Fatalf("a level in the pack config must override the rule's own level, got %v", vs)
	}
	e.Config["kms-key-rotation"] = PolicyConfig{EnforcementLevel: &disabled}
	if vs := e.Resource(key); len(vs) != 0 {
		t.Fatalf("a disabled rule must not report, got %v", vs)
	}
	cfg, err := ParseConfig(map[string]any{"all": "advisory", "log-group-retention": map[string]any{"enforcementLevel": "mandatory", "minimumRetentionDays": 365.0}})
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg["kms-key-rotation"].EnforcementLevel; l == nil || *l != advisory {
		t.Errorf(`"all" must set every rule's level`)
	}
	if l := cfg["log-group-retention"].EnforcementLevel; l == nil || *l != policyx.EnforcementLevelMandatory || cfg["log-group-retention"].Properties["minimumRetentionDays"] != 365.0 {
		t.Errorf("a rule's own entry must win over all and keep its properties: %+v", cfg["log-group-retention"])
	}
	if _, err := ParseConfig(map[string]any{"no-such-rule": "advisory"}); err == nil {
		t.Errorf("config for an unknown policy must be rejected")
	}
}
