// Package platform wires the tiers into one component and is the program
// itself: main.go, the offline plan and the automation server all run Program,
// so they deploy exactly the same thing.
package platform

import (
	"errors"
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
	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
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

// NewPlatform registers the platform and its tiers. Every resource below it
// carries the stack's standard tags (naming.TagTransformation).
func NewPlatform(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Platform, error) {
	c := args.Config
	if c.Stack == "" || c.Environment == "" {
		return nil, errors.New("platform: Config must come from config.Parse")
	}
	if args.AccountID == "" {
		return nil, errors.New("platform: AccountID is required")
	}
	p := &Platform{}
	opts = append([]pulumi.ResourceOption{
		pulumi.Transformations([]pulumi.ResourceTransformation{naming.TagTransformation(c.Tags())}),
	}, opts...)
	if err := ctx.RegisterComponentResource(Type, name, p, opts...); err != nil {
		return nil, err
	}
	namer := c.Namer()

	cloudFront, err := aws.NewProvider(ctx, name+"-"+CloudFrontRegion, &aws.ProviderArgs{
		Region: pulumi.String(CloudFrontRegion),
	}, pulumi.Parent(p))
	if err != nil {
		return nil, err
	}

	secArgs := security.Args{
		Namer:              namer,
		AccountID:          args.AccountID,
		Region:             c.Region,
		CloudFrontProvider: cloudFront,
		LogRetentionDays:   c.Security.LogRetentionDays,
		WAFRateLimit:       c.Security.WAFRateLimit,
		OwnsBaseline:       c.OwnsBaseline(),
		Prod:               c.IsProd(),
		// With SSE-KMS the data key's policy names the CloudFront
		// distribution, which needs this tier's web ACL: edgeTiers sets it.
		DeferDataKeyPolicy: c.DataLake.Encryption == config.EncryptionKMS,
	}
	var env *pulumi.StackReference
	if !c.OwnsBaseline() {
		// A shared-tenancy municipality stack uses its environment's trail and zone.
		env, err = pulumi.NewStackReference(ctx, name+"-environment", &pulumi.StackReferenceArgs{
			Name: pulumi.String(c.EnvironmentStack),
		}, pulumi.Parent(p))
		if err != nil {
			return nil, fmt.Errorf("reference environment stack %s: %w", c.EnvironmentStack, err)
		}
		secArgs.EnvironmentTrailArn = env.GetStringOutput(pulumi.String("trailArn"))
	}
	p.Security, err = security.NewSecurity(ctx, name+"-security", secArgs, pulumi.Parent(p))
	if err != nil {
		return nil, fmt.Errorf("security tier: %w", err)
	}

	p.Network, err = network.NewNetwork(ctx, name+"-network", network.Args{
		Namer:            namer,
		AccountID:        args.AccountID,
		Region:           c.Region,
		Network:          c.Network,
		LogsKeyArn:       p.Security.LogsKeyArn,
		LogRetentionDays: c.Security.LogRetentionDays,
		ContainerPort:    c.Compute.ContainerPort,
	}, pulumi.Parent(p))
	if err != nil {
		return nil, fmt.Errorf("network tier: %w", err)
	}

	if err := p.edgeTiers(ctx, name, c, cloudFront, env); err != nil {
		return nil, err
	}
	if err := newDataTiers(ctx, name, c, args.AccountID, p); err != nil {
		return nil, err
	}
	if err := p.servingTiers(ctx, name, args); err != nil {
		return nil, err
	}

	p.VPCID = p.Network.VPCID
	p.TrailArn = p.Security.TrailArn
	p.DataKeyArn = p.Security.DataKeyArn
	p.RegionalWebACLArn = p.Security.RegionalWebACLArn
	p.CloudFrontWebACLArn = p.Security.CloudFrontWebACLArn
	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{
		"vpcId":                  p.VPCID,
		"trailArn":               p.TrailArn,
		"dataKeyArn":             p.DataKeyArn,
		"regionalWebAclArn":      p.RegionalWebACLArn,
		"cloudFrontWebAclArn":    p.CloudFrontWebACLArn,
		"dataLakeBucketName":     p.DataLakeBucketName,
		"catsInfoTableName":      p.CatsInfoTableName,
		"recordStreamName":       p.RecordStreamName,
		"firehoseName":           p.FirehoseName,
		"aggregatorFunctionName": p.AggregatorName,
		"glueDatabaseName":       p.GlueDatabaseName,
		"athenaWorkgroup":        p.AthenaWorkgroup,
		"zoneId":                 p.ZoneID,
		"appUrl":                 p.AppURL,
		"apiUrl":                 p.APIURL,
		"cdnUrl":                 p.CDNURL,
		"alarmTopicArn":          p.AlarmTopicArn,
	}); err != nil {
		return nil, fmt.Errorf("register %s outputs: %w", name, err)
	}
	return p, nil
}

// newDataTiers creates the data lake, the database, the analytics catalog
// and the streaming tier, in that order: Firehose converts records with the
// Glue table of the analytics tier.
func newDataTiers(ctx *pulumi.Context, name string, c config.Config, accountID string, p *Platform) error {
	namer := c.Namer()
	var err error
	p.DataLake, err = datalake.NewDataLake(ctx, name+"-datalake", datalake.Args{
		Namer:      namer,
		AccountID:  accountID,
		Encryption: c.DataLake.Encryption,
		DataKeyArn: p.Security.DataKeyArn,
		Retain:     c.IsProd(),
		// The distribution, and no other, reads published/ (DESIGN.md deviation 4).
		PolicyStatements: func(bucketArn pulumi.StringOutput) []iamdoc.Statement {
			return []iamdoc.Statement{edge.PublishedReadStatement(bucketArn, p.CDN.DistributionArn)}
		},
	}, pulumi.Parent(p))
	if err != nil {
		return fmt.Errorf("data lake tier: %w", err)
	}
	var lakeKey pulumi.StringInput
	if c.DataLake.Encryption == config.EncryptionKMS {
		lakeKey = p.DataLake.KMSKeyArn
	}
	p.Database, err = database.NewDatabase(ctx, name+"-database", database.Args{
		Namer:      namer,
		DataKeyArn: p.Security.DataKeyArn,
		Prod:       c.IsProd(),
	}, pulumi.Parent(p))
	if err != nil {
		return fmt.Errorf("database tier: %w", err)
	}
	p.Analytics, err = analytics.NewAnalytics(ctx, name+"-analytics", analytics.Args{
		Namer:               namer,
		AccountID:           accountID,
		Region:              c.Region,
		DataLakeBucket:      p.DataLake.BucketName,
		DataLakeArn:         p.DataLake.BucketArn,
		DataLakeKMSKey:      lakeKey,
		Encryption:          c.DataLake.Encryption,
		MunicipalityCode:    c.MunicipalityCode,
		Prod:                c.IsProd(),
		QuickSightEnabled:   c.Analytics.QuickSightEnabled,
		QuickSightPrincipal: c.Analytics.QuickSightPrincipal,
	}, pulumi.Parent(p))
	if err != nil {
		return fmt.Errorf("analytics tier: %w", err)
	}
	p.Streaming, err = streaming.NewStreaming(ctx, name+"-streaming", streaming.Args{
		Namer:                 namer,
		AccountID:             accountID,
		Region:                c.Region,
		DataKeyArn:            p.Security.DataKeyArn,
		LogsKeyArn:            p.Security.LogsKeyArn,
		DataLakeBucket:        p.DataLake.BucketName,
		DataLakeArn:           p.DataLake.BucketArn,
		DataLakeKMSKey:        lakeKey,
		GlueDatabaseName:      p.Analytics.DatabaseName,
		GlueTableName:         p.Analytics.TableName,
		BufferSizeMB:          c.Streaming.BufferSizeMB,
		BufferIntervalSeconds: c.Streaming.BufferIntervalSeconds,
		WindowSeconds:         c.Streaming.AggregationWindowSeconds,
		MemoryMB:              c.Functions.MemoryMB,
		TimeoutSeconds:        c.Functions.TimeoutSeconds,
		LogRetentionDays:      c.Security.LogRetentionDays,
		Prod:                  c.IsProd(),
	}, pulumi.Parent(p))
	if err != nil {
		return fmt.Errorf("streaming tier: %w", err)
	}
	p.DataLakeBucketName = p.DataLake.BucketName
	p.CatsInfoTableName = p.Database.TableName
	p.RecordStreamName = p.Streaming.StreamName
	p.FirehoseName = p.Streaming.FirehoseName
	p.AggregatorName = p.Streaming.AggregatorName
	p.GlueDatabaseName = p.Analytics.DatabaseName
	p.AthenaWorkgroup = p.Analytics.WorkgroupName
	return nil
}

// edgeTiers wires the stack's names and certificates and the CloudFront
// distribution of the data lake's published/ prefix. They come before the
// data tiers: the data lake's bucket policy (and, with SSE-KMS, the data
// key's policy) names the distribution, which needs only the bucket's
// regional domain name, known from the stack's names.
func (p *Platform) edgeTiers(ctx *pulumi.Context, name string, c config.Config, cloudFront pulumi.ProviderResource, env *pulumi.StackReference) error {
	namer := c.Namer()
	p.ZoneID = pulumi.String("").ToStringOutput()
	if c.Edge.Domain != "" {
		domainArgs := edge.DomainArgs{
			Namer:              namer,
			Domain:             c.Edge.Domain,
			CloudFrontProvider: cloudFront,
			OwnsZone:           c.OwnsBaseline(),
			MunicipalityCode:   c.MunicipalityCode,
			MunicipalityStack:  c.MunicipalityStack,
			Prod:               c.IsProd(),
		}
		if env != nil {
			domainArgs.EnvironmentZoneID = env.GetStringOutput(pulumi.String("zoneId"))
		}
		var err error
		p.Domain, err = edge.NewDomain(ctx, name+"-domain", domainArgs, pulumi.Parent(p))
		if err != nil {
			return fmt.Errorf("edge tier (domain): %w", err)
		}
		p.ZoneID = p.Domain.ZoneID
	}

	origin, err := datalake.RegionalDomainName(namer, c.Region)
	if err != nil {
		return fmt.Errorf("edge tier (cdn): %w", err)
	}
	cdnArgs := edge.CDNArgs{
		Namer:                      namer,
		DataLakeRegionalDomainName: pulumi.String(origin),
		CloudFrontWebACLArn:        p.Security.CloudFrontWebACLArn,
		DefaultTTLSeconds:          c.Edge.DefaultTTLSeconds,
	}
	if p.Domain != nil {
		cdnArgs.Domain = &edge.SiteDomain{ZoneID: p.Domain.ZoneID, Hostname: p.Domain.SiteHost, CertificateArn: p.Domain.SiteCertificateArn}
	}
	p.CDN, err = edge.NewCDN(ctx, name+"-cdn", cdnArgs, pulumi.Parent(p))
	if err != nil {
		return fmt.Errorf("edge tier (cdn): %w", err)
	}
	p.CDNURL = p.CDN.URL

	if p.Security.DataKeyPolicyPending() {
		// cats:dataLakeEncryption: aws:kms: S3 decrypts published objects for
		// the distribution only if the data key's policy lets it.
		if _, err := p.Security.SetDataKeyPolicy(ctx, name+"-security-data-key-policy", edge.PublishedDecryptStatement(p.CDN.DistributionArn)); err != nil {
			return fmt.Errorf("security tier (data key policy): %w", err)
		}
	}
	return nil
}

// servingTiers wires the tiers that serve the product: the REST API on
// cats-info and the record stream, the ECS application behind its ALB, and
// the alarms on all of them.
func (p *Platform) servingTiers(ctx *pulumi.Context, name string, args Args) error {
	c := args.Config
	namer := c.Namer()
	var appDomain *compute.AppDomain
	if p.Domain != nil {
		appDomain = &compute.AppDomain{ZoneID: p.Domain.ZoneID, Hostname: p.Domain.AppHost, CertificateArn: p.Domain.AppCertificateArn}
	}

	apiArgs := api.Args{
		Namer:             namer,
		AccountID:         args.AccountID,
		Region:            c.Region,
		TableName:         p.Database.TableName,
		TableArn:          p.Database.TableArn,
		StreamName:        p.Streaming.StreamName,
		StreamArn:         p.Streaming.StreamArn,
		DataKeyArn:        p.Security.DataKeyArn,
		LogsKeyArn:        p.Security.LogsKeyArn,
		RegionalWebACLArn: p.Security.RegionalWebACLArn,
		LogRetentionDays:  c.Security.LogRetentionDays,
		// API Gateway's CloudWatch Logs role is one setting per account and
		// region: the stack that owns the account's baseline sets it.
		ManageAccountSettings: c.OwnsBaseline(),
	}
	if c.MunicipalityStack {
		apiArgs.MunicipalityCode = c.MunicipalityCode // a municipality stack's API takes its own records only
	}
	var err error
	p.API, err = api.NewAPI(ctx, name+"-api", apiArgs, pulumi.Parent(p))
	if err != nil {
		return fmt.Errorf("api tier: %w", err)
	}
	p.APIURL = p.API.InvokeURL

	p.Compute, err = compute.NewCompute(ctx, name+"-compute", compute.Args{
		Namer:              namer,
		AccountID:          args.AccountID,
		Region:             c.Region,
		Compute:            c.Compute,
		VPCID:              p.Network.VPCID,
		PublicSubnetIDs:    p.Network.PublicSubnetIDs,
		PrivateSubnetIDs:   p.Network.PrivateSubnetIDs,
		ALBSecurityGroupID: p.Network.ALBSecurityGroupID,
		AppSecurityGroupID: p.Network.AppSecurityGroupID,
		RegionalWebACLArn:  p.Security.RegionalWebACLArn,
		LogsKeyArn:         p.Security.LogsKeyArn,
		InstanceTags:       c.Tags(),
		LogRetentionDays:   c.Security.LogRetentionDays,
		Prod:               c.IsProd(),
		Domain:             appDomain,
	}, pulumi.Parent(p))
	if err != nil {
		return fmt.Errorf("compute tier: %w", err)
	}
	p.AppURL = p.Compute.URL

	p.Monitoring, err = monitoring.NewMonitoring(ctx, name+"-monitoring", monitoring.Args{
		Namer:      namer,
		AccountID:  args.AccountID,
		Region:     c.Region,
		DataKeyArn: p.Security.DataKeyArn,
		AlarmEmail: c.Monitoring.AlarmEmail,
		ECS:        &monitoring.ECSTarget{ClusterName: p.Compute.ClusterName, ServiceName: p.Compute.ServiceName},
		API:        &monitoring.APITarget{APIName: p.API.RestAPIName, StageName: p.API.StageName},
		Functions: map[string]pulumi.StringInput{
			"api-writer": p.API.FunctionName,
			"analysis":   p.Streaming.AggregatorName, // cats-data-analysis
		},
		DeliveryStreams: map[string]pulumi.StringInput{"data-stream": p.Streaming.FirehoseName},
	}, pulumi.Parent(p))
	if err != nil {
		return fmt.Errorf("monitoring tier: %w", err)
	}
	p.AlarmTopicArn = p.Monitoring.AlarmTopicArn
	return nil
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
	ctx.Export("environment", pulumi.String(c.Environment))
	ctx.Export("municipalityCode", pulumi.String(c.MunicipalityCode))
	ctx.Export("vpcId", p.VPCID)
	ctx.Export("trailArn", p.TrailArn)
	ctx.Export("dataKeyArn", p.DataKeyArn)
	ctx.Export("regionalWebAclArn", p.RegionalWebACLArn)
	ctx.Export("cloudFrontWebAclArn", p.CloudFrontWebACLArn)
	ctx.Export("dataLakeBucketName", p.DataLakeBucketName)
	ctx.Export("catsInfoTableName", p.CatsInfoTableName)
	ctx.Export("recordStreamName", p.RecordStreamName)
	ctx.Export("firehoseName", p.FirehoseName)
	ctx.Export("aggregatorFunctionName", p.AggregatorName)
	ctx.Export("glueDatabaseName", p.GlueDatabaseName)
	ctx.Export("athenaWorkgroup", p.AthenaWorkgroup)
	// Shared municipality stacks read zoneId from their environment stack.
	ctx.Export("zoneId", p.ZoneID)
	ctx.Export("appUrl", p.AppURL)
	ctx.Export("apiUrl", p.APIURL)
	ctx.Export("cdnUrl", p.CDNURL)
	ctx.Export("alarmTopicArn", p.AlarmTopicArn)
	return nil
}
