package iamrole_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/iamrole"
	"github.com/cats-analytics/cats-analytics/internal/harness"
)

// TestRoleAndItsGrants: the role trusts the one service with the condition
// given, its inline policy and managed policies are the resources named by
// the caller (their logical names are state: a new name replaces them), and
// a role without a description sends none.
func TestRoleAndItsGrants(t *testing.T) {
	var role *iamrole.Role
	rec := harness.MustRun(t, "dev", nil, func(ctx *pulumi.Context) error {
		var err error
		role, err = iamrole.New(ctx, "cats-config-role", iamrole.Args{
			Name:       "cats-config-dev",
			Service:    "config.amazonaws.com",
			Trust:      iamdoc.SourceAccount("123456789012"),
			Policy:     iamdoc.Document(iamdoc.Statement{Actions: []string{"s3:GetBucketAcl"}, Resources: []pulumi.StringInput{iamdoc.Str("*")}}),
			PolicyName: "cats-config-role-delivery",
			Managed:    []iamrole.Managed{{Name: "cats-config-role-managed", PolicyArn: "arn:aws:iam::aws:policy/service-role/AWS_ConfigRole"}},
		})
		return err
	})
	r := rec.One(t, "aws:iam/role:Role")
	trust := r.Str("assumeRolePolicy")
	if r.Name != "cats-config-role" || r.Str("name") != "cats-config-dev" ||
		!strings.Contains(trust, `"Service":"config.amazonaws.com"`) || !strings.Contains(trust, `"aws:SourceAccount":"123456789012"`) {
		t.Errorf("role %s (%s) trust %s, want config.amazonaws.com on behalf of this account only", r.Name, r.Str("name"), trust)
	}
	if d := r.Input("description"); !d.IsNull() {
		t.Errorf("description %v: a role given none must send none (an empty one would change the deployed role)", d)
	}
	policy := rec.One(t, "aws:iam/rolePolicy:RolePolicy")
	if policy.Name != "cats-config-role-delivery" || !strings.Contains(policy.Str("policy"), "s3:GetBucketAcl") {
		t.Errorf("inline policy %s %s, want cats-config-role-delivery with the given document", policy.Name, policy.Str("policy"))
	}
	attachment := rec.One(t, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
	if attachment.Name != "cats-config-role-managed" || attachment.Str("policyArn") != "arn:aws:iam::aws:policy/service-role/AWS_ConfigRole" {
		t.Errorf("attachment %s of %s, want cats-config-role-managed of AWS_ConfigRole", attachment.Name, attachment.Str("policyArn"))
	}
	if role.Policy == nil || len(role.Attachments) != 1 {
		t.Error("the caller must get the policy and the attachment to wait for them")
	}
}

// TestRoleWithoutInlinePolicy: a role whose permissions are all managed has
// no inline policy resource.
func TestRoleWithoutInlinePolicy(t *testing.T) {
	rec := harness.MustRun(t, "dev", nil, func(ctx *pulumi.Context) error {
		role, err := iamrole.New(ctx, "cats-task-role", iamrole.Args{
			Name: "cats-app-task-dev", Description: "no permissions", Service: "ecs-tasks.amazonaws.com",
		})
		if err == nil && role.Policy != nil {
			t.Error("a policy without Args.Policy")
		}
		return err
	})
	if n := len(rec.ByType("aws:iam/rolePolicy:RolePolicy")); n != 0 {
		t.Errorf("%d inline policies on a role given none", n)
	}
	if r := rec.One(t, "aws:iam/role:Role"); r.Str("description") != "no permissions" {
		t.Errorf("description %q, want the given one", r.Str("description"))
	}
}
