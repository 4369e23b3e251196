package streaming_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/streaming"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

const dataKey = "arn:aws:kms:ap-northeast-1:123456789012:key/data"

func runTier(t *testing.T, stack string) *harness.Recording {
	t.Helper()
	namer, err := naming.NewNamer(stack, "")
	if err != nil {
		t.Fatal(err)
	}
	// The configured values come from config.Parse, the one home of their defaults.
	c, err := config.Parse(config.DefaultOrganization, config.Project, stack, config.FromMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	return harness.MustRun(t, stack, nil, func(ctx *pulumi.Context) error {
		_, err := streaming.NewStreaming(ctx, "cats-streaming", streaming.Args{
			BufferSizeMB: c.Streaming.BufferSizeMB, BufferIntervalSeconds: c.Streaming.BufferIntervalSeconds,
			WindowSeconds: c.Streaming.AggregationWindowSeconds, MemoryMB: c.Functions.MemoryMB,
			TimeoutSeconds: c.Functions.TimeoutSeconds, LogRetentionDays: c.Security.LogRetentionDays,
			Namer: namer, AccountID: plan.AccountID, Region: "ap-northeast-1",
			DataKeyArn:       pulumi.String(dataKey),
			LogsKeyArn:       pulumi.String("arn:aws:kms:ap-northeast-1:123456789012:key/logs"),
			DataLakeBucket:   pulumi.String("cats-data-lake-" + stack),
			DataLakeArn:      pulumi.String("arn:aws:s3:::cats-data-lake-" + stack),
			GlueDatabaseName: pulumi.String("cats_data_" + stack),
			GlueTableName:    pulumi.String("cats_info"),
			Prod:             stack == "prod",
		})
		return err
	})
}

type statement struct {
	Sid       string
	Effect    string
	Principal map[string]any
	Action    []string
	Resource  []string
	Condition map[string]map[string]string
}

func statements(t *testing.T, document string) []statement {
	t.Helper()
	var doc struct{ Statement []statement }
	if err := json.Unmarshal([]byte(document), &doc); err != nil {
		t.Fatalf("policy is not JSON: %v: %s", err, document)
	}
	return doc.Statement
}

func input(r plan.Resource, path ...string) resource.PropertyValue {
	v := resource.NewObjectProperty(r.Inputs)
	for _, p := range path {
		if !v.IsObject() {
			return resource.NewNullProperty()
		}
		v = v.ObjectValue()[resource.PropertyKey(p)]
	}
	return v
}

// TestAggregationGivesUpOnABadBatch: one batch the function keeps failing on
// must not stall its shard until the stream drops the records (a day in dev,
// a week in prod). The mapping splits a failing batch to isolate the record,
// gives up after a bounded number of retries or record age well inside the
// stream's retention, and sends the batch's description to an encrypted,
// TLS-only queue the function's role alone may write, with the data key.
func TestAggregationGivesUpOnABadBatch(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			rec := runTier(t, stack)
			stream := rec.One(t, "aws:kinesis/stream:Stream")
			esm := rec.One(t, "aws:lambda/eventSourceMapping:EventSourceMapping")
			queue := rec.One(t, "aws:sqs/queue:Queue")
			queueArn := queue.Outputs["arn"].StringValue()

			if !input(esm, "bisectBatchOnFunctionError").IsBool() || !input(esm, "bisectBatchOnFunctionError").BoolValue() {
				t.Errorf("the mapping must split a failing batch to isolate the record that fails it")
			}
			retries := input(esm, "maximumRetryAttempts")
			if !retries.IsNumber() || retries.NumberValue() != streaming.MaximumRetryAttempts || retries.NumberValue() < 0 {
				t.Errorf("maximumRetryAttempts %v, want %d: unset or -1 retries a failing batch until the records expire", retries, streaming.MaximumRetryAttempts)
			}
			retentionSeconds := input(stream, "retentionPeriod").NumberValue() * 3600
			age := input(esm, "maximumRecordAgeInSeconds")
			if !age.IsNumber() || age.NumberValue() != streaming.MaximumRecordAgeSeconds || age.NumberValue() < 60 || age.NumberValue() >= retentionSeconds {
				t.Errorf("maximumRecordAgeInSeconds %v, want %d: at least Lambda's 60 s and under the stream's %v s retention, so a record is given up on while it can still be replayed",
					age, streaming.MaximumRecordAgeSeconds, retentionSeconds)
			}
			if got := input(esm, "destinationConfig", "onFailure", "destinationArn"); !got.IsString() || got.StringValue() != queueArn {
				t.Errorf("failed batches go to %v, want the on-failure queue %s: without a destination Lambda drops them without a trace", got, queueArn)
			}
			if got := input(esm, "tumblingWindowInSeconds"); !got.IsNumber() || got.NumberValue() != 60 {
				t.Errorf("the aggregation still needs its 60 s tumbling windows, got %v", got)
			}
			if got := input(esm, "functionResponseTypes"); !got.IsNull() {
				t.Errorf("functionResponseTypes %v: the handler fails whole batches only (its window state holds every record), so it must not report item failures", got)
			}

			if queue.Str("kmsMasterKeyId") != dataKey || (input(queue, "sqsManagedSseEnabled").IsBool() && input(queue, "sqsManagedSseEnabled").BoolValue()) {
				t.Errorf("the on-failure queue must be encrypted with the stack's data key, got kmsMasterKeyId %q", queue.Str("kmsMasterKeyId"))
			}
			if !strings.HasSuffix(queue.Str("name"), "-"+stack) {
				t.Errorf("queue name %q must carry the stack suffix (two stacks in one account must not collide)", queue.Str("name"))
			}
			var tlsOnly bool
			for _, s := range statements(t, queue.Str("policy")) {
				tlsOnly = tlsOnly || (s.Effect == "Deny" && s.Principal["AWS"] == "*" &&
					reflect.DeepEqual(s.Action, []string{"sqs:*"}) &&
					reflect.DeepEqual(s.Resource, []string{"arn:aws:sqs:ap-northeast-1:" + plan.AccountID + ":" + queue.Str("name")}) &&
					s.Condition["Bool"]["aws:SecureTransport"] == "false")
			}
			if !tlsOnly {
				t.Errorf("the on-failure queue must refuse requests without TLS: %s", queue.Str("policy"))
			}

			role, ok := rec.Find("aws:iam/role:Role", "cats-streaming-aggregator-role")
			if !ok {
				t.Fatal("no aggregator role")
			}
			var policy plan.Resource
			for _, p := range rec.ByType("aws:iam/rolePolicy:RolePolicy") {
				if p.Str("role") == role.ID {
					policy = p
				}
			}
			var send, encrypt []statement
			for _, s := range statements(t, policy.Str("policy")) {
				for _, a := range s.Action {
					if strings.HasPrefix(a, "sqs:") {
						send = append(send, s)
					}
				}
				if reflect.DeepEqual(s.Resource, []string{dataKey}) && s.Condition["StringEquals"]["kms:ViaService"] == "sqs.ap-northeast-1.amazonaws.com" {
					encrypt = append(encrypt, s)
				}
			}
			if len(send) != 1 || !reflect.DeepEqual(send[0].Action, []string{"sqs:SendMessage"}) || !reflect.DeepEqual(send[0].Resource, []string{queueArn}) {
				t.Errorf("the function's role may %v, want sqs:SendMessage on the on-failure queue only (least privilege)", send)
			}
			if len(encrypt) != 1 {
				t.Fatalf("the function's role needs the data key through SQS to send to the encrypted queue, got %v", encrypt)
			}
			actions := append([]string(nil), encrypt[0].Action...)
			sort.Strings(actions)
			if !reflect.DeepEqual(actions, []string{"kms:Decrypt", "kms:GenerateDataKey"}) {
				t.Errorf("the role may %v with the data key through SQS, want exactly kms:GenerateDataKey and kms:Decrypt (what a sender to an SSE-KMS queue needs)", actions)
			}
		})
	}
}
