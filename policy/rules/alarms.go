package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// The CIS 4.x monitoring controls (FSBP CloudWatch.1–14): in the stack that
// owns the trail, a metric filter on the trail's log group for each kind of
// sensitive change, and an alarm on its metric that notifies someone.

const (
	metricFilterType = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
	metricAlarmType  = "aws:cloudwatch/metricAlarm:MetricAlarm"
)

// trailFilter is one monitored event class: a filter pattern covers it when
// it mentions every token (the CIS benchmark's own patterns do).
type trailFilter struct {
	key, control string
	tokens       []string
}

var trailFilters = []trailFilter{
	{"unauthorized-api-calls", "CloudWatch.2, CIS 4.1", []string{"UnauthorizedOperation", "AccessDenied"}},
	{"console-signin-without-mfa", "CloudWatch.3, CIS 4.2", []string{"ConsoleLogin", "MFAUsed"}},
	{"root-usage", "CloudWatch.1, CIS 4.3", []string{"Root", "AwsServiceEvent"}},
	{"iam-policy-changes", "CloudWatch.4, CIS 4.4", []string{"PutUserPolicy", "AttachRolePolicy", "DeletePolicy"}},
	{"cloudtrail-changes", "CloudWatch.5, CIS 4.5", []string{"CreateTrail", "UpdateTrail", "DeleteTrail", "StopLogging"}},
	{"kms-key-disable-or-deletion", "CloudWatch.7, CIS 4.7", []string{"DisableKey", "ScheduleKeyDeletion"}},
	{"s3-bucket-policy-changes", "CloudWatch.8, CIS 4.8", []string{"PutBucketPolicy", "DeleteBucketPolicy"}},
	{"config-changes", "CloudWatch.9, CIS 4.9", []string{"StopConfigurationRecorder", "DeleteDeliveryChannel"}},
	{"security-group-changes", "CloudWatch.10, CIS 4.10", []string{"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "CreateSecurityGroup"}},
	{"nacl-changes", "CloudWatch.11, CIS 4.11", []string{"CreateNetworkAclEntry", "DeleteNetworkAcl", "ReplaceNetworkAclAssociation"}},
	{"network-gateway-changes", "CloudWatch.12, CIS 4.12", []string{"CreateCustomerGateway", "AttachInternetGateway", "DeleteInternetGateway"}},
	{"route-table-changes", "CloudWatch.13, CIS 4.13", []string{"CreateRoute", "ReplaceRoute", "DeleteRouteTable"}},
	{"vpc-changes", "CloudWatch.14, CIS 4.14", []string{"CreateVpc", "DeleteVpc", "ModifyVpcAttribute"}},
}

func alarmRules() []Rule {
	var keys []any
	for _, f := range trailFilters {
		keys = append(keys, f.key)
	}
	return []Rule{{
		Name: "cloudtrail-metric-alarms",
		Description: "A stack with a trail that delivers to CloudWatch Logs has, on that log group, a metric filter for each " +
			"monitored change (root use, unauthorized calls, console sign-in without MFA, IAM, CloudTrail, KMS, S3 policy, " +
			"Config, security group, NACL, gateway, route table and VPC changes) and an alarm on each filter's metric with an action.",
		Control: "FSBP CloudWatch.1–5 / CloudWatch.7–14, CIS 4.1–4.5 / 4.7–4.14",
		Level:   policyx.EnforcementLevelMandatory,
		Properties: map[string]map[string]any{
			"requiredFilters": {"type": "array", "items": map[string]any{"type": "string"}, "default": keys,
				"description": "The monitored changes (keys of the CIS 4.x filters) the stack must alarm on."},
		},
		Stack: trailAlarms,
	}}
}

func trailAlarms(c *Check, rs []policyx.AnalyzerResource) {
	required := c.Config.Strings("requiredFilters")
	for _, t := range rs {
		if t.Type != trailType {
			continue
		}
		groupARN := get(t.Properties, "cloudWatchLogsGroupArn")
		if !groupARN.present() && !groupARN.unknown {
			continue // cloudtrail-enabled asks for the delivery
		}
		// The trail's log group: the one its ARN depends on or names.
		var group *policyx.AnalyzerResource
		for i := range rs {
			if rs[i].Type != logGroupType {
				continue
			}
			name, _ := get(rs[i].Properties, "name").str()
			arn, _ := groupARN.str()
			if yes, _ := refers(t, "cloudWatchLogsGroupArn", rs[i]); yes || (name != "" && strings.Contains(arn, ":log-group:"+name+":")) {
				group = &rs[i]
				break
			}
		}
		if group == nil {
			if groupARN.unknown && len(t.PropertyDependencies["cloudWatchLogsGroupArn"]) == 0 {
				c.Unknown(t.URN, groupARN, "trail "+display(t))
			}
			continue // the log group is not in the stack: nothing to relate filters to
		}
		groupName, _ := get(group.Properties, "name").str()
		var patterns []struct {
			filter policyx.AnalyzerResource
			text   string
		}
		for _, f := range rs {
			if f.Type != metricFilterType {
				continue
			}
			if yes, _ := refers(f, "logGroupName", *group, groupName); !yes {
				continue
			}
			p := get(f.Properties, "pattern")
			if p.unknown {
				c.Unknown(f.URN, p, "metric filter "+display(f))
				return
			}
			s, _ := p.str()
			patterns = append(patterns, struct {
				filter policyx.AnalyzerResource
				text   string
			}{f, s})
		}
		var missing, unalarmed []string
		for _, tf := range trailFilters {
			if !slices.Contains(required, tf.key) {
				continue
			}
			var filter *policyx.AnalyzerResource
			for i := range patterns {
				if covers(patterns[i].text, tf.tokens) {
					filter = &patterns[i].filter
					break
				}
			}
			if filter == nil {
				missing = append(missing, fmt.Sprintf("%s (%s)", tf.key, tf.control))
				continue
			}
			if !alarmed(rs, *filter) {
				unalarmed = append(unalarmed, fmt.Sprintf("%s (%s, filter %s)", tf.key, tf.control, display(*filter)))
			}
		}
		if len(missing) > 0 {
			c.Fail(t.URN, "trail %s: its log group %s has no metric filter for %s", display(t), display(*group), strings.Join(missing, ", "))
		}
		if len(unalarmed) > 0 {
			c.Fail(t.URN, "trail %s: no alarm with an action watches the metric of %s", display(t), strings.Join(unalarmed, ", "))
		}
	}
}

// covers reports whether a filter pattern mentions every token.
func covers(pattern string, tokens []string) bool {
	for _, t := range tokens {
		if !strings.Contains(pattern, t) {
			return false
		}
	}
	return true
}

// alarmed reports whether an alarm with an action watches the metric a
// filter publishes (same name and namespace).
func alarmed(rs []policyx.AnalyzerResource, filter policyx.AnalyzerResource) bool {
	transformations, _ := get(filter.Properties, "metricTransformation").items()
	for _, tr := range transformations {
		name, _ := tr.at("name").str()
		namespace, _ := tr.at("namespace").str()
		for _, a := range rs {
			if a.Type != metricAlarmType {
				continue
			}
			actions, unknown := get(a.Properties, "alarmActions").strings()
			if len(actions) == 0 && !unknown {
				continue
			}
			if strEq(get(a.Properties, "metricName"), name) && strEq(get(a.Properties, "namespace"), namespace) {
				return true
			}
		}
	}
	return false
}
