package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

func parse(stack string, values map[string]string) (Config, error) {
	return Parse(DefaultOrganization, Project, stack, FromMap(values))
}

func TestDefaultsAreTheSeeds(t *testing.T) {
	c, err := parse("dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"VPC CIDR (seed §5)", c.Network.VpcCidr.String(), "10.0.0.0/16"},
		{"public subnets (seed §5)", c.Network.PublicSubnetCidrs[0].String() + " " + c.Network.PublicSubnetCidrs[1].String(), "10.0.1.0/24 10.0.2.0/24"},
		{"private subnets (seed §5)", c.Network.PrivateSubnetCidrs[0].String() + " " + c.Network.PrivateSubnetCidrs[1].String(), "10.0.10.0/24 10.0.20.0/24"},
		{"instance type (seed §4 EC2/ECS)", c.Compute.InstanceType, "t3.medium"},
		{"ASG minimum (seed §4)", c.Compute.MinInstances, 2},
		{"ASG maximum (seed §4)", c.Compute.MaxInstances, 10},
		{"Lambda memory (seed §4)", c.Functions.MemoryMB, 1024},
		{"Lambda timeout 3 min (seed §4)", c.Functions.TimeoutSeconds, 180},
		// The seed's 5 MB is below Firehose's 64 MB floor with Parquet conversion.
		{"Firehose buffer 64 MB (Parquet minimum; seed §4 says 5)", c.Streaming.BufferSizeMB, 64},
		{"Firehose buffer 60 s (seed §4)", c.Streaming.BufferIntervalSeconds, 60},
		{"aggregation window 60 s (seed §3: real time)", c.Streaming.AggregationWindowSeconds, 60},
		{"S3 SSE AES-256 (seed §4)", c.DataLake.Encryption, EncryptionAES256},
		{"hosted zone (seed §4 Route53)", c.Edge.Domain, "cats.example.com"},
		{"CloudFront TTL one day (seed §4)", c.Edge.DefaultTTLSeconds, 86400},
		{"region (DESIGN.md)", c.Region, "ap-northeast-1"},
		{"one NAT gateway in dev (DESIGN.md)", c.Network.NatGateways, NatSingle},
		{"dev log retention", c.Security.LogRetentionDays, 30},
		{"environment from stack name", c.Environment, Dev},
		{"dev owns its baseline", c.OwnsBaseline(), true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.what, ch.got, ch.want)
		}
	}
}

func TestStackKinds(t *testing.T) {
	tests := []struct {
		stack        string
		values       map[string]string
		env, code    string
		municipality bool
		owns         bool
		envStack     string
	}{
		{stack: "prod", env: Prod, owns: true, envStack: "organization/cats-analytics/prod"},
		{stack: "dev", values: map[string]string{"cats:municipalityCode": "131016"}, env: Dev, code: "131016", owns: true},
		{stack: "131016-prod", env: Prod, code: "131016", municipality: true, owns: false, envStack: "organization/cats-analytics/prod"},
		{stack: "011002-dev", values: map[string]string{"cats:tenancy": "account"}, env: Dev, code: "011002", municipality: true, owns: true},
		{stack: "sandbox", values: map[string]string{"cats:environment": "dev"}, env: Dev, owns: true},
	}
	for _, tt := range tests {
		t.Run(tt.stack, func(t *testing.T) {
			c, err := parse(tt.stack, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			if c.Environment != tt.env || c.MunicipalityCode != tt.code || c.MunicipalityStack != tt.municipality {
				t.Errorf("got env %q code %q municipality stack %v; want %q %q %v", c.Environment, c.MunicipalityCode, c.MunicipalityStack, tt.env, tt.code, tt.municipality)
			}
			if c.OwnsBaseline() != tt.owns {
				t.Errorf("OwnsBaseline = %v, want %v: AWS Config allows one recorder per account and region", c.OwnsBaseline(), tt.owns)
			}
			if tt.envStack != "" && c.EnvironmentStack != tt.envStack {
				t.Errorf("EnvironmentStack = %q, want %q", c.EnvironmentStack, tt.envStack)
			}
		})
	}
	c, _ := parse("prod", nil)
	if c.Network.NatGateways != NatPerAZ || c.Security.LogRetentionDays != 365 {
		t.Errorf("prod defaults: NAT %q retention %d; want per-az and 365", c.Network.NatGateways, c.Security.LogRetentionDays)
	}
}

func TestBadValuesAreRejectedWithTheKey(t *testing.T) {
	tests := []struct {
		name   string
		stack  string
		values map[string]string
		want   []string // every fragment must appear in the error
	}{
		{"subnet outside the VPC", "dev", map[string]string{"cats:publicSubnetCidrs": `["10.1.1.0/24","10.0.2.0/24"]`},
			[]string{"cats:publicSubnetCidrs", "10.1.1.0/24", "outside the VPC 10.0.0.0/16"}},
		{"overlapping subnets", "dev", map[string]string{"cats:privateSubnetCidrs": `["10.0.1.0/24","10.0.20.0/24"]`},
			[]string{"cats:privateSubnetCidrs", "10.0.1.0/24 overlaps 10.0.1.0/24", "must not overlap"}},
		{"overlap inside a larger block", "dev", map[string]string{"cats:privateSubnetCidrs": `["10.0.0.0/20","10.0.20.0/24"]`},
			[]string{"cats:privateSubnetCidrs", "overlaps"}},
		{"not a CIDR", "dev", map[string]string{"cats:vpcCidr": "10.0.0.0/33"},
			[]string{"cats:vpcCidr", "not an IPv4 CIDR block"}},
		{"host bits set", "dev", map[string]string{"cats:vpcCidr": "10.0.0.1/16"},
			[]string{"cats:vpcCidr", "did you mean 10.0.0.0/16"}},
		{"VPC too large", "dev", map[string]string{"cats:vpcCidr": "10.0.0.0/8"},
			[]string{"cats:vpcCidr", "between /16 and /24"}},
		{"one subnet only", "dev", map[string]string{"cats:publicSubnetCidrs": "10.0.1.0/24"},
			[]string{"cats:publicSubnetCidrs", "has 1 subnets; give exactly 2"}},
		{"min greater than max", "dev", map[string]string{"cats:minInstances": "5", "cats:maxInstances": "3"},
			[]string{"cats:minInstances (5) is greater than cats:maxInstances (3)"}},
		{"not a number", "dev", map[string]string{"cats:maxInstances": "ten"},
			[]string{"cats:maxInstances", `"ten" must be a whole number`}},
		{"Lambda memory out of range", "dev", map[string]string{"cats:lambdaMemoryMb": "64"},
			[]string{"cats:lambdaMemoryMb", "between 128 and 10240"}},
		{"unknown environment", "sandbox", map[string]string{"cats:environment": "staging"},
			[]string{"cats:environment", `"staging" must be dev or prod`}},
		{"environment missing", "sandbox", nil,
			[]string{"cats:environment is required", "dev, prod or <code>-<env>"}},
		{"environment contradicts stack", "prod", map[string]string{"cats:environment": "dev"},
			[]string{"cats:environment", "contradicts the stack name"}},
		{"unknown environment in stack name", "131016-staging", nil,
			[]string{`environment "staging" is unknown`}},
		{"wrong check digit", "131015-prod", nil,
			[]string{"cats:municipalityCode", "wrong check digit", "131016 would be valid"}},
		{"code not on the list", "dev", map[string]string{"cats:municipalityCode": "999997"},
			[]string{"cats:municipalityCode", "not on the 2024-01-01 list"}},
		{"prefecture code", "dev", map[string]string{"cats:municipalityCode": "130001"},
			[]string{"cats:municipalityCode", "is the prefecture 東京都"}},
		{"tenancy on an environment stack", "prod", map[string]string{"cats:tenancy": "account"},
			[]string{"cats:tenancy", "municipality stacks only"}},
		{"unknown tenancy", "131016-prod", map[string]string{"cats:tenancy": "dedicated"},
			[]string{"cats:tenancy", "must be one of shared, account"}},
		{"NAT layout", "dev", map[string]string{"cats:natGateways": "none"},
			[]string{"cats:natGateways", "must be one of single, per-az"}},
		{"retention CloudWatch refuses", "dev", map[string]string{"cats:logRetentionDays": "45"},
			[]string{"cats:logRetentionDays", "values CloudWatch Logs accepts"}},
		{"bad region", "dev", map[string]string{"aws:region": "tokyo"},
			[]string{"aws:region", "AWS region such as ap-northeast-1"}},
		{"zone of another region", "dev", map[string]string{"cats:availabilityZones": `["us-east-1a","us-east-1b"]`},
			[]string{"cats:availabilityZones", "not a zone of ap-northeast-1"}},
		{"same zone twice", "dev", map[string]string{"cats:availabilityZones": `["ap-northeast-1a","ap-northeast-1a"]`},
			[]string{"cats:availabilityZones", "listed twice"}},
		{"bad e-mail", "dev", map[string]string{"cats:alarmEmail": "ops at example"},
			[]string{"cats:alarmEmail", "plain e-mail address"}},
		{"QuickSight without principal", "dev", map[string]string{"cats:quicksightEnabled": "true"},
			[]string{"cats:quicksightPrincipal is required"}},
		{"bad bool", "dev", map[string]string{"cats:quicksightEnabled": "yes please"},
			[]string{"cats:quicksightEnabled", "true or false"}},
		{"bad encryption", "dev", map[string]string{"cats:dataLakeEncryption": "rot13"},
			[]string{"cats:dataLakeEncryption", "AES256, aws:kms"}},
		{"bad domain", "dev", map[string]string{"cats:domain": "Cats_Example"},
			[]string{"cats:domain", "lower-case DNS name"}},
		{"bad instance type", "dev", map[string]string{"cats:instanceType": "medium"},
			[]string{"cats:instanceType", "such as t3.medium"}},
		// Firehose refuses less than 60 s with dynamic partitioning: refused
		// here, not by the streaming tier after the tiers before it registered.
		{"Firehose interval below dynamic partitioning's minimum", "dev", map[string]string{"cats:firehoseBufferIntervalSeconds": "30"},
			[]string{"cats:firehoseBufferIntervalSeconds", `"30" must be between 60 and 900`, "dynamic partitioning"}},
		{"Firehose buffer below the Parquet minimum", "dev", map[string]string{"cats:firehoseBufferSizeMb": "5"},
			[]string{"cats:firehoseBufferSizeMb", "between 64 and 128", "Parquet"}},
		{"Firehose buffer above Firehose's maximum", "dev", map[string]string{"cats:firehoseBufferSizeMb": "129"},
			[]string{"cats:firehoseBufferSizeMb", "between 64 and 128"}},
		{"no aggregation window", "dev", map[string]string{"cats:aggregationWindowSeconds": "0"},
			[]string{"cats:aggregationWindowSeconds", "between 1 and 900"}},
		{"aggregation window beyond Lambda's", "dev", map[string]string{"cats:aggregationWindowSeconds": "901"},
			[]string{"cats:aggregationWindowSeconds", "between 1 and 900"}},
		{"negative CloudFront TTL", "dev", map[string]string{"cats:cdnDefaultTtlSeconds": "-1"},
			[]string{"cats:cdnDefaultTtlSeconds", "between 0 and 31536000"}},
		{"CloudFront TTL beyond the policy's maximum", "dev", map[string]string{"cats:cdnDefaultTtlSeconds": "31536001"},
			[]string{"cats:cdnDefaultTtlSeconds", "between 0 and 31536000"}},
		{"WAF rate limit below every region's minimum", "dev", map[string]string{"cats:wafRateLimit": "10"},
			[]string{"cats:wafRateLimit", "between 100 and 2000000000"}},
		{"container port", "dev", map[string]string{"cats:containerPort": "70000"},
			[]string{"cats:containerPort", "between 1 and 65535"}},
		{"image with a space", "dev", map[string]string{"cats:containerImage": "nginx latest"},
			[]string{"cats:containerImage", "image reference"}},
		{"empty image", "dev", map[string]string{"cats:containerImage": ""},
			[]string{"cats:containerImage is empty"}},
		{"environment stack not qualified", "131016-prod", map[string]string{"cats:environmentStack": "prod"},
			[]string{"cats:environmentStack", "org/project/stack"}},
		{"QuickSight on an environment stack without a tenant", "dev", map[string]string{"cats:quicksightEnabled": "true",
			"cats:quicksightPrincipal": "arn:aws:quicksight:ap-northeast-1:123456789012:user/default/analyst"},
			[]string{"cats:quicksightEnabled", "set cats:municipalityCode"}},
		{"bad QuickSight principal", "131016-prod", map[string]string{"cats:quicksightPrincipal": "analyst"},
			[]string{"cats:quicksightPrincipal", "user or group ARN"}},
		{"stack name too long for a load balancer", "a-sandbox-stack-name-too-long", map[string]string{"cats:environment": "dev"},
			[]string{"a-sandbox-stack-name-too-long", "at most 23", "load balancer"}},
		{"global suffix too long for a bucket", "dev", map[string]string{"cats:globalSuffix": "a-very-long-organisation"},
			[]string{"cats:globalSuffix", "at most 18", "S3"}},
		{"upper-case stack", "Dev", map[string]string{"cats:environment": "dev"},
			[]string{`stack name "Dev"`, "lower-case"}},
		{"global suffix not lower-case", "dev", map[string]string{"cats:globalSuffix": "UPPER"},
			[]string{"cats:globalSuffix", "lower-case"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.stack, tt.values)
			if err == nil {
				t.Fatalf("config %v on stack %s was accepted; want an error", tt.values, tt.stack)
			}
			for _, frag := range tt.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error does not say %q:\n%v", frag, err)
				}
			}
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	_, err := parse("dev", map[string]string{"cats:minInstances": "0", "cats:lambdaTimeoutSeconds": "901", "cats:vpcCidr": "x"})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, k := range []string{"cats:minInstances", "cats:lambdaTimeoutSeconds", "cats:vpcCidr"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error should name %s so the user fixes everything in one pass:\n%v", k, err)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	got := UnknownKeys(map[string]string{"cats:vpcCidr": "10.0.0.0/16", "cats:vpcCdir": "x", "aws:region": "ap-northeast-1"})
	if len(got) != 1 || got[0] != "cats:vpcCdir" {
		t.Errorf("UnknownKeys = %v, want [cats:vpcCdir] (a typo must not pass silently; other namespaces are not ours)", got)
	}
}

func TestListsAcceptCommaSeparated(t *testing.T) {
	c, err := parse("dev", map[string]string{"cats:publicSubnetCidrs": "10.0.3.0/24, 10.0.4.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Network.PublicSubnetCidrs[1].String(); got != "10.0.4.0/24" {
		t.Errorf("second public subnet = %s, want 10.0.4.0/24", got)
	}
}

func TestStreamingKeys(t *testing.T) {
	if unknown := UnknownKeys(map[string]string{"cats:aggregationWindowSeconds": "60"}); len(unknown) != 0 {
		t.Errorf("cats:aggregationWindowSeconds must be a known key, got unknown %v", unknown)
	}
	c, err := parse("dev", map[string]string{"cats:firehoseBufferIntervalSeconds": "900", "cats:firehoseBufferSizeMb": "128"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Streaming.BufferIntervalSeconds != 900 || c.Streaming.BufferSizeMB != 128 {
		t.Errorf("Firehose's maxima must be accepted as given, got %+v", c.Streaming)
	}
}

// TestZeroTTLIsKept: CloudFront allows a default TTL of 0 (cache only what
// the origin's Cache-Control allows); it is a value, not "unset".
func TestZeroTTLIsKept(t *testing.T) {
	c, err := parse("dev", map[string]string{"cats:cdnDefaultTtlSeconds": "0"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Edge.DefaultTTLSeconds != 0 {
		t.Errorf("cats:cdnDefaultTtlSeconds 0 became %d: a value Parse accepts must be used as given", c.Edge.DefaultTTLSeconds)
	}
}

// TestEveryKeyIsComplete: each entry of the table says what it is, who sets
// it, which tiers use it, and how it is read.
func TestEveryKeyIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys {
		if seen[k.Name] {
			t.Errorf("%s is listed twice", k.FullName())
		}
		seen[k.Name] = true
		if k.Description == "" || len(k.Tiers) == 0 || k.parse == nil {
			t.Errorf("%s lacks a description, its tiers or its parse", k.FullName())
		}
		if k.defaultFor != nil && k.Default != "" {
			t.Errorf("%s has both a fixed default and one that depends on the stack", k.FullName())
		}
		if k.defaultFor != nil && !strings.Contains(strings.ToLower(k.Description), "default") && !strings.Contains(k.Description, "Derived") {
			t.Errorf("%s: a default that depends on the stack must be described: %q", k.FullName(), k.Description)
		}
	}
}

// TestDefaultsAreParsed: a key left out and a key set to its table default
// give the same configuration, on every kind of stack, so the defaults
// Pulumi.yaml declares (a test in components/platform compares them with the
// table) are the ones the program uses.
func TestDefaultsAreParsed(t *testing.T) {
	for _, stack := range []string{"dev", "prod", "131016-prod"} {
		want, err := parse(stack, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range Keys {
			if k.Default == "" {
				continue
			}
			got, err := parse(stack, map[string]string{k.FullName(): k.Default})
			if err != nil {
				t.Errorf("%s: the table's default %q is refused: %v", k.FullName(), k.Default, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s set to its default %q gives %+v, left out %+v", stack, k.FullName(), k.Default, got, want)
			}
		}
	}
}

func TestWhoSetsWhat(t *testing.T) {
	platform := PlatformTeamKeys()
	sort.Strings(platform)
	if want := []string{"cats:environmentStack", "cats:globalSuffix", "cats:tenancy"}; !reflect.DeepEqual(platform, want) {
		t.Errorf("platform-team keys = %v, want %v: tenancy and cross-stack wiring are not a municipality's to choose", platform, want)
	}
	municipal := MunicipalityKeys()
	for _, k := range append(platform, "cats:environment", "cats:municipalityCode") {
		if slices.Contains(municipal, k) {
			t.Errorf("a municipality may not set %s", k)
		}
	}
	if len(municipal)+len(platform)+2 != len(Keys) {
		t.Errorf("%d municipality and %d platform-team keys of %d: every key has one setter", len(municipal), len(platform), len(Keys))
	}
}

// TestREADMEListsTheKeys keeps the README's table of keys (defaults and who
// may set them) generated from the table.
func TestREADMEListsTheKeys(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := KeyTable(); !strings.Contains(string(raw), want) {
		t.Errorf("README.md must hold the table of config keys as config.KeyTable renders it:\n%s", want)
	}
}

// TestControlCharactersAndOverlongValuesAreRefused: a value with a NUL byte
// made every later CLI call on the stack fail; the error names the key.
func TestControlCharactersAndOverlongValuesAreRefused(t *testing.T) {
	for name, value := range map[string]string{
		"NUL": "t3.large\x00", "line break": "t3.large\nx", "tab": "t3\tlarge", "DEL": "t3.large\x7f",
		"C1 control": "t3.large\u0085", "not UTF-8": "t3.\xfflarge", "overlong": strings.Repeat("t", MaxValueBytes+1),
	} {
		_, err := Parse("", Project, "131016-dev", FromMap(map[string]string{"cats:instanceType": value}))
		if err == nil || !strings.Contains(err.Error(), "cats:instanceType") {
			t.Errorf("%s: %v, want an error naming cats:instanceType", name, err)
		}
	}
	if _, err := Parse("", Project, "131016-dev", FromMap(map[string]string{"aws:region": "ap-northeast-1\x00"})); err == nil ||
		!strings.Contains(err.Error(), "aws:region") {
		t.Errorf("a NUL in aws:region: %v, want an error naming it", err)
	}
	if _, err := Parse("", Project, "131016-dev", FromMap(map[string]string{"cats:instanceType": "t3.large"})); err != nil {
		t.Errorf("a plain value: %v", err)
	}
}
