// Package edge is the edge tier (seed §4 Route53, CloudFront): the stack's
// names on the hosted zone cats.example.com with their ACM certificates
// (Domain), and the CloudFront distribution that serves the data lake's
// published/ prefix, and nothing else of it, at www.cats.example.com (CDN).
//
// They are two components because they sit on either side of the other tiers:
// the ALB (compute) needs Domain's certificate, and CDN needs the data lake.
package edge

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/acm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudfront"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/loggroup"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
)

// Type tokens.
const (
	DomainType = "cats:edge:Domain"
	CDNType    = "cats:edge:Cdn"
)

// PublishedPrefix is the only part of the data lake CloudFront may read
// (DESIGN.md deviation 4: the rest holds residents' reports).
const PublishedPrefix = "published"

// Hostnames are the stack's names on the domain: www and app for an
// environment (seed §4 レコードセット www.cats.example.com), <code> and
// app-<code> for a municipality, one label deep so one zone holds them all.
func Hostnames(domain, municipalityCode string, municipalityStack bool) (site, app string) {
	if municipalityStack {
		return municipalityCode + "." + domain, "app-" + municipalityCode + "." + domain
	}
	return "www." + domain, "app." + domain
}

// DomainArgs configures the stack's names and certificates.
type DomainArgs struct {
	// Mandatory.
	Namer  naming.Namer
	Domain string // cats:domain, e.g. cats.example.com
	// CloudFrontProvider is an AWS provider in us-east-1, where CloudFront's
	// certificates must live.
	CloudFrontProvider pulumi.ProviderResource

	// OwnsZone creates the hosted zone: environment stacks and municipalities
	// with their own account. Other municipality stacks use the zone of their
	// environment stack, EnvironmentZoneID (its zoneId output).
	OwnsZone          bool
	EnvironmentZoneID pulumi.StringInput

	// Optional.
	MunicipalityCode  string
	MunicipalityStack bool
	// Prod keeps the hosted zone if the stack is destroyed: the registrar's
	// delegation points at its name servers.
	Prod bool
}

// Domain is the stack's DNS names and certificates.
type Domain struct {
	pulumi.ResourceState

	// SiteHost and AppHost are the names, known at plan time.
	SiteHost string `pulumi:"siteHost"`
	AppHost  string `pulumi:"appHost"`

	ZoneID      pulumi.StringOutput      `pulumi:"zoneId"`
	NameServers pulumi.StringArrayOutput `pulumi:"nameServers"`
	// SiteCertificateArn is validated, in us-east-1, for CloudFront.
	SiteCertificateArn pulumi.StringOutput `pulumi:"siteCertificateArn"`
	// AppCertificateArn is validated, in the stack's region, for the ALB.
	AppCertificateArn pulumi.StringOutput `pulumi:"appCertificateArn"`
}

func (a *DomainArgs) check() error {
	c := tier.NewCheck("edge")
	c.Require("Namer", a.Namer)
	c.ExpectConfig(a.Domain != "",
		`cats:domain: a domain is required for the Domain component (with "none" the stack uses the default AWS names and creates no Domain)`)
	c.Require("CloudFrontProvider (us-east-1)", a.CloudFrontProvider)
	c.Expect(a.OwnsZone || a.EnvironmentZoneID != nil,
		"EnvironmentZoneID is required when the stack does not own the zone (the environment stack exports zoneId)")
	c.ExpectConfig(!a.MunicipalityStack || a.MunicipalityCode != "",
		"cats:municipalityCode: a municipality stack needs its code for its hostname")
	return c.Err()
}

// NewDomain registers the stack's zone (or takes its environment's), and the
// certificates of its two names, validated through DNS.
func NewDomain(ctx *pulumi.Context, name string, args DomainArgs, opts ...pulumi.ResourceOption) (*Domain, error) {
	d := &Domain{}
	if err := tier.Register(ctx, DomainType, name, d, args.check, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(d)
	d.SiteHost, d.AppHost = Hostnames(args.Domain, args.MunicipalityCode, args.MunicipalityStack)
	if err := d.zone(ctx, name, args, parent); err != nil {
		return nil, err
	}
	var err error
	d.SiteCertificateArn, err = certificate(ctx, name+"-site-cert", d.SiteHost, d.ZoneID, parent, pulumi.Provider(args.CloudFrontProvider))
	if err != nil {
		return nil, err
	}
	d.AppCertificateArn, err = certificate(ctx, name+"-app-cert", d.AppHost, d.ZoneID, parent)
	if err != nil {
		return nil, err
	}
	if err := tier.RegisterOutputs(ctx, name, d); err != nil {
		return nil, err
	}
	return d, nil
}

// zone creates the hosted zone where the stack owns it; elsewhere the
// domain's zone is the environment stack's.
func (d *Domain) zone(ctx *pulumi.Context, name string, args DomainArgs, parent pulumi.ResourceOption) error {
	if !args.OwnsZone {
		d.ZoneID = args.EnvironmentZoneID.ToStringOutput()
		d.NameServers = pulumi.StringArray{}.ToStringArrayOutput()
		return nil
	}
	zone, err := route53.NewZone(ctx, name+"-zone", &route53.ZoneArgs{
		Name:    pulumi.String(args.Domain), // seed §4 ホストゾーン
		Comment: pulumi.String("自治体猫データ分析プロダクト v18 (" + args.Namer.Stack() + ")"),
	}, parent, pulumi.RetainOnDelete(args.Prod))
	if err != nil {
		return fmt.Errorf("create the hosted zone %s: %w", args.Domain, err)
	}
	d.ZoneID = zone.ZoneId
	d.NameServers = zone.NameServers
	return nil
}

// certificate requests an ACM certificate for host, publishes its DNS
// validation record in the zone and returns the ARN once ACM has issued it.
func certificate(ctx *pulumi.Context, name, host string, zoneID pulumi.StringOutput, parent pulumi.ResourceOption, provider ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	opts := append([]pulumi.ResourceOption{parent}, provider...)
	cert, err := acm.NewCertificate(ctx, name, &acm.CertificateArgs{
		DomainName:       pulumi.String(host),
		ValidationMethod: pulumi.String("DNS"),
		KeyAlgorithm:     pulumi.String("RSA_2048"),
	}, opts...)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("request the certificate of %s: %w", host, err)
	}
	option := cert.DomainValidationOptions.Index(pulumi.Int(0))
	record, err := route53.NewRecord(ctx, name+"-validation", &route53.RecordArgs{
		ZoneId:         zoneID,
		Name:           option.ResourceRecordName().Elem(),
		Type:           option.ResourceRecordType().Elem(),
		Records:        pulumi.StringArray{option.ResourceRecordValue().Elem()},
		Ttl:            pulumi.Int(60),
		AllowOverwrite: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("publish the validation record of %s: %w", host, err)
	}
	validation, err := acm.NewCertificateValidation(ctx, name+"-validated", &acm.CertificateValidationArgs{
		CertificateArn:        cert.Arn,
		ValidationRecordFqdns: pulumi.StringArray{record.Fqdn},
	}, opts...)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("wait for the certificate of %s: %w", host, err)
	}
	return validation.CertificateArn, nil
}

// SiteDomain is the distribution's own name (from Domain).
type SiteDomain struct {
	ZoneID         pulumi.StringInput
	Hostname       string
	CertificateArn pulumi.StringInput // us-east-1, validated
}

// CDNArgs configures the distribution.
type CDNArgs struct {
	// Mandatory.
	Namer naming.Namer
	// DataLakeRegionalDomainName is the data lake bucket's regional endpoint
	// (<bucket>.s3.<region>.amazonaws.com), the origin.
	DataLakeRegionalDomainName pulumi.StringInput
	CloudFrontWebACLArn        pulumi.StringInput // security tier, CLOUDFRONT scope

	// DefaultTTLSeconds is cats:cdnDefaultTtlSeconds (seed §4: 1日), used as
	// given: 0 is legal and caches only what the origin's headers allow.
	DefaultTTLSeconds int

	// The distribution's access logs (standard logging v2, delivered by
	// CloudWatch Logs): an AWS provider in us-east-1, where CloudFront's log
	// deliveries must be made, the key of that region that encrypts the
	// log group, and cats:logRetentionDays.
	CloudFrontProvider pulumi.ProviderResource
	LogsKeyArn         pulumi.StringInput
	LogRetentionDays   int

	// Optional: nil serves on the distribution's cloudfront.net name.
	Domain *SiteDomain
}

// CDN is the CloudFront distribution of the published data.
type CDN struct {
	pulumi.ResourceState

	DistributionID  pulumi.StringOutput `pulumi:"distributionId"`
	DistributionArn pulumi.StringOutput `pulumi:"distributionArn"`
	DomainName      pulumi.StringOutput `pulumi:"domainName"`
	URL             pulumi.StringOutput `pulumi:"url"`
}

func (a *CDNArgs) check() error {
	c := tier.NewCheck("edge")
	c.Require("Namer", a.Namer)
	c.Require("DataLakeRegionalDomainName (the data lake bucket's regional domain name)", a.DataLakeRegionalDomainName)
	c.Require("CloudFrontWebACLArn (every distribution is behind WAF)", a.CloudFrontWebACLArn)
	c.Require("CloudFrontProvider (us-east-1, the access logs)", a.CloudFrontProvider)
	c.Require("LogsKeyArn (the access logs are encrypted)", a.LogsKeyArn)
	c.Expect(a.LogRetentionDays > 0, "LogRetentionDays must be positive (cats:logRetentionDays)")
	c.Expect(a.Domain == nil || (a.Domain.ZoneID != nil && a.Domain.Hostname != "" && a.Domain.CertificateArn != nil),
		"Domain needs ZoneID, Hostname and CertificateArn")
	return c.Err()
}

// Managed CloudFront policies.
const (
	// SecurityHeadersPolicyID is AWS's Managed-SecurityHeadersPolicy (HSTS, nosniff, frame options…).
	SecurityHeadersPolicyID = "67f7725c-6f97-4210-82d7-5512b31e9d03"
)

// NewCDN registers the distribution of the data lake's published/ prefix.
func NewCDN(ctx *pulumi.Context, name string, args CDNArgs, opts ...pulumi.ResourceOption) (*CDN, error) {
	c := &CDN{}
	if err := tier.Register(ctx, CDNType, name, c, args.check, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	oac, err := cloudfront.NewOriginAccessControl(ctx, name+"-oac", &cloudfront.OriginAccessControlArgs{
		Name:                          pulumi.String(args.Namer.PerStack("cats-data-lake-published")),
		Description:                   pulumi.String("CloudFront signs its reads of the data lake's published/ prefix"),
		OriginAccessControlOriginType: pulumi.String("s3"),
		SigningBehavior:               pulumi.String("always"),
		SigningProtocol:               pulumi.String("sigv4"),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the origin access control: %w", err)
	}
	cachePolicy, err := publishedCachePolicy(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	distribution, err := newDistribution(ctx, name, args, oac, cachePolicy, parent)
	if err != nil {
		return nil, err
	}
	if err := accessLogs(ctx, name, args, distribution, parent); err != nil {
		return nil, err
	}
	c.URL = pulumi.Sprintf("https://%s", distribution.DomainName)
	if args.Domain != nil {
		if err := aliasRecords(ctx, name, args.Domain, distribution, parent); err != nil {
			return nil, err
		}
		c.URL = pulumi.String("https://" + args.Domain.Hostname).ToStringOutput()
	}
	c.DistributionID = distribution.ID().ToStringOutput()
	c.DistributionArn = distribution.Arn
	c.DomainName = distribution.DomainName
	if err := tier.RegisterOutputs(ctx, name, c); err != nil {
		return nil, err
	}
	return c, nil
}

// publishedCachePolicy caches published data a day by default and keys the
// cache on the path alone.
func publishedCachePolicy(ctx *pulumi.Context, name string, args CDNArgs, parent pulumi.ResourceOption) (*cloudfront.CachePolicy, error) {
	policy, err := cloudfront.NewCachePolicy(ctx, name+"-cache", &cloudfront.CachePolicyArgs{
		Name:       pulumi.String(args.Namer.PerStack("cats-published")),
		Comment:    pulumi.String("Published data: cached a day by default (seed §4 CloudFront デフォルトキャッシュ期間 1日)"),
		DefaultTtl: pulumi.Int(args.DefaultTTLSeconds),
		MinTtl:     pulumi.Int(0),
		MaxTtl:     pulumi.Int(config.CDNMaxTTLSeconds),
		ParametersInCacheKeyAndForwardedToOrigin: &cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginArgs{
			CookiesConfig: &cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfigArgs{
				CookieBehavior: pulumi.String("none"),
			},
			HeadersConfig: &cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfigArgs{
				HeaderBehavior: pulumi.String("none"),
			},
			QueryStringsConfig: &cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfigArgs{
				QueryStringBehavior: pulumi.String("none"),
			},
			EnableAcceptEncodingGzip:   pulumi.Bool(true),
			EnableAcceptEncodingBrotli: pulumi.Bool(true),
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the cache policy: %w", err)
	}
	return policy, nil
}

// newDistribution serves published/ over HTTPS only, behind the CLOUDFRONT
// web ACL, on the stack's name when it has one.
func newDistribution(ctx *pulumi.Context, name string, args CDNArgs, oac *cloudfront.OriginAccessControl, cachePolicy *cloudfront.CachePolicy, parent pulumi.ResourceOption) (*cloudfront.Distribution, error) {
	const originID = "data-lake-published"
	viewer := &cloudfront.DistributionViewerCertificateArgs{CloudfrontDefaultCertificate: pulumi.Bool(true)}
	var aliases pulumi.StringArray
	if args.Domain != nil {
		viewer = &cloudfront.DistributionViewerCertificateArgs{
			AcmCertificateArn:      args.Domain.CertificateArn,
			SslSupportMethod:       pulumi.String("sni-only"),
			MinimumProtocolVersion: pulumi.String("TLSv1.2_2021"),
		}
		aliases = pulumi.StringArray{pulumi.String(args.Domain.Hostname)}
	}
	distribution, err := cloudfront.NewDistribution(ctx, name+"-distribution", &cloudfront.DistributionArgs{
		Enabled:           pulumi.Bool(true),
		Comment:           pulumi.String("cats-analytics published data (" + args.Namer.Stack() + ")"),
		Aliases:           aliases,
		IsIpv6Enabled:     pulumi.Bool(true),
		HttpVersion:       pulumi.String("http2and3"),
		DefaultRootObject: pulumi.String("index.html"),
		// PriceClass_200 includes the edge locations in Japan; PriceClass_100 would not.
		PriceClass: pulumi.String("PriceClass_200"),
		Origins: cloudfront.DistributionOriginArray{&cloudfront.DistributionOriginArgs{
			OriginId:              pulumi.String(originID),
			DomainName:            args.DataLakeRegionalDomainName,
			OriginPath:            pulumi.String("/" + PublishedPrefix), // DESIGN.md deviation 4
			OriginAccessControlId: oac.ID(),
		}},
		DefaultCacheBehavior: &cloudfront.DistributionDefaultCacheBehaviorArgs{
			TargetOriginId:          pulumi.String(originID),
			ViewerProtocolPolicy:    pulumi.String("redirect-to-https"), // HTTPS only
			AllowedMethods:          pulumi.ToStringArray([]string{"GET", "HEAD", "OPTIONS"}),
			CachedMethods:           pulumi.ToStringArray([]string{"GET", "HEAD"}),
			CachePolicyId:           cachePolicy.ID(),
			ResponseHeadersPolicyId: pulumi.String(SecurityHeadersPolicyID),
			Compress:                pulumi.Bool(true),
		},
		Restrictions: &cloudfront.DistributionRestrictionsArgs{
			GeoRestriction: &cloudfront.DistributionRestrictionsGeoRestrictionArgs{RestrictionType: pulumi.String("none")},
		},
		ViewerCertificate: viewer,
		WebAclId:          args.CloudFrontWebACLArn, // seed §7 WAF
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the distribution: %w", err)
	}
	return distribution, nil
}

// AccessLogGroupName is the log group the distribution's access logs go to.
func AccessLogGroupName(namer naming.Namer) string {
	return "/aws/cloudfront/" + namer.PerStack("cats-published")
}

// accessLogs turns on the distribution's standard logging (FSBP
// CloudFront.5) of the kind CloudWatch Logs delivers (v2), which needs no
// bucket ACLs, to an encrypted log group kept cats:logRetentionDays: a
// delivery source (the distribution), a destination (the group) and the
// delivery between them, all in us-east-1.
func accessLogs(ctx *pulumi.Context, name string, args CDNArgs, distribution *cloudfront.Distribution, parent pulumi.ResourceOption) error {
	inUSEast1 := []pulumi.ResourceOption{parent, pulumi.Provider(args.CloudFrontProvider)}
	group, err := loggroup.New(ctx, name+"-access-logs", AccessLogGroupName(args.Namer), args.LogRetentionDays, args.LogsKeyArn, inUSEast1...)
	if err != nil {
		return fmt.Errorf("the distribution's access logs: %w", err)
	}
	logName := args.Namer.PerStack("cats-published")
	source, err := cloudwatch.NewLogDeliverySource(ctx, name+"-log-source", &cloudwatch.LogDeliverySourceArgs{
		Name:        pulumi.String(logName),
		LogType:     pulumi.String("ACCESS_LOGS"),
		ResourceArn: distribution.Arn,
	}, inUSEast1...)
	if err != nil {
		return fmt.Errorf("make the distribution a log delivery source: %w", err)
	}
	destination, err := cloudwatch.NewLogDeliveryDestination(ctx, name+"-log-destination", &cloudwatch.LogDeliveryDestinationArgs{
		Name:         pulumi.String(logName),
		OutputFormat: pulumi.String("json"),
		DeliveryDestinationConfiguration: &cloudwatch.LogDeliveryDestinationDeliveryDestinationConfigurationArgs{
			DestinationResourceArn: group.Arn,
		},
	}, inUSEast1...)
	if err != nil {
		return fmt.Errorf("make the access log group a log delivery destination: %w", err)
	}
	if _, err := cloudwatch.NewLogDelivery(ctx, name+"-log-delivery", &cloudwatch.LogDeliveryArgs{
		DeliverySourceName:     source.Name,
		DeliveryDestinationArn: destination.Arn,
	}, inUSEast1...); err != nil {
		return fmt.Errorf("deliver the distribution's access logs: %w", err)
	}
	return nil
}

// aliasRecords point the stack's site name (seed §4 レコードセット) at the
// distribution, over IPv4 and IPv6.
func aliasRecords(ctx *pulumi.Context, name string, domain *SiteDomain, distribution *cloudfront.Distribution, parent pulumi.ResourceOption) error {
	for _, recordType := range []string{"A", "AAAA"} {
		if _, err := route53.NewRecord(ctx, name+"-alias-"+recordType, &route53.RecordArgs{
			ZoneId: domain.ZoneID,
			Name:   pulumi.String(domain.Hostname),
			Type:   pulumi.String(recordType),
			Aliases: route53.RecordAliasArray{&route53.RecordAliasArgs{
				Name: distribution.DomainName, ZoneId: distribution.HostedZoneId, EvaluateTargetHealth: pulumi.Bool(false),
			}},
		}, parent); err != nil {
			return fmt.Errorf("point %s at the distribution (%s): %w", domain.Hostname, recordType, err)
		}
	}
	return nil
}

// PublishedDecryptStatement is the data key policy statement that lets this
// distribution, and no other, decrypt what it reads from a data lake
// encrypted with SSE-KMS (cats:dataLakeEncryption: aws:kms): origin access
// control signs the read, and S3 decrypts on CloudFront's behalf only if the
// key policy allows it. Read only: no kms:Encrypt or GenerateDataKey.
func PublishedDecryptStatement(distributionArn pulumi.StringInput) iamdoc.Statement {
	return iamdoc.Statement{
		Sid:       "CloudFrontDecryptsPublished",
		Principal: map[string]any{"Service": "cloudfront.amazonaws.com"},
		Actions:   []string{"kms:Decrypt"},
		Resources: []pulumi.StringInput{iamdoc.Str("*")}, // in a key policy, "*" is this key
		Condition: map[string]map[string]any{"StringEquals": {"AWS:SourceArn": distributionArn}},
	}
}
