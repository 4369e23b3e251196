package platform_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
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
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"gopkg.in/yaml.v3"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/internal/clitest"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

func TestEveryChildHasItsTier(t *testing.T) {
	for _, stack := range []string{"dev", "prod", "131016-prod"} {
		rec := run(t, stack, nil)
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
	"aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration":                            wafv2.WebAclLoggingConfigurationArgs{},
	"aws:cloudwatch/logMetricFilter:LogMetricFilter":                                             cloudwatch.LogMetricFilterArgs{},
	"aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock":                                   s3.AccountPublicAccessBlockArgs{},
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
		rec := run(t, stack, nil)
		want := map[string]string{
			naming.TagProject: config.Project, naming.TagEnvironment: strings.TrimPrefix(stack, "131016-"),
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

// badValues are, for every rule of every key, a value a tier would reject
// (or AWS would refuse at deployment): each must fail in config.Parse, before
// the program registers anything, with an error naming the key.
var badValues = []struct {
	stack, key, value string
	extra             map[string]string // other keys the case needs
}{
	{"sandbox", "cats:environment", "staging", nil},
	{"prod", "cats:environment", "dev", nil},
	{"dev", "cats:municipalityCode", "131017", nil},
	{"131016-prod", "cats:municipalityCode", "011002", nil},
	{"prod", "cats:tenancy", "account", nil},
	{"131016-prod", "cats:tenancy", "dedicated", nil},
	{"131016-prod", "cats:environmentStack", "prod", nil},
	{"dev", "cats:globalSuffix", "UPPER", nil},
	{"dev", "cats:globalSuffix", "a-very-long-organisation", nil},
	{"dev", "cats:vpcCidr", "10.0.0.0/8", nil},
	{"dev", "cats:vpcCidr", "10.0.0.1/16", nil},
	{"dev", "cats:publicSubnetCidrs", `["10.1.1.0/24","10.0.2.0/24"]`, nil},
	{"dev", "cats:publicSubnetCidrs", "10.0.1.0/24", nil},
	{"dev", "cats:privateSubnetCidrs", `["10.0.1.0/24","10.0.20.0/24"]`, nil},
	{"dev", "cats:privateSubnetCidrs", `["10.0.10.0/29","10.0.20.0/24"]`, nil},
	{"dev", "cats:availabilityZones", `["us-east-1a","us-east-1b"]`, nil},
	{"dev", "cats:availabilityZones", `["ap-northeast-1a","ap-northeast-1a"]`, nil},
	{"dev", "cats:natGateways", "none", nil},
	{"dev", "cats:instanceType", "medium", nil},
	{"dev", "cats:minInstances", "0", nil},
	{"dev", "cats:minInstances", "5", map[string]string{"cats:maxInstances": "3"}},
	{"dev", "cats:maxInstances", "101", nil},
	{"dev", "cats:containerImage", "nginx latest", nil},
	{"dev", "cats:containerPort", "0", nil},
	{"dev", "cats:lambdaMemoryMb", "64", nil},
	{"dev", "cats:lambdaTimeoutSeconds", "901", nil},
	{"dev", "cats:firehoseBufferSizeMb", "5", nil},
	{"dev", "cats:firehoseBufferSizeMb", "129", nil},
	{"dev", "cats:firehoseBufferIntervalSeconds", "30", nil},
	{"dev", "cats:firehoseBufferIntervalSeconds", "901", nil},
	{"dev", "cats:aggregationWindowSeconds", "0", nil},
	{"dev", "cats:aggregationWindowSeconds", "901", nil},
	{"dev", "cats:dataLakeEncryption", "rot13", nil},
	{"dev", "cats:domain", "Cats_Example", nil},
	{"dev", "cats:cdnDefaultTtlSeconds", "-1", nil},
	{"dev", "cats:cdnDefaultTtlSeconds", "31536001", nil},
	{"dev", "cats:wafRateLimit", "10", nil},
	{"dev", "cats:logRetentionDays", "45", nil},
	{"dev", "cats:alarmEmail", "ops at example", nil},
	{"dev", "cats:quicksightEnabled", "yes please", nil},
	{"dev", "cats:quicksightEnabled", "true", map[string]string{"cats:quicksightPrincipal": "arn:aws:quicksight:ap-northeast-1:123456789012:user/default/analyst"}},
	{"131016-prod", "cats:quicksightPrincipal", "analyst", nil},
	{"131016-prod", "cats:quicksightPrincipal", "", map[string]string{"cats:quicksightEnabled": "true"}},
	{"dev", "aws:region", "tokyo", nil},
}

// TestEveryRuleFailsBeforeAnyResource: a value the program would reject is
// rejected by config.Parse, naming the key, with nothing registered (so the
// automation server's check at registration refuses it too).
func TestEveryRuleFailsBeforeAnyResource(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range badValues {
		covered[tc.key] = true
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			cfg := map[string]string{}
			for k, v := range tc.extra {
				cfg[k] = v
			}
			if tc.value != "" {
				cfg[tc.key] = tc.value
			}
			if _, err := config.Parse(config.DefaultOrganization, config.Project, tc.stack, config.FromMap(cfg)); err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("config.Parse: err = %v, want one naming %s", err, tc.key)
			}
			rec, err := harness.Run(tc.stack, cfg, platform.Program)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("program: err = %v, want one naming %s", err, tc.key)
			}
			if len(rec.Resources) != 0 {
				t.Errorf("%d resources registered before the config error; want none", len(rec.Resources))
			}
		})
	}
	for _, k := range config.Keys {
		if !covered[k.FullName()] {
			t.Errorf("%s has no bad value here: give one for each of its rules", k.FullName())
		}
	}
}

// TestStackNameFailsBeforeAnyResource: a stack name that cannot fit a load
// balancer's 32 characters is refused by config.Parse, not by the compute
// tier after the others were registered.
func TestStackNameFailsBeforeAnyResource(t *testing.T) {
	stack := "a-sandbox-stack-name-too-long"
	rec, err := harness.Run(stack, map[string]string{"cats:environment": "dev"}, platform.Program)
	if err == nil || !strings.Contains(err.Error(), "load balancer") {
		t.Fatalf("err = %v, want the stack name refused for the load balancer's limit", err)
	}
	if len(rec.Resources) != 0 {
		t.Errorf("%d resources registered before the config error; want none", len(rec.Resources))
	}
}

// TestAcceptedValuesAreUsedAsGiven: a value config.Parse accepts, at either
// end of its range, reaches the resource unchanged; no tier refuses it or
// puts its own default in its place.
func TestAcceptedValuesAreUsedAsGiven(t *testing.T) {
	function := func(name string) func(*harness.Recording) plan.Resource {
		return func(rec *harness.Recording) plan.Resource {
			for _, fn := range rec.ByType("aws:lambda/function:Function") {
				if strings.HasPrefix(fn.Str("name"), name) {
					return fn
				}
			}
			return plan.Resource{}
		}
	}
	one := func(token string) func(*harness.Recording) plan.Resource {
		return func(rec *harness.Recording) plan.Resource { return rec.ByType(token)[0] }
	}
	firehose := one("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
	for _, tc := range []struct {
		key, value string
		resource   func(*harness.Recording) plan.Resource
		path       []string
		want       float64
	}{
		// CloudFront allows a default TTL of 0: it used to be planned as 86400.
		{"cats:cdnDefaultTtlSeconds", "0", one("aws:cloudfront/cachePolicy:CachePolicy"), []string{"defaultTtl"}, 0},
		{"cats:cdnDefaultTtlSeconds", "31536000", one("aws:cloudfront/cachePolicy:CachePolicy"), []string{"defaultTtl"}, 31536000},
		{"cats:firehoseBufferIntervalSeconds", "60", firehose, []string{"extendedS3Configuration", "bufferingInterval"}, 60},
		{"cats:firehoseBufferIntervalSeconds", "900", firehose, []string{"extendedS3Configuration", "bufferingInterval"}, 900},
		{"cats:firehoseBufferSizeMb", "128", firehose, []string{"extendedS3Configuration", "bufferingSize"}, 128},
		{"cats:aggregationWindowSeconds", "1", one("aws:lambda/eventSourceMapping:EventSourceMapping"), []string{"tumblingWindowInSeconds"}, 1},
		{"cats:aggregationWindowSeconds", "900", one("aws:lambda/eventSourceMapping:EventSourceMapping"), []string{"tumblingWindowInSeconds"}, 900},
		{"cats:lambdaMemoryMb", "128", function("cats-data-analysis"), []string{"memorySize"}, 128},
		{"cats:lambdaMemoryMb", "10240", function("cats-data-analysis"), []string{"memorySize"}, 10240},
		{"cats:lambdaTimeoutSeconds", "900", function("cats-data-analysis"), []string{"timeout"}, 900},
		{"cats:wafRateLimit", "100", one("aws:wafv2/webAcl:WebAcl"), []string{"rules"}, 100},
		{"cats:logRetentionDays", "3653", function("cats-api-writer"), nil, 3653},
		{"cats:minInstances", "1", one("aws:autoscaling/group:Group"), []string{"minSize"}, 1},
		{"cats:maxInstances", "100", one("aws:autoscaling/group:Group"), []string{"maxSize"}, 100},
		{"cats:containerPort", "65535", one("aws:lb/targetGroup:TargetGroup"), []string{"port"}, 65535},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			rec, err := harness.Run("dev", map[string]string{tc.key: tc.value}, platform.Program)
			if err != nil {
				t.Fatalf("%s: %s is accepted by config.Parse, so the program must take it: %v", tc.key, tc.value, err)
			}
			r := tc.resource(rec)
			var got float64
			switch tc.key {
			case "cats:wafRateLimit":
				for _, rule := range r.Input("rules").ArrayValue() {
					if v := get(rule, "statement", "rateBasedStatement", "limit"); v.IsNumber() {
						got = v.NumberValue()
					}
				}
			case "cats:logRetentionDays":
				got = num(in(named(t, rec, "aws:cloudwatch/logGroup:LogGroup", "name", str(in(r, "loggingConfig", "logGroup"))), "retentionInDays"))
			default:
				got = num(in(r, tc.path...))
			}
			if got != tc.want {
				t.Errorf("%s %s reached %s %s as %v: a value config.Parse accepts is used as given", tc.key, tc.value, r.Type, r.Name, got)
			}
		})
	}
}

// TestLongestNamesFit: the longest stack name and cats:globalSuffix that
// config.Parse accepts still give names AWS accepts.
func TestLongestNamesFit(t *testing.T) {
	stack := strings.Repeat("s", naming.MaxStackLength)
	rec := harness.MustRun(t, stack, map[string]string{
		"cats:environment": "dev", "cats:globalSuffix": strings.Repeat("g", naming.MaxGlobalSuffixLength),
	}, platform.Program)
	limits := map[string]struct {
		key string
		max int
	}{
		"aws:s3/bucketV2:BucketV2":                                  {"bucket", 63},
		"aws:lb/loadBalancer:LoadBalancer":                          {"name", 32},
		"aws:lb/targetGroup:TargetGroup":                            {"name", 32},
		"aws:lambda/function:Function":                              {"name", 64},
		"aws:iam/role:Role":                                         {"name", 64},
		"aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": {"name", 64},
	}
	for token, limit := range limits {
		rs := rec.ByType(token)
		if len(rs) == 0 {
			t.Errorf("no %s registered", token)
		}
		for _, r := range rs {
			if n := len(r.Str(limit.key)); n == 0 || n > limit.max {
				t.Errorf("%s %s is %q (%d characters): AWS allows %d", token, limit.key, r.Str(limit.key), n, limit.max)
			}
		}
	}
}

// TestConfigTiersExist: the tiers each key names are the platform's.
func TestConfigTiersExist(t *testing.T) {
	rec := run(t, "dev", nil)
	tiers := map[string]bool{}
	for _, r := range rec.Resources {
		if strings.HasPrefix(r.Type, "cats:") {
			tiers[strings.Split(r.Type, ":")[1]] = true
		}
	}
	for _, k := range config.Keys {
		for _, tier := range k.Tiers {
			if !tiers[tier] {
				t.Errorf("%s names the tier %q, which the platform does not have (tiers: %v)", k.FullName(), tier, keys(tiers))
			}
		}
	}
}

// TestProgramRunsForEveryKindOfStack runs the program itself (main.go's
// entry point, with its exports) on each kind of stack the serving tiers
// distinguish.
func TestProgramRunsForEveryKindOfStack(t *testing.T) {
	for _, tc := range []struct {
		stack string
		cfg   map[string]string
	}{
		{"dev", nil},
		{"prod", nil},
		{"131016-prod", nil},
		{"011002-dev", map[string]string{"cats:tenancy": "account"}},
		{"dev", map[string]string{"cats:domain": "none", "cats:alarmEmail": "ops@example.jp"}},
	} {
		rec := harness.MustRun(t, tc.stack, tc.cfg, platform.Program)
		if n := len(rec.ByType("aws:ecs/service:Service")); n != 1 {
			t.Errorf("%s %v: %d ECS services, want 1", tc.stack, tc.cfg, n)
		}
	}
}

// BenchmarkProgramMockRun reports how long one mock run of the whole program takes.
func BenchmarkProgramMockRun(b *testing.B) {
	for _, stack := range []string{"dev", "prod", "131016-prod"} {
		b.Run(stack, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := harness.Run(stack, nil, platform.Program); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestProjectFileDeclaresEveryKey keeps Pulumi.yaml and components/config in
// step: every key the program reads is declared (with its seed value) or
// listed, and no declared value differs from the program's default.
func TestProjectFileDeclaresEveryKey(t *testing.T) {
	path := filepath.Join(clitest.Root(), "Pulumi.yaml")
	project, err := workspace.LoadProject(path)
	if err != nil {
		t.Fatalf("Pulumi.yaml does not load: %v", err)
	}
	if err := project.Validate(); err != nil {
		t.Fatalf("Pulumi.yaml is invalid: %v", err)
	}
	if project.Name != config.Project || project.Runtime.Name() != "go" {
		t.Errorf("project %s runtime %s, want cats-analytics on go (DESIGN.md)", project.Name, project.Runtime.Name())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range config.Keys {
		full := config.Namespace + ":" + k.Name
		decl, declared := project.Config[full]
		if k.Default == "" {
			if declared {
				t.Errorf("%s has no project-wide default but Pulumi.yaml sets one", full)
			}
			if !strings.Contains(string(raw), "#   "+full+": "+k.Description) {
				t.Errorf("Pulumi.yaml does not list %s with its description %q", full, k.Description)
			}
			continue
		}
		if !declared {
			t.Errorf("Pulumi.yaml does not declare %s", full)
			continue
		}
		if decl.Description != k.Description {
			t.Errorf("%s description in Pulumi.yaml = %q, want %q", full, decl.Description, k.Description)
		}
		if got := valueString(t, decl.Value); got != k.Default {
			t.Errorf("%s value in Pulumi.yaml = %s, want the program's default %s", full, got, k.Default)
		}
	}
	for key := range project.Config {
		if strings.HasPrefix(key, config.Namespace+":") && len(config.UnknownKeys(map[string]string{key: ""})) != 0 {
			t.Errorf("Pulumi.yaml declares %s, which the program does not read", key)
		}
	}
}

func valueString(t *testing.T, v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestStackFilesParse checks that dev and prod, as the files configure them on
// top of Pulumi.yaml, pass the program's validation with their environment's settings.
func TestStackFilesParse(t *testing.T) {
	project, err := workspace.LoadProject(filepath.Join(clitest.Root(), "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stack := range []string{"dev", "prod"} {
		values := map[string]string{}
		for k, v := range project.Config {
			if v.Value != nil {
				values[k] = valueString(t, v.Value)
			}
		}
		raw, err := os.ReadFile(filepath.Join(clitest.Root(), "Pulumi."+stack+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var file struct{ Config map[string]string }
		if err := yaml.Unmarshal(raw, &file); err != nil {
			t.Fatalf("Pulumi.%s.yaml: %v", stack, err)
		}
		for k, v := range file.Config {
			values[k] = v
		}
		if unknown := config.UnknownKeys(values); len(unknown) > 0 {
			t.Errorf("Pulumi.%s.yaml sets keys the program does not read: %v", stack, unknown)
		}
		c, err := config.Parse(config.DefaultOrganization, config.Project, stack, config.FromMap(values))
		if err != nil {
			t.Fatalf("Pulumi.%s.yaml: %v", stack, err)
		}
		if stack == "prod" && (c.Network.NatGateways != config.NatPerAZ || c.Security.LogRetentionDays != 365) {
			t.Errorf("prod: NAT %s, retention %d; want per-az and 365", c.Network.NatGateways, c.Security.LogRetentionDays)
		}
	}
}

// TestCLIReadsTheProject runs the pinned CLI on the project: it must accept
// Pulumi.yaml, report the pinned version, and hand the program the same
// configuration the stack files hold.
func TestCLIReadsTheProject(t *testing.T) {
	env := clitest.NewEnv(t)
	if got := strings.TrimSpace(env.Run(t, t.TempDir(), "version")); got != clitest.Version {
		t.Fatalf("pulumi version = %q, want %s (tools/go.mod pin)", got, clitest.Version)
	}
	dir := t.TempDir()
	for _, f := range []string{"Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"} {
		b, err := os.ReadFile(filepath.Join(clitest.Root(), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, stack := range []string{"dev", "prod"} {
		env.Run(t, dir, "stack", "init", stack, "--non-interactive")
		out := env.Run(t, dir, "config", "--stack", stack, "--json")
		var cfg map[string]struct {
			Value string `json:"value"`
		}
		if err := json.Unmarshal([]byte(out), &cfg); err != nil {
			t.Fatalf("pulumi config --json: %v\n%s", err, out)
		}
		values := map[string]string{}
		for k, v := range cfg {
			values[k] = v.Value
		}
		if values["cats:instanceType"] != "t3.medium" || values["aws:region"] != "ap-northeast-1" {
			t.Errorf("%s: the CLI gives the program %v; want the seed's t3.medium and ap-northeast-1", stack, values)
		}
		if _, err := config.Parse(config.DefaultOrganization, config.Project, stack, config.FromMap(values)); err != nil {
			t.Errorf("%s: the configuration the CLI passes is rejected: %v", stack, err)
		}
	}
}
