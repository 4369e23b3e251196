// Package platform wires the tiers into one component and is the program
// itself: main.go, the offline plan and the automation server all run Program,
// so they deploy exactly the same thing.
package platform

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/analytics"
	"github.com/cats-analytics/cats-analytics/components/api"
	"github.com/cats-analytics/cats-analytics/components/compute"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/database"
	"github.com/cats-analytics/cats-analytics/components/datalake"
	"github.com/cats-analytics/cats-analytics/components/edge"
	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
	"github.com/cats-analytics/cats-analytics/components/monitoring"
	"github.com/cats-analytics/cats-analytics/components/network"
	"github.com/cats-analytics/cats-analytics/components/security"
	"github.com/cats-analytics/cats-analytics/components/streaming"
)

// Type is the component's type token.
const Type = "cats:platform:Platform"

// CloudFrontRegion is where CloudFront's WAF ACLs, certificates and log
// deliveries must live.
const CloudFrontRegion = security.CloudFrontRegion

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
		return fmt.Errorf("security tier: %w", err)
	}
	if p.Network, err = w.network(p.Security); err != nil {
		return fmt.Errorf("network tier: %w", err)
	}
	if p.Domain, err = w.domain(cloudFront, env); err != nil {
		return fmt.Errorf("edge tier (domain): %w", err)
	}
	if p.CDN, err = w.cdn(cloudFront, p.Security, p.Domain); err != nil {
		return fmt.Errorf("edge tier (cdn): %w", err)
	}
	if err := w.dataKeyPolicy(p.Security, p.CDN); err != nil {
		return err
	}
	if p.DataLake, err = w.dataLake(p.Security, p.CDN); err != nil {
		return fmt.Errorf("data lake tier: %w", err)
	}
	if p.Database, err = w.database(p.Security); err != nil {
		return fmt.Errorf("database tier: %w", err)
	}
	if p.Analytics, err = w.analytics(p.DataLake); err != nil {
		return fmt.Errorf("analytics tier: %w", err)
	}
	if p.Streaming, err = w.streaming(p.Security, p.DataLake, p.Analytics); err != nil {
		return fmt.Errorf("streaming tier: %w", err)
	}
	if p.API, err = w.api(p.Security, p.Database, p.Streaming); err != nil {
		return fmt.Errorf("api tier: %w", err)
	}
	if p.Compute, err = w.compute(p.Security, p.Network, p.Domain); err != nil {
		return fmt.Errorf("compute tier: %w", err)
	}
	if p.Monitoring, err = w.monitoring(p.Security, p.API, p.Compute, p.Streaming); err != nil {
		return fmt.Errorf("monitoring tier: %w", err)
	}
	return nil
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

// wiring creates the tiers of one platform from the stack's configuration:
// one step per tier, which takes the tiers it reads as arguments.
type wiring struct {
	ctx       *pulumi.Context
	name      string // the platform's name, prefix of its tiers' names
	c         config.Config
	namer     naming.Namer
	accountID string
	parent    pulumi.ResourceOption
}

// cloudFrontProvider is an AWS provider in us-east-1, where CloudFront's web
// ACL and certificate must live.
func (w wiring) cloudFrontProvider() (*aws.Provider, error) {
	provider, err := aws.NewProvider(w.ctx, w.name+"-"+CloudFrontRegion, &aws.ProviderArgs{
		Region: pulumi.String(CloudFrontRegion),
	}, w.parent)
	if err != nil {
		return nil, fmt.Errorf("create the %s provider: %w", CloudFrontRegion, err)
	}
	return provider, nil
}

// environmentStack is the environment stack a shared-tenancy municipality
// stack takes its trail and zone from; nil where the stack owns its baseline.
func (w wiring) environmentStack() (*pulumi.StackReference, error) {
	if w.c.OwnsBaseline() {
		return nil, nil
	}
	env, err := pulumi.NewStackReference(w.ctx, w.name+"-environment", &pulumi.StackReferenceArgs{
		Name: pulumi.String(w.c.EnvironmentStack),
	}, w.parent)
	if err != nil {
		return nil, fmt.Errorf("reference environment stack %s: %w", w.c.EnvironmentStack, err)
	}
	return env, nil
}

func (w wiring) security(cloudFront pulumi.ProviderResource, env *pulumi.StackReference) (*security.Security, error) {
	var lakes []string
	if w.c.OwnsBaseline() {
		var err error
		// The trail records the object events of the data lakes of its account.
		if lakes, err = datalake.ObjectARNPrefixes(w.namer, !w.c.MunicipalityStack); err != nil {
			return nil, fmt.Errorf("name the data lake bucket: %w", err)
		}
	}
	args := security.Args{
		DataLakeObjectARNPrefixes: lakes,
		Namer:                     w.namer,
		AccountID:                 w.accountID,
		Region:                    w.c.Region,
		CloudFrontProvider:        cloudFront,
		LogRetentionDays:          w.c.Security.LogRetentionDays,
		WAFRateLimit:              w.c.Security.WAFRateLimit,
		OwnsBaseline:              w.c.OwnsBaseline(),
		Prod:                      w.c.IsProd(),
		// With SSE-KMS the data key's policy names the CloudFront
		// distribution, which needs this tier's web ACL: dataKeyPolicy.
		SeparateDataKeyPolicy: w.c.DataLake.Encryption == config.EncryptionKMS,
	}
	if env != nil {
		args.EnvironmentTrailArn = env.GetStringOutput(pulumi.String("trailArn"))
	}
	return security.NewSecurity(w.ctx, w.name+"-security", args, w.parent)
}

func (w wiring) network(sec *security.Security) (*network.Network, error) {
	return network.NewNetwork(w.ctx, w.name+"-network", network.Args{
		Namer:            w.namer,
		AccountID:        w.accountID,
		Region:           w.c.Region,
		Network:          w.c.Network,
		LogsKeyArn:       sec.LogsKeyArn,
		LogRetentionDays: w.c.Security.LogRetentionDays,
		ContainerPort:    w.c.Compute.ContainerPort,
	}, w.parent)
}

// domain is the stack's names and certificates; nil without cats:domain.
func (w wiring) domain(cloudFront pulumi.ProviderResource, env *pulumi.StackReference) (*edge.Domain, error) {
	if w.c.Edge.Domain == "" {
		return nil, nil
	}
	args := edge.DomainArgs{
		Namer:              w.namer,
		Domain:             w.c.Edge.Domain,
		CloudFrontProvider: cloudFront,
		OwnsZone:           w.c.OwnsBaseline(),
		MunicipalityCode:   w.c.MunicipalityCode,
		MunicipalityStack:  w.c.MunicipalityStack,
		Prod:               w.c.IsProd(),
	}
	if env != nil {
		args.EnvironmentZoneID = env.GetStringOutput(pulumi.String("zoneId"))
	}
	return edge.NewDomain(w.ctx, w.name+"-domain", args, w.parent)
}

// cdn is the distribution of the data lake's published/ prefix. Its origin
// is the data lake bucket's regional domain name, known from the stack's
// names, so it comes before the data lake, whose bucket policy names it.
func (w wiring) cdn(cloudFront pulumi.ProviderResource, sec *security.Security, domain *edge.Domain) (*edge.CDN, error) {
	origin, err := datalake.RegionalDomainName(w.namer, w.c.Region)
	if err != nil {
		return nil, fmt.Errorf("name the data lake bucket: %w", err)
	}
	args := edge.CDNArgs{
		Namer:                      w.namer,
		DataLakeRegionalDomainName: pulumi.String(origin),
		CloudFrontWebACLArn:        sec.CloudFrontWebACLArn,
		DefaultTTLSeconds:          w.c.Edge.DefaultTTLSeconds,
		CloudFrontProvider:         cloudFront,
		LogsKeyArn:                 sec.CloudFrontLogsKeyArn,
		LogRetentionDays:           w.c.Security.LogRetentionDays,
	}
	if domain != nil {
		args.Domain = &edge.SiteDomain{ZoneID: domain.ZoneID, Hostname: domain.SiteHost, CertificateArn: domain.SiteCertificateArn}
	}
	return edge.NewCDN(w.ctx, w.name+"-cdn", args, w.parent)
}

// dataKeyPolicy writes the data key's policy with cats:dataLakeEncryption:
// aws:kms (security.Args.SeparateDataKeyPolicy): the tier's own statements
// and the distribution's right to decrypt published objects, without which
// S3 does not decrypt them for it. It is the security tier's resource, and
// a child of it, though only the platform can write it.
func (w wiring) dataKeyPolicy(sec *security.Security, cdn *edge.CDN) error {
	if w.c.DataLake.Encryption != config.EncryptionKMS {
		return nil
	}
	statements := append(security.DataKeyStatements(w.accountID), edge.PublishedDecryptStatement(cdn.DistributionArn))
	if _, err := kms.NewKeyPolicy(w.ctx, w.name+"-security-data-key-policy", &kms.KeyPolicyArgs{
		KeyId:  sec.DataKey.KeyId,
		Policy: iamdoc.Document(statements...),
	}, pulumi.Parent(sec)); err != nil {
		return fmt.Errorf("security tier (data key policy): %w", err)
	}
	return nil
}

func (w wiring) dataLake(sec *security.Security, cdn *edge.CDN) (*datalake.DataLake, error) {
	return datalake.NewDataLake(w.ctx, w.name+"-datalake", datalake.Args{
		Namer:      w.namer,
		AccountID:  w.accountID,
		Encryption: w.c.DataLake.Encryption,
		DataKeyArn: sec.DataKeyArn,
		Retain:     w.c.IsProd(),
		// The distribution, and no other, reads published/ (DESIGN.md deviation 4).
		PublishedReaderArn: cdn.DistributionArn,
	}, w.parent)
}

func (w wiring) database(sec *security.Security) (*database.Database, error) {
	return database.NewDatabase(w.ctx, w.name+"-database", database.Args{
		Namer:      w.namer,
		DataKeyArn: sec.DataKeyArn,
		Prod:       w.c.IsProd(),
	}, w.parent)
}

// lakeKey is the data lake's key with cats:dataLakeEncryption: aws:kms, else nil.
func (w wiring) lakeKey(lake *datalake.DataLake) pulumi.StringInput {
	if w.c.DataLake.Encryption == config.EncryptionKMS {
		return lake.KMSKeyArn
	}
	return nil
}

func (w wiring) analytics(lake *datalake.DataLake) (*analytics.Analytics, error) {
	return analytics.NewAnalytics(w.ctx, w.name+"-analytics", analytics.Args{
		Namer:               w.namer,
		AccountID:           w.accountID,
		Region:              w.c.Region,
		DataLakeBucket:      lake.BucketName,
		DataLakeArn:         lake.BucketArn,
		DataLakeKMSKey:      w.lakeKey(lake),
		Encryption:          w.c.DataLake.Encryption,
		MunicipalityCode:    w.c.MunicipalityCode,
		Prod:                w.c.IsProd(),
		QuickSightEnabled:   w.c.Analytics.QuickSightEnabled,
		QuickSightPrincipal: w.c.Analytics.QuickSightPrincipal,
	}, w.parent)
}

// streaming converts records to Parquet with the analytics tier's Glue table.
func (w wiring) streaming(sec *security.Security, lake *datalake.DataLake, catalog *analytics.Analytics) (*streaming.Streaming, error) {
	return streaming.NewStreaming(w.ctx, w.name+"-streaming", streaming.Args{
		Namer:                 w.namer,
		AccountID:             w.accountID,
		Region:                w.c.Region,
		DataKeyArn:            sec.DataKeyArn,
		LogsKeyArn:            sec.LogsKeyArn,
		DataLakeBucket:        lake.BucketName,
		DataLakeArn:           lake.BucketArn,
		DataLakeKMSKey:        w.lakeKey(lake),
		GlueDatabaseName:      catalog.DatabaseName,
		GlueTableName:         catalog.TableName,
		BufferSizeMB:          w.c.Streaming.BufferSizeMB,
		BufferIntervalSeconds: w.c.Streaming.BufferIntervalSeconds,
		WindowSeconds:         w.c.Streaming.AggregationWindowSeconds,
		MemoryMB:              w.c.Functions.MemoryMB,
		TimeoutSeconds:        w.c.Functions.TimeoutSeconds,
		LogRetentionDays:      w.c.Security.LogRetentionDays,
		Prod:                  w.c.IsProd(),
	}, w.parent)
}

// api is the REST API on cats-info and the record stream.
func (w wiring) api(sec *security.Security, db *database.Database, records *streaming.Streaming) (*api.API, error) {
	args := api.Args{
		Namer:             w.namer,
		AccountID:         w.accountID,
		Region:            w.c.Region,
		TableName:         db.TableName,
		TableArn:          db.TableArn,
		StreamName:        records.StreamName,
		StreamArn:         records.StreamArn,
		DataKeyArn:        sec.DataKeyArn,
		LogsKeyArn:        sec.LogsKeyArn,
		RegionalWebACLArn: sec.RegionalWebACLArn,
		LogRetentionDays:  w.c.Security.LogRetentionDays,
		// API Gateway's CloudWatch Logs role is one setting per account and
		// region: the stack that owns the account's baseline sets it.
		ManageAccountSettings: w.c.OwnsBaseline(),
	}
	if w.c.MunicipalityStack {
		args.MunicipalityCode = w.c.MunicipalityCode // a municipality stack's API takes its own records only
	}
	return api.NewAPI(w.ctx, w.name+"-api", args, w.parent)
}

// compute is the ECS application behind its ALB, on the stack's domain when it has one.
func (w wiring) compute(sec *security.Security, net *network.Network, domain *edge.Domain) (*compute.Compute, error) {
	args := compute.Args{
		Namer:              w.namer,
		AccountID:          w.accountID,
		Region:             w.c.Region,
		Compute:            w.c.Compute,
		VPCID:              net.VPCID,
		PublicSubnetIDs:    net.PublicSubnetIDs,
		PrivateSubnetIDs:   net.PrivateSubnetIDs,
		ALBSecurityGroupID: net.ALBSecurityGroupID,
		AppSecurityGroupID: net.AppSecurityGroupID,
		RegionalWebACLArn:  sec.RegionalWebACLArn,
		LogsKeyArn:         sec.LogsKeyArn,
		InstanceTags:       w.c.Tags(),
		LogRetentionDays:   w.c.Security.LogRetentionDays,
		Prod:               w.c.IsProd(),
	}
	if domain != nil {
		args.Domain = &compute.AppDomain{ZoneID: domain.ZoneID, Hostname: domain.AppHost, CertificateArn: domain.AppCertificateArn}
	}
	return compute.NewCompute(w.ctx, w.name+"-compute", args, w.parent)
}

// monitoring alarms on the serving tiers.
func (w wiring) monitoring(sec *security.Security, rest *api.API, app *compute.Compute, records *streaming.Streaming) (*monitoring.Monitoring, error) {
	args := monitoring.Args{
		Namer:      w.namer,
		AccountID:  w.accountID,
		Region:     w.c.Region,
		DataKeyArn: sec.DataKeyArn,
		AlarmEmail: w.c.Monitoring.AlarmEmail,
		ECS:        &monitoring.ECSTarget{ClusterName: app.ClusterName, ServiceName: app.ServiceName},
		API:        &monitoring.APITarget{APIName: rest.RestAPIName, StageName: rest.StageName},
		Functions: map[string]pulumi.StringInput{
			"api-writer": rest.FunctionName,
			"analysis":   records.AggregatorName, // cats-data-analysis
		},
		DeliveryStreams: map[string]pulumi.StringInput{"data-stream": records.FirehoseName},
		FailureQueues:   map[string]pulumi.StringInput{"analysis": records.AggregatorFailureQueue},
	}
	if w.c.OwnsBaseline() {
		args.TrailLogGroupName = sec.TrailLogGroupName // the CIS alarms watch the trail where the stack owns it
	}
	return monitoring.NewMonitoring(w.ctx, w.name+"-monitoring", args, w.parent)
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
