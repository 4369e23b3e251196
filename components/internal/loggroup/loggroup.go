// Package loggroup creates CloudWatch Logs groups the one way every tier
// needs them: named before the service that writes to them exists (so the
// service never creates one of its own without retention or encryption),
// kept cats:logRetentionDays and encrypted with the stack's logs key.
package loggroup

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// New registers the log group groupName (e.g. /aws/lambda/<function>) as
// the logical resource name.
func New(ctx *pulumi.Context, name, groupName string, retentionDays int, logsKeyArn pulumi.StringInput, opts ...pulumi.ResourceOption) (*cloudwatch.LogGroup, error) {
	group, err := NewNamed(ctx, name, pulumi.String(groupName), retentionDays, logsKeyArn, opts...)
	if err != nil {
		return nil, fmt.Errorf("create the log group %s: %w", groupName, err)
	}
	return group, nil
}

// NewNamed is New for a group whose name is known only once another
// resource exists (API Gateway's API-Gateway-Execution-Logs_{restApiId}/{stage}).
func NewNamed(ctx *pulumi.Context, name string, groupName pulumi.StringInput, retentionDays int, logsKeyArn pulumi.StringInput, opts ...pulumi.ResourceOption) (*cloudwatch.LogGroup, error) {
	group, err := cloudwatch.NewLogGroup(ctx, name, &cloudwatch.LogGroupArgs{
		Name:            groupName,
		RetentionInDays: pulumi.Int(retentionDays),
		KmsKeyId:        logsKeyArn,
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("create the log group %s: %w", name, err)
	}
	return group, nil
}
