// Package iamdoc builds IAM and resource policy documents as typed Go values,
// so every policy in the program is rendered by one function and can be read
// back by tests and the policy pack as plain JSON.
package iamdoc

import (
	"encoding/json"

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
	Condition map[string]map[string]any
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
	return pulumi.All(inputs...).ApplyT(func(resolved []any) (string, error) {
		doc := struct {
			Version   string          `json:"Version"`
			Statement []statementJSON `json:"Statement"`
		}{Version: "2012-10-17"}
		i := 0
		for _, s := range statements {
			effect := s.Effect
			if effect == "" {
				effect = "Allow"
			}
			out := statementJSON{Sid: s.Sid, Effect: effect, Principal: s.Principal, Action: s.Actions, Condition: s.Condition}
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

// AssumeRole is the trust policy that lets an AWS service assume a role,
// optionally only on behalf of one account (confused-deputy protection).
func AssumeRole(service, sourceAccount string) pulumi.StringOutput {
	s := Statement{
		Actions:   []string{"sts:AssumeRole"},
		Principal: map[string]any{"Service": service},
	}
	if sourceAccount != "" {
		s.Condition = map[string]map[string]any{"StringEquals": {"aws:SourceAccount": sourceAccount}}
	}
	return Document(s)
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
