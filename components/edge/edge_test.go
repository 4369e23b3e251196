package edge_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/edge"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

const (
	cloudFrontACL     = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/cats-waf-cloudfront-test/1"
	dataLakeOrigin    = "cats-data-lake-test.s3.ap-northeast-1.amazonaws.com"
	cloudFrontLogsKey = "arn:aws:kms:us-east-1:123456789012:key/cats-logs-cloudfront-test"
	envZone           = "ZENVIRONMENT"
)

type stackCase struct {
	name, stack, domain, code string
	municipality, ownsZone    bool
	wantSite, wantApp         string
}

var cases = []stackCase{
	{"dev environment", "dev", "cats.example.com", "", false, true, "www.cats.example.com", "app.cats.example.com"},
	{"prod environment", "prod", "cats.example.com", "", false, true, "www.cats.example.com", "app.cats.example.com"},
	{"shared municipality", "131016-prod", "cats.example.com", "131016", true, false, "131016.cats.example.com", "app-131016.cats.example.com"},
	{"municipality with its own account", "011002-dev", "cats.example.com", "011002", true, true, "011002.cats.example.com", "app-011002.cats.example.com"},
	{"no domain", "dev", "", "", false, true, "", ""},
}

// program is how the platform uses the tier: Domain (when a domain is
// configured) and the distribution on the data lake's origin.
func program(t *testing.T, c stackCase) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		namer, err := naming.NewNamer(c.stack, "")
		if err != nil {
			return err
		}
		// The platform passes the configuration's values as given: the seed's one day by default.
		cfg, err := config.Parse(config.DefaultOrganization, config.Project, c.stack, config.FromMap(nil))
		if err != nil {
			return err
		}
		usEast1, err := aws.NewProvider(ctx, "us-east-1", &aws.ProviderArgs{Region: pulumi.String("us-east-1")})
		if err != nil {
			return err
		}
		cdnArgs := edge.CDNArgs{
			Namer:                      namer,
			DataLakeRegionalDomainName: pulumi.String(dataLakeOrigin),
			CloudFrontWebACLArn:        pulumi.String(cloudFrontACL),
			DefaultTTLSeconds:          cfg.Edge.DefaultTTLSeconds,
			CloudFrontProvider:         usEast1,
			LogsKeyArn:                 pulumi.String(cloudFrontLogsKey),
			LogRetentionDays:           cfg.Security.LogRetentionDays,
		}
		if c.domain != "" {
			domainArgs := edge.DomainArgs{
				Namer: namer, Domain: c.domain, CloudFrontProvider: usEast1, OwnsZone: c.ownsZone,
				MunicipalityCode: c.code, MunicipalityStack: c.municipality, Prod: strings.HasSuffix(c.stack, "prod"),
			}
			if !c.ownsZone {
				domainArgs.EnvironmentZoneID = pulumi.String(envZone)
			}
			d, err := edge.NewDomain(ctx, "cats-domain", domainArgs)
			if err != nil {
				return err
			}
			if d.SiteHost != c.wantSite || d.AppHost != c.wantApp {
				t.Errorf("hostnames %s and %s, want %s and %s", d.SiteHost, d.AppHost, c.wantSite, c.wantApp)
			}
			cdnArgs.Domain = &edge.SiteDomain{ZoneID: d.ZoneID, Hostname: d.SiteHost, CertificateArn: d.SiteCertificateArn}
		}
		_, err = edge.NewCDN(ctx, "cats-cdn", cdnArgs)
		return err
	}
}

func TestEdge(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := harness.MustRun(t, c.stack, nil, program(t, c))
			checkDistribution(t, rec, c)
			if c.domain == "" {
				if n := len(rec.ByType("aws:route53/record:Record")) + len(rec.ByType("aws:acm/certificate:Certificate")) + len(rec.ByType("aws:route53/zone:Zone")); n != 0 {
					t.Errorf("with cats:domain none the stack must use the default AWS names only; found %d DNS/certificate resources", n)
				}
				return
			}
			checkDomain(t, rec, c)
		})
	}
}

func checkDomain(t *testing.T, rec *harness.Recording, c stackCase) {
	t.Helper()
	zones := rec.ByType("aws:route53/zone:Zone")
	zoneID := envZone
	if c.ownsZone {
		if len(zones) != 1 || zones[0].Str("name") != c.domain {
			t.Fatalf("zones %v, want one hosted zone %s (seed §4 Route53 ホストゾーン)", zones, c.domain)
		}
		zoneID = zones[0].Outputs["zoneId"].StringValue()
	} else if len(zones) != 0 {
		t.Errorf("a shared municipality stack must use its environment's zone, not create %d", len(zones))
	}

	certs := map[string]plan.Resource{}
	for _, cert := range rec.ByType("aws:acm/certificate:Certificate") {
		certs[cert.Str("domainName")] = cert
		if cert.Str("validationMethod") != "DNS" {
			t.Errorf("certificate %s validated by %s, want DNS", cert.Str("domainName"), cert.Str("validationMethod"))
		}
	}
	site, ok := certs[c.wantSite]
	if !ok || !strings.Contains(site.Provider, "us-east-1") {
		t.Errorf("certificate for %s must exist in us-east-1 (CloudFront reads certificates only there); got provider %q", c.wantSite, site.Provider)
	}
	app, ok := certs[c.wantApp]
	if !ok || app.Provider != "" {
		t.Errorf("certificate for %s must exist in the stack's region for the ALB; got provider %q", c.wantApp, app.Provider)
	}
	validations := rec.ByType("aws:acm/certificateValidation:CertificateValidation")
	if len(validations) != 2 {
		t.Errorf("%d certificate validations, want 2 (the distribution and the ALB wait for issued certificates)", len(validations))
	}
	for _, r := range rec.ByType("aws:route53/record:Record") {
		if r.Str("zoneId") != zoneID {
			t.Errorf("record %s in zone %q, want %q", r.Str("name"), r.Str("zoneId"), zoneID)
		}
	}

	aliases := map[string]plan.Resource{}
	for _, r := range rec.ByType("aws:route53/record:Record") {
		if r.Str("name") == c.wantSite {
			aliases[r.Str("type")] = r
		}
	}
	dist := rec.One(t, "aws:cloudfront/distribution:Distribution")
	for _, recordType := range []string{"A", "AAAA"} {
		r, ok := aliases[recordType]
		if !ok {
			t.Errorf("no %s alias record for %s (seed §4 レコードセット www.cats.example.com)", recordType, c.wantSite)
			continue
		}
		alias := r.Input("aliases").ArrayValue()[0].ObjectValue()
		if alias["name"].StringValue() != dist.Outputs["domainName"].StringValue() {
			t.Errorf("%s %s aliases %v, want the distribution", recordType, c.wantSite, alias["name"])
		}
	}
}

func checkDistribution(t *testing.T, rec *harness.Recording, c stackCase) {
	t.Helper()
	dist := rec.One(t, "aws:cloudfront/distribution:Distribution")
	origins := dist.Input("origins").ArrayValue()
	if len(origins) != 1 {
		t.Fatalf("%d origins, want only the data lake", len(origins))
	}
	origin := origins[0].ObjectValue()
	if origin["domainName"].StringValue() != dataLakeOrigin || origin["originPath"].StringValue() != "/published" {
		t.Errorf("origin %s path %s, want the data lake with origin path /published (DESIGN.md deviation 4)", origin["domainName"].StringValue(), origin["originPath"].StringValue())
	}
	oac := rec.One(t, "aws:cloudfront/originAccessControl:OriginAccessControl")
	if origin["originAccessControlId"].StringValue() != oac.ID || oac.Str("signingBehavior") != "always" || oac.Str("originAccessControlOriginType") != "s3" {
		t.Errorf("origin access control %v on origin %v, want the stack's OAC signing every request", oac.Inputs, origin["originAccessControlId"])
	}
	if _, hasS3Config := origin["s3OriginConfig"]; hasS3Config {
		t.Error("the origin must use OAC, not a legacy origin access identity")
	}

	behavior := dist.Input("defaultCacheBehavior").ObjectValue()
	if behavior["viewerProtocolPolicy"].StringValue() != "redirect-to-https" {
		t.Errorf("viewer protocol %s, want redirect-to-https (HTTPS only)", behavior["viewerProtocolPolicy"].StringValue())
	}
	policy := rec.One(t, "aws:cloudfront/cachePolicy:CachePolicy")
	if behavior["cachePolicyId"].StringValue() != policy.ID || policy.Input("defaultTtl").NumberValue() != 86400 {
		t.Errorf("default TTL %v through policy %v, want 86400 (seed §4 CloudFront デフォルトキャッシュ期間 1日)", policy.Input("defaultTtl"), behavior["cachePolicyId"])
	}
	if dist.Str("webAclId") != cloudFrontACL {
		t.Errorf("distribution WAF %q, want the CLOUDFRONT-scope ACL (seed §7 WAF)", dist.Str("webAclId"))
	}
	logs := rec.One(t, "aws:cloudwatch/logGroup:LogGroup")
	namer, _ := naming.NewNamer(c.stack, "")
	if logs.Str("name") != edge.AccessLogGroupName(namer) || logs.Str("kmsKeyId") != cloudFrontLogsKey ||
		logs.Input("retentionInDays").NumberValue() <= 0 || !strings.Contains(logs.Provider, "us-east-1") {
		t.Errorf("access log group %v through %q, want it encrypted with the given key, kept, in us-east-1 (FSBP CloudFront.5)", logs.Inputs, logs.Provider)
	}
	source := rec.One(t, "aws:cloudwatch/logDeliverySource:LogDeliverySource")
	if source.Str("resourceArn") != dist.Outputs["arn"].StringValue() || !strings.Contains(source.Provider, "us-east-1") {
		t.Errorf("log delivery source %v through %q, want the distribution in us-east-1", source.Inputs, source.Provider)
	}

	viewer := dist.Input("viewerCertificate").ObjectValue()
	if c.domain == "" {
		if !viewer["cloudfrontDefaultCertificate"].BoolValue() || dist.Input("aliases").IsArray() {
			t.Errorf("without a domain the distribution serves on its cloudfront.net name: %v", viewer)
		}
		return
	}
	if origin := dist.Input("origins").ArrayValue()[0].ObjectValue(); origin["customOriginConfig"].IsObject() {
		t.Errorf("origin %v: the data lake is an S3 origin through origin access control, no custom origin", origin)
	}
	if viewer["minimumProtocolVersion"].StringValue() != "TLSv1.2_2021" || viewer["sslSupportMethod"].StringValue() != "sni-only" || viewer["acmCertificateArn"].StringValue() == "" {
		t.Errorf("viewer certificate %v, want the ACM certificate with TLS 1.2 or newer", viewer)
	}
	if aliases := dist.Input("aliases").ArrayValue(); len(aliases) != 1 || aliases[0].StringValue() != c.wantSite {
		t.Errorf("distribution aliases %v, want %s", aliases, c.wantSite)
	}
}

func TestCDNArgsAreChecked(t *testing.T) {
	_, err := harness.Run("dev", nil, func(ctx *pulumi.Context) error {
		namer, _ := naming.NewNamer("dev", "")
		_, err := edge.NewCDN(ctx, "cats-cdn", edge.CDNArgs{
			Namer: namer, DataLakeRegionalDomainName: pulumi.String(dataLakeOrigin), CloudFrontWebACLArn: pulumi.String(cloudFrontACL),
		})
		return err
	})
	for _, field := range []string{"CloudFrontProvider", "LogsKeyArn", "LogRetentionDays"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error %v, want one naming %s (the access logs)", err, field)
		}
	}
}

func TestDomainArgsAreChecked(t *testing.T) {
	_, err := harness.Run("131016-prod", nil, func(ctx *pulumi.Context) error {
		namer, _ := naming.NewNamer("131016-prod", "")
		_, err := edge.NewDomain(ctx, "cats-domain", edge.DomainArgs{Namer: namer, Domain: "cats.example.com", MunicipalityStack: true, MunicipalityCode: "131016"})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "EnvironmentZoneID") || !strings.Contains(err.Error(), "CloudFrontProvider") {
		t.Errorf("error %v, want one naming EnvironmentZoneID and CloudFrontProvider", err)
	}
}
