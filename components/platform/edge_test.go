package platform_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/security"
	"github.com/cats-analytics/cats-analytics/plan"
)

// TestDomainPerStack: the stack that owns its account's baseline creates the
// hosted zone and exports its id; a shared municipality stack puts its names
// in its environment's zone; without a domain there is neither zone nor
// certificate.
func TestDomainPerStack(t *testing.T) {
	for _, tc := range stackKinds {
		t.Run(tc.name, func(t *testing.T) {
			r := runPlatform(t, tc.stack, tc.cfg)
			rec, outputs := r.rec, r.outputs
			zones := rec.ByType("aws:route53/zone:Zone")
			switch tc.wantZone {
			case "":
				if len(zones) != 0 || len(rec.ByType("aws:acm/certificate:Certificate")) != 0 || outputs["zoneId"] != "" {
					t.Errorf("cats:domain none: want no zone and no certificates, got %d zones, zoneId %q", len(zones), outputs["zoneId"])
				}
			case "own":
				if len(zones) != 1 || zones[0].Str("name") != "cats.example.com" {
					t.Fatalf("want the hosted zone cats.example.com in this stack (seed §4 Route53), got %d", len(zones))
				}
				if outputs["zoneId"] != zones[0].Outputs["zoneId"].StringValue() {
					t.Errorf("zoneId output %q, want the zone's id: shared municipality stacks read it", outputs["zoneId"])
				}
			default:
				if len(zones) != 0 {
					t.Errorf("a shared municipality stack must not create a second zone")
				}
				record, ok := rec.Find("aws:route53/record:Record", "cats-compute-app-record")
				if !ok || record.Str("zoneId") != tc.wantZone {
					t.Errorf("app record in zone %q, want the environment's %s (StackReference zoneId)", record.Str("zoneId"), tc.wantZone)
				}
			}
		})
	}
}

// TestCDNServesOnlyPublishedData: the distribution's origin is this stack's
// data lake, through origin access control on published/ only, and the data
// lake's one bucket policy lets exactly this distribution read that prefix
// (DESIGN.md deviation 4: CloudFront on the raw data lake would publish
// residents' reports).
func TestCDNServesOnlyPublishedData(t *testing.T) {
	for _, tc := range []struct {
		name, stack string
		cfg         map[string]string
		wantURL     string
	}{
		{"dev", "dev", nil, "https://www.cats.example.com"},
		{"shared municipality", "131016-prod", nil, "https://131016.cats.example.com"},
		{"no domain", "dev", map[string]string{"cats:domain": "none"}, "https://cats-cdn-distribution.cloudfront.net"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runPlatform(t, tc.stack, tc.cfg)
			rec, cdnURL := r.rec, r.outputs["cdnUrl"]

			dist := rec.One(t, "aws:cloudfront/distribution:Distribution")
			var lake plan.Resource
			for _, b := range rec.ByType("aws:s3/bucketV2:BucketV2") {
				if strings.HasPrefix(b.Str("bucket"), "cats-data-lake-") && !strings.HasPrefix(b.Str("bucket"), "cats-data-lake-logs-") {
					lake = b
				}
			}
			origins := dist.Input("origins").ArrayValue()
			if len(origins) != 1 {
				t.Fatalf("distribution has %d origins, want the data lake only", len(origins))
			}
			origin := origins[0].ObjectValue()
			if got, want := origin["domainName"].StringValue(), lake.Outputs["bucketRegionalDomainName"].StringValue(); got != want || want == "" {
				t.Errorf("CDN origin %q, want this stack's data lake %q (seed §4 CloudFront オリジン S3)", got, want)
			}
			// CloudFront refuses an origin path that ends in a slash.
			if origin["originPath"].StringValue() != "/published" || origin["originAccessControlId"].StringValue() == "" {
				t.Errorf("origin path %q with OAC %q, want /published through origin access control (DESIGN.md deviation 4)",
					origin["originPath"].StringValue(), origin["originAccessControlId"].StringValue())
			}
			if cdnURL != tc.wantURL {
				t.Errorf("cdnUrl %q, want %q", cdnURL, tc.wantURL)
			}

			var lakePolicy string
			for _, bp := range rec.ByType("aws:s3/bucketPolicy:BucketPolicy") {
				if bp.Str("bucket") == lake.Str("bucket") {
					lakePolicy = bp.Str("policy")
				}
			}
			found, res, cond := statement(t, lakePolicy, "CloudFrontReadsPublished")
			distArn := dist.Outputs["arn"].StringValue()
			if !found || fmt.Sprint(res) != "[arn:aws:s3:::"+lake.Str("bucket")+"/published/*]" || cond["StringEquals"]["AWS:SourceArn"] != distArn {
				t.Errorf("data lake policy %s: want CloudFrontReadsPublished on published/* for the distribution %s only", lakePolicy, distArn)
			}
			if !strings.Contains(lakePolicy, "aws:SecureTransport") {
				t.Errorf("the data lake's one policy must keep its TLS-only statement beside the CloudFront read: %s", lakePolicy)
			}
			if n := len(rec.ByType("aws:kms/keyPolicy:KeyPolicy")); n != 0 {
				t.Errorf("with SSE-S3 (the seed's AES-256) the data key needs no CloudFront statement, got %d key policies", n)
			}
		})
	}
}

// TestKMSDataLakeLetsTheDistributionDecrypt: with cats:dataLakeEncryption
// aws:kms, S3 decrypts published objects for CloudFront only if the data
// key's policy allows the distribution; it must, and only that distribution,
// while keeping the key's own statements.
func TestKMSDataLakeLetsTheDistributionDecrypt(t *testing.T) {
	for _, stack := range []string{"dev", "131016-prod"} {
		t.Run(stack, func(t *testing.T) {
			rec := run(t, stack, map[string]string{"cats:dataLakeEncryption": "aws:kms"})
			dataKey, ok := rec.Find("aws:kms/key:Key", "cats-security-data-key")
			if !ok {
				t.Fatal("no data key")
			}
			if p := dataKey.Str("policy"); p != "" {
				t.Errorf("the data key's policy must be set once, by its KeyPolicy, not also inline: %s", p)
			}
			policies := rec.ByType("aws:kms/keyPolicy:KeyPolicy")
			if len(policies) != 1 || policies[0].Str("keyId") != dataKey.Outputs["keyId"].StringValue() {
				t.Fatalf("want one KeyPolicy on the data key, got %d", len(policies))
			}
			if owner, _ := rec.Parent(policies[0]); owner.Type != security.Type {
				t.Errorf("the data key's policy is a child of %q; it belongs to the security tier, which owns the key (and a new parent would replace it in every stack)", owner.Type)
			}
			policy := policies[0].Str("policy")
			dist := rec.One(t, "aws:cloudfront/distribution:Distribution")
			found, _, cond := statement(t, policy, "CloudFrontDecryptsPublished")
			if !found || cond["StringEquals"]["AWS:SourceArn"] != dist.Outputs["arn"].StringValue() {
				t.Errorf("data key policy %s: want CloudFrontDecryptsPublished for the distribution %s only", policy, dist.Outputs["arn"].StringValue())
			}
			for _, sid := range []string{"AccountAdministers", "CloudWatchAlarmsPublish"} {
				if ok, _, _ := statement(t, policy, sid); !ok {
					t.Errorf("data key policy lost its own statement %s: %s", sid, policy)
				}
			}
			if strings.Contains(policy, "kms:Encrypt") || strings.Contains(policy, "kms:GenerateDataKey\"") {
				t.Errorf("CloudFront only reads: %s", policy)
			}
		})
	}
}

// TestCDNLogsAccess: the distribution's standard logging (FSBP
// CloudFront.5), the kind CloudWatch Logs delivers (v2): the distribution as
// the delivery source, an encrypted log group in us-east-1 as the
// destination, and the delivery between them.
func TestCDNLogsAccess(t *testing.T) {
	for _, kind := range stackKinds {
		t.Run(kind.name, func(t *testing.T) {
			rec := run(t, kind.stack, kind.cfg)
			dist := rec.One(t, "aws:cloudfront/distribution:Distribution")
			source := rec.One(t, "aws:cloudwatch/logDeliverySource:LogDeliverySource")
			destination := rec.One(t, "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination")
			delivery := rec.One(t, "aws:cloudwatch/logDelivery:LogDelivery")
			if source.Str("resourceArn") != out(dist, "arn") || source.Str("logType") != "ACCESS_LOGS" {
				t.Errorf("delivery source = %v, want the distribution's ACCESS_LOGS", source.Inputs)
			}
			group, ok := rec.Find("aws:cloudwatch/logGroup:LogGroup", "cats-cdn-access-logs")
			if !ok {
				t.Fatal("no access log group for the distribution")
			}
			if got := str(in(destination, "deliveryDestinationConfiguration", "destinationResourceArn")); got != out(group, "arn") {
				t.Errorf("delivery destination %q, want the access log group %q", got, out(group, "arn"))
			}
			if delivery.Str("deliverySourceName") != out(source, "name") || delivery.Str("deliveryDestinationArn") != out(destination, "arn") {
				t.Errorf("delivery = %v, want the distribution's source to the log group's destination", delivery.Inputs)
			}
			key, _ := rec.Find("aws:kms/key:Key", "cats-security-cloudfront-logs-key")
			if group.Str("kmsKeyId") != out(key, "arn") || num(group.Input("retentionInDays")) <= 0 {
				t.Errorf("access log group = %v, want the us-east-1 logs key and a retention", group.Inputs)
			}
			for _, r := range []plan.Resource{source, destination, delivery, group, key} {
				if !strings.Contains(r.Provider, "cats-us-east-1") {
					t.Errorf("%s %s is created through %q, want the us-east-1 provider (CloudFront delivers its logs there)", r.Type, r.Name, r.Provider)
				}
			}
			underTier(t, rec, source, "cats:edge:Cdn")
		})
	}
}
