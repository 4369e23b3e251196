// Package monitoring is the monitoring tier (seed §4 CloudWatch, §8): an
// encrypted SNS topic for alarms with an optional e-mail subscription, the
// seed's alarms (CPU, memory, error rate) on the tiers that serve the product,
// Firehose delivery alarms, an alarm on every on-failure queue, the CIS
// benchmark's metric filters and alarms on the trail where the stack owns it,
// and one CloudWatch dashboard per stack.
//
// Each tier to watch is an optional target: a stack alarms on what it runs.
package monitoring

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
)

// Type is the component's type token.
const Type = "cats:monitoring:Monitoring"

// Thresholds. Each alarm fires when its condition holds in every one of its
// evaluation periods, so a single spike does not page anyone.
const (
	PeriodSeconds = 300 // five-minute periods

	ECSCPUPercent        = 80.0 // service average CPU (seed §4 アラーム: CPU使用率)
	ECSMemoryPercent     = 80.0 // service average memory (seed §4: メモリ使用率)
	ECSEvaluationPeriods = 3    // 15 minutes

	LambdaErrorRatePercent = 5.0 // errors / invocations (seed §4: エラー率)
	APIErrorRatePercent    = 5.0 // 5XX / requests
	ErrorEvaluationPeriods = 2   // 10 minutes

	// FirehoseSuccessRatio: below it, some deliveries to the data lake failed.
	FirehoseSuccessRatio      = 0.99
	FirehoseEvaluationPeriods = 2
	// FirehoseFreshnessSeconds: the oldest record waiting for delivery; with a
	// 60-second buffer (seed §4) a quarter of an hour means delivery has stalled.
	FirehoseFreshnessSeconds = 900.0
)

// ECSTarget is the compute tier's service.
type ECSTarget struct {
	ClusterName pulumi.StringInput
	ServiceName pulumi.StringInput
}

// APITarget is the api tier's REST API stage.
type APITarget struct {
	APIName   pulumi.StringInput // the REST API's name (the ApiName dimension)
	StageName pulumi.StringInput
}

// Args configures the tier.
type Args struct {
	// Mandatory.
	Namer      naming.Namer
	AccountID  string
	Region     string
	DataKeyArn pulumi.StringInput // encrypts the alarm topic; its key policy admits CloudWatch

	// Optional.
	AlarmEmail string // cats:alarmEmail, subscribed to the topic
	ECS        *ECSTarget
	API        *APITarget
	// Functions are Lambda function names by a short label (e.g. "api-writer",
	// "analysis"), each with an error-rate alarm.
	Functions map[string]pulumi.StringInput
	// DeliveryStreams are Firehose delivery stream names by label.
	DeliveryStreams map[string]pulumi.StringInput
	// FailureQueues are SQS queue names by label, each the on-failure
	// destination of a consumer (e.g. "analysis": the batches the aggregation
	// gave up on): one message in one is an alarm.
	FailureQueues map[string]pulumi.StringInput
	// TrailLogGroupName is the trail's log group where the stack owns the
	// trail: the CIS AWS Foundations Benchmark's metric filters and alarms
	// (CISFilters) watch it.
	TrailLogGroupName pulumi.StringInput
}

// Monitoring is the monitoring tier.
type Monitoring struct {
	pulumi.ResourceState

	AlarmTopicArn pulumi.StringOutput      `pulumi:"alarmTopicArn"`
	DashboardName pulumi.StringOutput      `pulumi:"dashboardName"`
	AlarmNames    pulumi.StringArrayOutput `pulumi:"alarmNames"`
}

func (a *Args) check() error {
	c := tier.NewAccountCheck("monitoring", a.Namer, a.AccountID, a.Region)
	c.Expect(a.DataKeyArn != nil, "DataKeyArn is required (the alarm topic is encrypted)")
	c.Expect(a.ECS == nil || (a.ECS.ClusterName != nil && a.ECS.ServiceName != nil), "ECS needs ClusterName and ServiceName")
	c.Expect(a.API == nil || (a.API.APIName != nil && a.API.StageName != nil), "API needs APIName and StageName")
	for _, label := range sortedKeys(a.Functions) {
		c.Expect(a.Functions[label] != nil && label != "", fmt.Sprintf("function %q has no name", label))
	}
	for _, label := range sortedKeys(a.DeliveryStreams) {
		c.Expect(a.DeliveryStreams[label] != nil && label != "", fmt.Sprintf("delivery stream %q has no name", label))
	}
	for _, label := range sortedKeys(a.FailureQueues) {
		c.Expect(a.FailureQueues[label] != nil && label != "", fmt.Sprintf("failure queue %q has no name", label))
	}
	return c.Err()
}

// NewMonitoring registers the monitoring tier.
func NewMonitoring(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	m := &Monitoring{}
	if err := tier.Register(ctx, Type, name, m, args.check, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(m)
	topic, err := alarmTopic(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	a := &alarms{ctx: ctx, name: name, namer: args.Namer, topic: topic.Arn, parent: parent}
	d := &dashboard{}
	if args.ECS != nil {
		watchECS(a, d, args.ECS)
	}
	if args.API != nil {
		watchAPI(a, d, args.API)
	}
	for _, label := range sortedKeys(args.Functions) {
		watchFunction(a, d, label, args.Functions[label])
	}
	for _, label := range sortedKeys(args.DeliveryStreams) {
		watchDeliveryStream(a, d, label, args.DeliveryStreams[label])
	}
	for _, label := range sortedKeys(args.FailureQueues) {
		watchFailureQueue(a, d, label, args.FailureQueues[label])
	}
	if args.TrailLogGroupName != nil {
		watchTrail(a, args.TrailLogGroupName)
	}
	if a.err != nil {
		return nil, a.err
	}
	dash, err := cloudwatch.NewDashboard(ctx, name+"-dashboard", &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(args.Namer.PerStack("cats")),
		DashboardBody: d.body(args.Region, a.arns()),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the dashboard: %w", err)
	}
	m.AlarmTopicArn = topic.Arn
	m.DashboardName = dash.DashboardName
	m.AlarmNames = a.names()
	if err := tier.RegisterOutputs(ctx, name, m); err != nil {
		return nil, err
	}
	return m, nil
}

// minutes is how long periods five-minute periods last.
func minutes(periods int) int { return periods * PeriodSeconds / 60 }

// watchECS alarms on the service's CPU and memory (seed §4 アラーム CPU使用率, メモリ使用率).
func watchECS(a *alarms, d *dashboard, t *ECSTarget) {
	dims := pulumi.StringMap{"ClusterName": t.ClusterName, "ServiceName": t.ServiceName}
	a.threshold("ecs-cpu", "AWS/ECS", "CPUUtilization", dims, ECSCPUPercent, ECSEvaluationPeriods,
		fmt.Sprintf("ECS service CPU above %.0f%% for %d minutes (seed §4 アラーム CPU使用率)", ECSCPUPercent, minutes(ECSEvaluationPeriods)))
	a.threshold("ecs-memory", "AWS/ECS", "MemoryUtilization", dims, ECSMemoryPercent, ECSEvaluationPeriods,
		fmt.Sprintf("ECS service memory above %.0f%% for %d minutes (seed §4 アラーム メモリ使用率)", ECSMemoryPercent, minutes(ECSEvaluationPeriods)))
	c, s := d.add(t.ClusterName), d.add(t.ServiceName)
	d.widget("ECS service CPU and memory (%)", func(v []string) [][]any {
		return [][]any{
			{"AWS/ECS", "CPUUtilization", "ClusterName", v[c], "ServiceName", v[s]},
			{"AWS/ECS", "MemoryUtilization", "ClusterName", v[c], "ServiceName", v[s]},
		}
	})
}

// watchAPI alarms on the stage's 5XX rate (seed §4 アラーム エラー率).
func watchAPI(a *alarms, d *dashboard, t *APITarget) {
	dims := pulumi.StringMap{"ApiName": t.APIName, "Stage": t.StageName}
	a.errorRate("api-5xx", "AWS/ApiGateway", "5XXError", "Count", dims, APIErrorRatePercent,
		fmt.Sprintf("cats-api answers 5XX to more than %.0f%% of requests for %d minutes (seed §4 アラーム エラー率)", APIErrorRatePercent, minutes(ErrorEvaluationPeriods)))
	n, s := d.add(t.APIName), d.add(t.StageName)
	d.widget("cats-api requests, 4XX and 5XX", func(v []string) [][]any {
		sum := map[string]string{"stat": "Sum"}
		return [][]any{
			{"AWS/ApiGateway", "Count", "ApiName", v[n], "Stage", v[s], sum},
			{"AWS/ApiGateway", "4XXError", "ApiName", v[n], "Stage", v[s], sum},
			{"AWS/ApiGateway", "5XXError", "ApiName", v[n], "Stage", v[s], sum},
		}
	})
}

// watchFunction alarms on a Lambda function's error rate (seed §4 アラーム エラー率).
func watchFunction(a *alarms, d *dashboard, label string, fn pulumi.StringInput) {
	a.errorRate("lambda-"+label+"-errors", "AWS/Lambda", "Errors", "Invocations", pulumi.StringMap{"FunctionName": fn}, LambdaErrorRatePercent,
		fmt.Sprintf("Lambda %s fails more than %.0f%% of invocations for %d minutes (seed §4 アラーム エラー率)", label, LambdaErrorRatePercent, minutes(ErrorEvaluationPeriods)))
	i := d.add(fn)
	d.widget("Lambda "+label+" invocations and errors", func(v []string) [][]any {
		return [][]any{
			{"AWS/Lambda", "Invocations", "FunctionName", v[i], map[string]string{"stat": "Sum"}},
			{"AWS/Lambda", "Errors", "FunctionName", v[i], map[string]string{"stat": "Sum"}},
		}
	})
}

// watchDeliveryStream alarms when Firehose's deliveries to the data lake
// fail or stall.
func watchDeliveryStream(a *alarms, d *dashboard, label string, stream pulumi.StringInput) {
	dims := pulumi.StringMap{"DeliveryStreamName": stream}
	a.below("firehose-"+label+"-delivery", "AWS/Firehose", "DeliveryToS3.Success", dims, FirehoseSuccessRatio, FirehoseEvaluationPeriods,
		fmt.Sprintf("Firehose %s: deliveries to the data lake failing (success below %.0f%% for %d minutes)", label, FirehoseSuccessRatio*100, minutes(FirehoseEvaluationPeriods)))
	a.maximum("firehose-"+label+"-freshness", "AWS/Firehose", "DeliveryToS3.DataFreshness", dims, FirehoseFreshnessSeconds,
		fmt.Sprintf("Firehose %s: records older than %.0f s are still waiting for delivery to the data lake", label, FirehoseFreshnessSeconds))
	i := d.add(stream)
	d.widget("Firehose "+label+" delivery to the data lake", func(v []string) [][]any {
		return [][]any{
			{"AWS/Firehose", "DeliveryToS3.Success", "DeliveryStreamName", v[i]},
			{"AWS/Firehose", "DeliveryToS3.DataFreshness", "DeliveryStreamName", v[i], map[string]any{"stat": "Maximum", "yAxis": "right"}},
		}
	})
}

// alarmTopic is the encrypted topic every alarm notifies, and its subscription.
func alarmTopic(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (*sns.Topic, error) {
	topic, err := sns.NewTopic(ctx, name+"-alarms", &sns.TopicArgs{
		Name:           pulumi.String(args.Namer.PerStack("cats-alarms")),
		DisplayName:    pulumi.String("cats-analytics alarms (" + args.Namer.Stack() + ")"),
		KmsMasterKeyId: args.DataKeyArn, // FSBP SNS.1
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the alarm topic: %w", err)
	}
	if _, err := sns.NewTopicPolicy(ctx, name+"-alarms-policy", &sns.TopicPolicyArgs{
		Arn: topic.Arn,
		Policy: iamdoc.Document(
			iamdoc.Statement{
				Sid:       "AccountManages",
				Principal: map[string]any{"AWS": "arn:aws:iam::" + args.AccountID + ":root"},
				Actions: []string{"sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:AddPermission", "sns:RemovePermission",
					"sns:DeleteTopic", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Publish"},
				Resources: []pulumi.StringInput{topic.Arn},
			},
			iamdoc.Statement{
				Sid:       "CloudWatchAlarmsPublish",
				Principal: map[string]any{"Service": "cloudwatch.amazonaws.com"},
				Actions:   []string{"sns:Publish"},
				Resources: []pulumi.StringInput{topic.Arn},
				Condition: map[string]map[string]any{"StringEquals": {"aws:SourceAccount": args.AccountID}},
			},
			iamdoc.Statement{
				Sid:       "DenyInsecureTransport",
				Effect:    "Deny",
				Principal: map[string]any{"AWS": "*"},
				Actions:   []string{"sns:Publish"},
				Resources: []pulumi.StringInput{topic.Arn},
				Condition: map[string]map[string]any{"Bool": {"aws:SecureTransport": "false"}},
			},
		),
	}, parent); err != nil {
		return nil, fmt.Errorf("create the alarm topic's policy: %w", err)
	}
	if args.AlarmEmail != "" {
		// The address must confirm the subscription from the e-mail AWS sends.
		if _, err := sns.NewTopicSubscription(ctx, name+"-alarms-email", &sns.TopicSubscriptionArgs{
			Topic:    topic.Arn,
			Protocol: pulumi.String("email"),
			Endpoint: pulumi.String(args.AlarmEmail),
		}, parent); err != nil {
			return nil, fmt.Errorf("subscribe %s to the alarm topic: %w", args.AlarmEmail, err)
		}
	}
	return topic, nil
}

// alarms creates alarms that notify the topic, remembering the first error.
type alarms struct {
	ctx     *pulumi.Context
	name    string
	namer   naming.Namer
	topic   pulumi.StringOutput
	parent  pulumi.ResourceOption
	created []*cloudwatch.MetricAlarm
	err     error
}

func (a *alarms) create(what string, args *cloudwatch.MetricAlarmArgs, opts ...pulumi.ResourceOption) {
	if a.err != nil {
		return
	}
	args.Name = pulumi.String(a.namer.PerStack("cats-" + what))
	args.AlarmActions = pulumi.Array{a.topic}
	args.OkActions = pulumi.Array{a.topic}
	alarm, err := cloudwatch.NewMetricAlarm(a.ctx, a.name+"-"+what, args, append([]pulumi.ResourceOption{a.parent}, opts...)...)
	if err != nil {
		a.err = fmt.Errorf("create the alarm %s: %w", what, err)
		return
	}
	a.created = append(a.created, alarm)
}

// watchFailureQueue alarms as soon as a message waits in an on-failure
// queue: each is work a consumer gave up on (for the aggregation, a batch of
// records whose counts are missing from curated/), to be looked at while the
// stream still holds its records.
func watchFailureQueue(a *alarms, d *dashboard, label string, queue pulumi.StringInput) {
	a.maximum("failure-queue-"+label, "AWS/SQS", "ApproximateNumberOfMessagesVisible", pulumi.StringMap{"QueueName": queue}, 0,
		fmt.Sprintf("The %s on-failure queue holds a batch given up on after every retry: replay it from the stream while it still holds the records, or recompute from raw/", label))
	i := d.add(queue)
	d.widget("On-failure queue of "+label, func(v []string) [][]any {
		return [][]any{
			{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", v[i], map[string]string{"stat": "Maximum"}},
		}
	})
}

// arns are the ARNs of the alarms created, for the dashboard's alarm widget.
func (a *alarms) arns() []pulumi.StringInput {
	arns := make([]pulumi.StringInput, len(a.created))
	for i, alarm := range a.created {
		arns[i] = alarm.Arn
	}
	return arns
}

// names are the names of the alarms created.
func (a *alarms) names() pulumi.StringArrayOutput {
	names := make(pulumi.StringArray, len(a.created))
	for i, alarm := range a.created {
		names[i] = alarm.Name
	}
	return names.ToStringArrayOutput()
}

// threshold: the metric's average above threshold in every period. A
// service with no data is down, which the target group's health shows; here
// it is not "high".
func (a *alarms) threshold(what, namespace, metric string, dims pulumi.StringMap, threshold float64, periods int, description string) {
	a.average(what, namespace, metric, dims, "GreaterThanThreshold", threshold, periods, "missing", description)
}

// below: the metric's average under threshold in every period; no data means
// no deliveries attempted, so none failed.
func (a *alarms) below(what, namespace, metric string, dims pulumi.StringMap, threshold float64, periods int, description string) {
	a.average(what, namespace, metric, dims, "LessThanThreshold", threshold, periods, "notBreaching", description)
}

// average alarms on a metric's average compared with a threshold in every period.
func (a *alarms) average(what, namespace, metric string, dims pulumi.StringMap, comparison string, threshold float64, periods int, missing, description string) {
	a.create(what, &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.String(description),
		Namespace:          pulumi.String(namespace),
		MetricName:         pulumi.String(metric),
		Dimensions:         dims,
		Statistic:          pulumi.String("Average"),
		Period:             pulumi.Int(PeriodSeconds),
		EvaluationPeriods:  pulumi.Int(periods),
		DatapointsToAlarm:  pulumi.Int(periods),
		ComparisonOperator: pulumi.String(comparison),
		Threshold:          pulumi.Float64(threshold),
		TreatMissingData:   pulumi.String(missing),
	})
}

// maximum: the metric's maximum above threshold in one period.
func (a *alarms) maximum(what, namespace, metric string, dims pulumi.StringMap, threshold float64, description string) {
	a.create(what, &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.String(description),
		Namespace:          pulumi.String(namespace),
		MetricName:         pulumi.String(metric),
		Dimensions:         dims,
		Statistic:          pulumi.String("Maximum"),
		Period:             pulumi.Int(PeriodSeconds),
		EvaluationPeriods:  pulumi.Int(1),
		ComparisonOperator: pulumi.String("GreaterThanThreshold"),
		Threshold:          pulumi.Float64(threshold),
		TreatMissingData:   pulumi.String("notBreaching"),
	})
}

// errorRate: 100 × errors / total (metric math) above percent in every
// period; a period without traffic counts as no errors.
func (a *alarms) errorRate(what, namespace, errorsMetric, totalMetric string, dims pulumi.StringMap, percent float64, description string) {
	metric := func(id, name string) *cloudwatch.MetricAlarmMetricQueryArgs {
		return &cloudwatch.MetricAlarmMetricQueryArgs{
			Id:         pulumi.String(id),
			ReturnData: pulumi.Bool(false),
			Metric: &cloudwatch.MetricAlarmMetricQueryMetricArgs{
				Namespace: pulumi.String(namespace), MetricName: pulumi.String(name), Dimensions: dims,
				Stat: pulumi.String("Sum"), Period: pulumi.Int(PeriodSeconds),
			},
		}
	}
	a.create(what, &cloudwatch.MetricAlarmArgs{
		AlarmDescription: pulumi.String(description),
		MetricQueries: cloudwatch.MetricAlarmMetricQueryArray{
			metric("errors", errorsMetric),
			metric("total", totalMetric),
			&cloudwatch.MetricAlarmMetricQueryArgs{
				Id:         pulumi.String("rate"),
				Label:      pulumi.String("error rate (%)"),
				Expression: pulumi.String("IF(total > 0, 100 * errors / total, 0)"),
				ReturnData: pulumi.Bool(true),
			},
		},
		EvaluationPeriods:  pulumi.Int(ErrorEvaluationPeriods),
		DatapointsToAlarm:  pulumi.Int(ErrorEvaluationPeriods),
		ComparisonOperator: pulumi.String("GreaterThanThreshold"),
		Threshold:          pulumi.Float64(percent),
		TreatMissingData:   pulumi.String("notBreaching"), // no traffic, no errors
	})
}

// dashboard collects the widgets of the stack's dashboard; the names they
// show are outputs, resolved together when the body is rendered.
type dashboard struct {
	names   []pulumi.StringInput
	widgets []widgetSpec
}

type widgetSpec struct {
	title   string
	metrics func(names []string) [][]any
}

func (d *dashboard) add(name pulumi.StringInput) int {
	d.names = append(d.names, name)
	return len(d.names) - 1
}

func (d *dashboard) widget(title string, metrics func([]string) [][]any) {
	d.widgets = append(d.widgets, widgetSpec{title, metrics})
}

// body renders the dashboard: the alarms' states first, then one graph per widget, two a row.
func (d *dashboard) body(region string, alarmArns []pulumi.StringInput) pulumi.StringOutput {
	inputs := make([]any, 0, len(d.names)+len(alarmArns))
	for _, n := range d.names {
		inputs = append(inputs, n)
	}
	for _, a := range alarmArns {
		inputs = append(inputs, a)
	}
	return pulumi.All(inputs...).ApplyT(func(resolved []any) (string, error) {
		values := make([]string, len(resolved))
		for i, v := range resolved {
			values[i], _ = v.(string)
		}
		names, arns := values[:len(d.names)], values[len(d.names):]
		var widgets []map[string]any
		if len(arns) > 0 {
			widgets = append(widgets, map[string]any{
				"type": "alarm", "x": 0, "y": 0, "width": 24, "height": 3,
				"properties": map[string]any{"title": "Alarms", "alarms": arns},
			})
		}
		for i, w := range d.widgets {
			widgets = append(widgets, map[string]any{
				"type": "metric", "x": (i % 2) * 12, "y": 3 + (i/2)*6, "width": 12, "height": 6,
				"properties": map[string]any{
					"title": w.title, "region": region, "view": "timeSeries", "stat": "Average",
					"period": PeriodSeconds, "metrics": w.metrics(names),
				},
			})
		}
		if widgets == nil {
			widgets = []map[string]any{{
				"type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
				"properties": map[string]any{"markdown": "No serving tier is monitored in this stack yet."},
			}}
		}
		b, err := json.Marshal(map[string]any{"widgets": widgets})
		return string(b), err
	}).(pulumi.StringOutput)
}

func sortedKeys(m map[string]pulumi.StringInput) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
