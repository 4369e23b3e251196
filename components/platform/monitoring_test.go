package platform_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/cats-analytics/cats-analytics/components/monitoring"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

func TestMonitoringPerStack(t *testing.T) {
	for _, tc := range stackKinds {
		t.Run(tc.name, func(t *testing.T) {
			r := runPlatform(t, tc.stack, tc.cfg)
			underPlatform(t, r.rec, "cats:monitoring:Monitoring")
			topic := r.rec.One(t, "aws:sns/topic:Topic")
			if r.outputs["alarmTopicArn"] != topic.Outputs["arn"].StringValue() {
				t.Errorf("alarmTopicArn output %q, want the topic", r.outputs["alarmTopicArn"])
			}
			checkAlarmTargets(t, r.rec, tc.stack)
		})
	}
}

// checkAlarmTargets: every serving and data path has its alarm (seed §4
// アラーム: CPU, memory, error rate), each on the resource this stack created.
func checkAlarmTargets(t *testing.T, rec *harness.Recording, stack string) {
	t.Helper()
	dimension := func(alarm plan.Resource, key string) string {
		if d := alarm.Input("dimensions"); d.IsObject() {
			return d.ObjectValue()[resource.PropertyKey(key)].StringValue()
		}
		for _, q := range alarm.Input("metricQueries").ArrayValue() {
			if m := q.ObjectValue()["metric"]; m.IsObject() {
				return m.ObjectValue()["dimensions"].ObjectValue()[resource.PropertyKey(key)].StringValue()
			}
		}
		return ""
	}
	writer, _ := rec.Find("aws:lambda/function:Function", "cats-api-writer")
	analysis := ""
	for _, fn := range rec.ByType("aws:lambda/function:Function") {
		if strings.HasPrefix(fn.Str("name"), "cats-data-analysis") {
			analysis = fn.Str("name")
		}
	}
	firehose := rec.One(t, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream").Str("name")
	restAPI := rec.One(t, "aws:apigateway/restApi:RestApi").Str("name")
	failures := rec.One(t, "aws:sqs/queue:Queue").Str("name")
	want := map[string][2]string{
		"cats-ecs-cpu-" + stack:                        {"ServiceName", ""},
		"cats-ecs-memory-" + stack:                     {"ServiceName", ""},
		"cats-api-5xx-" + stack:                        {"ApiName", restAPI},
		"cats-lambda-api-writer-errors-" + stack:       {"FunctionName", writer.Str("name")},
		"cats-lambda-analysis-errors-" + stack:         {"FunctionName", analysis},
		"cats-firehose-data-stream-delivery-" + stack:  {"DeliveryStreamName", firehose},
		"cats-firehose-data-stream-freshness-" + stack: {"DeliveryStreamName", firehose},
		// A batch the aggregation gave up on is in its on-failure queue.
		"cats-failure-queue-analysis-" + stack: {"QueueName", failures},
	}
	var alarms []plan.Resource
	for _, a := range rec.ByType("aws:cloudwatch/metricAlarm:MetricAlarm") {
		if a.Str("namespace") != monitoring.CISNamespace { // the trail's, TestCISAlarmsOnTheTrail
			alarms = append(alarms, a)
		}
	}
	if len(alarms) != len(want) {
		t.Errorf("%d alarms, want %d: ECS CPU and memory, API 5xx, the two functions' error rates, Firehose delivery and freshness, the aggregation's on-failure queue", len(alarms), len(want))
	}
	for _, alarm := range alarms {
		w, ok := want[alarm.Str("name")]
		if !ok {
			t.Errorf("unexpected alarm %s", alarm.Str("name"))
			continue
		}
		if got := dimension(alarm, w[0]); w[1] != "" && got != w[1] || got == "" {
			t.Errorf("alarm %s watches %s %q, want %q (the resource this stack created)", alarm.Str("name"), w[0], got, w[1])
		}
	}
}

func TestAlarmEmailIsSubscribed(t *testing.T) {
	rec := run(t, "dev", map[string]string{"cats:alarmEmail": "ops@example.jp"})
	sub := rec.One(t, "aws:sns/topicSubscription:TopicSubscription")
	if sub.Str("endpoint") != "ops@example.jp" {
		t.Errorf("subscription endpoint %q, want cats:alarmEmail", sub.Str("endpoint"))
	}
}

// TestCISAlarmsOnTheTrail: the CIS AWS Foundations Benchmark's section 4
// metric filters on the trail's log group, each with an alarm on the
// encrypted alarm topic, in the stacks that own the trail and in no other.
func TestCISAlarmsOnTheTrail(t *testing.T) {
	for _, kind := range stackKinds {
		t.Run(kind.name, func(t *testing.T) {
			rec := run(t, kind.stack, kind.cfg)
			filters := rec.ByType("aws:cloudwatch/logMetricFilter:LogMetricFilter")
			if !kind.ownsBaseline {
				if len(filters) != 0 {
					t.Errorf("%d metric filters in a stack that does not own the trail", len(filters))
				}
				return
			}
			trailGroup, ok := rec.Find("aws:cloudwatch/logGroup:LogGroup", "cats-security-trail-logs")
			if !ok {
				t.Fatal("no trail log group")
			}
			topic := rec.One(t, "aws:sns/topic:Topic")
			byMetric := map[string]plan.Resource{}
			for _, f := range filters {
				if f.Str("logGroupName") != trailGroup.Str("name") {
					t.Errorf("filter %s reads %q, want the trail's log group %q", f.Name, f.Str("logGroupName"), trailGroup.Str("name"))
				}
				m := in(f, "metricTransformation")
				if str(get(m, "namespace")) != monitoring.CISNamespace || str(get(m, "value")) != "1" {
					t.Errorf("filter %s publishes %v, want 1 per match in %s", f.Name, m, monitoring.CISNamespace)
				}
				byMetric[str(get(m, "name"))] = f
			}
			alarms := map[string]plan.Resource{}
			for _, a := range rec.ByType("aws:cloudwatch/metricAlarm:MetricAlarm") {
				if a.Str("namespace") == monitoring.CISNamespace {
					alarms[a.Str("metricName")] = a
				}
			}
			controls := map[string]bool{}
			for _, want := range monitoring.CISFilters {
				controls[want.Control] = true
				f, ok := byMetric[want.Name]
				if !ok {
					t.Errorf("no metric filter for CIS %s (%s)", want.Control, want.Name)
					continue
				}
				if f.Str("pattern") != want.Pattern {
					t.Errorf("CIS %s pattern = %q, want the benchmark's %q", want.Control, f.Str("pattern"), want.Pattern)
				}
				a, ok := alarms[want.Name]
				if !ok {
					t.Errorf("no alarm on the CIS %s metric", want.Control)
					continue
				}
				if a.Str("comparisonOperator") != "GreaterThanOrEqualToThreshold" || num(a.Input("threshold")) != 1 || a.Str("statistic") != "Sum" {
					t.Errorf("CIS %s alarm must fire on one matching event: %v", want.Control, a.Inputs)
				}
				if got := strs(a.Input("alarmActions")); !equal(got, []string{out(topic, "arn")}) {
					t.Errorf("CIS %s alarm notifies %v, want the alarm topic", want.Control, got)
				}
			}
			// Root use, unauthorized calls, sign-in without MFA, IAM, CloudTrail,
			// KMS, S3 policy, Config, security group, NACL, gateway, route table, VPC.
			for _, c := range []string{"4.1", "4.2", "4.3", "4.4", "4.5", "4.7", "4.8", "4.9", "4.10", "4.11", "4.12", "4.13", "4.14"} {
				if !controls[c] {
					t.Errorf("CIS %s has no metric filter", c)
				}
			}
			if len(filters) != len(monitoring.CISFilters) {
				t.Errorf("%d metric filters, want %d", len(filters), len(monitoring.CISFilters))
			}
		})
	}
}
