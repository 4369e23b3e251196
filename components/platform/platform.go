// Package platform wires the tiers into one component and is the program
// itself: main.go, the offline plan and the automation server all run Program,
// so they deploy exactly the same thing.
package platform

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/analytics"
	"github.com/cats-analytics/cats-analytics/components/api"
	"github.com/cats-analytics/cats-analytics/components/compute"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/database"
	"github.com/cats-analytics/cats-analytics/components/datalake"
	"github.com/cats-analytics/cats-analytics/components/edge"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
	"github.com/cats-analytics/cats-analytics/components/monitoring"
	"github.com/cats-analytics/cats-analytics/components/network"
	"github.com/cats-analytics/cats-analytics/components/security"
	"github.com/cats-analytics/cats-analytics/components/streaming"
)

// Type is the component's type token.
const Type = "cats:platform:Platform"

// CloudFrontRegion is where CloudFront's WAF ACLs and certificates must live.
const CloudFrontRegion = "us-east-1"

// Args configures the whole product for one stack.
type Args struct {
	Config    config.Config // validated by config.Parse
	AccountID string
}

// Platform is every tier of the product for one stack.
type Platform struct {
	pulumi.ResourceState

	Network    *network.Network
	Security   *security.Security
	DataLake   *datalake.DataLake
	Database   *database.Database
	Analytics  *analytics.Analytics
	Streaming  *streaming.Streaming
	Domain     *edge.Domain // nil when cats:domain is "none"
	CDN        *edge.CDN
	API        *api.API
	Compute    *compute.Compute
	Monitoring *monitoring.Monitoring

	// The platform's outputs, which Program also exports as the stack's
	// outputs: this list of tags is the only list of them.
	VPCID               pulumi.StringOutput `pulumi:"vpcId"`
	TrailArn            pulumi.StringOutput `pulumi:"trailArn"`
	DataKeyArn          pulumi.StringOutput `pulumi:"dataKeyArn"`
	RegionalWebACLArn   pulumi.StringOutput `pulumi:"regionalWebAclArn"`
	CloudFrontWebACLArn pulumi.StringOutput `pulumi:"cloudFrontWebAclArn"`

	DataLakeBucketName pulumi.StringOutput `pulumi:"dataLakeBucketName"`
	CatsInfoTableName  pulumi.StringOutput `pulumi:"catsInfoTableName"`
	RecordStreamName   pulumi.StringOutput `pulumi:"recordStreamName"`
	FirehoseName       pulumi.StringOutput `pulumi:"firehoseName"`
	AggregatorName     pulumi.StringOutput `pulumi:"aggregatorFunctionName"`
	GlueDatabaseName   pulumi.StringOutput `pulumi:"glueDatabaseName"`
	AthenaWorkgroup    pulumi.StringOutput `pulumi:"athenaWorkgroup"`
	// ZoneID is the hosted zone municipality stacks take by StackReference ("" without a domain).
	ZoneID        pulumi.StringOutput `pulumi:"zoneId"`
	AppURL        pulumi.StringOutput `pulumi:"appUrl"`
	APIURL        pulumi.StringOutput `pulumi:"apiUrl"`
	CDNURL        pulumi.StringOutput `pulumi:"cdnUrl"`
	AlarmTopicArn pulumi.StringOutput `pulumi:"alarmTopicArn"`
}

func (a *Args) check() error {
	c := tier.NewCheck("platform")
	c.Expect(a.Config.Stack != "" && a.Config.Environment != "", "Config must come from config.Parse")
	c.Require("AccountID", a.AccountID)
	return c.Err()
}

// NewPlatform registers the platform and its tiers. Every resource below it
// carries the stack's standard tags (naming.TagTransformation).
func NewPlatform(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Platform, error) {
	p := &Platform{}
	opts = append([]pulumi.ResourceOption{
		pulumi.Transformations([]pulumi.ResourceTransformation{naming.TagTransformation(args.Config.Tags())}),
	}, opts...)
	if err := tier.Register(ctx, Type, name, p, args.check, opts...); err != nil {
		return nil, err
	}
	w := wiring{ctx: ctx, name: name, c: args.Config, namer: args.Config.Namer(), accountID: args.AccountID, parent: pulumi.Parent(p)}
	if err := p.build(w); err != nil {
		return nil, err
	}
	p.setOutputs()
	if err := tier.RegisterOutputs(ctx, name, p); err != nil {
		return nil, err
	}
	return p, nil
}

// build creates the tiers in the order their inputs need: every step takes
// the tiers it reads as arguments. The CloudFront distribution of the data
// lake's published/ prefix comes before the data lake, whose one bucket
// policy (and, with SSE-KMS, the data key's policy) names it; it needs only
// the bucket's regional domain name, known from the stack's names.
func (p *Platform) build(w wiring) error {
	cloudFront, err := w.cloudFrontProvider()
	if err != nil {
		return err
	}
	env, err := w.environmentStack()
	if err != nil {
		return err
	}
	if p.Security, err = w.security(cloudFront, env); err != nil {
		return err
	}
	if p.Network, err = w.network(p.Security); err != nil {
		return err
	}
	if p.Domain, err = w.domain(cloudFront, env); err != nil {
		return err
	}
	if p.CDN, err = w.cdn(p.Security, p.Domain); err != nil {
		return err
	}
	if err := w.dataKeyPolicy(p.Security, p.CDN); err != nil {
		return err
	}
	if p.DataLake, err = w.dataLake(p.Security, p.CDN); err != nil {
		return err
	}
	if p.Database, err = w.database(p.Security); err != nil {
		return err
	}
	if p.Analytics, err = w.analytics(p.DataLake); err != nil {
		return err
	}
	if p.Streaming, err = w.streaming(p.Security, p.DataLake, p.Analytics); err != nil {
		return err
	}
	if p.API, err = w.api(p.Security, p.Database, p.Streaming); err != nil {
		return err
	}
	if p.Compute, err = w.compute(p.Security, p.Network, p.Domain); err != nil {
		return err
	}
	p.Monitoring, err = w.monitoring(p.Security, p.API, p.Compute, p.Streaming)
	return err
}

// setOutputs takes the platform's outputs from its tiers.
func (p *Platform) setOutputs() {
	p.VPCID = p.Network.VPCID
	p.TrailArn = p.Security.TrailArn
	p.DataKeyArn = p.Security.DataKeyArn
	p.RegionalWebACLArn = p.Security.RegionalWebACLArn
	p.CloudFrontWebACLArn = p.Security.CloudFrontWebACLArn
	p.DataLakeBucketName = p.DataLake.BucketName
	p.CatsInfoTableName = p.Database.TableName
	p.RecordStreamName = p.Streaming.StreamName
	p.FirehoseName = p.Streaming.FirehoseName
	p.AggregatorName = p.Streaming.AggregatorName
	p.GlueDatabaseName = p.Analytics.DatabaseName
	p.AthenaWorkgroup = p.Analytics.WorkgroupName
	p.ZoneID = pulumi.String("").ToStringOutput()
	if p.Domain != nil {
		p.ZoneID = p.Domain.ZoneID
	}
	p.AppURL = p.Compute.URL
	p.APIURL = p.API.InvokeURL
	p.CDNURL = p.CDN.URL
	p.AlarmTopicArn = p.Monitoring.AlarmTopicArn
}

// LoadConfig reads and validates the stack's configuration from the program's context.
func LoadConfig(ctx *pulumi.Context) (config.Config, error) {
	return config.Parse(ctx.Organization(), ctx.Project(), ctx.Stack(), ctx.GetConfig)
}

// Program is the Pulumi program: it validates the configuration before any
// resource is registered, builds the platform and exports what other stacks
// and the automation server read.
func Program(ctx *pulumi.Context) error {
	c, err := LoadConfig(ctx)
	if err != nil {
		return err
	}
	identity, err := aws.GetCallerIdentity(ctx, nil)
	if err != nil {
		return fmt.Errorf("look up the AWS account: %w", err)
	}
	p, err := NewPlatform(ctx, "cats", Args{Config: c, AccountID: identity.AccountId})
	if err != nil {
		return err
	}
	outputs, err := tier.Outputs(p)
	if err != nil {
		return err
	}
	// What other stacks and the automation server read: the platform's
	// outputs (shared municipality stacks read trailArn and zoneId from their
	// environment stack) and who the stack is for.
	ctx.Export("environment", pulumi.String(c.Environment))
	ctx.Export("municipalityCode", pulumi.String(c.MunicipalityCode))
	for name, output := range outputs {
		ctx.Export(name, output)
	}
	return nil
}
