package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

// Setter says who may set a key.
type Setter int

const (
	// SetByMunicipality keys may be set for one municipality's stack.
	SetByMunicipality Setter = iota
	// SetByPlatformTeam keys choose a stack's tenancy or its wiring to other
	// stacks and to global names: only the platform team sets them (the
	// automation server answers 403 to any other token). Mark so every
	// future key that decides what a stack may read or own.
	SetByPlatformTeam
	// SetByStackName keys follow from the stack's name (dev, prod,
	// <code>-<env>): set them only on a stack named otherwise.
	SetByStackName
)

func (s Setter) String() string {
	switch s {
	case SetByMunicipality:
		return "municipality"
	case SetByPlatformTeam:
		return "platform team"
	case SetByStackName:
		return "stack name"
	}
	return fmt.Sprintf("Setter(%d)", int(s))
}

// Key is one configuration key under cats:.
type Key struct {
	Name        string // without the namespace
	Description string
	// Default is the seed's value as Pulumi.yaml declares it; empty for keys
	// whose default depends on the stack (see the description) or that are
	// optional.
	Default string
	// Tiers are the tiers that use the value (their component type tokens
	// are cats:<tier>:<Type>).
	Tiers []string
	// SetBy says who may set the key; SetByMunicipality when left out.
	SetBy Setter

	// defaultFor gives the default of a key whose default depends on the stack.
	defaultFor func(r *reading) string
	// parse reads the value (or the default) into the configuration and
	// checks the key's own rule.
	parse func(r *reading, v string, p *problems)
	// check applies the rules between keys, once every key is read.
	check func(r *reading, p *problems)
}

// FullName is the key with its namespace ("cats:vpcCidr").
func (k Key) FullName() string { return Namespace + ":" + k.Name }

// PlatformTeamKeys returns the full names of the keys only the platform team
// may set: tenancy and cross-stack wiring.
func PlatformTeamKeys() []string { return keysSetBy(SetByPlatformTeam) }

// MunicipalityKeys returns the full names of the keys a municipality's stack
// may set.
func MunicipalityKeys() []string { return keysSetBy(SetByMunicipality) }

// SetterOf says who may set a key, by its full name; ok is false for a key
// that is not in the table.
func SetterOf(fullName string) (s Setter, ok bool) {
	for _, k := range Keys {
		if k.FullName() == fullName {
			return k.SetBy, true
		}
	}
	return 0, false
}

func keysSetBy(s Setter) []string {
	var out []string
	for _, k := range Keys {
		if k.SetBy == s {
			out = append(out, k.FullName())
		}
	}
	return out
}

// Tier names, as in their component type tokens.
const (
	tierPlatform   = "platform"
	tierNetwork    = "network"
	tierSecurity   = "security"
	tierDataLake   = "datalake"
	tierDatabase   = "database"
	tierStreaming  = "streaming"
	tierAnalytics  = "analytics"
	tierAPI        = "api"
	tierCompute    = "compute"
	tierEdge       = "edge"
	tierMonitoring = "monitoring"
)

// Keys lists every key under cats:, in the order Parse reads them (a key's
// default may depend on the keys above it). Pulumi.yaml declares the same
// keys (a test keeps the two in step).
var Keys = []Key{
	{
		Name:        "environment",
		Description: "Environment of the stack: dev or prod. Derived from the stack name (dev, prod, <code>-<env>); set it only for other stack names.",
		Tiers:       []string{tierPlatform},
		SetBy:       SetByStackName,
		defaultFor:  func(r *reading) string { return r.envFromStack },
		parse: func(r *reading, v string, p *problems) {
			r.Environment = v
			switch {
			case v == "":
				p.bad("", fmt.Sprintf("is required for stack %q: set it to dev or prod, or name the stack dev, prod or <code>-<env>", r.Stack))
			case v != Dev && v != Prod:
				p.bad(v, "must be dev or prod")
			case r.envFromStack != "" && v != r.envFromStack:
				p.bad(v, fmt.Sprintf("contradicts the stack name %q (environment %s): remove the key", r.Stack, r.envFromStack))
			}
		},
	},
	{
		Name:        "municipalityCode",
		Description: "6-digit 全国地方公共団体コード of the municipality this stack serves. Derived from a <code>-<env> stack name; on dev and prod it names the default tenant (optional).",
		Tiers:       []string{tierPlatform, tierAnalytics, tierAPI, tierEdge},
		SetBy:       SetByStackName,
		defaultFor:  func(r *reading) string { return r.codeFromStack },
		parse: func(r *reading, v string, p *problems) {
			r.MunicipalityCode = v
			if v == "" {
				return
			}
			if err := municipality.Validate(v); err != nil {
				p.add("%v", err)
			} else if r.codeFromStack != "" && v != r.codeFromStack {
				p.bad(v, fmt.Sprintf("contradicts the stack name %q: remove the key", r.Stack))
			}
		},
	},
	{
		Name:        "tenancy",
		Description: "Municipality stacks only: shared (default: the environment's account, baseline by StackReference) or account (its own AWS account and baseline).",
		Tiers:       []string{tierPlatform, tierSecurity, tierEdge, tierAPI},
		SetBy:       SetByPlatformTeam,
		defaultFor: func(r *reading) string {
			if r.MunicipalityStack {
				return TenancyShared
			}
			return TenancyAccount
		},
		parse: func(r *reading, v string, p *problems) {
			if !r.MunicipalityStack {
				// An environment stack always owns its account's baseline.
				r.Tenancy = TenancyAccount
				if r.given["tenancy"] {
					p.bad(v, "applies to municipality stacks only: an environment stack always owns its account's baseline; remove the key")
				}
				return
			}
			oneOf(func(c *Config) *string { return &c.Tenancy }, TenancyShared, TenancyAccount)(r, v, p)
		},
	},
	{
		Name:        "environmentStack",
		Description: "Fully qualified environment stack a shared municipality stack references (default <org>/cats-analytics/<env>).",
		Tiers:       []string{tierPlatform},
		SetBy:       SetByPlatformTeam,
		defaultFor:  func(r *reading) string { return r.org + "/" + r.project + "/" + r.Environment },
		parse: func(r *reading, v string, p *problems) {
			r.EnvironmentStack = v
			parts := strings.Split(v, "/")
			if len(parts) != 3 || slices.Contains(parts, "") {
				p.bad(v, "must be a fully qualified stack name org/project/stack")
			}
		},
	},
	{
		Name:        "globalSuffix",
		Description: "Extra suffix for globally unique names (S3 buckets), e.g. your organisation's short name.",
		Tiers:       []string{tierSecurity, tierDataLake, tierCompute, tierEdge},
		SetBy:       SetByPlatformTeam,
		parse: func(r *reading, v string, p *problems) {
			r.GlobalSuffix = v
			if v == "" {
				return
			}
			if _, err := naming.NewNamer(r.Stack, ""); err != nil {
				return // the stack name's own problem is reported
			}
			if _, err := naming.NewNamer(r.Stack, v); err != nil {
				p.addErr(err)
			}
		},
	},
	{
		Name:        "vpcCidr",
		Description: "VPC CIDR block (seed §5).",
		Default:     "10.0.0.0/16",
		Tiers:       []string{tierNetwork},
		parse: func(r *reading, v string, p *problems) {
			pre, err := parsePrefix(v)
			if err != nil {
				p.bad(v, err.Error())
				return
			}
			r.Network.VpcCidr = pre
			if pre.Bits() < 16 || pre.Bits() > 24 {
				p.bad(v, "must be between /16 and /24 (AWS allows /16 to /28 and the subnets need room)")
			}
		},
	},
	{
		Name:        "publicSubnetCidrs",
		Description: "The two public subnets, one per availability zone (seed §5).",
		Default:     `["10.0.1.0/24","10.0.2.0/24"]`,
		Tiers:       []string{tierNetwork},
		parse:       subnets(func(c *Config) *[]netip.Prefix { return &c.Network.PublicSubnetCidrs }),
		check:       subnetsInVPC(func(c *Config) []netip.Prefix { return c.Network.PublicSubnetCidrs }),
	},
	{
		Name:        "privateSubnetCidrs",
		Description: "The two private subnets, one per availability zone (seed §5).",
		Default:     `["10.0.10.0/24","10.0.20.0/24"]`,
		Tiers:       []string{tierNetwork},
		parse:       subnets(func(c *Config) *[]netip.Prefix { return &c.Network.PrivateSubnetCidrs }),
		check: func(r *reading, p *problems) {
			subnetsInVPC(func(c *Config) []netip.Prefix { return c.Network.PrivateSubnetCidrs })(r, p)
			noOverlaps(r, p)
		},
	},
	{
		Name:        "availabilityZones",
		Description: "Two availability zone names; default: the region's first two.",
		Tiers:       []string{tierNetwork},
		parse: func(r *reading, v string, p *problems) {
			if v == "" {
				return
			}
			zones, ok := list(v, p)
			if !ok {
				return
			}
			r.Network.AvailabilityZones = zones
			if len(zones) != 2 {
				p.add("has %d zones; give exactly 2 (one per subnet pair)", len(zones))
			}
			for _, az := range zones {
				if !strings.HasPrefix(az, r.Region) || len(az) != len(r.Region)+1 {
					p.bad(az, fmt.Sprintf("is not a zone of %s (aws:region): use names such as %sa", r.Region, r.Region))
				}
			}
			if len(zones) == 2 && zones[0] == zones[1] {
				p.bad(zones[1], "is listed twice: multi-AZ (seed §6) needs two different zones")
			}
		},
	},
	{
		Name:        "natGateways",
		Description: "single or per-az. Default: single in dev, per-az in prod.",
		Tiers:       []string{tierNetwork},
		defaultFor: func(r *reading) string {
			if r.IsProd() {
				return NatPerAZ
			}
			return NatSingle
		},
		parse: oneOf(func(c *Config) *string { return &c.Network.NatGateways }, NatSingle, NatPerAZ),
	},
	{
		Name:        "instanceType",
		Description: "EC2 instance type of the ECS hosts (seed §4 EC2/ECS).",
		Default:     "t3.medium",
		Tiers:       []string{tierCompute},
		parse: matching(func(c *Config) *string { return &c.Compute.InstanceType },
			regexp.MustCompile(`^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$`), "must be an EC2 instance type such as t3.medium"),
	},
	{
		Name:        "minInstances",
		Description: "Auto Scaling minimum (seed §4).",
		Default:     "2",
		Tiers:       []string{tierCompute},
		parse:       intIn(func(c *Config) *int { return &c.Compute.MinInstances }, 1, 100, "(multi-AZ needs at least one host)"),
		check: func(r *reading, p *problems) {
			if c := r.Compute; c.MinInstances > c.MaxInstances {
				p.addErr(fmt.Errorf("%s (%d) is greater than %s (%d): lower the minimum or raise the maximum",
					p.key, c.MinInstances, Namespace+":maxInstances", c.MaxInstances))
			}
		},
	},
	{
		Name:        "maxInstances",
		Description: "Auto Scaling maximum (seed §4).",
		Default:     "10",
		Tiers:       []string{tierCompute},
		parse:       intIn(func(c *Config) *int { return &c.Compute.MaxInstances }, 1, 100, ""),
	},
	{
		Name:        "containerImage",
		Description: "Docker image of the application task (seed §4 タスク定義).",
		Default:     "public.ecr.aws/nginx/nginx:stable",
		Tiers:       []string{tierCompute},
		parse: matching(func(c *Config) *string { return &c.Compute.ContainerImage },
			regexp.MustCompile(`^[a-z0-9][^\s]*$`), "must be an image reference such as public.ecr.aws/nginx/nginx:stable"),
	},
	{
		Name:        "containerPort",
		Description: "Port the application container listens on.",
		Default:     "80",
		Tiers:       []string{tierNetwork, tierCompute},
		parse:       intIn(func(c *Config) *int { return &c.Compute.ContainerPort }, 1, 65535, ""),
	},
	{
		Name:        "lambdaMemoryMb",
		Description: "Memory of the cats-data-analysis Lambda in MB (seed §4).",
		Default:     "1024",
		Tiers:       []string{tierStreaming},
		parse:       intIn(func(c *Config) *int { return &c.Functions.MemoryMB }, 128, 10240, "(Lambda's range)"),
	},
	{
		Name:        "lambdaTimeoutSeconds",
		Description: "Timeout of the cats-data-analysis Lambda in seconds (seed §4: 3 minutes).",
		Default:     "180",
		Tiers:       []string{tierStreaming},
		parse:       intIn(func(c *Config) *int { return &c.Functions.TimeoutSeconds }, 1, 900, "(Lambda's range)"),
	},
	{
		Name:        "firehoseBufferSizeMb",
		Description: "Firehose buffer size in MB. The seed's 5 MB is below the 64 MB Firehose requires with Parquet conversion; the seed's 60 s interval still sets the delivery pace.",
		Default:     "64",
		Tiers:       []string{tierStreaming},
		// Firehose rejects smaller buffers when it converts records to
		// Parquet ("BufferingHints.SizeInMBs must be at least 64 when data
		// format conversion is enabled"); the seed's 5 MB cannot be deployed
		// with the Glue-schema Parquet the data lake needs. At municipal
		// volumes the 60 s interval fills first either way.
		parse: intIn(func(c *Config) *int { return &c.Streaming.BufferSizeMB }, 64, 128,
			"(Firehose needs at least 64 MB when it converts records to Parquet, and allows at most 128)"),
	},
	{
		Name:        "firehoseBufferIntervalSeconds",
		Description: "Firehose buffer interval in seconds (seed §4; 60 to 900 with dynamic partitioning).",
		Default:     "60",
		Tiers:       []string{tierStreaming},
		// Firehose accepts 0 to 900 s, but at least 60 s with dynamic
		// partitioning, which writes the municipality/date partitions.
		parse: intIn(func(c *Config) *int { return &c.Streaming.BufferIntervalSeconds }, 60, 900,
			"(Firehose buffers at least 60 s with dynamic partitioning, which the data lake's partitions need)"),
	},
	{
		Name:        "aggregationWindowSeconds",
		Description: "Tumbling window of the cats-data-analysis aggregation in seconds (1 to 900; seed §3: real time).",
		Default:     "60",
		Tiers:       []string{tierStreaming},
		// Lambda's tumbling windows are 0 (none) to 900 s; the aggregation needs one.
		parse: intIn(func(c *Config) *int { return &c.Streaming.AggregationWindowSeconds }, 1, 900,
			"(Lambda's tumbling window range; the aggregation needs a window)"),
	},
	{
		Name:        "dataLakeEncryption",
		Description: "AES256 (seed §4) or aws:kms with the stack's data key.",
		Default:     EncryptionAES256,
		Tiers:       []string{tierDataLake, tierAnalytics, tierStreaming, tierSecurity, tierEdge},
		parse:       oneOf(func(c *Config) *string { return &c.DataLake.Encryption }, EncryptionAES256, EncryptionKMS),
	},
	{
		Name:        "domain",
		Description: "Route53 hosted zone (seed §4). Set to \"none\" to run on the default AWS domains.",
		Default:     "cats.example.com",
		Tiers:       []string{tierEdge, tierCompute},
		parse: func(r *reading, v string, p *problems) {
			if v == "none" {
				r.Edge.Domain = ""
				return
			}
			matching(func(c *Config) *string { return &c.Edge.Domain },
				regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`),
				`must be a lower-case DNS name such as cats.example.com, or "none"`)(r, v, p)
		},
	},
	{
		Name:        "cdnDefaultTtlSeconds",
		Description: "CloudFront default TTL in seconds (seed §4: one day; 0 caches only what the origin allows, at most one year).",
		Default:     "86400",
		Tiers:       []string{tierEdge},
		parse: intIn(func(c *Config) *int { return &c.Edge.DefaultTTLSeconds }, 0, CDNMaxTTLSeconds,
			"(CloudFront needs the default within the cache policy's 0 to one year)"),
	},
	{
		Name:        "wafRateLimit",
		Description: "WAF rate limit: requests per IP per 5 minutes before blocking.",
		Default:     "2000",
		Tiers:       []string{tierSecurity},
		// WAF accepts 100 and up in every region (10 only in some, since 2024).
		parse: intIn(func(c *Config) *int { return &c.Security.WAFRateLimit }, 100, 2000000000, "(WAF's range in every region)"),
	},
	{
		Name:        "logRetentionDays",
		Description: "CloudWatch Logs retention in days. Default: 30 in dev, 365 in prod.",
		Tiers:       []string{tierSecurity, tierNetwork, tierStreaming, tierAPI, tierCompute},
		defaultFor: func(r *reading) string {
			if r.IsProd() {
				return "365"
			}
			return "30"
		},
		parse: func(r *reading, v string, p *problems) {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				p.bad(v, "must be a whole number")
				return
			}
			r.Security.LogRetentionDays = n
			if !slices.Contains(cloudWatchRetentions, n) {
				p.bad(v, fmt.Sprintf("must be one of the values CloudWatch Logs accepts: %v", cloudWatchRetentions))
			}
		},
	},
	{
		Name:        "alarmEmail",
		Description: "E-mail address subscribed to the alarm topic (optional).",
		Tiers:       []string{tierMonitoring},
		parse: func(r *reading, v string, p *problems) {
			r.Monitoring.AlarmEmail = v
			if v == "" {
				return
			}
			if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
				p.bad(v, "must be a plain e-mail address such as ops@example.jp")
			}
		},
	},
	{
		Name:        "quicksightEnabled",
		Description: "Create the QuickSight data source and dashboard (needs an account subscription).",
		Default:     "false",
		Tiers:       []string{tierAnalytics},
		parse: func(r *reading, v string, p *problems) {
			b, err := strconv.ParseBool(v)
			if err != nil {
				p.bad(v, "must be true or false")
				return
			}
			r.Analytics.QuickSightEnabled = b
		},
		check: func(r *reading, p *problems) {
			// The dashboard and its data set show one municipality.
			if r.Analytics.QuickSightEnabled && r.MunicipalityCode == "" {
				p.bad("", "needs a municipality: the dashboard shows one; set cats:municipalityCode (municipality stacks have it from their name)")
			}
		},
	},
	{
		Name:        "quicksightPrincipal",
		Description: "QuickSight user or group ARN given access to the data source and dashboard.",
		Tiers:       []string{tierAnalytics},
		parse: func(r *reading, v string, p *problems) {
			r.Analytics.QuickSightPrincipal = v
			if v != "" && !quickSightPrincipalPattern.MatchString(v) {
				p.bad(v, "must be a QuickSight user or group ARN (arn:aws:quicksight:<region>:<account>:user/default/<name>)")
			}
		},
		check: func(r *reading, p *problems) {
			if r.Analytics.QuickSightEnabled && r.Analytics.QuickSightPrincipal == "" {
				p.bad("", "is required when cats:quicksightEnabled is true: set the ARN of a QuickSight user or group")
			}
		},
	},
}

// cloudWatchRetentions are the values CloudWatch Logs accepts for retention in days.
var cloudWatchRetentions = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

var quickSightPrincipalPattern = regexp.MustCompile(`^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:\d{12}:(user|group)/.+$`)

// intIn reads a whole number between lo and hi; why says where the range comes from.
func intIn(field func(*Config) *int, lo, hi int, why string) func(*reading, string, *problems) {
	return func(r *reading, v string, p *problems) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			p.bad(v, "must be a whole number")
			return
		}
		*field(&r.Config) = n
		if n < lo || n > hi {
			p.bad(v, strings.TrimSpace(fmt.Sprintf("must be between %d and %d %s", lo, hi, why)))
		}
	}
}

// oneOf reads one of the allowed words.
func oneOf(field func(*Config) *string, allowed ...string) func(*reading, string, *problems) {
	return func(r *reading, v string, p *problems) {
		*field(&r.Config) = v
		if !slices.Contains(allowed, v) {
			p.bad(v, "must be one of "+strings.Join(allowed, ", "))
		}
	}
}

// matching reads a string that must match a pattern.
func matching(field func(*Config) *string, pattern *regexp.Regexp, why string) func(*reading, string, *problems) {
	return func(r *reading, v string, p *problems) {
		*field(&r.Config) = v
		if !pattern.MatchString(v) {
			if v == "" {
				p.bad("", "is empty: it "+why)
				return
			}
			p.bad(v, why)
		}
	}
}

// list reads a list, given as a JSON array (how Pulumi stores YAML lists) or comma-separated.
func list(v string, p *problems) ([]string, bool) {
	var out []string
	if strings.HasPrefix(strings.TrimSpace(v), "[") {
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			p.bad(v, "must be a list of strings")
			return nil, false
		}
		return out, true
	}
	for _, s := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(s))
	}
	return out, true
}

// subnets reads exactly two IPv4 subnets no smaller than AWS allows.
func subnets(field func(*Config) *[]netip.Prefix) func(*reading, string, *problems) {
	return func(r *reading, v string, p *problems) {
		items, ok := list(v, p)
		if !ok {
			return
		}
		var out []netip.Prefix
		for _, s := range items {
			pre, err := parsePrefix(s)
			if err != nil {
				p.bad(s, err.Error())
				continue
			}
			if pre.Bits() > 28 {
				p.bad(s, "is smaller than /28, the smallest subnet AWS allows")
			}
			out = append(out, pre)
		}
		*field(&r.Config) = out
		if len(items) != 2 {
			p.add("has %d subnets; give exactly 2, one per availability zone (seed §5)", len(items))
		}
	}
}

// subnetsInVPC checks that a key's subnets lie inside cats:vpcCidr.
func subnetsInVPC(field func(*Config) []netip.Prefix) func(*reading, *problems) {
	return func(r *reading, p *problems) {
		vpc := r.Network.VpcCidr
		if !vpc.IsValid() {
			return // cats:vpcCidr reports its own problem
		}
		for _, s := range field(&r.Config) {
			if !vpc.Contains(s.Addr()) || s.Bits() < vpc.Bits() {
				p.bad(s.String(), fmt.Sprintf("is outside the VPC %s (cats:vpcCidr): pick a block inside it", vpc))
			}
		}
	}
}

// noOverlaps checks that no two subnets, public or private, overlap.
func noOverlaps(r *reading, p *problems) {
	type subnet struct {
		key    string
		prefix netip.Prefix
	}
	var all []subnet
	for _, s := range r.Network.PublicSubnetCidrs {
		all = append(all, subnet{Namespace + ":publicSubnetCidrs", s})
	}
	for _, s := range r.Network.PrivateSubnetCidrs {
		all = append(all, subnet{Namespace + ":privateSubnetCidrs", s})
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[i].prefix.Overlaps(all[j].prefix) {
				p.addErr(fmt.Errorf("%s: %s overlaps %s in %s: subnets must not overlap",
					all[j].key, all[j].prefix, all[i].prefix, all[i].key))
			}
		}
	}
}

func parsePrefix(v string) (netip.Prefix, error) {
	pre, err := netip.ParsePrefix(strings.TrimSpace(v))
	if err != nil || !pre.Addr().Is4() {
		return netip.Prefix{}, errors.New("is not an IPv4 CIDR block such as 10.0.1.0/24")
	}
	if pre.Masked() != pre {
		return netip.Prefix{}, fmt.Errorf("has host bits set: did you mean %s?", pre.Masked())
	}
	return pre, nil
}

// KeyTable renders the keys as a Markdown table (the README's): name,
// default, who may set it, the tiers that use it and what it is.
func KeyTable() string {
	var b strings.Builder
	b.WriteString("| key | default | set by | tiers | what |\n|---|---|---|---|---|\n")
	for _, k := range Keys {
		def := "—"
		switch {
		case k.Default != "":
			def = "`" + k.Default + "`"
		case k.defaultFor != nil:
			def = "per stack"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k.FullName(), def, k.SetBy, strings.Join(k.Tiers, ", "), k.Description)
	}
	return b.String()
}
