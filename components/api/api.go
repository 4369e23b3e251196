// Package api is the api tier (seed §4 API Gateway): the REST API cats-api
// with IAM authorisation on every method, reads integrated directly with
// DynamoDB, writes through the write-path Lambda (functions/catsapi), and a
// stage with access logs, throttling, X-Ray and the regional WAF ACL.
package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/apigateway"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/wafv2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/iamrole"
	"github.com/cats-analytics/cats-analytics/components/internal/lambdapkg"
	"github.com/cats-analytics/cats-analytics/components/internal/loggroup"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
)

// Type is the component's type token.
const Type = "cats:api:Api"

// WriterPackage is the write path's main package, packaged by lambdapkg like
// every function of the project.
const WriterPackage = lambdapkg.Module + "/functions/catsapi/cmd/catsapi"

// StageName is the API's one stage.
const StageName = "v1"

// Defaults of the write-path function and the stage's throttling.
const (
	// DefaultMemoryMB: the write path does two small API calls per request.
	DefaultMemoryMB = 256
	// DefaultTimeoutSeconds stays under API Gateway's 29-second integration
	// timeout, so a slow call ends as the function's answer, not a gateway 504.
	DefaultTimeoutSeconds = 15
	DefaultRateLimit      = 50.0 // requests per second, steady
	DefaultBurstLimit     = 100
)

// Args configures the tier.
type Args struct {
	// Mandatory.
	Namer     naming.Namer
	AccountID string
	Region    string
	// The cats-info table and the stream the write path feeds (data tiers).
	TableName  pulumi.StringInput
	TableArn   pulumi.StringInput
	StreamName pulumi.StringInput
	StreamArn  pulumi.StringInput
	// DataKeyArn encrypts the table and the stream; the function and the
	// read integration need it to use them.
	DataKeyArn        pulumi.StringInput
	LogsKeyArn        pulumi.StringInput // log groups
	RegionalWebACLArn pulumi.StringInput // security tier, REGIONAL scope
	LogRetentionDays  int                // cats:logRetentionDays (config.Parse)

	// Defaulted.
	MemoryMB       int     // DefaultMemoryMB when zero
	TimeoutSeconds int     // DefaultTimeoutSeconds when zero
	RateLimit      float64 // DefaultRateLimit when zero
	BurstLimit     int     // DefaultBurstLimit when zero

	// Optional.
	// MunicipalityCode limits a municipality stack's API to that municipality's records.
	MunicipalityCode string
	// ManageAccountSettings sets API Gateway's account-wide CloudWatch Logs role,
	// without which no stage can write access logs. It is one setting per
	// account and region, so only the stack that owns the account's baseline sets it.
	ManageAccountSettings bool
}

// API is the api tier.
type API struct {
	pulumi.ResourceState

	RestAPIID    pulumi.StringOutput `pulumi:"restApiId"`
	RestAPIName  pulumi.StringOutput `pulumi:"restApiName"`
	StageName    pulumi.StringOutput `pulumi:"stageName"`
	StageArn     pulumi.StringOutput `pulumi:"stageArn"`
	InvokeURL    pulumi.StringOutput `pulumi:"invokeUrl"`
	FunctionName pulumi.StringOutput `pulumi:"functionName"`
	FunctionArn  pulumi.StringOutput `pulumi:"functionArn"`
}

func (a *Args) check() error {
	c := tier.NewAccountCheck("api", a.Namer, a.AccountID, a.Region)
	c.Require("TableName", a.TableName)
	c.Require("TableArn", a.TableArn)
	c.Require("StreamName", a.StreamName)
	c.Require("StreamArn", a.StreamArn)
	c.Require("DataKeyArn", a.DataKeyArn)
	c.Require("LogsKeyArn", a.LogsKeyArn)
	c.Require("RegionalWebACLArn", a.RegionalWebACLArn)
	if a.MemoryMB == 0 {
		a.MemoryMB = DefaultMemoryMB
	}
	if a.TimeoutSeconds == 0 {
		a.TimeoutSeconds = DefaultTimeoutSeconds
	}
	c.Expect(a.TimeoutSeconds <= 28,
		fmt.Sprintf("TimeoutSeconds %d exceeds API Gateway's 29-second integration timeout", a.TimeoutSeconds))
	if a.RateLimit == 0 {
		a.RateLimit = DefaultRateLimit
	}
	if a.BurstLimit == 0 {
		a.BurstLimit = DefaultBurstLimit
	}
	c.Expect(a.RateLimit >= 0 && a.BurstLimit >= 0, "RateLimit and BurstLimit must be positive")
	return c.Err()
}

// route is one method of the API.
type route struct {
	method   string
	resource string // "/cats" or "/cats/{id}"
	read     bool   // integrated with DynamoDB; writes go to the Lambda
}

// Routes are the API's methods (seed §4: GET, POST, PUT, DELETE), every one IAM-authorised.
var Routes = []route{
	{"GET", "/cats", true},
	{"POST", "/cats", false},
	{"GET", "/cats/{id}", true},
	{"PUT", "/cats/{id}", false},
	{"DELETE", "/cats/{id}", false},
}

// NewAPI registers the api tier.
func NewAPI(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*API, error) {
	// Built before anything is registered: a package that does not compile
	// fails the program instead of leaving a half-registered tier.
	code, codeHash, err := lambdapkg.Build(WriterPackage)
	if err != nil {
		return nil, fmt.Errorf("api: package the write path: %w", err)
	}
	a := &API{}
	if err := tier.Register(ctx, Type, name, a, args.check, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(a)
	writer, err := writeFunction(ctx, name, args, code, codeHash, parent)
	if err != nil {
		return nil, err
	}
	restAPI, integrations, err := newRestAPI(ctx, name, args, writer, parent)
	if err != nil {
		return nil, err
	}
	stage, err := newStage(ctx, name, args, restAPI, integrations, parent)
	if err != nil {
		return nil, err
	}
	a.RestAPIID = restAPI.ID().ToStringOutput()
	a.RestAPIName = restAPI.Name
	a.StageName = stage.StageName
	a.StageArn = stage.Arn
	a.InvokeURL = stage.InvokeUrl
	a.FunctionName = writer.Name
	a.FunctionArn = writer.Arn
	if err := tier.RegisterOutputs(ctx, name, a); err != nil {
		return nil, err
	}
	return a, nil
}

func apiName(args Args) string { return args.Namer.PerStack("cats-api") }

// newRestAPI is the REST API with its two paths and every route of Routes,
// and returns what a deployment of it must wait for.
func newRestAPI(ctx *pulumi.Context, name string, args Args, writer *lambda.Function, parent pulumi.ResourceOption) (*apigateway.RestApi, []pulumi.Resource, error) {
	restAPI, err := apigateway.NewRestApi(ctx, name+"-rest-api", &apigateway.RestApiArgs{
		Name:        pulumi.String(apiName(args)),
		Description: pulumi.String("自治体猫データ分析プロダクト v18: cat records (seed §4 API Gateway)"),
		EndpointConfiguration: &apigateway.RestApiEndpointConfigurationArgs{
			Types: pulumi.String("REGIONAL"), // the WAF ACL is regional
		},
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("create the REST API: %w", err)
	}
	collection, err := apigateway.NewResource(ctx, name+"-cats", &apigateway.ResourceArgs{
		RestApi: restAPI.ID(), ParentId: restAPI.RootResourceId, PathPart: pulumi.String("cats"),
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("create the path /cats: %w", err)
	}
	item, err := apigateway.NewResource(ctx, name+"-cats-id", &apigateway.ResourceArgs{
		RestApi: restAPI.ID(), ParentId: collection.ID(), PathPart: pulumi.String("{id}"),
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("create the path /cats/{id}: %w", err)
	}
	paths := map[string]*apigateway.Resource{"/cats": collection, "/cats/{id}": item}
	readRole, err := dynamoDBReadRole(ctx, name, args, parent)
	if err != nil {
		return nil, nil, err
	}
	var integrations []pulumi.Resource
	for _, r := range Routes {
		in := routeInputs{restAPI: restAPI, path: paths[r.resource], readRole: readRole, writer: writer}
		created, err := newRoute(ctx, name, args, r, in, parent)
		if err != nil {
			return nil, nil, fmt.Errorf("route %s %s: %w", r.method, r.resource, err)
		}
		integrations = append(integrations, created...)
	}
	return restAPI, integrations, nil
}

// routeInputs are what every route is built on.
type routeInputs struct {
	restAPI  *apigateway.RestApi
	path     *apigateway.Resource
	readRole *iam.Role        // reads go to DynamoDB with it
	writer   *lambda.Function // writes go to it
}

// newRoute is one IAM-authorised method and its integration.
func newRoute(ctx *pulumi.Context, name string, args Args, r route, in routeInputs, parent pulumi.ResourceOption) ([]pulumi.Resource, error) {
	logical := fmt.Sprintf("%s-%s-%s", name, strings.ToLower(r.method), routeSlug(r.resource))
	methodArgs := &apigateway.MethodArgs{
		RestApi:       in.restAPI.ID(),
		ResourceId:    in.path.ID(),
		HttpMethod:    pulumi.String(r.method),
		Authorization: pulumi.String("AWS_IAM"), // seed §4 API Gateway: 認証 IAM
	}
	if r.resource == "/cats/{id}" {
		methodArgs.RequestParameters = pulumi.BoolMap{"method.request.path.id": pulumi.Bool(true)}
	}
	method, err := apigateway.NewMethod(ctx, logical, methodArgs, parent)
	if err != nil {
		return nil, fmt.Errorf("create the method: %w", err)
	}
	var created []pulumi.Resource
	if r.read {
		created, err = readIntegration(ctx, logical, r, in, method, args, parent)
	} else {
		created, err = writeIntegration(ctx, logical, r, in, method, parent)
	}
	if err != nil {
		return nil, err
	}
	return append([]pulumi.Resource{method}, created...), nil
}

// newStage deploys the API to its one stage, with access logs, throttling,
// X-Ray and the regional WAF ACL.
func newStage(ctx *pulumi.Context, name string, args Args, restAPI *apigateway.RestApi, integrations []pulumi.Resource, parent pulumi.ResourceOption) (*apigateway.Stage, error) {
	accessLogs, err := loggroup.New(ctx, name+"-access-logs", "/aws/apigateway/"+apiName(args)+"/access", args.LogRetentionDays, args.LogsKeyArn, parent)
	if err != nil {
		return nil, fmt.Errorf("stage access logs: %w", err)
	}
	// API Gateway writes the stage's execution logs (LoggingLevel below) to
	// a group it names after the API and the stage and would otherwise
	// create itself, never expiring and unencrypted: declared first, it is
	// the program's, with the logs key and cats:logRetentionDays.
	executionLogs, err := loggroup.NewNamed(ctx, name+"-execution-logs", ExecutionLogGroupName(restAPI.ID()),
		args.LogRetentionDays, args.LogsKeyArn, parent)
	if err != nil {
		return nil, fmt.Errorf("stage execution logs: %w", err)
	}
	stageDeps := []pulumi.Resource{accessLogs, executionLogs}
	if args.ManageAccountSettings {
		account, err := accountSettings(ctx, name, args, parent)
		if err != nil {
			return nil, err
		}
		stageDeps = append(stageDeps, account)
	}
	// A new deployment whenever the API's definition changes; the stage then moves to it.
	deployment, err := apigateway.NewDeployment(ctx, name+"-deployment", &apigateway.DeploymentArgs{
		RestApi:     restAPI.ID(),
		Description: pulumi.String("cats-api " + args.Namer.Stack()),
		Triggers: pulumi.StringMap{
			"definition": args.TableName.ToStringOutput().ApplyT(definitionHash).(pulumi.StringOutput),
		},
	}, parent, pulumi.DependsOn(integrations))
	if err != nil {
		return nil, fmt.Errorf("create the deployment: %w", err)
	}
	stage, err := apigateway.NewStage(ctx, name+"-stage", &apigateway.StageArgs{
		RestApi:            restAPI.ID(),
		Deployment:         deployment.ID(),
		StageName:          pulumi.String(StageName),
		XrayTracingEnabled: pulumi.Bool(true),
		AccessLogSettings: &apigateway.StageAccessLogSettingsArgs{
			DestinationArn: accessLogs.Arn,
			Format:         pulumi.String(accessLogFormat),
		},
	}, parent, pulumi.DependsOn(stageDeps))
	if err != nil {
		return nil, fmt.Errorf("create the stage %s: %w", StageName, err)
	}
	if err := protectStage(ctx, name, args, restAPI, stage, stageDeps, parent); err != nil {
		return nil, err
	}
	return stage, nil
}

// ExecutionLogGroupName is the log group API Gateway writes the stage's
// execution logs to: API-Gateway-Execution-Logs_{restApiId}/{stage}.
func ExecutionLogGroupName(restAPIID pulumi.IDOutput) pulumi.StringOutput {
	return pulumi.Sprintf("API-Gateway-Execution-Logs_%s/%s", restAPIID, StageName)
}

// protectStage throttles every method of the stage and puts it behind the regional WAF ACL.
func protectStage(ctx *pulumi.Context, name string, args Args, restAPI *apigateway.RestApi, stage *apigateway.Stage, stageDeps []pulumi.Resource, parent pulumi.ResourceOption) error {
	if _, err := apigateway.NewMethodSettings(ctx, name+"-stage-settings", &apigateway.MethodSettingsArgs{
		RestApi:    restAPI.ID(),
		StageName:  stage.StageName,
		MethodPath: pulumi.String("*/*"), // every method
		Settings: &apigateway.MethodSettingsSettingsArgs{
			ThrottlingRateLimit:  pulumi.Float64(args.RateLimit),
			ThrottlingBurstLimit: pulumi.Int(args.BurstLimit),
			MetricsEnabled:       pulumi.Bool(true),
			LoggingLevel:         pulumi.String("ERROR"),
			DataTraceEnabled:     pulumi.Bool(false), // full bodies would put residents' reports in the logs
		},
	}, parent, pulumi.DependsOn(stageDeps)); err != nil {
		return fmt.Errorf("throttle the stage: %w", err)
	}
	if _, err := wafv2.NewWebAclAssociation(ctx, name+"-waf", &wafv2.WebAclAssociationArgs{
		ResourceArn: stage.Arn,
		WebAclArn:   args.RegionalWebACLArn,
	}, parent); err != nil {
		return fmt.Errorf("put the stage behind the web ACL: %w", err)
	}
	return nil
}

func routeSlug(resource string) string {
	if resource == "/cats/{id}" {
		return "cat"
	}
	return "cats"
}

// definitionHash identifies the API's definition: its routes and templates for a table.
func definitionHash(table string) string {
	parts := []string{table, GetItemRequestTemplate(table), ListRequestTemplate(table), GetItemResponseTemplate(), ListResponseTemplate()}
	for _, r := range Routes {
		parts = append(parts, fmt.Sprintf("%s %s read=%t auth=AWS_IAM", r.method, r.resource, r.read))
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:])
}

// writeFunction is the write path's Lambda with its own role and log group.
func writeFunction(ctx *pulumi.Context, name string, args Args, code pulumi.Archive, codeHash string, parent pulumi.ResourceOption) (*lambda.Function, error) {
	env := pulumi.StringMap{"TABLE_NAME": args.TableName, "STREAM_NAME": args.StreamName}
	if args.MunicipalityCode != "" {
		env["MUNICIPALITY_CODE"] = pulumi.String(args.MunicipalityCode)
	}
	fnName := args.Namer.PerStack("cats-api-writer")
	fn, err := lambdapkg.NewFunction(ctx, name+"-writer", lambdapkg.FunctionArgs{
		Name:             fnName,
		Description:      "cats-api write path: POST, PUT, DELETE of cat records",
		Archive:          code,
		ArchiveHash:      codeHash,
		MemoryMB:         args.MemoryMB,
		TimeoutSeconds:   args.TimeoutSeconds,
		Environment:      env,
		Tracing:          true,
		LogFormat:        "JSON",
		LogRetentionDays: args.LogRetentionDays,
		LogsKeyArn:       args.LogsKeyArn,
		RoleName:         fnName,
		RoleDescription:  "cats-api write path: cats-info items and the data stream, nothing else",
		Policy: func(logGroupArn pulumi.StringOutput) pulumi.StringOutput {
			return WriterPolicy(logGroupArn, args.TableArn, args.StreamArn, args.DataKeyArn)
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("write path: %w", err)
	}
	return fn.Function, nil
}

// WriterPolicy is the write path's whole permission set: its own log group,
// three item operations on cats-info, putting records on the stream, the data
// key for both, and X-Ray.
func WriterPolicy(logGroupArn, tableArn, streamArn, dataKeyArn pulumi.StringInput) pulumi.StringOutput {
	return iamdoc.Document(
		iamdoc.Statement{
			Sid:       "OwnLogs",
			Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resources: []pulumi.StringInput{pulumi.Sprintf("%s:*", logGroupArn)},
		},
		iamdoc.Statement{
			Sid:       "CatsInfoItems",
			Actions:   []string{"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"},
			Resources: []pulumi.StringInput{tableArn},
		},
		iamdoc.Statement{
			Sid:       "DataStreamPut",
			Actions:   []string{"kinesis:PutRecord"},
			Resources: []pulumi.StringInput{streamArn},
		},
		iamdoc.Statement{
			Sid:       "DataKey",
			Actions:   []string{"kms:Decrypt", "kms:GenerateDataKey"},
			Resources: []pulumi.StringInput{dataKeyArn},
		},
		iamdoc.TracingStatement(),
	)
}

// dynamoDBReadRole is the role API Gateway assumes to read cats-info for GET.
func dynamoDBReadRole(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (*iam.Role, error) {
	// API Gateway documents its integration credentials' trust without a
	// condition (docs.aws.amazon.com/apigateway/latest/developerguide/integrating-api-with-aws-services-s3.html,
	// "Set up IAM permissions for the API"): it does not document sending
	// aws:SourceArn or aws:SourceAccount when it assumes the role.
	role, err := iamrole.New(ctx, name+"-read-role", iamrole.Args{
		Name:        args.Namer.PerStack("cats-api-read"),
		Description: "cats-api GET: read cats-info, nothing else",
		Service:     "apigateway.amazonaws.com",
		Policy: iamdoc.Document(
			iamdoc.Statement{
				Sid:       "CatsInfoRead",
				Actions:   []string{"dynamodb:Query", "dynamodb:Scan"},
				Resources: []pulumi.StringInput{args.TableArn},
			},
			iamdoc.Statement{
				Sid:       "DataKeyDecrypt",
				Actions:   []string{"kms:Decrypt"},
				Resources: []pulumi.StringInput{args.DataKeyArn},
			},
		),
		PolicyName: name + "-read-policy",
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("read path: %w", err)
	}
	return role.Role, nil
}

// readIntegration sends a GET straight to DynamoDB through a mapping template.
func readIntegration(ctx *pulumi.Context, logical string, r route, in routeInputs, method *apigateway.Method, args Args, parent pulumi.ResourceOption) ([]pulumi.Resource, error) {
	action, request, response := "Query", GetItemRequestTemplate, GetItemResponseTemplate()
	if r.resource == "/cats" {
		action, request, response = "Scan", ListRequestTemplate, ListResponseTemplate()
	}
	integration, err := apigateway.NewIntegration(ctx, logical+"-integration", &apigateway.IntegrationArgs{
		RestApi:               in.restAPI.ID(),
		ResourceId:            in.path.ID(),
		HttpMethod:            method.HttpMethod,
		Type:                  pulumi.String("AWS"),
		IntegrationHttpMethod: pulumi.String("POST"), // DynamoDB's API is POST
		Uri:                   pulumi.String(fmt.Sprintf("arn:aws:apigateway:%s:dynamodb:action/%s", args.Region, action)),
		Credentials:           in.readRole.Arn,
		// Only the template's request reaches DynamoDB, never the client's body.
		PassthroughBehavior: pulumi.String("NEVER"),
		RequestTemplates: pulumi.StringMap{
			"application/json": args.TableName.ToStringOutput().ApplyT(request).(pulumi.StringOutput),
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the DynamoDB integration: %w", err)
	}
	answers := []readAnswer{
		{"200", "", response},
		// DynamoDB's 400s are a bad start key or a refused request; its 500s are its own.
		{"400", `4\d{2}`, `{"error": "the request could not be served: check startId and startTimestamp"}`},
		{"503", `5\d{2}`, `{"error": "cats-info is unavailable: retry later"}`},
	}
	if r.resource == "/cats/{id}" {
		// The 200 template turns an empty Items into 404, which needs its method response.
		answers = append(answers, readAnswer{status: "404"})
	}
	created := []pulumi.Resource{integration}
	for _, ans := range answers {
		answered, err := readResponse(ctx, logical, in, method, integration, ans, parent)
		if err != nil {
			return nil, fmt.Errorf("answer %s: %w", ans.status, err)
		}
		created = append(created, answered...)
	}
	return created, nil
}

// readAnswer is one status a read answers with: a DynamoDB status pattern
// mapped to it and the template of its body. The 404 has no integration
// response of its own: the 200 template sets it.
type readAnswer struct {
	status, pattern, template string
}

// readResponse is a read's method response for one status and, unless the
// 200 template sets that status itself, its integration response.
func readResponse(ctx *pulumi.Context, logical string, in routeInputs, method *apigateway.Method, integration *apigateway.Integration, ans readAnswer, parent pulumi.ResourceOption) ([]pulumi.Resource, error) {
	mr, err := apigateway.NewMethodResponse(ctx, logical+"-response-"+ans.status, &apigateway.MethodResponseArgs{
		RestApi:    in.restAPI.ID(),
		ResourceId: in.path.ID(),
		HttpMethod: method.HttpMethod,
		StatusCode: pulumi.String(ans.status),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the method response: %w", err)
	}
	if ans.template == "" {
		return []pulumi.Resource{mr}, nil
	}
	irArgs := &apigateway.IntegrationResponseArgs{
		RestApi:           in.restAPI.ID(),
		ResourceId:        in.path.ID(),
		HttpMethod:        method.HttpMethod,
		StatusCode:        mr.StatusCode,
		ResponseTemplates: pulumi.StringMap{"application/json": pulumi.String(ans.template)},
	}
	if ans.pattern != "" {
		irArgs.SelectionPattern = pulumi.String(ans.pattern)
	}
	ir, err := apigateway.NewIntegrationResponse(ctx, logical+"-integration-response-"+ans.status, irArgs,
		parent, pulumi.DependsOn([]pulumi.Resource{integration}))
	if err != nil {
		return nil, fmt.Errorf("create the integration response: %w", err)
	}
	return []pulumi.Resource{mr, ir}, nil
}

// writeIntegration hands a write to the Lambda (proxy integration) and lets
// API Gateway invoke it for that method and path only.
func writeIntegration(ctx *pulumi.Context, logical string, r route, in routeInputs, method *apigateway.Method, parent pulumi.ResourceOption) ([]pulumi.Resource, error) {
	integration, err := apigateway.NewIntegration(ctx, logical+"-integration", &apigateway.IntegrationArgs{
		RestApi:               in.restAPI.ID(),
		ResourceId:            in.path.ID(),
		HttpMethod:            method.HttpMethod,
		Type:                  pulumi.String("AWS_PROXY"),
		IntegrationHttpMethod: pulumi.String("POST"), // Lambda's Invoke is POST whatever the client's method
		Uri:                   in.writer.InvokeArn,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the Lambda integration: %w", err)
	}
	path := strings.ReplaceAll(r.resource, "{id}", "*")
	permission, err := lambda.NewPermission(ctx, logical+"-invoke", &lambda.PermissionArgs{
		Function:  in.writer.Name,
		Action:    pulumi.String("lambda:InvokeFunction"),
		Principal: pulumi.String("apigateway.amazonaws.com"),
		SourceArn: pulumi.Sprintf("%s/*/%s%s", in.restAPI.ExecutionArn, r.method, path),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("let API Gateway invoke the write path: %w", err)
	}
	return []pulumi.Resource{integration, permission}, nil
}

// accountSettings gives API Gateway (account-wide) the role it writes CloudWatch Logs with.
func accountSettings(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (*apigateway.Account, error) {
	// API Gateway's account-level CloudWatch Logs role is documented without a
	// condition (docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html);
	// a condition on a key it does not send would deny it the role (IAM
	// evaluates StringEquals on a missing key as false).
	role, err := iamrole.New(ctx, name+"-cloudwatch-role", iamrole.Args{
		Name:        args.Namer.PerStack("cats-apigateway-logs"),
		Description: "API Gateway (account-wide) writes access and execution logs",
		Service:     "apigateway.amazonaws.com",
		Managed: []iamrole.Managed{{
			Name:      name + "-cloudwatch-role-managed",
			PolicyArn: "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
		}},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("API Gateway's CloudWatch Logs role: %w", err)
	}
	account, err := apigateway.NewAccount(ctx, name+"-account", &apigateway.AccountArgs{
		CloudwatchRoleArn: role.Role.Arn,
	}, parent, pulumi.DependsOn([]pulumi.Resource{role.Attachments[0]}))
	if err != nil {
		return nil, fmt.Errorf("set API Gateway's CloudWatch Logs role: %w", err)
	}
	return account, nil
}
