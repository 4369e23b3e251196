// Package tests holds the program-level tests: the whole platform run against
// recording mocks for dev, prod and municipality stacks.
package tests

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/acm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/apigateway"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/athena"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cfg"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudfront"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/glue"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/wafv2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/network"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

// envOutputs are what the prod environment stack exports to its municipalities.
var envOutputs = harness.WithStackOutputs("organization/cats-analytics/prod", map[string]any{
	"trailArn": "arn:aws:cloudtrail:ap-northeast-1:123456789012:trail/cats-trail-prod",
	"zoneId":   "Z0123456789PROD",
})

func runStack(t *testing.T, stack string, config map[string]string) *harness.Recording {
	t.Helper()
	return harness.MustRun(t, stack, config, platform.Program, envOutputs)
}

var environments = []string{"dev", "prod"}

func TestSeedNetwork(t *testing.T) {
	for _, env := range environments {
		t.Run(env, func(t *testing.T) {
			rec := runStack(t, env, nil)
			vpc := rec.One(t, "awsx:ec2:Vpc")
			if got := vpc.Str("cidrBlock"); got != "10.0.0.0/16" {
				t.Errorf("VPC CIDR = %q, want 10.0.0.0/16 (seed §5)", got)
			}
			if got := vpc.Input("numberOfAvailabilityZones"); !got.IsNumber() || got.NumberValue() != 2 {
				t.Errorf("VPC spans %v zones, want 2 (seed §6 multi-AZ)", got)
			}
			want := map[string][]string{
				"Public":  {"10.0.1.0/24", "10.0.2.0/24"},
				"Private": {"10.0.10.0/24", "10.0.20.0/24"},
			}
			specs := vpc.Input("subnetSpecs").ArrayValue()
			if len(specs) != 2 {
				t.Fatalf("subnet specs = %v, want one public and one private (seed §5)", specs)
			}
			for _, spec := range specs {
				kind := spec.ObjectValue()["type"].StringValue()
				if got := strs(spec.ObjectValue()["cidrBlocks"]); !equal(got, want[kind]) {
					t.Errorf("%s subnets = %v, want exactly %v (seed §5)", kind, got, want[kind])
				}
			}
			strategy := vpc.Input("natGateways").ObjectValue()["strategy"].StringValue()
			wantNat := map[string]string{"dev": "Single", "prod": "OnePerAz"}[env]
			if strategy != wantNat {
				t.Errorf("NAT strategy = %s, want %s (DESIGN.md: one NAT in dev, one per AZ in prod)", strategy, wantNat)
			}
		})
	}
}

func TestSecurityGroupsAreTheSeeds(t *testing.T) {
	for _, env := range environments {
		t.Run(env, func(t *testing.T) {
			rec := runStack(t, env, nil)
			byName := map[string]plan.Resource{}
			for _, sg := range rec.ByType("aws:ec2/securityGroup:SecurityGroup") {
				byName[sg.Str("name")] = sg
			}
			app, db, alb := byName["cats-app-sg"], byName["cats-db-sg"], byName["cats-alb-sg"]
			if app.Type == "" || db.Type == "" || alb.Type == "" {
				t.Fatalf("security groups = %v, want cats-app-sg and cats-db-sg (seed §5) and cats-alb-sg", keys(byName))
			}
			if got := ingressPorts(app); !equal(got, []string{"tcp/443 from sg:" + alb.ID, "tcp/80 from sg:" + alb.ID}) {
				t.Errorf("cats-app-sg ingress = %v, want HTTP and HTTPS (seed §5) from the ALB only", got)
			}
			if got := ingressPorts(db); !equal(got, []string{"tcp/3306 from sg:" + app.ID}) {
				t.Errorf("cats-db-sg ingress = %v, want MySQL/Aurora 3306 from cats-app-sg (seed §5)", got)
			}
			for _, sg := range []plan.Resource{app, db} {
				if got := egressRules(sg); !equal(got, []string{"-1/0 to 0.0.0.0/0"}) {
					t.Errorf("%s egress = %v, want ALL traffic (seed §5)", sg.Str("name"), got)
				}
			}
			// Only the internet-facing ALB may be open to the internet, and only on 80/443.
			for _, sg := range byName {
				for _, rule := range ingressPorts(sg) {
					if strings.Contains(rule, "0.0.0.0/0") && sg.Str("name") != "cats-alb-sg" {
						t.Errorf("%s allows %s: only the public ALB may be open to the internet", sg.Str("name"), rule)
					}
				}
			}
			if got := ingressPorts(alb); !equal(got, []string{"tcp/443 from 0.0.0.0/0", "tcp/80 from 0.0.0.0/0"}) {
				t.Errorf("cats-alb-sg ingress = %v, want 80 and 443 from anywhere", got)
			}
		})
	}
}

func TestNetworkACLs(t *testing.T) {
	rec := runStack(t, "prod", nil)
	public, ok := rec.Find("aws:ec2/networkAcl:NetworkAcl", "cats-network-public-nacl")
	if !ok {
		t.Fatal("no public NACL")
	}
	if got := aclRules(public, "ingress"); !equal(got, []string{"100 allow -1 0-0 0.0.0.0/0"}) {
		t.Errorf("public NACL ingress = %v, want ALL traffic (seed §5)", got)
	}
	if got := aclRules(public, "egress"); !equal(got, []string{"100 allow -1 0-0 0.0.0.0/0"}) {
		t.Errorf("public NACL egress = %v, want ALL traffic (seed §5)", got)
	}
	if got := strs(public.Input("subnetIds")); !equal(got, []string{"cats-network-vpc-public-1", "cats-network-vpc-public-2"}) {
		t.Errorf("public NACL subnets = %v, want the public subnets", got)
	}
	private, ok := rec.Find("aws:ec2/networkAcl:NetworkAcl", "cats-network-private-nacl")
	if !ok {
		t.Fatal("no private NACL")
	}
	if got := strs(private.Input("subnetIds")); !equal(got, []string{"cats-network-vpc-private-1", "cats-network-vpc-private-2"}) {
		t.Errorf("private NACL subnets = %v, want the private subnets", got)
	}
	in, out := aclRules(private, "ingress"), aclRules(private, "egress")
	for _, want := range []string{"100 allow tcp 3306-3306 10.0.0.0/16"} {
		if !contains(in, want) || !contains(out, want) {
			t.Errorf("private NACL must allow MySQL/Aurora within the VPC both ways (seed §5); in %v out %v", in, out)
		}
	}
	// Deviation 5: what else is open must be exactly what the tiers need.
	for _, want := range []string{"200 allow tcp 1024-65535 0.0.0.0/0", "120 allow tcp 443-443 10.0.0.0/16"} {
		if !contains(in, want) {
			t.Errorf("private NACL ingress %v lacks %q (DESIGN.md deviation 5)", in, want)
		}
	}
	if !contains(out, "110 allow tcp 443-443 0.0.0.0/0") {
		t.Errorf("private NACL egress %v must allow HTTPS out for ECR/ECS/CloudWatch (deviation 5)", out)
	}
	for _, r := range append(in, out...) {
		if strings.Contains(r, " -1 ") {
			t.Errorf("private NACL rule %q allows all protocols; deviation 5 allows only what the tiers need", r)
		}
	}
}

func TestFlowLogsAndEndpoints(t *testing.T) {
	rec := runStack(t, "dev", nil)
	flow := rec.One(t, "aws:ec2/flowLog:FlowLog")
	if flow.Str("trafficType") != "ALL" || flow.Str("logDestinationType") != "cloud-watch-logs" {
		t.Errorf("flow log = %v, want ALL traffic to CloudWatch Logs (FSBP EC2.6)", flow.Inputs)
	}
	group, _ := rec.Find("aws:cloudwatch/logGroup:LogGroup", "cats-network-flow-logs")
	if group.Str("kmsKeyId") == "" || group.Input("retentionInDays").NumberValue() != 30 {
		t.Errorf("flow log group = %v, want KMS encryption and dev's 30-day retention", group.Inputs)
	}
	var services []string
	for _, ep := range rec.ByType("aws:ec2/vpcEndpoint:VpcEndpoint") {
		if ep.Str("vpcEndpointType") != "Gateway" {
			t.Errorf("endpoint %s is %s, want Gateway (free, no NAT charges)", ep.Name, ep.Str("vpcEndpointType"))
		}
		services = append(services, ep.Str("serviceName"))
	}
	if !equal(services, []string{"com.amazonaws.ap-northeast-1.dynamodb", "com.amazonaws.ap-northeast-1.s3"}) {
		t.Errorf("gateway endpoints = %v, want S3 and DynamoDB", services)
	}
}

func TestTrail(t *testing.T) {
	for _, env := range environments {
		t.Run(env, func(t *testing.T) {
			rec := runStack(t, env, nil)
			trail := rec.One(t, "aws:cloudtrail/trail:Trail")
			for _, prop := range []string{"isMultiRegionTrail", "enableLogFileValidation", "includeGlobalServiceEvents", "enableLogging"} {
				if v := trail.Input(prop); !v.IsBool() || !v.BoolValue() {
					t.Errorf("trail %s = %v, want true (FSBP CloudTrail.1/.4)", prop, v)
				}
			}
			logsKey, _ := rec.Find("aws:kms/key:Key", "cats-security-logs-key")
			if got, want := trail.Str("kmsKeyId"), logsKey.Outputs["arn"].StringValue(); got != want {
				t.Errorf("trail KMS key = %q, want the logs key %q (FSBP CloudTrail.2)", got, want)
			}
			if !strings.HasSuffix(trail.Str("cloudWatchLogsGroupArn"), ":*") || trail.Str("cloudWatchLogsRoleArn") == "" {
				t.Errorf("trail must deliver to CloudWatch Logs (FSBP CloudTrail.5): %v", trail.Inputs)
			}
			bucketName := trail.Str("s3BucketName")
			if bucketName != "cats-trail-logs-"+env {
				t.Errorf("trail bucket = %q, want the stack-suffixed cats-trail-logs-%s", bucketName, env)
			}
			assertPrivateBucket(t, rec, "cats-security-trail-bucket")
			bucket, _ := rec.Find("aws:s3/bucketV2:BucketV2", "cats-security-trail-bucket")
			if force := bucket.Input("forceDestroy").BoolValue(); force == (env == "prod") {
				t.Errorf("%s trail bucket forceDestroy = %v: prod logs are retained, dev's are not", env, force)
			}
		})
	}
}

// assertPrivateBucket checks a storage.PrivateBucket: versioned, encrypted,
// public access blocked, ACLs disabled and TLS-only.
func assertPrivateBucket(t *testing.T, rec *harness.Recording, name string) {
	t.Helper()
	bucket, ok := rec.Find("aws:s3/bucketV2:BucketV2", name)
	if !ok {
		t.Fatalf("no bucket %s", name)
	}
	id := bucket.ID
	configOf := func(token, suffix string) plan.Resource {
		r, ok := rec.Find(token, name+suffix)
		if !ok || r.Str("bucket") != id {
			t.Fatalf("bucket %s has no %s", name, token)
		}
		return r
	}
	v := configOf("aws:s3/bucketVersioningV2:BucketVersioningV2", "-versioning")
	if v.Input("versioningConfiguration").ObjectValue()["status"].StringValue() != "Enabled" {
		t.Errorf("%s is not versioned", name)
	}
	sse := configOf("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "-encryption")
	rule := sse.Input("rules").ArrayValue()[0].ObjectValue()["applyServerSideEncryptionByDefault"].ObjectValue()
	if alg := rule["sseAlgorithm"].StringValue(); alg != "AES256" && alg != "aws:kms" {
		t.Errorf("%s encryption = %q", name, alg)
	}
	pab := configOf("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "-public-access-block")
	for _, p := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
		if !pab.Input(p).BoolValue() {
			t.Errorf("%s public access block %s is off (FSBP S3.8)", name, p)
		}
	}
	own := configOf("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "-ownership")
	if own.Input("rule").ObjectValue()["objectOwnership"].StringValue() != "BucketOwnerEnforced" {
		t.Errorf("%s must disable ACLs (FSBP S3.12)", name)
	}
	pol := configOf("aws:s3/bucketPolicy:BucketPolicy", "-policy")
	var doc struct {
		Statement []struct {
			Effect    string
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(pol.Str("policy")), &doc); err != nil {
		t.Fatalf("%s policy: %v", name, err)
	}
	tlsOnly := false
	for _, s := range doc.Statement {
		if s.Effect == "Deny" && s.Condition["Bool"]["aws:SecureTransport"] == "false" {
			tlsOnly = true
		}
	}
	if !tlsOnly {
		t.Errorf("%s policy does not deny insecure transport (FSBP S3.5)", name)
	}
}

func TestEveryKeyRotates(t *testing.T) {
	for _, env := range environments {
		rec := runStack(t, env, nil)
		keys := rec.ByType("aws:kms/key:Key")
		if len(keys) != 2 {
			t.Errorf("%s: %d KMS keys, want the data and logs keys", env, len(keys))
		}
		for _, k := range keys {
			if !k.Input("enableKeyRotation").BoolValue() {
				t.Errorf("%s: key %s does not rotate (FSBP KMS.4)", env, k.Name)
			}
			var doc struct {
				Statement []struct{ Principal map[string]any }
			}
			if err := json.Unmarshal([]byte(k.Str("policy")), &doc); err != nil || len(doc.Statement) == 0 {
				t.Errorf("%s: key %s has no key policy: %v", env, k.Name, err)
			}
		}
	}
}

func TestWebACLs(t *testing.T) {
	for _, env := range environments {
		t.Run(env, func(t *testing.T) {
			rec := runStack(t, env, nil)
			scopes := map[string]plan.Resource{}
			for _, acl := range rec.ByType("aws:wafv2/webAcl:WebAcl") {
				scopes[acl.Str("scope")] = acl
			}
			if len(scopes) != 2 || scopes["REGIONAL"].Type == "" || scopes["CLOUDFRONT"].Type == "" {
				t.Fatalf("web ACL scopes = %v, want REGIONAL and CLOUDFRONT (WAFv2, deviation 2)", keys(scopes))
			}
			if p := scopes["CLOUDFRONT"].Provider; !strings.Contains(p, "pulumi:providers:aws::cats-us-east-1") {
				t.Errorf("CLOUDFRONT ACL provider = %q, want the us-east-1 provider (CloudFront ACLs live only there)", p)
			}
			provider, _ := rec.Find("pulumi:providers:aws", "cats-us-east-1")
			if provider.Str("region") != "us-east-1" {
				t.Errorf("CloudFront provider region = %q", provider.Str("region"))
			}
			if scopes["REGIONAL"].Provider != "" && strings.Contains(scopes["REGIONAL"].Provider, "us-east-1") {
				t.Errorf("REGIONAL ACL must live in the stack's region")
			}
			for scope, acl := range scopes {
				if _, ok := acl.Input("defaultAction").ObjectValue()["allow"]; !ok {
					t.Errorf("%s ACL default action is not allow", scope)
				}
				var managed []string
				rateLimit := 0.0
				for _, r := range acl.Input("rules").ArrayValue() {
					st := r.ObjectValue()["statement"].ObjectValue()
					if m, ok := st["managedRuleGroupStatement"]; ok {
						managed = append(managed, m.ObjectValue()["vendorName"].StringValue()+"/"+m.ObjectValue()["name"].StringValue())
					}
					if rb, ok := st["rateBasedStatement"]; ok {
						rateLimit = rb.ObjectValue()["limit"].NumberValue()
						if _, blocks := r.ObjectValue()["action"].ObjectValue()["block"]; !blocks {
							t.Errorf("%s rate rule does not block", scope)
						}
					}
					if !r.ObjectValue()["visibilityConfig"].ObjectValue()["cloudwatchMetricsEnabled"].BoolValue() {
						t.Errorf("%s rule %v has no metrics", scope, r.ObjectValue()["name"])
					}
				}
				wantManaged := []string{"AWS/AWSManagedRulesAmazonIpReputationList", "AWS/AWSManagedRulesCommonRuleSet", "AWS/AWSManagedRulesKnownBadInputsRuleSet", "AWS/AWSManagedRulesSQLiRuleSet"}
				if !equal(managed, wantManaged) {
					t.Errorf("%s managed rule groups = %v, want %v", scope, managed, wantManaged)
				}
				if rateLimit != 2000 {
					t.Errorf("%s rate limit = %v, want the default 2000 per 5 minutes", scope, rateLimit)
				}
			}
		})
	}
}

func TestRateLimitFromConfig(t *testing.T) {
	rec := runStack(t, "dev", map[string]string{"cats:wafRateLimit": "500"})
	for _, acl := range rec.ByType("aws:wafv2/webAcl:WebAcl") {
		found := false
		for _, r := range acl.Input("rules").ArrayValue() {
			if rb, ok := r.ObjectValue()["statement"].ObjectValue()["rateBasedStatement"]; ok {
				found = rb.ObjectValue()["limit"].NumberValue() == 500
			}
		}
		if !found {
			t.Errorf("%s does not use cats:wafRateLimit 500", acl.Name)
		}
	}
}

func TestBaselineOwnership(t *testing.T) {
	tests := []struct {
		stack  string
		config map[string]string
		owns   bool
	}{
		{"dev", nil, true},
		{"prod", nil, true},
		{"131016-prod", nil, false},
		{"131016-prod", map[string]string{"cats:tenancy": "account"}, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.stack, tt.config), func(t *testing.T) {
			rec := runStack(t, tt.stack, tt.config)
			recorders := len(rec.ByType("aws:cfg/recorder:Recorder"))
			trails := len(rec.ByType("aws:cloudtrail/trail:Trail"))
			want := 0
			if tt.owns {
				want = 1
			}
			if recorders != want || trails != want {
				t.Errorf("%d Config recorders and %d trails, want %d of each: AWS Config allows one recorder per account and region, and only the baseline owner creates it",
					recorders, trails, want)
			}
			if tt.owns {
				if n := len(rec.ByType("aws:cfg/rule:Rule")); n < 10 {
					t.Errorf("%d Config rules, want the encryption, WAF and trail rules", n)
				}
				status := rec.One(t, "aws:cfg/recorderStatus:RecorderStatus")
				if !status.Input("isEnabled").BoolValue() {
					t.Error("Config recorder is not enabled")
				}
				return
			}
			ref := rec.One(t, "pulumi:pulumi:StackReference")
			if ref.Str("name") != "organization/cats-analytics/prod" {
				t.Errorf("municipality stack references %q, want its environment stack", ref.Str("name"))
			}
		})
	}
}

func TestSharedMunicipalityUsesTheEnvironmentTrail(t *testing.T) {
	var trailArn any
	harness.MustRun(t, "131016-prod", nil, func(ctx *pulumi.Context) error {
		c, err := platform.LoadConfig(ctx)
		if err != nil {
			return err
		}
		p, err := platform.NewPlatform(ctx, "cats", platform.PlatformArgs{Config: c, AccountID: plan.AccountID})
		if err != nil {
			return err
		}
		trailArn = harness.Await(t, p.TrailArn)
		return nil
	}, envOutputs)
	if trailArn != "arn:aws:cloudtrail:ap-northeast-1:123456789012:trail/cats-trail-prod" {
		t.Errorf("municipality trailArn = %v, want the environment stack's trail", trailArn)
	}
}

func TestEveryChildHasItsTier(t *testing.T) {
	for _, stack := range []string{"dev", "prod", "131016-prod"} {
		rec := runStack(t, stack, nil)
		for _, r := range rec.Resources {
			switch {
			case r.Type == platform.Type:
				if p, _ := rec.Parent(r); p.Type != "" {
					t.Errorf("%s: platform must sit at the stack root, parent %s", stack, p.Type)
				}
			case strings.HasPrefix(r.Type, "cats:"):
				if p, _ := rec.Parent(r); p.Type != platform.Type {
					t.Errorf("%s: tier %s is parented to %q, want the platform", stack, r.URN, p.Type)
				}
			case r.Type == "pulumi:providers:aws" || r.Type == "pulumi:pulumi:StackReference":
				if p, _ := rec.Parent(r); p.Type != platform.Type {
					t.Errorf("%s: %s is not parented to the platform", stack, r.URN)
				}
			default:
				tier, ok := rec.Ancestor(r, "cats:")
				if !ok || tier.Type == platform.Type {
					t.Errorf("%s: %s has no tier component above it (STYLE.md: every child parented to its tier)", stack, r.URN)
				}
			}
		}
	}
}

// untaggable lists the resource types whose arguments have no tags, each with
// its Args type so the test proves the claim rather than trusting the list.
var untaggable = map[string]any{
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls":                                     s3.BucketOwnershipControlsArgs{},
	"aws:s3/bucketPolicy:BucketPolicy":                                                           s3.BucketPolicyArgs{},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":                                     s3.BucketPublicAccessBlockArgs{},
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": s3.BucketServerSideEncryptionConfigurationV2Args{},
	"aws:s3/bucketVersioningV2:BucketVersioningV2":                                               s3.BucketVersioningV2Args{},
	"aws:s3/bucketLoggingV2:BucketLoggingV2":                                                     s3.BucketLoggingV2Args{},
	"aws:iam/rolePolicy:RolePolicy":                                                              iam.RolePolicyArgs{},
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment":                                          iam.RolePolicyAttachmentArgs{},
	"aws:kms/alias:Alias":                                                                        kms.AliasArgs{},
	"aws:cfg/recorder:Recorder":                                                                  cfg.RecorderArgs{},
	"aws:cfg/deliveryChannel:DeliveryChannel":                                                    cfg.DeliveryChannelArgs{},
	"aws:cfg/recorderStatus:RecorderStatus":                                                      cfg.RecorderStatusArgs{},
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2":                       s3.BucketLifecycleConfigurationV2Args{},
	"aws:cloudwatch/logStream:LogStream":                                                         cloudwatch.LogStreamArgs{},
	"aws:athena/namedQuery:NamedQuery":                                                           athena.NamedQueryArgs{},
	"aws:glue/catalogTable:CatalogTable":                                                         glue.CatalogTableArgs{},
	"aws:acm/certificateValidation:CertificateValidation":                                        acm.CertificateValidationArgs{},
	"aws:appautoscaling/policy:Policy":                                                           appautoscaling.PolicyArgs{},
	"aws:cloudwatch/dashboard:Dashboard":                                                         cloudwatch.DashboardArgs{},
	"aws:ecs/clusterCapacityProviders:ClusterCapacityProviders":                                  ecs.ClusterCapacityProvidersArgs{},
	"aws:route53/record:Record":                                                                  route53.RecordArgs{},
	"aws:sns/topicPolicy:TopicPolicy":                                                            sns.TopicPolicyArgs{},
	"aws:wafv2/webAclAssociation:WebAclAssociation":                                              wafv2.WebAclAssociationArgs{},
	"aws:apigateway/account:Account":                                                             apigateway.AccountArgs{},
	"aws:apigateway/deployment:Deployment":                                                       apigateway.DeploymentArgs{},
	"aws:apigateway/integration:Integration":                                                     apigateway.IntegrationArgs{},
	"aws:apigateway/integrationResponse:IntegrationResponse":                                     apigateway.IntegrationResponseArgs{},
	"aws:apigateway/method:Method":                                                               apigateway.MethodArgs{},
	"aws:apigateway/methodResponse:MethodResponse":                                               apigateway.MethodResponseArgs{},
	"aws:apigateway/methodSettings:MethodSettings":                                               apigateway.MethodSettingsArgs{},
	"aws:apigateway/resource:Resource":                                                           apigateway.ResourceArgs{},
	"aws:cloudfront/cachePolicy:CachePolicy":                                                     cloudfront.CachePolicyArgs{},
	"aws:cloudfront/originAccessControl:OriginAccessControl":                                     cloudfront.OriginAccessControlArgs{},
	"aws:lambda/permission:Permission":                                                           lambda.PermissionArgs{},
	"aws:kms/keyPolicy:KeyPolicy":                                                                kms.KeyPolicyArgs{},
}

// listTagged are the types whose tags are a list of {key, value} rather than a map.
var listTagged = map[string]bool{"aws:autoscaling/group:Group": true}

// tagsOf returns a resource's tags as a map, whichever form its type uses.
func tagsOf(r plan.Resource) (map[string]string, bool) {
	v := r.Input("tags")
	out := map[string]string{}
	switch {
	case listTagged[r.Type] && v.IsArray():
		for _, t := range v.ArrayValue() {
			o := t.ObjectValue()
			out[o["key"].StringValue()] = o["value"].StringValue()
		}
	case v.IsObject():
		for k, val := range v.ObjectValue() {
			if val.IsString() {
				out[string(k)] = val.StringValue()
			}
		}
	default:
		return nil, false
	}
	return out, true
}

func TestUntaggableListIsHonest(t *testing.T) {
	for token, args := range untaggable {
		if _, has := reflect.TypeOf(args).FieldByName("Tags"); has {
			t.Errorf("%s takes tags: remove it from the untaggable list", token)
		}
	}
}

func TestEveryTaggableResourceIsTagged(t *testing.T) {
	for _, stack := range []string{"dev", "prod", "131016-prod"} {
		rec := runStack(t, stack, nil)
		want := map[string]string{
			naming.TagProject: "cats-analytics", naming.TagEnvironment: strings.TrimPrefix(stack, "131016-"),
			naming.TagMunicipality: "shared", naming.TagManagedBy: "pulumi",
		}
		if strings.HasPrefix(stack, "131016") {
			want[naming.TagMunicipality] = "131016"
		}
		for _, r := range rec.Resources {
			if strings.HasPrefix(r.Type, "cats:") || strings.HasPrefix(r.Type, "pulumi:") {
				continue
			}
			if _, ok := untaggable[r.Type]; ok {
				continue
			}
			tags, ok := tagsOf(r)
			if !ok {
				t.Errorf("%s: %s has no tags (add them, or list the type as untaggable with its Args)", stack, r.URN)
				continue
			}
			for k, v := range want {
				if tags[k] != v {
					t.Errorf("%s: %s tag %s = %q, want %q", stack, r.Name, k, tags[k], v)
				}
			}
		}
	}
}

func TestBadConfigRegistersNothing(t *testing.T) {
	rec, err := harness.Run("dev", map[string]string{"cats:privateSubnetCidrs": `["10.0.1.0/24","10.0.20.0/24"]`}, platform.Program)
	if err == nil || !strings.Contains(err.Error(), "cats:privateSubnetCidrs") {
		t.Fatalf("overlapping subnets: err = %v, want one naming cats:privateSubnetCidrs", err)
	}
	if len(rec.Resources) != 0 {
		t.Errorf("%d resources registered before the config error; want none", len(rec.Resources))
	}
}

func TestPrivateACLRulesTable(t *testing.T) {
	in, _ := network.PrivateACLRules("10.0.0.0/16", 8080)
	for _, r := range in {
		if r.String() == "" {
			t.Fatal("empty rule")
		}
	}
	in, _ = network.PrivateACLRules("10.0.0.0/16", 81)
	found := false
	for _, r := range in {
		found = found || strings.Contains(r.String(), "81-81")
	}
	if !found {
		t.Errorf("a container port below 1024 must get its own rule from the VPC: %v", in)
	}
}

// BenchmarkProgramMockRun reports how long one mock run of the whole program takes.
func BenchmarkProgramMockRun(b *testing.B) {
	for _, stack := range []string{"dev", "prod", "131016-prod"} {
		b.Run(stack, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := harness.Run(stack, nil, platform.Program, envOutputs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func ingressPorts(sg plan.Resource) []string {
	var out []string
	for _, r := range sg.Input("ingress").ArrayValue() {
		o := r.ObjectValue()
		port := fmt.Sprintf("%s/%v", o["protocol"].StringValue(), o["fromPort"].NumberValue())
		for _, c := range strs(o["cidrBlocks"]) {
			out = append(out, port+" from "+c)
		}
		for _, g := range strs(o["securityGroups"]) {
			out = append(out, port+" from sg:"+g)
		}
	}
	sort.Strings(out)
	return out
}

func egressRules(sg plan.Resource) []string {
	var out []string
	for _, r := range sg.Input("egress").ArrayValue() {
		o := r.ObjectValue()
		for _, c := range strs(o["cidrBlocks"]) {
			out = append(out, fmt.Sprintf("%s/%v to %s", o["protocol"].StringValue(), o["fromPort"].NumberValue(), c))
		}
	}
	sort.Strings(out)
	return out
}

func aclRules(acl plan.Resource, dir string) []string {
	var out []string
	for _, r := range acl.Input(dir).ArrayValue() {
		o := r.ObjectValue()
		out = append(out, fmt.Sprintf("%v %s %s %v-%v %s", o["ruleNo"].NumberValue(), o["action"].StringValue(),
			o["protocol"].StringValue(), o["fromPort"].NumberValue(), o["toPort"].NumberValue(), o["cidrBlock"].StringValue()))
	}
	sort.Strings(out)
	return out
}

func strs(v resource.PropertyValue) []string {
	if !v.IsArray() {
		return nil
	}
	var out []string
	for _, e := range v.ArrayValue() {
		out = append(out, e.StringValue())
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	sort.Strings(b)
	return reflect.DeepEqual(a, b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
