package compute_test

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/compute"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

const (
	webACL = "arn:aws:wafv2:ap-northeast-1:123456789012:regional/webacl/cats-waf-regional-test/1"
	cert   = "arn:aws:acm:ap-northeast-1:123456789012:certificate/app"
)

// testArgs builds the tier's arguments from the stack's parsed configuration,
// so the seed defaults (t3.medium, 2–10) come from config.Parse.
func testArgs(t *testing.T, stack string, withDomain bool) compute.Args {
	t.Helper()
	c, err := config.Parse(config.DefaultOrganization, config.Project, stack, config.FromMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	args := compute.Args{
		Namer: c.Namer(), AccountID: plan.AccountID, Region: c.Region, Compute: c.Compute,
		VPCID:              pulumi.String("vpc-1"),
		PublicSubnetIDs:    pulumi.ToStringArray([]string{"public-a", "public-c"}),
		PrivateSubnetIDs:   pulumi.ToStringArray([]string{"private-a", "private-c"}),
		ALBSecurityGroupID: pulumi.String("sg-alb"), AppSecurityGroupID: pulumi.String("sg-app"),
		RegionalWebACLArn: pulumi.String(webACL), LogsKeyArn: pulumi.String("arn:aws:kms:ap-northeast-1:123456789012:key/logs"),
		InstanceTags:     c.Tags(),
		LogRetentionDays: c.Security.LogRetentionDays,
		Prod:             c.IsProd(),
	}
	if withDomain {
		args.Domain = &compute.AppDomain{ZoneID: pulumi.String("Z123"), Hostname: "app.cats.example.com", CertificateArn: pulumi.String(cert)}
	}
	return args
}

func run(t *testing.T, stack string, args compute.Args) *harness.Recording {
	t.Helper()
	return harness.MustRun(t, stack, nil, func(ctx *pulumi.Context) error {
		_, err := compute.NewCompute(ctx, "cats-compute", args)
		return err
	})
}

func strs(v []any) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i], _ = x.(string)
	}
	return out
}

func TestCompute(t *testing.T) {
	for _, tc := range []struct {
		name, stack string
		domain      bool
	}{
		{"dev with domain", "dev", true},
		{"prod with domain", "prod", true},
		{"dev without domain", "dev", false},
		{"municipality prod", "131016-prod", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prod := strings.HasSuffix(tc.stack, "prod")
			rec := run(t, tc.stack, testArgs(t, tc.stack, tc.domain))

			asg := rec.One(t, "aws:autoscaling/group:Group")
			if asg.Input("minSize").NumberValue() != 2 || asg.Input("maxSize").NumberValue() != 10 {
				t.Errorf("Auto Scaling %v–%v, want 2–10 (seed §4 Auto Scaling: 最小2台/最大10台)", asg.Input("minSize"), asg.Input("maxSize"))
			}
			if got := strings.Join(strs(asg.Input("vpcZoneIdentifiers").Mappable().([]any)), ","); got != "private-a,private-c" {
				t.Errorf("hosts in subnets %s, want both private subnets (seed §6 multi-AZ; hosts never public)", got)
			}
			if !asg.Input("protectFromScaleIn").BoolValue() {
				t.Error("managed termination protection needs scale-in protection on the group")
			}

			lt := rec.One(t, "aws:ec2/launchTemplate:LaunchTemplate")
			if lt.Str("instanceType") != "t3.medium" {
				t.Errorf("instance type %q, want t3.medium (seed §4 EC2/ECS)", lt.Str("instanceType"))
			}
			if lt.Str("imageId") != compute.ImageParameter {
				t.Errorf("image %q, want the ECS-optimised AL2023 parameter", lt.Str("imageId"))
			}
			md := lt.Input("metadataOptions").ObjectValue()
			if md["httpTokens"].StringValue() != "required" || md["httpEndpoint"].StringValue() != "enabled" {
				t.Error("hosts must require IMDSv2 (FSBP EC2.8 / EC2.170)")
			}
			devices := lt.Input("blockDeviceMappings").ArrayValue()
			root := devices[0].ObjectValue()
			if len(devices) != 1 || root["deviceName"].StringValue() != "/dev/xvda" {
				t.Errorf("block devices %v, want the root volume /dev/xvda only", devices)
			}
			if root["ebs"].ObjectValue()["encrypted"].StringValue() != "true" {
				t.Error("the hosts' root volume must be encrypted (FSBP EC2.3 / EC2.7)")
			}
			userData, _ := base64.StdEncoding.DecodeString(lt.Str("userData"))
			if !strings.Contains(string(userData), "ECS_CLUSTER=cats-cluster-"+tc.stack+"\n") {
				t.Errorf("hosts do not join cats-cluster-%s:\n%s", tc.stack, userData)
			}
			for _, spec := range lt.Input("tagSpecifications").ArrayValue() {
				tags := spec.ObjectValue()["tags"].ObjectValue()
				if tags["environment"].StringValue() == "" || tags["project"].StringValue() != "cats-analytics" {
					t.Errorf("%s launched by the group lacks the standard tags: %v", spec.ObjectValue()["resourceType"].StringValue(), tags)
				}
			}

			cp := rec.One(t, "aws:ecs/capacityProvider:CapacityProvider")
			provider := cp.Input("autoScalingGroupProvider").ObjectValue()
			if provider["autoScalingGroupArn"].StringValue() != asg.Outputs["arn"].StringValue() ||
				provider["managedScaling"].ObjectValue()["status"].StringValue() != "ENABLED" {
				t.Errorf("capacity provider %v, want the group with managed scaling", provider)
			}
			ccp := rec.One(t, "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders")
			if got := strs(ccp.Input("capacityProviders").Mappable().([]any)); len(got) != 1 || got[0] != cp.Outputs["name"].StringValue() {
				t.Errorf("cluster capacity providers %v, want the group's", got)
			}

			td := rec.One(t, "aws:ecs/taskDefinition:TaskDefinition")
			if td.Str("networkMode") != "awsvpc" || strs(td.Input("requiresCompatibilities").Mappable().([]any))[0] != "EC2" {
				t.Errorf("task network %s compat %v, want awsvpc on EC2", td.Str("networkMode"), td.Input("requiresCompatibilities"))
			}
			var containers []map[string]any
			if err := json.Unmarshal([]byte(td.Str("containerDefinitions")), &containers); err != nil || len(containers) != 1 {
				t.Fatalf("container definitions: %v %s", err, td.Str("containerDefinitions"))
			}
			if containers[0]["image"] != "public.ecr.aws/nginx/nginx:stable" {
				t.Errorf("container image %v, want cats:containerImage (seed §4 タスク定義: Docker)", containers[0]["image"])
			}
			if containers[0]["privileged"] != false {
				t.Errorf("container privileged = %v, want false (FSBP ECS.4)", containers[0]["privileged"])
			}
			if containers[0]["readonlyRootFilesystem"] != true {
				t.Errorf("container readonlyRootFilesystem = %v, want true (FSBP ECS.5)", containers[0]["readonlyRootFilesystem"])
			}
			mounts, _ := containers[0]["mountPoints"].([]any)
			if len(mounts) != 1 || mounts[0].(map[string]any)["sourceVolume"] != compute.ScratchVolume ||
				mounts[0].(map[string]any)["containerPath"] != compute.ScratchPath || mounts[0].(map[string]any)["readOnly"] != false {
				t.Errorf("container mounts %v, want the scratch volume writable at %s (the root filesystem is read-only)", mounts, compute.ScratchPath)
			}
			volumes := td.Input("volumes").ArrayValue()
			if len(volumes) != 1 || volumes[0].ObjectValue()["name"].StringValue() != compute.ScratchVolume ||
				volumes[0].ObjectValue()["dockerVolumeConfiguration"].ObjectValue()["scope"].StringValue() != "task" {
				t.Errorf("task volumes %v, want the task-scoped scratch volume", volumes)
			}

			svc := rec.One(t, "aws:ecs/service:Service")
			net := svc.Input("networkConfiguration").ObjectValue()
			if strings.Join(strs(net["subnets"].Mappable().([]any)), ",") != "private-a,private-c" || net["assignPublicIp"].BoolValue() {
				t.Errorf("service network %v, want both private subnets without public IPs", net)
			}
			if svc.Input("desiredCount").NumberValue() != 2 {
				t.Errorf("service runs %v tasks, want 2 (one per zone)", svc.Input("desiredCount"))
			}
			spread := svc.Input("orderedPlacementStrategies").ArrayValue()[0].ObjectValue()
			if spread["type"].StringValue() != "spread" || spread["field"].StringValue() != "attribute:ecs.availability-zone" {
				t.Errorf("first placement %v, want spread over availability zones (seed §6 マルチAZ)", spread)
			}
			tg := rec.One(t, "aws:lb/targetGroup:TargetGroup")
			if svc.Input("loadBalancers").ArrayValue()[0].ObjectValue()["targetGroupArn"].StringValue() != tg.Outputs["arn"].StringValue() {
				t.Error("service is not behind the ALB's target group (seed §6 ALB)")
			}
			scaling := rec.One(t, "aws:appautoscaling/target:Target")
			if scaling.Input("minCapacity").NumberValue() != 2 || scaling.Input("maxCapacity").NumberValue() != 20 {
				t.Errorf("task scaling %v–%v, want 2–20 (two tasks per t3.medium over 2–10 hosts)", scaling.Input("minCapacity"), scaling.Input("maxCapacity"))
			}

			alb := rec.One(t, "aws:lb/loadBalancer:LoadBalancer")
			if alb.Input("internal").BoolValue() || strings.Join(strs(alb.Input("subnets").Mappable().([]any)), ",") != "public-a,public-c" {
				t.Errorf("ALB internal=%v subnets %v, want internet-facing in both public subnets", alb.Input("internal"), alb.Input("subnets"))
			}
			if alb.Input("enableDeletionProtection").BoolValue() != prod {
				t.Errorf("ALB deletion protection %v on %s, want %v (prod only)", alb.Input("enableDeletionProtection"), tc.stack, prod)
			}
			logs := alb.Input("accessLogs").ObjectValue()
			bucket, _ := rec.Find("aws:s3/bucketV2:BucketV2", "cats-compute-alb-logs")
			if !logs["enabled"].BoolValue() || logs["bucket"].StringValue() != bucket.Outputs["bucket"].StringValue() {
				t.Errorf("ALB access logs %v, want enabled to the private log bucket (FSBP ELB.5)", logs)
			}
			if bucket.Input("forceDestroy").BoolValue() == prod {
				t.Errorf("log bucket forceDestroy=%v on %s: prod logs are retained", bucket.Input("forceDestroy"), tc.stack)
			}
			if _, ok := rec.Find("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "cats-compute-alb-logs-public-access-block"); !ok {
				t.Error("ALB log bucket must block public access")
			}
			policy, _ := rec.Find("aws:s3/bucketPolicy:BucketPolicy", "cats-compute-alb-logs-policy")
			if !strings.Contains(policy.Str("policy"), "arn:aws:iam::582318560864:root") {
				t.Errorf("ALB log bucket policy does not admit ELB's ap-northeast-1 account: %s", policy.Str("policy"))
			}

			listeners := map[float64]map[string]any{}
			for _, l := range rec.ByType("aws:lb/listener:Listener") {
				listeners[l.Input("port").NumberValue()] = l.Inputs.Mappable()
			}
			if tc.domain {
				if alb.Input("dropInvalidHeaderFields").BoolValue() != true {
					t.Error("ALB must drop invalid header fields (FSBP ELB.4)")
				}
				https, ok := listeners[443]
				if !ok || https["protocol"] != "HTTPS" || https["certificateArn"] != cert || https["sslPolicy"] != compute.TLSPolicy {
					t.Errorf("HTTPS listener %v, want 443 with the certificate and TLS 1.2+ policy", https)
				}
				redirect := listeners[80]["defaultActions"].([]any)[0].(map[string]any)
				if redirect["type"] != "redirect" || redirect["redirect"].(map[string]any)["protocol"] != "HTTPS" {
					t.Errorf("port 80 action %v, want a redirect to HTTPS", redirect)
				}
				record := rec.One(t, "aws:route53/record:Record")
				if record.Str("name") != "app.cats.example.com" || record.Str("zoneId") != "Z123" {
					t.Errorf("app record %s in %s, want app.cats.example.com in the stack's zone", record.Str("name"), record.Str("zoneId"))
				}
			} else {
				if len(listeners) != 1 || listeners[80]["defaultActions"].([]any)[0].(map[string]any)["type"] != "forward" {
					t.Errorf("without a domain there is no certificate: want one HTTP listener forwarding, got %v", listeners)
				}
			}

			waf := rec.One(t, "aws:wafv2/webAclAssociation:WebAclAssociation")
			if waf.Str("resourceArn") != alb.Outputs["arn"].StringValue() || waf.Str("webAclArn") != webACL {
				t.Errorf("WAF association %s → %s, want the ALB with the regional ACL (seed §7 WAF)", waf.Str("resourceArn"), waf.Str("webAclArn"))
			}
			for _, r := range rec.Resources {
				if r.Type != compute.Type && r.Type != "pulumi:pulumi:Stack" {
					if _, ok := rec.Ancestor(r, "cats:compute:"); !ok {
						t.Errorf("%s %s is not under the compute component", r.Type, r.Name)
					}
				}
			}
		})
	}
}

func TestComputeArgsAreChecked(t *testing.T) {
	args := testArgs(t, "dev", false)
	args.PrivateSubnetIDs = nil
	args.Domain = &compute.AppDomain{Hostname: "app.cats.example.com"}
	rec, err := harness.Run("dev", nil, func(ctx *pulumi.Context) error {
		_, err := compute.NewCompute(ctx, "cats-compute", args)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "PrivateSubnetIDs is required") || !strings.Contains(err.Error(), "Domain needs ZoneID") {
		t.Errorf("error %v, want one naming PrivateSubnetIDs and the domain's missing zone and certificate", err)
	}
	if len(rec.Resources) != 0 {
		t.Errorf("%d resources registered before the arguments were checked", len(rec.Resources))
	}
}

// TestALBLogWriterFollowsTheRegion: the access log bucket admits the writer
// AWS documents for the stack's Region — the Region's Elastic Load Balancing
// account (from elb.GetServiceAccount) where the Region opened before August
// 2022, the log-delivery service principal in later Regions — and no other
// principal, so logs are delivered in any Region and nobody else may write.
func TestALBLogWriterFollowsTheRegion(t *testing.T) {
	for _, tc := range []struct {
		region string
		writer map[string]any
	}{
		{"ap-northeast-1", map[string]any{"AWS": "arn:aws:iam::582318560864:root"}},
		{"us-east-1", map[string]any{"AWS": "arn:aws:iam::127311923021:root"}},
		{"ap-south-2", map[string]any{"Service": compute.ELBLogDeliveryService}}, // Hyderabad, 2022-11
		{"ca-west-1", map[string]any{"Service": compute.ELBLogDeliveryService}},  // Calgary, 2023-12
	} {
		t.Run(tc.region, func(t *testing.T) {
			args := testArgs(t, "dev", false)
			args.Region = tc.region
			rec := run(t, "dev", args)
			policy, ok := rec.Find("aws:s3/bucketPolicy:BucketPolicy", "cats-compute-alb-logs-policy")
			if !ok {
				t.Fatal("the ALB log bucket has no policy: Elastic Load Balancing could not deliver (FSBP ELB.5)")
			}
			var doc struct {
				Statement []struct {
					Effect    string
					Principal map[string]any
					Action    []string
					Resource  []string
				}
			}
			if err := json.Unmarshal([]byte(policy.Str("policy")), &doc); err != nil {
				t.Fatal(err)
			}
			var writers []map[string]any
			for _, s := range doc.Statement {
				if s.Effect == "Deny" {
					continue
				}
				writers = append(writers, s.Principal)
				if strings.Join(s.Action, ",") != "s3:PutObject" || len(s.Resource) != 1 ||
					!strings.HasSuffix(s.Resource[0], "/alb/AWSLogs/"+plan.AccountID+"/*") {
					t.Errorf("log writer may %v on %v, want s3:PutObject under alb/AWSLogs/<account>/ only", s.Action, s.Resource)
				}
			}
			if len(writers) != 1 || !reflect.DeepEqual(writers[0], tc.writer) {
				t.Errorf("in %s the log bucket admits %v, want only %v as AWS documents for the Region", tc.region, writers, tc.writer)
			}
		})
	}
}
