package plan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// stacks are the configurations every change must plan cleanly: both
// environments and a shared-tenancy municipality (千代田区, prod).
var stacks = []string{"dev", "prod", "131016-prod"}

func mustPlan(t testing.TB, stack string, edit func(cfg map[string]string), opts plan.Options) *plan.Result {
	t.Helper()
	cfg, err := plan.StackConfig("..", stack)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	opts.Stack, opts.Config = stack, cfg
	res, err := plan.Run(context.Background(), platform.Program, opts)
	if err != nil {
		t.Fatalf("plan %s: %v", stack, err)
	}
	return res
}

// advisoryExceptions are the advisory findings a clean plan may still carry,
// each with the reason it stays. It is empty: dev, prod and a municipality
// plan with no violation at any level, so an advisory rule that starts to
// fire (a security group opened to the internet, say) fails this test too.
var advisoryExceptions = map[string]string{}

// cleanViolations returns the violations of a plan that no exception covers.
func cleanViolations(res *plan.Result) []rules.Violation {
	var out []rules.Violation
	for _, v := range res.Violations {
		if _, excepted := advisoryExceptions[v.Policy]; excepted && !v.Mandatory() {
			continue
		}
		out = append(out, v)
	}
	return out
}

func TestStacksPlanWithoutViolations(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			res := mustPlan(t, stack, nil, plan.Options{})
			for _, v := range cleanViolations(res) {
				t.Errorf("%s violation on %s: %s %s: %s", v.Level, stack, v.Policy, v.URN, v.Message)
			}
			if len(res.Resources) < 10 {
				t.Fatalf("the plan of %s has only %d resources", stack, len(res.Resources))
			}
		})
	}
}

// TestAnOpenDatabaseGroupFailsTheCleanPlan: opening cats-db-sg to the
// internet is caught by the whole-stack check, not only by a component test:
// no-open-ingress fires, and a plan with any finding is not clean.
func TestAnOpenDatabaseGroupFailsTheCleanPlan(t *testing.T) {
	openDB := func(r *plan.Resource) {
		if r.Type != "aws:ec2/securityGroup:SecurityGroup" || r.Inputs["name"].StringValue() != "cats-db-sg" {
			return
		}
		r.Inputs["ingress"] = resource.NewPropertyValue([]any{map[string]any{
			"protocol": "tcp", "fromPort": 3306.0, "toPort": 3306.0, "cidrBlocks": []any{"0.0.0.0/0"},
		}})
	}
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			res := mustPlan(t, stack, nil, plan.Options{Mutate: openDB})
			i := slices.IndexFunc(res.Resources, func(r plan.Resource) bool {
				return r.Type == "aws:ec2/securityGroup:SecurityGroup" && r.Inputs["name"].StringValue() == "cats-db-sg"
			})
			if i < 0 {
				t.Fatalf("%s has no cats-db-sg", stack)
			}
			if !slices.ContainsFunc(cleanViolations(res), func(v rules.Violation) bool {
				return v.Policy == "no-open-ingress" && v.URN == res.Resources[i].URN
			}) {
				t.Fatalf("cats-db-sg open to 0.0.0.0/0 on %s must leave the plan unclean (seed §7: the database admits the app tier only); got %v", stack, res.Violations)
			}
		})
	}
}

// TestKMSDataLakePlans: with cats:dataLakeEncryption aws:kms (the data key
// encrypts the data lake and its policy admits the CloudFront distribution)
// every kind of stack still plans with no mandatory violation.
func TestKMSDataLakePlans(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			res := mustPlan(t, stack, func(cfg map[string]string) { cfg["cats:dataLakeEncryption"] = "aws:kms" }, plan.Options{})
			for _, v := range res.Violations {
				if v.Mandatory() {
					t.Errorf("mandatory violation on %s with aws:kms: %s %s: %s", stack, v.Policy, v.URN, v.Message)
				}
			}
			if !slices.ContainsFunc(res.Resources, func(r plan.Resource) bool { return r.Type == "aws:kms/keyPolicy:KeyPolicy" }) {
				t.Errorf("%s with aws:kms: the data key's policy (with the CloudFront statement) is missing from the plan", stack)
			}
		})
	}
}

func TestGraph(t *testing.T) {
	res := mustPlan(t, "dev", nil, plan.Options{})
	byURN := map[string]plan.Resource{}
	for _, r := range res.Resources {
		if _, dup := byURN[r.URN]; dup {
			t.Errorf("duplicate URN %s", r.URN)
		}
		byURN[r.URN] = r
	}
	for i, r := range res.Resources {
		if r.Type == "pulumi:pulumi:Stack" {
			continue
		}
		if r.Parent != "" {
			p, ok := byURN[r.Parent]
			if !ok || slices.IndexFunc(res.Resources, func(x plan.Resource) bool { return x.URN == p.URN }) > i {
				t.Errorf("%s: its parent must precede it in the graph (the state file needs that order)", r.URN)
			}
		}
		if r.Custom && !strings.HasPrefix(r.Type, "pulumi:providers:") && r.Provider == "" {
			t.Errorf("%s: a custom resource needs a provider reference", r.URN)
		}
	}
	// The us-east-1 provider is the one the CloudFront web ACL uses.
	var acl plan.Resource
	for _, r := range res.Resources {
		if r.Type == "aws:wafv2/webAcl:WebAcl" && strings.HasSuffix(r.Name, "cloudfront") {
			acl = r
		}
	}
	if !strings.Contains(acl.Provider, "pulumi:providers:aws::cats-us-east-1::") {
		t.Errorf("the CLOUDFRONT web ACL must use the us-east-1 provider, got %q", acl.Provider)
	}
	if got := res.Tier(acl); got != "security" {
		t.Errorf("the web ACL belongs to the security tier, got %q", got)
	}
}

func TestStateFile(t *testing.T) {
	res := mustPlan(t, "prod", nil, plan.Options{})
	var buf bytes.Buffer
	if err := res.WriteState(&buf); err != nil {
		t.Fatal(err)
	}
	var untyped apitype.UntypedDeployment
	if err := json.Unmarshal(buf.Bytes(), &untyped); err != nil {
		t.Fatal(err)
	}
	if untyped.Version != apitype.DeploymentSchemaVersionCurrent {
		t.Fatalf("version %d", untyped.Version)
	}
	var d apitype.DeploymentV3
	if err := json.Unmarshal(untyped.Deployment, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Resources) != len(res.Resources) || d.Resources[0].Type != "pulumi:pulumi:Stack" {
		t.Fatalf("the state must hold every resource, the stack first")
	}
	for _, r := range d.Resources {
		if !r.URN.IsValid() {
			t.Errorf("invalid URN %s", r.URN)
		}
		if !r.Custom && r.ID != "" {
			t.Errorf("%s: a component has no id in a state file", r.URN)
		}
		if r.Type == "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2" && len(r.PropertyDependencies["bucket"]) == 0 {
			t.Errorf("%s: the bucket link must survive in propertyDependencies (stack rules use it)", r.URN)
		}
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	m := resource.PropertyMap{"password": resource.MakeSecret(resource.NewStringProperty("hunter2"))}
	if got := plan.PlainMap(m)["password"]; got != plan.RedactedSecret {
		t.Fatalf("a secret must never reach the state file or --json in plain text, got %v", got)
	}
}

// breaks are, for each mandatory rule whose resources the program creates,
// a change to the program's config or to a resource input that the rule must
// catch. When on is set, the violation must name a resource of that type:
// the broken resource, not another finding of the same rule.
var breaks = map[string][]struct {
	name   string
	stack  string
	config func(map[string]string)
	mutate func(*plan.Resource)
	on     string
}{
	"s3-bucket-encryption": {{name: "trail bucket SSE algorithm removed", stack: "dev",
		mutate: on("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", func(r *plan.Resource) {
			r.Inputs["rules"] = resource.NewPropertyValue([]any{map[string]any{"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": ""}}})
		})}},
	"s3-tls-only": {{name: "bucket policy without the TLS deny", stack: "prod",
		mutate: on("aws:s3/bucketPolicy:BucketPolicy", func(r *plan.Resource) {
			r.Inputs["policy"] = resource.NewStringProperty(`{"Version":"2012-10-17","Statement":[]}`)
		})}},
	"s3-public-access-block": {{name: "public policies allowed", stack: "dev",
		mutate: on("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", func(r *plan.Resource) {
			r.Inputs["blockPublicPolicy"] = resource.NewBoolProperty(false)
		})}},
	"log-group-encryption": {{name: "flow log group without key", stack: "131016-prod",
		mutate: on("aws:cloudwatch/logGroup:LogGroup", func(r *plan.Resource) { delete(r.Inputs, "kmsKeyId") })}},
	"kms-key-rotation": {{name: "rotation off", stack: "prod",
		mutate: on("aws:kms/key:Key", func(r *plan.Resource) { r.Inputs["enableKeyRotation"] = resource.NewBoolProperty(false) })}},
	"dynamodb-table-encryption": {{name: "cats-info without SSE", stack: "prod",
		mutate: on("aws:dynamodb/table:Table", func(r *plan.Resource) {
			r.Inputs["serverSideEncryption"] = resource.NewPropertyValue(map[string]any{"enabled": false})
		})}},
	"kinesis-stream-encryption": {{name: "stream without KMS", stack: "dev",
		mutate: on("aws:kinesis/stream:Stream", func(r *plan.Resource) {
			r.Inputs["encryptionType"] = resource.NewStringProperty("NONE")
			delete(r.Inputs, "kmsKeyId")
		})}},
	"firehose-encryption": {{name: "direct-put delivery stream without SSE", stack: "131016-prod",
		mutate: on("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", func(r *plan.Resource) {
			delete(r.Inputs, "kinesisSourceConfiguration")
			delete(r.Inputs, "serverSideEncryption")
		})}},
	"athena-workgroup-encryption": {{name: "results not encrypted", stack: "dev",
		mutate: on("aws:athena/workgroup:Workgroup", func(r *plan.Resource) {
			cfg := r.Inputs["configuration"].ObjectValue()
			rc := cfg["resultConfiguration"].ObjectValue()
			delete(rc, "encryptionConfiguration")
		})}},
	"sns-topic-encryption": {{name: "alarm topic without KMS", stack: "prod",
		mutate: on("aws:sns/topic:Topic", func(r *plan.Resource) { delete(r.Inputs, "kmsMasterKeyId") })}},
	"ebs-encryption": {{name: "ECS host volumes unencrypted", stack: "dev",
		mutate: on("aws:ec2/launchTemplate:LaunchTemplate", func(r *plan.Resource) {
			r.Inputs["blockDeviceMappings"] = resource.NewPropertyValue([]any{map[string]any{
				"deviceName": "/dev/xvda", "ebs": map[string]any{"encrypted": "false", "volumeSize": 30.0},
			}})
		})}},
	"alb-https-listeners": {{name: "plain HTTP listener forwarding to the app", stack: "prod",
		mutate: on("aws:lb/listener:Listener", func(r *plan.Resource) {
			r.Inputs["protocol"] = resource.NewStringProperty("HTTP")
			r.Inputs["defaultActions"] = resource.NewPropertyValue([]any{map[string]any{"type": "forward", "targetGroupArn": "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/app/1"}})
		})}},
	"alb-waf": {{name: "ALB's WAF association removed", stack: "dev",
		mutate: on("aws:wafv2/webAclAssociation:WebAclAssociation", func(r *plan.Resource) {
			r.Inputs["resourceArn"] = resource.NewStringProperty("arn:aws:apigateway:ap-northeast-1::/restapis/other/stages/v1")
			delete(r.PropertyDependencies, "resourceArn")
		})}},
	"apigateway-stage-waf": {{name: "cats-api stage's WAF association moved to another ARN", stack: "131016-prod",
		mutate: on("aws:wafv2/webAclAssociation:WebAclAssociation", func(r *plan.Resource) {
			if r.Name == "cats-api-waf" {
				r.Inputs["resourceArn"] = resource.NewStringProperty("arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/other/1")
				delete(r.PropertyDependencies, "resourceArn")
			}
		})}},
	"cloudfront-https-only": {{name: "published data served over plain HTTP", stack: "prod",
		mutate: on("aws:cloudfront/distribution:Distribution", func(r *plan.Resource) {
			r.Inputs["defaultCacheBehavior"].ObjectValue()["viewerProtocolPolicy"] = resource.NewStringProperty("allow-all")
		})}},
	"cloudfront-waf": {{name: "distribution without its web ACL", stack: "dev",
		mutate: on("aws:cloudfront/distribution:Distribution", func(r *plan.Resource) { delete(r.Inputs, "webAclId") })}},
	"cloudtrail-enabled": {
		{name: "single-region trail", stack: "prod",
			mutate: on("aws:cloudtrail/trail:Trail", func(r *plan.Resource) { r.Inputs["isMultiRegionTrail"] = resource.NewBoolProperty(false) })},
		{name: "trail without log validation", stack: "dev",
			mutate: on("aws:cloudtrail/trail:Trail", func(r *plan.Resource) { r.Inputs["enableLogFileValidation"] = resource.NewBoolProperty(false) })},
		{name: "municipality referencing a stack that is not its environment", stack: "131016-prod",
			config: func(cfg map[string]string) { cfg["cats:environmentStack"] = "acme/cats-analytics/staging" }},
		{name: "municipality referencing the other environment's stack", stack: "131016-prod",
			config: func(cfg map[string]string) { cfg["cats:environmentStack"] = "organization/cats-analytics/dev" }},
		{name: "trail recording read-only management events", stack: "prod", on: "aws:cloudtrail/trail:Trail",
			mutate: on("aws:cloudtrail/trail:Trail", func(r *plan.Resource) {
				delete(r.Inputs, "advancedEventSelectors")
				r.Inputs["eventSelectors"] = resource.NewPropertyValue([]any{map[string]any{"readWriteType": "ReadOnly", "includeManagementEvents": true}})
			})},
	},
	"cloudtrail-s3-data-events": {{name: "trail without data events", stack: "prod", on: "aws:s3/bucketV2:BucketV2",
		mutate: on("aws:cloudtrail/trail:Trail", func(r *plan.Resource) {
			delete(r.Inputs, "advancedEventSelectors")
			r.Inputs["eventSelectors"] = resource.NewPropertyValue([]any{map[string]any{"readWriteType": "All", "includeManagementEvents": true}})
		})}},
	"cloudtrail-bucket-access-logging": {{name: "trail bucket's access logging pointed elsewhere", stack: "dev", on: "aws:s3/bucketV2:BucketV2",
		mutate: on("aws:s3/bucketLoggingV2:BucketLoggingV2", func(r *plan.Resource) {
			r.Inputs["bucket"] = resource.NewStringProperty("some-other-bucket")
			delete(r.PropertyDependencies, "bucket")
		})}},
	"cloudtrail-metric-alarms": {{name: "CIS 4.x filters emptied", stack: "prod", on: "aws:cloudtrail/trail:Trail",
		mutate: on("aws:cloudwatch/logMetricFilter:LogMetricFilter", func(r *plan.Resource) {
			r.Inputs["pattern"] = resource.NewStringProperty(`{ $.eventName = "Nothing" }`)
		})}},
	"s3-account-public-access-block": {{name: "account-level public policies allowed", stack: "prod", on: "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
		mutate: on("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock", func(r *plan.Resource) {
			r.Inputs["blockPublicPolicy"] = resource.NewBoolProperty(false)
		})}},
	"no-open-ingress": {{name: "SSH opened on the load balancer's group", stack: "dev", on: "aws:ec2/securityGroup:SecurityGroup",
		mutate: on("aws:ec2/securityGroup:SecurityGroup", func(r *plan.Resource) {
			if !strings.HasSuffix(r.Name, "-alb-sg") {
				return
			}
			r.Inputs["ingress"] = resource.NewPropertyValue([]any{map[string]any{
				"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": []any{"0.0.0.0/1", "128.0.0.0/1"},
			}})
		})}},
	"nacl-no-admin-ingress": {{name: "NACL admitting the internet to every port", stack: "prod", on: "aws:ec2/networkAcl:NetworkAcl",
		mutate: on("aws:ec2/networkAcl:NetworkAcl", func(r *plan.Resource) {
			r.Inputs["ingress"] = resource.NewPropertyValue([]any{map[string]any{
				"ruleNo": 100.0, "action": "allow", "protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlock": "0.0.0.0/0",
			}})
		})}},
	"default-security-group-closed": {{name: "default security group given a rule", stack: "dev", on: "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
		mutate: on("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", func(r *plan.Resource) {
			r.Inputs["ingress"] = resource.NewPropertyValue([]any{map[string]any{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": true}})
		})}},
	"waf-web-acl-rules": {{name: "every web ACL rule in count mode", stack: "dev", on: "aws:wafv2/webAcl:WebAcl",
		mutate: on("aws:wafv2/webAcl:WebAcl", func(r *plan.Resource) {
			for _, rule := range r.Inputs["rules"].ArrayValue() {
				m := rule.ObjectValue()
				if _, ok := m["action"]; ok {
					m["action"] = resource.NewPropertyValue(map[string]any{"count": map[string]any{}})
				}
				if _, ok := m["overrideAction"]; ok {
					m["overrideAction"] = resource.NewPropertyValue(map[string]any{"count": map[string]any{}})
				}
			}
		})}},
	"lambda-permission-restricted": {{name: "function invocable by everyone", stack: "dev", on: "aws:lambda/permission:Permission",
		mutate: on("aws:lambda/permission:Permission", func(r *plan.Resource) { r.Inputs["principal"] = resource.NewStringProperty("*") })}},
	"kms-key-policy-not-public": {{name: "key policy open to every principal", stack: "prod", on: "aws:kms/key:Key",
		mutate: on("aws:kms/key:Key", func(r *plan.Resource) {
			r.Inputs["policy"] = resource.NewStringProperty(`{"Version":"2012-10-17","Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`)
		})}},
	"imdsv2-required": {{name: "ECS hosts accepting IMDSv1", stack: "dev", on: "aws:ec2/launchTemplate:LaunchTemplate",
		mutate: on("aws:ec2/launchTemplate:LaunchTemplate", func(r *plan.Resource) {
			r.Inputs["metadataOptions"] = resource.NewPropertyValue(map[string]any{"httpEndpoint": "enabled", "httpTokens": "optional"})
		})}},
	"ecs-no-privileged-containers": {{name: "privileged app container", stack: "prod", on: "aws:ecs/taskDefinition:TaskDefinition",
		mutate: onContainers(func(c map[string]any) { c["privileged"] = true })}},
	"ecs-readonly-root-filesystem": {{name: "writable root filesystem", stack: "dev", on: "aws:ecs/taskDefinition:TaskDefinition",
		mutate: onContainers(func(c map[string]any) { c["readonlyRootFilesystem"] = false })}},
	"lambda-xray-tracing": {{name: "functions without X-Ray", stack: "131016-prod", on: "aws:lambda/function:Function",
		mutate: on("aws:lambda/function:Function", func(r *plan.Resource) { delete(r.Inputs, "tracingConfig") })}},
	"log-group-retention": {{name: "a prod log group kept a week", stack: "prod", on: "aws:cloudwatch/logGroup:LogGroup",
		mutate: on("aws:cloudwatch/logGroup:LogGroup", func(r *plan.Resource) { r.Inputs["retentionInDays"] = resource.NewNumberProperty(7) })}},
	"service-log-groups-declared": {
		{name: "functions logging to a group the stack does not declare", stack: "dev", on: "aws:lambda/function:Function",
			mutate: on("aws:lambda/function:Function", func(r *plan.Resource) {
				r.Inputs["loggingConfig"] = resource.NewPropertyValue(map[string]any{"logFormat": "JSON", "logGroup": "/aws/lambda/undeclared"})
				delete(r.PropertyDependencies, "loggingConfig")
			})},
		{name: "API Gateway execution log group renamed", stack: "prod", on: "aws:apigateway/methodSettings:MethodSettings",
			mutate: on("aws:cloudwatch/logGroup:LogGroup", func(r *plan.Resource) {
				if name := r.Str("name"); strings.HasPrefix(name, "API-Gateway-Execution-Logs_") {
					r.Inputs["name"] = resource.NewStringProperty("/cats/renamed/" + name)
				}
			})},
	},
	"alb-tls-policy": {{name: "HTTPS listener on the 2016 policy", stack: "prod", on: "aws:lb/listener:Listener",
		mutate: on("aws:lb/listener:Listener", func(r *plan.Resource) {
			if r.Str("protocol") == "HTTPS" {
				r.Inputs["sslPolicy"] = resource.NewStringProperty("ELBSecurityPolicy-2016-08")
			}
		})}},
	"alb-drop-invalid-headers": {{name: "invalid headers passed on", stack: "dev", on: "aws:lb/loadBalancer:LoadBalancer",
		mutate: on("aws:lb/loadBalancer:LoadBalancer", func(r *plan.Resource) { r.Inputs["dropInvalidHeaderFields"] = resource.NewBoolProperty(false) })}},
	"cloudfront-tls": {{name: "custom certificate at TLSv1", stack: "prod", on: "aws:cloudfront/distribution:Distribution",
		mutate: on("aws:cloudfront/distribution:Distribution", func(r *plan.Resource) {
			r.Inputs["viewerCertificate"] = resource.NewPropertyValue(map[string]any{
				"acmCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/plan", "sslSupportMethod": "sni-only", "minimumProtocolVersion": "TLSv1"})
		})}},
}

// onContainers edits every container definition of the task definitions.
func onContainers(edit func(map[string]any)) func(*plan.Resource) {
	return on("aws:ecs/taskDefinition:TaskDefinition", func(r *plan.Resource) {
		var defs []map[string]any
		if err := json.Unmarshal([]byte(r.Str("containerDefinitions")), &defs); err != nil {
			return
		}
		for _, d := range defs {
			edit(d)
		}
		raw, _ := json.Marshal(defs)
		r.Inputs["containerDefinitions"] = resource.NewStringProperty(string(raw))
	})
}

func on(typ string, f func(*plan.Resource)) func(*plan.Resource) {
	return func(r *plan.Resource) {
		if r.Type == typ {
			f(r)
		}
	}
}

func TestBreakingTheProgramFiresTheRule(t *testing.T) {
	for rule, cases := range breaks {
		for _, tc := range cases {
			t.Run(rule+"/"+tc.name, func(t *testing.T) {
				res := mustPlan(t, tc.stack, tc.config, plan.Options{Mutate: tc.mutate})
				typeOf := map[string]string{}
				for _, r := range res.Resources {
					typeOf[r.URN] = r.Type
				}
				fired := slices.ContainsFunc(res.Violations, func(v rules.Violation) bool {
					return v.Policy == rule && v.Mandatory() && (tc.on == "" || typeOf[v.URN] == tc.on)
				})
				if !fired {
					where := ""
					if tc.on != "" {
						where = " on a " + tc.on + " (the program must create one for this test to break it)"
					}
					t.Fatalf("%s must fire as mandatory%s when %s on %s; got %v", rule, where, tc.name, tc.stack, res.Violations)
				}
			})
		}
	}
}

// TestEveryMandatoryRuleOnTheProgramHasABreak: when a tier adds resources a
// mandatory rule inspects, the rule needs a case in breaks.
func TestEveryMandatoryRuleOnTheProgramHasABreak(t *testing.T) {
	inspects := map[string][]string{ // stack rules: the types they judge
		"s3-bucket-encryption":   {"aws:s3/bucketV2:BucketV2"},
		"s3-tls-only":            {"aws:s3/bucketV2:BucketV2"},
		"s3-public-access-block": {"aws:s3/bucketV2:BucketV2"},
		"cloudtrail-enabled":     {"pulumi:pulumi:Stack"},
		"ebs-encryption":         {"aws:ebs/volume:Volume", "aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance"},
		"apigateway-stage-waf":   {"aws:apigateway/stage:Stage"},
		"alb-waf":                {"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer", "awsx:lb:ApplicationLoadBalancer"},
		"no-open-ingress": {"aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
			"aws:ec2/securityGroupRule:SecurityGroupRule", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"},
		"nacl-no-admin-ingress":            {"aws:ec2/networkAcl:NetworkAcl", "aws:ec2/networkAclRule:NetworkAclRule", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"},
		"default-security-group-closed":    {"awsx:ec2:Vpc", "aws:ec2/vpc:Vpc", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"},
		"cloudtrail-s3-data-events":        {"aws:cloudtrail/trail:Trail"},
		"cloudtrail-bucket-access-logging": {"aws:cloudtrail/trail:Trail"},
		"cloudtrail-metric-alarms":         {"aws:cloudtrail/trail:Trail"},
		"s3-account-public-access-block":   {"pulumi:pulumi:Stack"},
		"alb-http-listener-rules":          {"aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule"},
		"cloudfront-waf":                   {"aws:cloudfront/distribution:Distribution"},
		"service-log-groups-declared":      {"aws:lambda/function:Function", "aws:apigateway/methodSettings:MethodSettings"},
	}
	created := map[string]bool{}
	for _, stack := range stacks {
		for _, r := range mustPlan(t, stack, nil, plan.Options{}).Resources {
			created[r.Type] = true
		}
	}
	for _, r := range rules.All() {
		if r.Level != policyx.EnforcementLevelMandatory {
			continue
		}
		types := r.Types
		if r.Stack != nil {
			var ok bool
			if types, ok = inspects[r.Name]; !ok {
				t.Errorf("stack rule %s: say which types it judges in this test", r.Name)
			}
		}
		if slices.ContainsFunc(types, func(typ string) bool { return created[typ] }) && len(breaks[r.Name]) == 0 {
			t.Errorf("mandatory rule %s judges resources the program creates but no test breaks the program and sees it fire", r.Name)
		}
	}
}

func TestPolicyConfigReachesTheRules(t *testing.T) {
	cfg, err := rules.ParseConfig(map[string]any{"log-group-retention": map[string]any{"enforcementLevel": "mandatory", "minimumRetentionDays": 365.0}})
	if err != nil {
		t.Fatal(err)
	}
	res := mustPlan(t, "dev", nil, plan.Options{PolicyConfig: cfg}) // dev keeps logs 30 days
	if !slices.ContainsFunc(res.Violations, func(v rules.Violation) bool { return v.Policy == "log-group-retention" && v.Mandatory() }) {
		t.Fatalf("dev's 30-day retention must fail a 365-day mandatory minimum, got %v", res.Violations)
	}
	if res := mustPlan(t, "prod", nil, plan.Options{PolicyConfig: cfg}); slices.ContainsFunc(res.Violations, func(v rules.Violation) bool { return v.Policy == "log-group-retention" }) {
		t.Fatalf("prod keeps logs 365 days and must pass, got %v", res.Violations)
	}
}
