package monitoring

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// CISNamespace is the CloudWatch namespace of the CIS metric filters' metrics.
const CISNamespace = "cats-analytics/CIS"

// CISFilter is one metric filter and alarm of the CIS AWS Foundations
// Benchmark v3.0, section 4 (Monitoring), on the trail's log group: any
// matching event in five minutes raises the alarm.
type CISFilter struct {
	Control string // e.g. "4.3"
	Name    string // the metric's and the alarm's name, e.g. "root-account-use"
	What    string // what a matching event means
	Pattern string // the benchmark's filter pattern
}

// CISFilters are the benchmark's filters, with its patterns, in its order.
// Not here: 4.6 (console authentication failures), 4.15 (AWS Organizations
// changes) and 4.16 (Security Hub).
var CISFilters = []CISFilter{
	{"4.1", "unauthorized-api-calls", "API calls refused as unauthorized",
		`{ (($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*")) && ($.sourceIPAddress != "delivery.logs.amazonaws.com") && ($.eventName != "HeadBucket") }`},
	{"4.2", "console-signin-without-mfa", "an IAM user signed in to the console without MFA",
		`{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }`},
	{"4.3", "root-account-use", "the account's root user was used",
		`{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }`},
	{"4.4", "iam-policy-changes", "an IAM policy was created, changed, attached or detached",
		`{ ($.eventSource = iam.amazonaws.com) && (($.eventName = DeleteGroupPolicy) || ($.eventName = DeleteRolePolicy) || ($.eventName = DeleteUserPolicy) || ($.eventName = PutGroupPolicy) || ($.eventName = PutRolePolicy) || ($.eventName = PutUserPolicy) || ($.eventName = CreatePolicy) || ($.eventName = DeletePolicy) || ($.eventName = CreatePolicyVersion) || ($.eventName = DeletePolicyVersion) || ($.eventName = AttachRolePolicy) || ($.eventName = DetachRolePolicy) || ($.eventName = AttachUserPolicy) || ($.eventName = DetachUserPolicy) || ($.eventName = AttachGroupPolicy) || ($.eventName = DetachGroupPolicy)) }`},
	{"4.5", "cloudtrail-changes", "a trail was created, changed, stopped or deleted",
		`{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || ($.eventName = StartLogging) || ($.eventName = StopLogging) }`},
	{"4.7", "kms-key-disabled-or-deleted", "a customer managed KMS key was disabled or scheduled for deletion",
		`{ ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion)) }`},
	{"4.8", "s3-bucket-policy-changes", "an S3 bucket's policy, ACL, CORS, lifecycle or replication changed",
		`{ ($.eventSource = s3.amazonaws.com) && (($.eventName = PutBucketAcl) || ($.eventName = PutBucketPolicy) || ($.eventName = PutBucketCors) || ($.eventName = PutBucketLifecycle) || ($.eventName = PutBucketReplication) || ($.eventName = DeleteBucketPolicy) || ($.eventName = DeleteBucketCors) || ($.eventName = DeleteBucketLifecycle) || ($.eventName = DeleteBucketReplication)) }`},
	{"4.9", "config-changes", "the AWS Config recorder or its delivery channel was stopped or changed",
		`{ ($.eventSource = config.amazonaws.com) && (($.eventName = StopConfigurationRecorder) || ($.eventName = DeleteDeliveryChannel) || ($.eventName = PutDeliveryChannel) || ($.eventName = PutConfigurationRecorder)) }`},
	{"4.10", "security-group-changes", "a security group or one of its rules was created, changed or deleted",
		`{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || ($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || ($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) }`},
	{"4.11", "nacl-changes", "a network ACL or one of its entries was created, changed or deleted",
		`{ ($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) || ($.eventName = DeleteNetworkAcl) || ($.eventName = DeleteNetworkAclEntry) || ($.eventName = ReplaceNetworkAclEntry) || ($.eventName = ReplaceNetworkAclAssociation) }`},
	{"4.12", "network-gateway-changes", "an internet or customer gateway was created, attached, detached or deleted",
		`{ ($.eventName = CreateCustomerGateway) || ($.eventName = DeleteCustomerGateway) || ($.eventName = AttachInternetGateway) || ($.eventName = CreateInternetGateway) || ($.eventName = DeleteInternetGateway) || ($.eventName = DetachInternetGateway) }`},
	{"4.13", "route-table-changes", "a route or route table was created, changed or deleted",
		`{ ($.eventSource = ec2.amazonaws.com) && (($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable)) }`},
	{"4.14", "vpc-changes", "a VPC, its attributes or a peering connection was created, changed or deleted",
		`{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) || ($.eventName = AcceptVpcPeeringConnection) || ($.eventName = CreateVpcPeeringConnection) || ($.eventName = DeleteVpcPeeringConnection) || ($.eventName = RejectVpcPeeringConnection) || ($.eventName = AttachClassicLinkVpc) || ($.eventName = DetachClassicLinkVpc) || ($.eventName = DisableVpcClassicLink) || ($.eventName = EnableVpcClassicLink) }`},
}

// watchTrail creates CISFilters on the trail's log group, each with an alarm
// on the alarm topic. A filter publishes only when an event matches (no
// default value), and no data is not an alarm.
func watchTrail(a *alarms, logGroupName pulumi.StringInput) {
	for _, f := range CISFilters {
		if a.err != nil {
			return
		}
		what := "cis-" + f.Name
		filter, err := cloudwatch.NewLogMetricFilter(a.ctx, a.name+"-"+what, &cloudwatch.LogMetricFilterArgs{
			Name:         pulumi.String(a.namer.PerStack("cats-" + what)),
			LogGroupName: logGroupName,
			Pattern:      pulumi.String(f.Pattern),
			MetricTransformation: &cloudwatch.LogMetricFilterMetricTransformationArgs{
				Name:      pulumi.String(f.Name),
				Namespace: pulumi.String(CISNamespace),
				Value:     pulumi.String("1"),
			},
		}, a.parent)
		if err != nil {
			a.err = fmt.Errorf("create the CIS %s metric filter: %w", f.Control, err)
			return
		}
		a.create(what, &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   pulumi.String(fmt.Sprintf("CIS AWS Foundations Benchmark %s: %s", f.Control, f.What)),
			Namespace:          pulumi.String(CISNamespace),
			MetricName:         pulumi.String(f.Name),
			Statistic:          pulumi.String("Sum"),
			Period:             pulumi.Int(PeriodSeconds),
			EvaluationPeriods:  pulumi.Int(1),
			ComparisonOperator: pulumi.String("GreaterThanOrEqualToThreshold"),
			Threshold:          pulumi.Float64(1),
			TreatMissingData:   pulumi.String("notBreaching"),
		}, pulumi.DependsOn([]pulumi.Resource{filter}))
	}
}
