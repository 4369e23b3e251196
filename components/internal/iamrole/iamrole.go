// Package iamrole creates the IAM roles AWS services assume for the tiers:
// the trust the service documents for the role (iamdoc.AssumeRole), and the
// role's permissions, inline and AWS managed, each a resource that whatever
// uses the role can wait for.
package iamrole

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
)

// Args describe a role and its permissions.
type Args struct {
	Name        string // physical name (naming.Namer.PerStack)
	Description string // optional
	// Service is the service principal that assumes the role, and Trust
	// the confused-deputy condition the service documents for it (nil where
	// it documents none: see iamdoc.AssumeRole).
	Service string
	Trust   iamdoc.Condition
	// Policy is the role's inline policy, registered as PolicyName; none when nil.
	Policy     pulumi.StringInput
	PolicyName string
	// Managed are the AWS managed policies attached to the role.
	Managed []Managed
}

// Managed is one AWS managed policy, attached as the logical resource Name.
type Managed struct {
	Name      string
	PolicyArn string
}

// Role is a role with the resources that grant its permissions.
type Role struct {
	Role        *iam.Role
	Policy      *iam.RolePolicy // nil without Args.Policy
	Attachments []*iam.RolePolicyAttachment
}

// New registers the role as name, then its inline policy and attachments.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Role, error) {
	roleArgs := &iam.RoleArgs{
		Name:             pulumi.String(args.Name),
		AssumeRolePolicy: iamdoc.AssumeRole(args.Service, args.Trust),
	}
	if args.Description != "" {
		roleArgs.Description = pulumi.String(args.Description)
	}
	role, err := iam.NewRole(ctx, name, roleArgs, opts...)
	if err != nil {
		return nil, fmt.Errorf("create the role %s: %w", args.Name, err)
	}
	r := &Role{Role: role}
	if args.Policy != nil {
		r.Policy, err = iam.NewRolePolicy(ctx, args.PolicyName, &iam.RolePolicyArgs{
			Role:   role.ID(),
			Policy: args.Policy,
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("create the policy of the role %s: %w", args.Name, err)
		}
	}
	for _, m := range args.Managed {
		attachment, err := iam.NewRolePolicyAttachment(ctx, m.Name, &iam.RolePolicyAttachmentArgs{
			Role:      role.Name,
			PolicyArn: pulumi.String(m.PolicyArn),
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("attach %s to the role %s: %w", m.PolicyArn, args.Name, err)
		}
		r.Attachments = append(r.Attachments, attachment)
	}
	return r, nil
}
