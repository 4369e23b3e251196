package lambdapkg

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamrole"
	"github.com/cats-analytics/cats-analytics/components/internal/loggroup"
)

// FunctionArgs describe a function of the project: its archive (Build)
// and what runs around it.
type FunctionArgs struct {
	Name        string // physical function name
	Description string
	Archive     pulumi.Archive // from Build
	ArchiveHash string         // from Build

	MemoryMB       int
	TimeoutSeconds int
	Environment    pulumi.StringMap
	Tracing        bool   // X-Ray active tracing
	LogFormat      string // "JSON" or "Text"

	LogRetentionDays int                // cats:logRetentionDays
	LogsKeyArn       pulumi.StringInput // encrypts the function's log group

	RoleName        string
	RoleDescription string
	// Policy is the role's whole permission set; the function's own log
	// group, created first, is one of its resources.
	Policy func(logGroupArn pulumi.StringOutput) pulumi.StringOutput
}

// Function is a function with the resources it runs with.
type Function struct {
	Function *lambda.Function
	LogGroup pulumi.StringOutput // its name
	Policy   *iam.RolePolicy
}

// NewFunction registers a function of the project as name, with its log
// group (name-logs) and its own role (name-role, name-policy). The log
// group comes first, so Lambda never creates one without retention or
// encryption; the function waits for its permissions.
func NewFunction(ctx *pulumi.Context, name string, args FunctionArgs, opts ...pulumi.ResourceOption) (*Function, error) {
	logGroup, err := loggroup.New(ctx, name+"-logs", "/aws/lambda/"+args.Name, args.LogRetentionDays, args.LogsKeyArn, opts...)
	if err != nil {
		return nil, err
	}
	// Lambda documents no confused-deputy condition for an execution role's
	// trust (docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html),
	// and a condition on a key Lambda does not send would stop the function.
	role, err := iamrole.New(ctx, name+"-role", iamrole.Args{
		Name:        args.RoleName,
		Description: args.RoleDescription,
		Service:     "lambda.amazonaws.com",
		Policy:      args.Policy(logGroup.Arn),
		PolicyName:  name + "-policy",
	}, opts...)
	if err != nil {
		return nil, err
	}
	functionArgs := &lambda.FunctionArgs{
		Name:           pulumi.String(args.Name),
		Description:    pulumi.String(args.Description),
		Role:           role.Role.Arn,
		Runtime:        pulumi.String(Runtime),
		Architectures:  pulumi.StringArray{pulumi.String(Architecture)},
		Handler:        pulumi.String(Handler),
		Code:           args.Archive,
		SourceCodeHash: pulumi.String(args.ArchiveHash),
		MemorySize:     pulumi.Int(args.MemoryMB),
		Timeout:        pulumi.Int(args.TimeoutSeconds),
		Environment:    &lambda.FunctionEnvironmentArgs{Variables: args.Environment},
		LoggingConfig: &lambda.FunctionLoggingConfigArgs{
			LogFormat: pulumi.String(args.LogFormat),
			LogGroup:  logGroup.Name,
		},
	}
	if args.Tracing {
		functionArgs.TracingConfig = &lambda.FunctionTracingConfigArgs{Mode: pulumi.String("Active")}
	}
	function, err := lambda.NewFunction(ctx, name, functionArgs,
		slices.Concat(opts, []pulumi.ResourceOption{pulumi.DependsOn([]pulumi.Resource{logGroup, role.Policy})})...)
	if err != nil {
		return nil, fmt.Errorf("create the function %s: %w", args.Name, err)
	}
	return &Function{Function: function, LogGroup: logGroup.Name, Policy: role.Policy}, nil
}
