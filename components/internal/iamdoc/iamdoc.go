// Package iamdoc builds IAM and resource policy documents as typed Go values,
// so every policy in the program is rendered by one function and can be read
// back by tests and the policy pack as plain JSON.
package iamdoc

import (
	"encoding/json"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Statement is one policy statement. Resources may be outputs (ARNs of
// resources being created); everything else is known at plan time.
type Statement struct {
	Sid       string
	Effect    string // Allow when empty
	Principal map[string]any
	Actions   []string
	Resources []pulumi.StringInput
	// Condition values are plain JSON values or pulumi.StringInput (e.g. the
	// ARN of a resource being created, for aws:SourceArn).
	Condition Condition
}

type statementJSON struct {
	Sid       string                    `json:"Sid,omitempty"`
	Effect    string                    `json:"Effect"`
	Principal map[string]any            `json:"Principal,omitempty"`
	Action    []string                  `json:"Action"`
	Resource  []string                  `json:"Resource,omitempty"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// Document renders statements as a policy document once their resources are known.
func Document(statements ...Statement) pulumi.StringOutput {
	var inputs []any
	for _, s := range statements {
		for _, r := range s.Resources {
			inputs = append(inputs, r)
		}
	}
	nResources := len(inputs)
	conditionInputs := conditionInputs(statements)
	for _, c := range conditionInputs {
		inputs = append(inputs, c.value)
	}
	return pulumi.All(inputs...).ApplyT(func(resolved []any) (string, error) {
		doc := struct {
			Version   string          `json:"Version"`
			Statement []statementJSON `json:"Statement"`
		}{Version: "2012-10-17"}
		i := 0
		resolvedConditions := map[conditionRef]any{}
		for j, c := range conditionInputs {
			resolvedConditions[c.ref] = resolved[nResources+j]
		}
		for n, s := range statements {
			effect := s.Effect
			if effect == "" {
				effect = "Allow"
			}
			out := statementJSON{Sid: s.Sid, Effect: effect, Principal: s.Principal, Action: s.Actions, Condition: s.Condition}
			if len(conditionInputs) > 0 && s.Condition != nil {
				out.Condition = map[string]map[string]any{}
				for op, kv := range s.Condition {
					out.Condition[op] = map[string]any{}
					for k, v := range kv {
						if r, ok := resolvedConditions[conditionRef{n, op, k}]; ok {
							v = r
						}
						out.Condition[op][k] = v
					}
				}
			}
			for range s.Resources {
				out.Resource = append(out.Resource, resolved[i].(string))
				i++
			}
			doc.Statement = append(doc.Statement, out)
		}
		b, err := json.Marshal(doc)
		return string(b), err
	}).(pulumi.StringOutput)
}

type conditionRef struct {
	statement int
	operator  string
	key       string
}

type conditionInput struct {
	ref   conditionRef
	value pulumi.StringInput
}

// conditionInputs lists the condition values that are outputs, in a fixed order.
func conditionInputs(statements []Statement) []conditionInput {
	var out []conditionInput
	for n, s := range statements {
		for _, op := range sortedKeys(s.Condition) {
			for _, k := range sortedKeys(s.Condition[op]) {
				if in, ok := s.Condition[op][k].(pulumi.StringInput); ok {
					out = append(out, conditionInput{conditionRef{n, op, k}, in})
				}
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Condition is a statement's condition block: operator → key → value.
type Condition = map[string]map[string]any

// AssumeRole is the trust policy that lets an AWS service assume a role. The
// condition is the confused-deputy protection the service documents for that
// role, or nil where it documents none: a condition on a key the service does
// not send when it assumes the role (aws:SourceAccount, aws:SourceArn) makes
// the role unusable, so each role states its own, never a shared default.
func AssumeRole(service string, condition Condition) pulumi.StringOutput {
	return Document(Statement{
		Actions:   []string{"sts:AssumeRole"},
		Principal: map[string]any{"Service": service},
		Condition: condition,
	})
}

// SourceAccount is the condition that admits a service only on behalf of one
// account.
func SourceAccount(accountID string) Condition {
	return Condition{"StringEquals": {"aws:SourceAccount": accountID}}
}

// Str is shorthand for a known resource string.
func Str(s string) pulumi.StringInput { return pulumi.String(s) }

// DenyInsecureTransport is the statement that makes a bucket TLS-only
// (AWS FSBP S3.5): any request without aws:SecureTransport is denied.
func DenyInsecureTransport(bucketArn pulumi.StringInput) Statement {
	return Statement{
		Sid:       "DenyInsecureTransport",
		Effect:    "Deny",
		Principal: map[string]any{"AWS": "*"},
		Actions:   []string{"s3:*"},
		Resources: []pulumi.StringInput{bucketArn, pulumi.Sprintf("%s/*", bucketArn)},
		Condition: map[string]map[string]any{"Bool": {"aws:SecureTransport": "false"}},
	}
}

// TracingStatement lets a function with X-Ray active tracing send its
// segments (the AWSXRayDaemonWriteAccess actions a function needs). X-Ray
// has no resource-level permissions, hence the one resource "*".
func TracingStatement() Statement {
	return Statement{
		Sid:       "Tracing",
		Actions:   []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
		Resources: []pulumi.StringInput{Str("*")},
	}
}
