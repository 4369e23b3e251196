package monitoring_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/monitoring"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

const dataKey = "arn:aws:kms:ap-northeast-1:123456789012:key/data"

func args(t *testing.T, stack, email string, everything bool) monitoring.Args {
	namer, err := naming.NewNamer(stack, "")
	if err != nil {
		t.Fatal(err)
	}
	a := monitoring.Args{
		Namer: namer, AccountID: plan.AccountID, Region: "ap-northeast-1",
		DataKeyArn: pulumi.String(dataKey), AlarmEmail: email,
		ECS: &monitoring.ECSTarget{ClusterName: pulumi.String("cats-cluster-" + stack), ServiceName: pulumi.String("cats-app-" + stack)},
	}
	if everything {
		a.API = &monitoring.APITarget{APIName: pulumi.String("cats-api-" + stack), StageName: pulumi.String("v1")}
		a.Functions = map[string]pulumi.StringInput{
			"api-writer": pulumi.String("cats-api-writer-" + stack),
			"analysis":   pulumi.String("cats-data-analysis-" + stack),
		}
		a.DeliveryStreams = map[string]pulumi.StringInput{"data-stream": pulumi.String("cats-data-stream-" + stack)}
		a.FailureQueues = map[string]pulumi.StringInput{"analysis": pulumi.String("cats-data-analysis-failures-" + stack)}
	}
	return a
}

func run(t *testing.T, stack string, a monitoring.Args) *harness.Recording {
	t.Helper()
	return harness.MustRun(t, stack, nil, func(ctx *pulumi.Context) error {
		_, err := monitoring.NewMonitoring(ctx, "cats-monitoring", a)
		return err
	})
}

// wantAlarm is an alarm's expected condition.
type wantAlarm struct {
	metric     string // metric name, or the error metric of a rate
	comparison string
	threshold  float64
	periods    float64
}

func TestMonitoring(t *testing.T) {
	for _, tc := range []struct {
		name, stack, email string
		everything         bool
	}{
		{"dev, every tier", "dev", "ops@example.jp", true},
		{"prod, every tier", "prod", "", true},
		{"municipality, compute only", "131016-prod", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := run(t, tc.stack, args(t, tc.stack, tc.email, tc.everything))
			topic := rec.One(t, "aws:sns/topic:Topic")
			if topic.Str("kmsMasterKeyId") != dataKey || topic.Str("name") != "cats-alarms-"+tc.stack {
				t.Errorf("alarm topic %s key %q, want cats-alarms-%s encrypted with the data key (FSBP SNS.1)", topic.Str("name"), topic.Str("kmsMasterKeyId"), tc.stack)
			}
			policy := rec.One(t, "aws:sns/topicPolicy:TopicPolicy")
			if !strings.Contains(policy.Str("policy"), `"Service":"cloudwatch.amazonaws.com"`) {
				t.Errorf("topic policy must let CloudWatch alarms publish: %s", policy.Str("policy"))
			}
			subs := rec.ByType("aws:sns/topicSubscription:TopicSubscription")
			if tc.email == "" && len(subs) != 0 {
				t.Errorf("no cats:alarmEmail, yet %d subscriptions", len(subs))
			}
			if tc.email != "" && (len(subs) != 1 || subs[0].Str("protocol") != "email" || subs[0].Str("endpoint") != tc.email) {
				t.Errorf("cats:alarmEmail %s must be subscribed by e-mail: %v", tc.email, subs)
			}

			want := map[string]wantAlarm{
				"cats-ecs-cpu-" + tc.stack:    {"CPUUtilization", "GreaterThanThreshold", 80, 3},
				"cats-ecs-memory-" + tc.stack: {"MemoryUtilization", "GreaterThanThreshold", 80, 3},
			}
			if tc.everything {
				want["cats-api-5xx-"+tc.stack] = wantAlarm{"5XXError", "GreaterThanThreshold", 5, 2}
				want["cats-lambda-api-writer-errors-"+tc.stack] = wantAlarm{"Errors", "GreaterThanThreshold", 5, 2}
				want["cats-lambda-analysis-errors-"+tc.stack] = wantAlarm{"Errors", "GreaterThanThreshold", 5, 2}
				want["cats-firehose-data-stream-delivery-"+tc.stack] = wantAlarm{"DeliveryToS3.Success", "LessThanThreshold", 0.99, 2}
				want["cats-firehose-data-stream-freshness-"+tc.stack] = wantAlarm{"DeliveryToS3.DataFreshness", "GreaterThanThreshold", 900, 1}
				want["cats-failure-queue-analysis-"+tc.stack] = wantAlarm{"ApproximateNumberOfMessagesVisible", "GreaterThanThreshold", 0, 1}
			}
			alarms := rec.ByType("aws:cloudwatch/metricAlarm:MetricAlarm")
			var got []string
			for _, a := range alarms {
				got = append(got, a.Str("name"))
				w, ok := want[a.Str("name")]
				if !ok {
					continue
				}
				metric := a.Str("metricName")
				if queries := a.Input("metricQueries"); queries.IsArray() {
					// An error rate: errors / total, as a percentage.
					q := queries.ArrayValue()
					metric = q[0].ObjectValue()["metric"].ObjectValue()["metricName"].StringValue()
					if expr := q[2].ObjectValue()["expression"].StringValue(); expr != "IF(total > 0, 100 * errors / total, 0)" {
						t.Errorf("%s expression %q, want the error rate in percent", a.Str("name"), expr)
					}
				}
				if metric != w.metric || a.Str("comparisonOperator") != w.comparison || a.Input("threshold").NumberValue() != w.threshold ||
					a.Input("evaluationPeriods").NumberValue() != w.periods || a.Input("period").IsNumber() && a.Input("period").NumberValue() != 300 {
					t.Errorf("%s: %s %s %v over %v periods, want %s %s %v over %v five-minute periods",
						a.Str("name"), metric, a.Str("comparisonOperator"), a.Input("threshold").NumberValue(), a.Input("evaluationPeriods").NumberValue(),
						w.metric, w.comparison, w.threshold, w.periods)
				}
				for _, actions := range []string{"alarmActions", "okActions"} {
					list := a.Input(actions).ArrayValue()
					if len(list) != 1 || list[0].StringValue() != topic.Outputs["arn"].StringValue() {
						t.Errorf("%s %s = %v, want the alarm topic", a.Str("name"), actions, list)
					}
				}
			}
			var wantNames []string
			for n := range want {
				wantNames = append(wantNames, n)
			}
			sort.Strings(got)
			sort.Strings(wantNames)
			if strings.Join(got, " ") != strings.Join(wantNames, " ") {
				t.Errorf("alarms %v, want %v (seed §4 アラーム: CPU使用率, メモリ使用率, エラー率; Firehose delivery)", got, wantNames)
			}

			dash := rec.One(t, "aws:cloudwatch/dashboard:Dashboard")
			if dash.Str("dashboardName") != "cats-"+tc.stack {
				t.Errorf("dashboard %q, want one per stack, cats-%s", dash.Str("dashboardName"), tc.stack)
			}
			var body struct{ Widgets []map[string]any }
			if err := json.Unmarshal([]byte(dash.Str("dashboardBody")), &body); err != nil {
				t.Fatalf("dashboard body is not JSON: %v", err)
			}
			if !strings.Contains(dash.Str("dashboardBody"), `"cats-cluster-`+tc.stack+`"`) {
				t.Errorf("dashboard does not show the stack's cluster: %s", dash.Str("dashboardBody"))
			}
			if alarmsWidget := body.Widgets[0]["properties"].(map[string]any)["alarms"].([]any); len(alarmsWidget) != len(want) {
				t.Errorf("dashboard shows %d alarms, want %d", len(alarmsWidget), len(want))
			}
		})
	}
}

// TestFailureQueueAlarm: one message in an on-failure queue is a batch of
// records a consumer gave up on after every retry (for the aggregation, its
// counts are missing from curated/); it must page at once, on that queue,
// and stay quiet while the queue is empty or idle (SQS publishes no metric
// for an idle queue).
func TestFailureQueueAlarm(t *testing.T) {
	rec := run(t, "dev", args(t, "dev", "", true))
	alarm, ok := rec.Find("aws:cloudwatch/metricAlarm:MetricAlarm", "cats-monitoring-failure-queue-analysis")
	if !ok {
		t.Fatal("no alarm on the aggregation's on-failure queue: a batch given up on would go unnoticed until the stream drops its records")
	}
	dims := alarm.Input("dimensions").ObjectValue()
	if alarm.Str("namespace") != "AWS/SQS" || alarm.Str("metricName") != "ApproximateNumberOfMessagesVisible" ||
		dims["QueueName"].StringValue() != "cats-data-analysis-failures-dev" {
		t.Errorf("alarm watches %s %s %v, want AWS/SQS ApproximateNumberOfMessagesVisible of cats-data-analysis-failures-dev",
			alarm.Str("namespace"), alarm.Str("metricName"), dims)
	}
	if alarm.Str("statistic") != "Maximum" || alarm.Str("comparisonOperator") != "GreaterThanThreshold" ||
		alarm.Input("threshold").NumberValue() != 0 || alarm.Input("evaluationPeriods").NumberValue() != 1 {
		t.Errorf("alarm fires on %s %s %v over %v periods, want any message (Maximum > 0) in one period",
			alarm.Str("statistic"), alarm.Str("comparisonOperator"), alarm.Input("threshold").NumberValue(), alarm.Input("evaluationPeriods").NumberValue())
	}
	if alarm.Str("treatMissingData") != "notBreaching" {
		t.Errorf("treatMissingData %q: an idle queue publishes no metric and is not a failure", alarm.Str("treatMissingData"))
	}
	dash := rec.One(t, "aws:cloudwatch/dashboard:Dashboard")
	if !strings.Contains(dash.Str("dashboardBody"), `"ApproximateNumberOfMessagesVisible","QueueName","cats-data-analysis-failures-dev"`) {
		t.Errorf("the dashboard does not show the on-failure queue: %s", dash.Str("dashboardBody"))
	}
}

func TestMonitoringArgsAreChecked(t *testing.T) {
	a := args(t, "dev", "", false)
	a.DataKeyArn = nil
	a.ECS.ServiceName = nil
	_, err := harness.Run("dev", nil, func(ctx *pulumi.Context) error {
		_, err := monitoring.NewMonitoring(ctx, "cats-monitoring", a)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "DataKeyArn") || !strings.Contains(err.Error(), "ServiceName") {
		t.Errorf("error %v, want one naming DataKeyArn and ServiceName", err)
	}
}
