package cost_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/plan/cost"
)

func mustPlan(t testing.TB, stack string, config map[string]string) *plan.Result {
	t.Helper()
	cfg, err := plan.StackConfig("../..", stack)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range config {
		cfg[k] = v
	}
	res, err := plan.Run(context.Background(), platform.Program, plan.Options{Stack: stack, Config: cfg})
	if err != nil {
		t.Fatalf("plan %s: %v", stack, err)
	}
	return res
}

func catalog(t testing.TB) *cost.Catalog {
	t.Helper()
	c, err := cost.Default()
	if err != nil {
		t.Fatalf("the price tables kept in the repository must load: %v", err)
	}
	return c
}

// near compares money to a thousandth of a cent: a wrong multiplier or a
// missing charge moves a figure by at least half a cent.
func near(a, b float64) bool { return math.Abs(a-b) < 1e-5 }

// The expected figures are computed by hand from prices/ap-northeast-1.json
// and prices/us-east-1.json (read 2026-12-01), 730 hours a month:
//
//	network     NAT gateway      n × 730 h × $0.062            = n × 45.26
//	            its public IPv4  n × 730 h × $0.005            = n × 3.65
//	security    2 KMS keys       2 × $1.00                     = 2.00
//	            logs key of us-east-1 (CloudFront's logs) $1.00 = 1.00
//	            regional WAF     $5.00 + 5 rules × $1.00       = 10.00
//	            CloudFront WAF   (us-east-1) $5.00 + 5 × $1.00 = 10.00     → 23.00
//	compute     t3.medium        m × 730 h × $0.0544           = m × 39.712
//	            gp3 root volume  30 GB × m × $0.096            = m × 2.88
//	            detailed monit.  7 metrics × m × $0.30         = m × 2.10
//	            ALB              730 h × $0.0243               = 17.739
//	            ALB public IPv4  2 subnets × 730 h × $0.005    = 7.30
//	streaming   Kinesis on-demand stream 730 h × $0.052        = 37.96
//	monitoring  alarms: 5 of one metric + 3 metric-math of two = 11 alarm metrics × $0.10 = 1.10
//	            dashboard        $3.00                                                    → 4.10
//	            where the stack owns the trail, 13 CIS alarms × $0.10 = 1.30              → 5.40
//	            (their metric filters publish only on a match: usage, not fixed)
//	edge        hosted zone      $0.50 (stacks that own their zone)
//
// with n NAT gateways (1 single, 2 per-az) and m = cats:minInstances (2).
func TestCostAgainstHandComputedFigures(t *testing.T) {
	const (
		security   = 23.00
		streaming  = 37.96
		monitoring = 4.10 // a stack that does not own the trail
		trailOwner = 5.40 // with the CIS alarms on the trail
	)
	cases := []struct {
		name, stack string
		config      map[string]string
		tiers       map[string]float64
		total       float64
	}{
		{
			// dev: one NAT gateway, two hosts, its own zone and trail.
			// 48.91 + 23.00 + 114.423 + 37.96 + 5.40 + 0.50 = 230.193
			name: "dev", stack: "dev",
			tiers: map[string]float64{"network": 48.91, "security": security, "compute": 114.423, "streaming": streaming, "monitoring": trailOwner, "edge": 0.50},
			total: 230.193,
		},
		{
			// prod: a NAT gateway per zone (2): 97.82 + 23.00 + 114.423 + 37.96 + 5.40 + 0.50 = 279.103
			name: "prod", stack: "prod",
			tiers: map[string]float64{"network": 97.82, "security": security, "compute": 114.423, "streaming": streaming, "monitoring": trailOwner, "edge": 0.50},
			total: 279.103,
		},
		{
			// a shared municipality in prod: per-az NAT, its own keys and web
			// ACLs, the environment's zone and trail (no edge charge, no CIS alarms):
			// 97.82 + 23.00 + 114.423 + 37.96 + 4.10 = 277.303
			name: "municipality", stack: "131016-prod",
			tiers: map[string]float64{"network": 97.82, "security": security, "compute": 114.423, "streaming": streaming, "monitoring": monitoring},
			total: 277.303,
		},
		{
			// a municipality with four hosts and one NAT gateway:
			// compute 4 × 44.692 + 25.039 = 203.807; 48.91 + 23.00 + 203.807 + 37.96 + 4.10 = 317.777
			name: "municipality, 4 hosts, single NAT", stack: "131016-prod",
			config: map[string]string{"cats:minInstances": "4", "cats:natGateways": "single"},
			tiers:  map[string]float64{"network": 48.91, "security": security, "compute": 203.807, "streaming": streaming, "monitoring": monitoring},
			total:  317.777,
		},
		{
			// a municipality with its own account owns its zone and trail:
			// 48.91 (dev: one NAT) + 23.00 + 114.423 + 37.96 + 5.40 + 0.50 = 230.193
			name: "municipality with its own account", stack: "011002-dev",
			config: map[string]string{"cats:tenancy": "account"},
			tiers:  map[string]float64{"network": 48.91, "security": security, "compute": 114.423, "streaming": streaming, "monitoring": trailOwner, "edge": 0.50},
			total:  230.193,
		},
	}
	c := catalog(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := c.Estimate(mustPlan(t, tc.stack, tc.config))
			if len(e.Unpriced) > 0 {
				t.Fatalf("every fixed charge of %s must be priced, unpriced: %v", tc.stack, e.Unpriced)
			}
			got := map[string]float64{}
			for _, tier := range e.Tiers {
				got[tier.Tier] = tier.MonthlyUSD
				if !near(tier.MonthlyJPY, tier.MonthlyUSD*c.Rate.JPYPerUSD) {
					t.Errorf("%s: ¥%.2f is not $%.4f at ¥%g/USD", tier.Tier, tier.MonthlyJPY, tier.MonthlyUSD, c.Rate.JPYPerUSD)
				}
			}
			for tier, want := range tc.tiers {
				if !near(got[tier], want) {
					t.Errorf("%s tier: $%.4f a month, want $%.4f (hand-computed above)", tier, got[tier], want)
				}
			}
			for tier, usd := range got {
				if _, ok := tc.tiers[tier]; !ok {
					t.Errorf("tier %s costs $%.4f a month, want nothing", tier, usd)
				}
			}
			if !near(e.MonthlyUSD, tc.total) || !near(e.MonthlyJPY, tc.total*c.Rate.JPYPerUSD) {
				t.Errorf("%s: $%.4f (¥%.0f) a month, want $%.4f", tc.stack, e.MonthlyUSD, e.MonthlyJPY, tc.total)
			}
			var sum float64
			for _, l := range e.Lines {
				sum += l.MonthlyUSD
				if !near(l.MonthlyUSD, l.Quantity*l.UnitUSD) {
					t.Errorf("%s %s: %g %s × $%g ≠ $%g", l.Name, l.Charge, l.Quantity, l.Unit, l.UnitUSD, l.MonthlyUSD)
				}
			}
			if !near(sum, e.MonthlyUSD) {
				t.Errorf("the lines add up to $%.4f, the total says $%.4f", sum, e.MonthlyUSD)
			}
		})
	}
}

// TestCostOfTheCloudFrontWebACLIsBilledInUSEast1: a CLOUDFRONT web ACL is created
// through the us-east-1 provider (AWS requires it there), so its charges come
// from that region's table.
func TestCostOfTheCloudFrontWebACLIsBilledInUSEast1(t *testing.T) {
	e := catalog(t).Estimate(mustPlan(t, "dev", nil))
	regions := map[string]string{}
	for _, l := range e.Lines {
		if l.Type == "aws:wafv2/webAcl:WebAcl" {
			regions[l.Name] = l.Region
		}
	}
	if regions["cats-security-waf-cloudfront"] != "us-east-1" || regions["cats-security-waf-regional"] != "ap-northeast-1" {
		t.Fatalf("web ACL regions: %v", regions)
	}
}

// configurations are every kind of plan the program makes: both
// environments, a shared municipality, a municipality with its own account
// (its own baseline) and one with QuickSight and an alarm e-mail on.
var configurations = []struct {
	stack  string
	config map[string]string
}{
	{"dev", nil},
	{"prod", nil},
	{"131016-prod", nil},
	{"011002-dev", map[string]string{"cats:tenancy": "account"}},
	{"131016-dev", map[string]string{
		"cats:quicksightEnabled":   "true",
		"cats:quicksightPrincipal": "arn:aws:quicksight:ap-northeast-1:123456789012:user/default/analyst",
		"cats:alarmEmail":          "alarms@example.com",
		"cats:dataLakeEncryption":  "aws:kms",
	}},
}

// TestCostCoversEveryPlannedType: a resource type the program starts to
// create must get a rule (priced, usage-based or free) before it ships, or
// the estimate would silently leave its cost out.
func TestCostCoversEveryPlannedType(t *testing.T) {
	c := catalog(t)
	for _, cfg := range configurations {
		res := mustPlan(t, cfg.stack, cfg.config)
		for _, r := range res.Resources {
			if cost.Classify(r.Type) == "" {
				t.Errorf("%s (%s): %s is neither priced nor listed as free or usage-based in plan/cost/rules.go", cfg.stack, r.Name, r.Type)
			}
		}
		for _, u := range c.Estimate(res).Unpriced {
			t.Errorf("%s: %s %s has a fixed charge the price tables cannot price: %s", cfg.stack, u.Type, u.Name, u.What)
		}
	}
}

// TestCostListsUsageChargesPerResource: what the estimate leaves out is named
// per resource, so a reader sees that the data lake's storage or the
// Lambda's invocations are extra.
func TestCostListsUsageChargesPerResource(t *testing.T) {
	e := catalog(t).Estimate(mustPlan(t, "131016-prod", nil))
	listed := map[string]string{}
	for _, item := range e.NotIncluded {
		listed[item.Type+" "+item.Name] = item.What
	}
	for _, want := range []string{
		"aws:s3/bucketV2:BucketV2 cats-datalake-bucket",
		"aws:dynamodb/table:Table cats-database-cats-info",
		"aws:lambda/function:Function cats-streaming-aggregator",
		"aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream cats-streaming-cats-data-stream",
		"aws:apigateway/restApi:RestApi cats-api-rest-api",
		"aws:cloudfront/distribution:Distribution cats-cdn-distribution",
		"aws:athena/workgroup:Workgroup cats-analytics-workgroup",
		"aws:lb/loadBalancer:LoadBalancer cats-compute-alb",    // LCUs beside the fixed hours
		"awsx:ec2:Vpc cats-network-vpc",                        // NAT data processing
		"aws:wafv2/webAcl:WebAcl cats-security-waf-cloudfront", // requests
	} {
		if listed[want] == "" {
			t.Errorf("%s: its usage-based charges must be listed as not included", want)
		}
	}
	if listed["aws:iam/role:Role cats-compute-task-role"] != "" {
		t.Errorf("IAM is free: a role has no usage-based charge to list")
	}
}

func TestCostJPYRate(t *testing.T) {
	c := catalog(t)
	if c.Rate.JPYPerUSD <= 0 || c.Rate.Date == "" || c.Rate.Source == "" {
		t.Fatalf("the default rate needs a value, a date and a source: %+v", c.Rate)
	}
	res := mustPlan(t, "131016-prod", nil)
	e := c.WithRate(cost.Rate{JPYPerUSD: 100, Date: "2026-12-01", Source: "test"}).Estimate(res)
	if !near(e.MonthlyJPY, e.MonthlyUSD*100) || e.Rate.Date != "2026-12-01" {
		t.Fatalf("a rate of ¥100/USD must give ¥%.2f, got ¥%.2f (%+v)", e.MonthlyUSD*100, e.MonthlyJPY, e.Rate)
	}
	if again := c.Estimate(res); again.Rate.JPYPerUSD != c.Rate.JPYPerUSD {
		t.Fatalf("WithRate must not change the catalog it copies")
	}
}

// TestCostPriceTablesSayWhereEachPriceComesFrom: the tables are only as good as
// their sources; a price without one, or not marked verified or unverified,
// is refused when the tables load.
func TestCostPriceTablesSayWhereEachPriceComesFrom(t *testing.T) {
	c := catalog(t)
	for _, region := range []string{"ap-northeast-1", "us-east-1"} {
		table, ok := c.Tables[region]
		if !ok {
			t.Fatalf("no price table for %s, a region the program uses", region)
		}
		if table.Read == "" || len(table.OfferFiles) == 0 {
			t.Errorf("%s: the table needs the date it was read and the offer files to check it against", region)
		}
		for key, p := range table.Prices {
			if !p.Verified() && !strings.HasPrefix(p.Status, "unverified, from ") {
				t.Errorf("%s %s: status %q", region, key, p.Status)
			}
		}
	}
	rate := `{"jpyPerUsd": 150, "date": "2026-12-01", "source": "test"}`
	good := `{"region": "ap-northeast-1", "currency": "USD", "read": "2026-12-01", "hoursPerMonth": 730, "prices": {
		"kms.key": {"usd": 1, "per": "month", "what": "key", "source": "https://aws.amazon.com/kms/pricing/", "status": "verified"}}}`
	if _, err := cost.Load(fstest.MapFS{"ap-northeast-1.json": {Data: []byte(good)}, "usd-jpy.json": {Data: []byte(rate)}}); err != nil {
		t.Fatalf("a well-formed table must load: %v", err)
	}
	for name, bad := range map[string]string{
		"no status":     strings.Replace(good, `"status": "verified"`, `"status": ""`, 1),
		"guessed price": strings.Replace(good, `"status": "verified"`, `"status": "probably right"`, 1),
		"no source":     strings.Replace(good, `"https://aws.amazon.com/kms/pricing/"`, `""`, 1),
		"no read date":  strings.Replace(good, `"read": "2026-12-01"`, `"read": ""`, 1),
		"wrong region":  strings.Replace(good, `"region": "ap-northeast-1"`, `"region": "us-east-1"`, 1),
	} {
		_, err := cost.Load(fstest.MapFS{"ap-northeast-1.json": {Data: []byte(bad)}, "usd-jpy.json": {Data: []byte(rate)}})
		if err == nil {
			t.Errorf("%s: the table must be refused", name)
		}
	}
	if _, err := cost.Load(fstest.MapFS{"ap-northeast-1.json": {Data: []byte(good)}}); err == nil {
		t.Errorf("tables without the exchange rate must be refused")
	}
}

// TestCostOfAnUnknownInstanceTypeIsUnpricedNotFree: a configuration the tables
// cannot price is reported, never counted as zero.
func TestCostOfAnUnknownInstanceTypeIsUnpricedNotFree(t *testing.T) {
	e := catalog(t).Estimate(mustPlan(t, "131016-prod", map[string]string{"cats:instanceType": "m7g.large"}))
	if !slices.ContainsFunc(e.Unpriced, func(i cost.Item) bool {
		return i.Type == "aws:autoscaling/group:Group" && strings.Contains(i.What, "ec2.m7g.large")
	}) {
		t.Fatalf("m7g.large has no price: the estimate must say so, got unpriced %v", e.Unpriced)
	}
}
