package security_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

// region is the stacks' region (aws:region's default, DESIGN.md).
const region = "ap-northeast-1"

type condition = map[string]map[string]string

// roleTrust is one IAM role of the program and the trust its service documents.
type roleTrust struct {
	role    string // logical name
	service string
	// condition is the confused-deputy protection AWS documents for this role,
	// nil where it documents none (a condition on a key the service does not
	// send denies the service the role, so none is added by default).
	condition func(account string) condition
	doc       string
	// baseline: only stacks that own their account's baseline create the role
	// (the trail, AWS Config, API Gateway's account-wide CloudWatch Logs role).
	baseline bool
}

func noCondition(string) condition { return nil }

func sourceAccount(account string) condition {
	return condition{"StringEquals": {"aws:SourceAccount": account}}
}

// roleTrusts lists every role the program creates.
var roleTrusts = []roleTrust{
	{
		role: "cats-network-flow-logs-role", service: "vpc-flow-logs.amazonaws.com",
		condition: func(account string) condition {
			return condition{
				"StringEquals": {"aws:SourceAccount": account},
				"ArnLike":      {"aws:SourceArn": "arn:aws:ec2:" + region + ":" + account + ":vpc-flow-log/*"},
			}
		},
		doc: "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html",
	},
	{
		role: "cats-security-trail-role", service: "cloudtrail.amazonaws.com", condition: noCondition, baseline: true,
		doc: "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-required-policy-for-cloudwatch-logs.html (the role supports neither aws:SourceArn nor aws:SourceAccount)",
	},
	{
		role: "cats-security-config-role", service: "config.amazonaws.com", condition: sourceAccount, baseline: true,
		doc: "https://docs.aws.amazon.com/config/latest/developerguide/iamrole-permissions.html#iam-trust-policy",
	},
	{
		role: "cats-streaming-firehose-role", service: "firehose.amazonaws.com",
		condition: func(account string) condition { return condition{"StringEquals": {"sts:ExternalId": account}} },
		doc:       "https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#firehose-assume-role",
	},
	{
		role: "cats-streaming-aggregator-role", service: "lambda.amazonaws.com", condition: noCondition,
		doc: "https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html",
	},
	{
		role: "cats-api-writer-role", service: "lambda.amazonaws.com", condition: noCondition,
		doc: "https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html",
	},
	{
		role: "cats-api-read-role", service: "apigateway.amazonaws.com", condition: noCondition,
		doc: "https://docs.aws.amazon.com/apigateway/latest/developerguide/integrating-api-with-aws-services-s3.html (integration credentials)",
	},
	{
		role: "cats-api-cloudwatch-role", service: "apigateway.amazonaws.com", condition: noCondition, baseline: true,
		doc: "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html",
	},
	{
		role: "cats-compute-host-role", service: "ec2.amazonaws.com", condition: noCondition,
		doc: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/instance_IAM_role.html",
	},
	{
		role: "cats-compute-execution-role", service: "ecs-tasks.amazonaws.com", condition: noCondition,
		doc: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html",
	},
	{
		role: "cats-compute-task-role", service: "ecs-tasks.amazonaws.com",
		condition: func(account string) condition {
			return condition{
				"StringEquals": {"aws:SourceAccount": account},
				"ArnLike":      {"aws:SourceArn": "arn:aws:ecs:" + region + ":" + account + ":*"},
			}
		},
		doc: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html",
	},
}

// TestEveryRoleTrustsAsItsServiceDocuments runs the whole program for the
// environment stacks and a municipality stack and checks each role's trust
// policy against the form AWS documents for its service: the service as the
// only principal, and exactly the documented condition. A role the table does
// not list fails the test, so a new role cannot skip the check.
func TestEveryRoleTrustsAsItsServiceDocuments(t *testing.T) {
	for _, stack := range []struct {
		name     string
		baseline bool
	}{{"dev", true}, {"prod", true}, {"131016-prod", false}} {
		t.Run(stack.name, func(t *testing.T) {
			rec := harness.MustRun(t, stack.name, nil, platform.Program)
			byName := map[string]roleTrust{}
			var want []string
			for _, rt := range roleTrusts {
				byName[rt.role] = rt
				if !rt.baseline || stack.baseline {
					want = append(want, rt.role)
				}
			}
			var got []string
			for _, r := range rec.ByType("aws:iam/role:Role") {
				got = append(got, r.Name)
				rt, ok := byName[r.Name]
				if !ok {
					t.Errorf("role %s is not in the trust table: add it with the condition its service documents", r.Name)
					continue
				}
				checkTrust(t, rt, r.Str("assumeRolePolicy"))
			}
			sort.Strings(got)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("stack %s has roles %v, want %v (baseline roles only where the stack owns its account's baseline)", stack.name, got, want)
			}
		})
	}
}

func checkTrust(t *testing.T, rt roleTrust, document string) {
	t.Helper()
	var policy struct {
		Statement []struct {
			Effect    string
			Principal map[string]any
			Action    []string
			Condition condition
		}
	}
	if err := json.Unmarshal([]byte(document), &policy); err != nil {
		t.Errorf("role %s: trust policy is not JSON: %v: %s", rt.role, err, document)
		return
	}
	if len(policy.Statement) != 1 {
		t.Errorf("role %s: want one trust statement, got %d: %s", rt.role, len(policy.Statement), document)
		return
	}
	s := policy.Statement[0]
	if s.Effect != "Allow" || !reflect.DeepEqual(s.Action, []string{"sts:AssumeRole"}) ||
		!reflect.DeepEqual(s.Principal, map[string]any{"Service": rt.service}) {
		t.Errorf("role %s: trust %+v, want only %s allowed sts:AssumeRole", rt.role, s, rt.service)
	}
	if want := rt.condition(plan.AccountID); !reflect.DeepEqual(s.Condition, want) {
		t.Errorf("role %s: trust condition %v, want %v as %s documents (%s): "+
			"a condition on a key the service does not send denies it the role, and a missing documented one leaves the confused deputy open",
			rt.role, s.Condition, want, rt.service, rt.doc)
	}
}
