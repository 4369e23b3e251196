package platform_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

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
	alarms := rec.ByType("aws:cloudwatch/metricAlarm:MetricAlarm")
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
