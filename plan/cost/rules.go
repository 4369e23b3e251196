package cost

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/cats-analytics/cats-analytics/plan"
)

// pricing is how the estimate treats a resource type: its fixed monthly
// charges, the usage-based ones it lists as not included, or why it costs
// nothing by itself.
type pricing struct {
	// fixed returns the fixed charges of a resource, and a description of
	// any fixed charge it cannot price.
	fixed func(e *estimator, r plan.Resource) ([]charge, string)
	// usage names the usage-based charges; usageFn when they depend on the
	// resource's inputs.
	usage   string
	usageFn func(r plan.Resource) string
	// free says why the type costs nothing by itself.
	free string
}

func (p pricing) usageOf(r plan.Resource) string {
	if p.usageFn != nil {
		return p.usageFn(r)
	}
	return p.usage
}

func free(why string) pricing   { return pricing{free: why} }
func usage(what string) pricing { return pricing{usage: what} }

// Reasons shared by several types.
const (
	freeIAM        = "IAM is free"
	freeBucketPart = "configuration of a bucket: storage and requests are billed on the bucket"
	freeAPIPart    = "part of a REST API: requests are billed on the API"
	freeECS        = "ECS on EC2 has no charge of its own: the Auto Scaling group's instances are priced"
	usageLogs      = "log ingestion per GB and storage per GB-month"
)

// pricings is the rule of every resource type the program creates. A type
// missing here makes the estimate list its resources as unpriced (and the
// coverage test fail).
var pricings = map[string]pricing{
	// network
	"awsx:ec2:Vpc": {fixed: vpcNATGateways,
		usage: "NAT gateway data processing per GB; data transfer out"},
	"aws:ec2/securityGroup:SecurityGroup":               free("security groups are free"),
	"aws:ec2/networkAcl:NetworkAcl":                     free("network ACLs are free"),
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": free("security groups are free"),
	"aws:ec2/flowLog:FlowLog":                           usage("flow log delivery to CloudWatch Logs (vended log ingestion per GB)"),
	// Gateway endpoints are free; interface endpoints are billed by the hour.
	"aws:ec2/vpcEndpoint:VpcEndpoint": {fixed: vpcEndpoint},

	// security
	"aws:kms/key:Key": {fixed: one("KMS key", "kms.key"),
		usage: "API requests beyond the free tier; each automatic rotation adds $1/month (for its first two rotations)"},
	"aws:kms/alias:Alias":         free("aliases are free"),
	"aws:kms/keyPolicy:KeyPolicy": free("part of a key"),
	"aws:wafv2/webAcl:WebAcl": {fixed: webACL,
		usage: "requests inspected, per million"},
	"aws:wafv2/webAclAssociation:WebAclAssociation":                   free("associations are free: the web ACL is priced"),
	"aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": usage("WAF logs delivered to CloudWatch Logs (vended log ingestion per GB; storage is billed on the log group)"),
	"aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock":        free("an account setting"),
	"aws:cloudtrail/trail:Trail": usage("the account's first copy of management events is free; data and Insights events, " +
		"further copies of management events, S3 storage and CloudWatch Logs delivery are billed by volume"),
	"aws:cfg/recorder:Recorder":               usage("configuration items recorded"),
	"aws:cfg/rule:Rule":                       usage("rule evaluations"),
	"aws:cfg/deliveryChannel:DeliveryChannel": free("delivery is billed as S3 storage and requests"),
	"aws:cfg/recorderStatus:RecorderStatus":   free("turns the recorder on: items are billed on the recorder"),

	// storage, data
	"aws:s3/bucketV2:BucketV2": usage("storage per GB-month, requests, lifecycle transitions, data transfer out"),
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2":                       free(freeBucketPart),
	"aws:s3/bucketLoggingV2:BucketLoggingV2":                                                     free(freeBucketPart),
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls":                                     free(freeBucketPart),
	"aws:s3/bucketPolicy:BucketPolicy":                                                           free(freeBucketPart),
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":                                     free(freeBucketPart),
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": free(freeBucketPart),
	"aws:s3/bucketVersioningV2:BucketVersioningV2":                                               free(freeBucketPart),
	"aws:s3/bucketObjectv2:BucketObjectv2":                                                       usage("object storage (a zero-byte prefix marker)"),
	"aws:dynamodb/table:Table": {fixed: dynamoDBTable,
		usage: "on-demand read and write request units, storage per GB-month, point-in-time recovery per GB-month"},
	"aws:glue/catalogDatabase:CatalogDatabase": usage("Data Catalog objects beyond the free million, and requests"),
	"aws:glue/catalogTable:CatalogTable":       usage("Data Catalog objects beyond the free million, and requests"),
	"aws:athena/workgroup:Workgroup":           usage("data scanned by queries, per TB"),
	"aws:athena/dataCatalog:DataCatalog":       free("a catalog registration is free"),
	"aws:athena/namedQuery:NamedQuery":         free("a saved query is free: running it is billed on the workgroup"),
	"aws:quicksight/dataSource:DataSource":     usage("QuickSight is billed per user of the account subscription (authors and readers)"),
	"aws:quicksight/dataSet:DataSet":           usage("SPICE capacity per GB when imported; QuickSight users"),
	"aws:quicksight/dashboard:Dashboard":       usage("QuickSight is billed per user of the account subscription (authors and readers)"),

	// streaming
	"aws:kinesis/stream:Stream": {fixed: kinesisStream,
		usage: "data written and read per GB (on-demand), retention beyond 24 hours per GB-month, enhanced fan-out"},
	"aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": usage("data ingested per GB, format conversion per GB, dynamic partitioning per GB and per object"),
	"aws:lambda/function:Function":                              usage("requests and GB-seconds of duration"),
	"aws:lambda/eventSourceMapping:EventSourceMapping":          free("Lambda's polling of a Kinesis stream is not billed"),
	"aws:lambda/permission:Permission":                          free("a resource policy statement"),
	"aws:sqs/queue:Queue":                                       usage("requests, per million"),
	"aws:cloudwatch/logGroup:LogGroup":                          usage(usageLogs),
	"aws:cloudwatch/logStream:LogStream":                        free("events are billed on the log group"),
	// A metric filter without a default value publishes only when an event
	// matches, and a custom metric is billed by the hours it is published.
	"aws:cloudwatch/logMetricFilter:LogMetricFilter":               usage("a custom metric, prorated by the hours in which an event matches (no default value)"),
	"aws:cloudwatch/logDeliverySource:LogDeliverySource":           free("part of a log delivery"),
	"aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination": free("part of a log delivery"),
	"aws:cloudwatch/logDelivery:LogDelivery":                       usage("logs delivered to CloudWatch Logs (vended log ingestion per GB; storage is billed on the log group)"),

	// api
	"aws:apigateway/restApi:RestApi":                         usage("REST API requests per million; data transfer out"),
	"aws:apigateway/stage:Stage":                             {fixed: apiStage}, // requests are billed on the API; a cache cluster by the hour
	"aws:apigateway/account:Account":                         free("account-wide settings"),
	"aws:apigateway/deployment:Deployment":                   free(freeAPIPart),
	"aws:apigateway/integration:Integration":                 free(freeAPIPart),
	"aws:apigateway/integrationResponse:IntegrationResponse": free(freeAPIPart),
	"aws:apigateway/method:Method":                           free(freeAPIPart),
	"aws:apigateway/methodResponse:MethodResponse":           free(freeAPIPart),
	"aws:apigateway/methodSettings:MethodSettings":           free(freeAPIPart),
	"aws:apigateway/resource:Resource":                       free(freeAPIPart),

	// compute
	"aws:autoscaling/group:Group": {fixed: autoScalingGroup,
		usage: "instances above the minimum (up to maxSize), T3 surplus CPU credits, EBS snapshots, data transfer"},
	"aws:ec2/launchTemplate:LaunchTemplate": free("the instances it launches are priced on the Auto Scaling group"),
	"aws:lb/loadBalancer:LoadBalancer": {fixed: loadBalancer,
		usage: "LCU-hours (connections, processed bytes, rule evaluations); public IPv4 addresses added when it scales out; data transfer"},
	"aws:lb/listener:Listener":                                  free("part of the load balancer"),
	"aws:lb/targetGroup:TargetGroup":                            free("part of the load balancer"),
	"aws:ecs/cluster:Cluster":                                   {usageFn: ecsCluster, free: freeECS},
	"aws:ecs/service:Service":                                   free(freeECS),
	"aws:ecs/taskDefinition:TaskDefinition":                     free(freeECS),
	"aws:ecs/capacityProvider:CapacityProvider":                 free(freeECS),
	"aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": free(freeECS),
	"aws:appautoscaling/policy:Policy":                          free("Application Auto Scaling is free"),
	"aws:appautoscaling/target:Target":                          free("Application Auto Scaling is free"),

	// edge
	"aws:route53/zone:Zone": {fixed: one("Route 53 hosted zone", "route53.zone"),
		usage: "DNS queries, per million (alias queries to AWS resources are free)"},
	"aws:route53/record:Record":                              free("queries are billed on the zone"),
	"aws:acm/certificate:Certificate":                        free("public ACM certificates are free"),
	"aws:acm/certificateValidation:CertificateValidation":    free("waits for validation"),
	"aws:cloudfront/distribution:Distribution":               usage("requests and data transfer out, per edge location's price class"),
	"aws:cloudfront/cachePolicy:CachePolicy":                 free("part of a distribution"),
	"aws:cloudfront/originAccessControl:OriginAccessControl": free("part of a distribution"),
	"aws:cloudwatch/metricAlarm:MetricAlarm":                 {fixed: metricAlarm},
	"aws:cloudwatch/dashboard:Dashboard":                     {fixed: one("CloudWatch dashboard", "cloudwatch.dashboard")},
	"aws:sns/topic:Topic":                                    usage("publishes and deliveries, per million"),
	"aws:sns/topicPolicy:TopicPolicy":                        free("part of a topic"),
	"aws:sns/topicSubscription:TopicSubscription":            usage("e-mail deliveries beyond the free thousand"),
	"aws:iam/role:Role":                                      free(freeIAM),
	"aws:iam/rolePolicy:RolePolicy":                          free(freeIAM),
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment":      free(freeIAM),
	"aws:iam/instanceProfile:InstanceProfile":                free(freeIAM),
}

// pricingOf returns the rule of a type. The program's own components and
// Pulumi's bookkeeping (stack, providers, stack references) create nothing
// in AWS; awsx components do, and have rules of their own.
func pricingOf(typ string) (pricing, bool) {
	switch {
	case strings.HasPrefix(typ, "cats:"):
		return free("a component of this program: its children are priced"), true
	case strings.HasPrefix(typ, "pulumi:"):
		return free("Pulumi's bookkeeping: nothing in AWS"), true
	}
	p, ok := pricings[typ]
	return p, ok
}

func one(what, price string) func(*estimator, plan.Resource) ([]charge, string) {
	return func(*estimator, plan.Resource) ([]charge, string) {
		return []charge{{what: what, count: 1, price: price}}, ""
	}
}

// awsx's ec2.Vpc defaults: NAT gateways one per zone, three zones.
const (
	awsxDefaultNATStrategy = "OnePerAz"
	awsxDefaultZones       = 3
)

// vpcNATGateways prices what the awsx VPC creates at a fixed rate: its NAT
// gateways, each with an Elastic IP (a public IPv4 address billed by the hour
// since 2024-02-01). Subnets, route tables and the internet gateway are free.
func vpcNATGateways(_ *estimator, r plan.Resource) ([]charge, string) {
	strategy := awsxDefaultNATStrategy
	if nat := r.Input("natGateways"); nat.IsObject() {
		if s := nat.ObjectValue()["strategy"]; s.IsString() && s.StringValue() != "" {
			strategy = s.StringValue()
		}
	}
	zones := float64(awsxDefaultZones)
	if n, ok := number(r.Input("numberOfAvailabilityZones")); ok {
		zones = n
	}
	if names := r.Input("availabilityZoneNames"); names.IsArray() && len(names.ArrayValue()) > 0 {
		zones = float64(len(names.ArrayValue()))
	}
	var gateways float64
	switch strategy {
	case "None":
		return nil, ""
	case "Single":
		gateways = 1
	case "OnePerAz":
		gateways = zones
	default:
		return nil, fmt.Sprintf("NAT gateways: strategy %q is not priced", strategy)
	}
	return []charge{
		{what: fmt.Sprintf("NAT gateways (%g)", gateways), count: gateways, price: "natgateway"},
		{what: fmt.Sprintf("public IPv4 address of each NAT gateway (%g)", gateways), count: gateways, price: "publicipv4"},
	}, ""
}

func vpcEndpoint(_ *estimator, r plan.Resource) ([]charge, string) {
	if t := r.Str("vpcEndpointType"); t == "" || t == "Gateway" {
		return nil, "" // gateway endpoints are free
	}
	return nil, fmt.Sprintf("%s endpoint hours: no price in the table", r.Str("vpcEndpointType"))
}

// paidRuleGroups are AWS managed rule groups with a subscription of their
// own on top of the rule charge.
var paidRuleGroups = map[string]bool{
	"AWSManagedRulesBotControlRuleSet": true,
	"AWSManagedRulesATPRuleSet":        true,
	"AWSManagedRulesACFPRuleSet":       true,
}

func webACL(_ *estimator, r plan.Resource) ([]charge, string) {
	var rules []resource.PropertyValue
	if v := r.Input("rules"); v.IsArray() {
		rules = v.ArrayValue()
	}
	var problems []string
	for _, rule := range rules {
		if !rule.IsObject() {
			continue
		}
		stmt := rule.ObjectValue()["statement"]
		if !stmt.IsObject() {
			continue
		}
		if g := stmt.ObjectValue()["managedRuleGroupStatement"]; g.IsObject() {
			if name := g.ObjectValue()["name"]; name.IsString() && paidRuleGroups[name.StringValue()] {
				problems = append(problems, name.StringValue()+" subscription: no price in the table")
			}
		}
	}
	n := float64(len(rules))
	return []charge{
		{what: "WAF web ACL", count: 1, price: "waf.webacl"},
		{what: fmt.Sprintf("WAF rules and managed rule groups (%g)", n), count: n, price: "waf.rule"},
	}, strings.Join(problems, "; ")
}

func dynamoDBTable(_ *estimator, r plan.Resource) ([]charge, string) {
	if m := r.Str("billingMode"); m != "" && m != "PAY_PER_REQUEST" {
		return nil, "provisioned read and write capacity: no price in the table"
	}
	return nil, ""
}

func apiStage(_ *estimator, r plan.Resource) ([]charge, string) {
	if v := r.Input("cacheClusterEnabled"); v.IsBool() && v.BoolValue() {
		return nil, "API cache cluster hours: no price in the table"
	}
	return nil, ""
}

func kinesisStream(_ *estimator, r plan.Resource) ([]charge, string) {
	mode := "PROVISIONED"
	if d := r.Input("streamModeDetails"); d.IsObject() {
		if m := d.ObjectValue()["streamMode"]; m.IsString() && m.StringValue() != "" {
			mode = m.StringValue()
		}
	}
	if mode == "ON_DEMAND" {
		return []charge{{what: "Kinesis on-demand stream", count: 1, price: "kinesis.ondemand.stream"}}, ""
	}
	shards, _ := number(r.Input("shardCount"))
	var problem string
	if hours, ok := number(r.Input("retentionPeriod")); ok && hours > 24 {
		problem = "extended retention of provisioned shards: no price in the table"
	}
	return []charge{{what: fmt.Sprintf("Kinesis provisioned shards (%g)", shards), count: shards, price: "kinesis.shard"}}, problem
}

// detailedMonitoringMetrics is what one instance with detailed monitoring
// publishes: AWS's CloudWatch pricing example counts 7 metrics per instance.
const detailedMonitoringMetrics = 7

// autoScalingGroup prices the instances the group keeps running whatever the
// load (minSize), their EBS volumes and their detailed monitoring, from the
// launch template the group launches.
func autoScalingGroup(e *estimator, r plan.Resource) ([]charge, string) {
	minSize, _ := number(r.Input("minSize"))
	if minSize == 0 {
		return nil, ""
	}
	lt, ok := e.launchTemplate(r)
	if !ok {
		return nil, "instances: the group's launch template is not in the plan"
	}
	instanceType := lt.Str("instanceType")
	if instanceType == "" {
		return nil, "instances: the launch template sets no instance type"
	}
	charges := []charge{{what: fmt.Sprintf("EC2 %s instances (minSize %g)", instanceType, minSize), count: minSize, price: "ec2." + instanceType}}
	if mappings := lt.Input("blockDeviceMappings"); mappings.IsArray() {
		for _, m := range mappings.ArrayValue() {
			if !m.IsObject() || !m.ObjectValue()["ebs"].IsObject() {
				continue
			}
			ebs := m.ObjectValue()["ebs"].ObjectValue()
			size, ok := number(ebs["volumeSize"])
			if !ok {
				continue // the AMI's snapshot size: unknown offline
			}
			volumeType := "gp2" // EC2's default volume type
			if t := ebs["volumeType"]; t.IsString() && t.StringValue() != "" {
				volumeType = t.StringValue()
			}
			device := ""
			if d := m.ObjectValue()["deviceName"]; d.IsString() {
				device = " " + d.StringValue()
			}
			charges = append(charges, charge{
				what:  fmt.Sprintf("EBS %s volume%s, %g GB × %g instances", volumeType, device, size, minSize),
				count: size * minSize, price: "ebs." + volumeType,
			})
		}
	}
	if mon := lt.Input("monitoring"); mon.IsObject() {
		if on := mon.ObjectValue()["enabled"]; on.IsBool() && on.BoolValue() {
			charges = append(charges, charge{
				what:  fmt.Sprintf("EC2 detailed monitoring, %d metrics × %g instances", detailedMonitoringMetrics, minSize),
				count: detailedMonitoringMetrics * minSize, price: "cloudwatch.metric",
			})
		}
	}
	return charges, ""
}

// launchTemplate finds the launch template a group launches, by id or name.
func (e *estimator) launchTemplate(group plan.Resource) (plan.Resource, bool) {
	spec := group.Input("launchTemplate")
	if !spec.IsObject() {
		return plan.Resource{}, false
	}
	if id := spec.ObjectValue()["id"]; id.IsString() {
		if lt, ok := e.byID[id.StringValue()]; ok && lt.Type == "aws:ec2/launchTemplate:LaunchTemplate" {
			return lt, true
		}
	}
	if name := spec.ObjectValue()["name"]; name.IsString() {
		for _, r := range e.res.Resources {
			if r.Type == "aws:ec2/launchTemplate:LaunchTemplate" && r.Str("name") == name.StringValue() {
				return r, true
			}
		}
	}
	return plan.Resource{}, false
}

// loadBalancer prices an Application Load Balancer's hours and, when it is
// internet-facing, the public IPv4 address it holds in each subnet (its
// minimum: one node per zone).
func loadBalancer(_ *estimator, r plan.Resource) ([]charge, string) {
	if t := r.Str("loadBalancerType"); t != "" && t != "application" {
		return nil, t + " load balancer hours: no price in the table"
	}
	charges := []charge{{what: "Application Load Balancer", count: 1, price: "alb"}}
	if internal := r.Input("internal"); internal.IsBool() && internal.BoolValue() {
		return charges, ""
	}
	subnets := 0
	for _, k := range []string{"subnets", "subnetMappings"} {
		if v := r.Input(k); v.IsArray() {
			subnets += len(v.ArrayValue())
		}
	}
	if subnets > 0 {
		charges = append(charges, charge{
			what:  fmt.Sprintf("public IPv4 address of the internet-facing load balancer in each subnet (%d)", subnets),
			count: float64(subnets), price: "publicipv4",
		})
	}
	return charges, ""
}

// metricAlarm prices an alarm by the metrics it reads: a metric-math alarm
// pays for each metric of its expression.
func metricAlarm(_ *estimator, r plan.Resource) ([]charge, string) {
	metrics, highResolution := 0, false
	if p, ok := number(r.Input("period")); ok && p < 60 {
		highResolution = true
	}
	if queries := r.Input("metricQueries"); queries.IsArray() {
		for _, q := range queries.ArrayValue() {
			if !q.IsObject() {
				continue
			}
			m := q.ObjectValue()["metric"]
			if !m.IsObject() {
				continue
			}
			metrics++
			if p, ok := number(m.ObjectValue()["period"]); ok && p < 60 {
				highResolution = true
			}
		}
	}
	if metrics == 0 {
		metrics = 1
	}
	price, what := "cloudwatch.alarm", "CloudWatch alarm metrics"
	if highResolution {
		price, what = "cloudwatch.alarm.highresolution", "CloudWatch high-resolution alarm metrics"
	}
	return []charge{{what: fmt.Sprintf("%s (%d)", what, metrics), count: float64(metrics), price: price}}, ""
}

func ecsCluster(r plan.Resource) string {
	if settings := r.Input("settings"); settings.IsArray() {
		for _, s := range settings.ArrayValue() {
			if !s.IsObject() {
				continue
			}
			o := s.ObjectValue()
			if o["name"].IsString() && o["name"].StringValue() == "containerInsights" &&
				o["value"].IsString() && o["value"].StringValue() != "disabled" {
				return "Container Insights metrics and performance log events"
			}
		}
	}
	return ""
}

// number reads a number input, also when given as a string (the provider
// accepts both for some properties).
func number(v resource.PropertyValue) (float64, bool) {
	switch {
	case v.IsNumber():
		return v.NumberValue(), true
	case v.IsString():
		f, err := strconv.ParseFloat(v.StringValue(), 64)
		return f, err == nil
	}
	return 0, false
}
