// Package config is the typed stack configuration under the `cats:` namespace:
// every key, its seed default, and its validation, in one place. A bad value
// fails here, before any resource is registered, with an error that names the
// key and says how to fix it.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/cats-analytics/cats-analytics/domain/municipality"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
)

// Namespace is the config namespace of the program's own keys.
const Namespace = "cats"

// Project is the Pulumi project name.
const Project = naming.Project

// StackNamer returns the naming helper of a stack (physical names of its resources).
func StackNamer(stack, globalSuffix string) (naming.Namer, error) { return naming.NewNamer(stack, globalSuffix) }

// Environments.
const (
	Dev  = "dev"
	Prod = "prod"
)

// Tenancy of a municipality stack.
const (
	// TenancyShared: the municipality lives in its environment's AWS account and
	// takes the baseline (trail, zone) from the environment stack.
	TenancyShared = "shared"
	// TenancyAccount: the municipality has its own AWS account and creates its own baseline.
	TenancyAccount = "account"
)

// NAT gateway layouts.
const (
	NatSingle = "single"
	NatPerAZ  = "per-az"
)

// Data lake encryption choices: the seed's SSE AES-256, or SSE-KMS with the stack's data key.
const (
	EncryptionAES256 = "AES256"
	EncryptionKMS    = "aws:kms"
)

// Config is the validated configuration of one stack.
type Config struct {
	Stack       string
	Environment string // dev or prod
	// MunicipalityCode is the municipality of a <code>-<env> stack, or the
	// optional default tenant of an environment stack.
	MunicipalityCode string
	// MunicipalityStack is true for <code>-<env> stacks, false for dev and prod.
	MunicipalityStack bool
	Tenancy           string // shared or account; environment stacks always own their account's baseline
	Region            string
	// EnvironmentStack is the fully qualified name of the environment stack a
	// shared-tenancy municipality stack references (org/project/stack).
	EnvironmentStack string
	GlobalSuffix     string

	Network    Network
	Compute    Compute
	Functions  Functions
	Streaming  Streaming
	DataLake   DataLake
	Edge       Edge
	Security   Security
	Monitoring Monitoring
	Analytics  Analytics
}

// Network is the seed §5 layout.
type Network struct {
	VpcCidr            netip.Prefix
	PublicSubnetCidrs  []netip.Prefix
	PrivateSubnetCidrs []netip.Prefix
	AvailabilityZones  []string // empty: the region's first two
	NatGateways        string
}

// Compute is the seed's EC2/ECS settings.
type Compute struct {
	InstanceType   string
	MinInstances   int
	MaxInstances   int
	ContainerImage string
	ContainerPort  int
}

// Functions is the seed's Lambda settings.
type Functions struct {
	MemoryMB       int
	TimeoutSeconds int
}

// Streaming is the seed's Firehose buffering and the aggregation window.
type Streaming struct {
	BufferSizeMB          int
	BufferIntervalSeconds int
	// AggregationWindowSeconds is the tumbling window of cats-data-analysis.
	AggregationWindowSeconds int
}

// DataLake is the seed's S3 settings.
type DataLake struct {
	Encryption string
}

// Edge is the seed's Route53 and CloudFront settings.
type Edge struct {
	Domain            string // hosted zone; empty: default AWS domains only
	DefaultTTLSeconds int
}

// Security holds the WAF and log settings.
type Security struct {
	WafRateLimit     int // requests per 5 minutes per IP
	LogRetentionDays int
}

// Monitoring holds the alarm settings.
type Monitoring struct {
	AlarmEmail string
}

// Analytics holds the QuickSight switch.
type Analytics struct {
	QuickSightEnabled   bool
	QuickSightPrincipal string
}

// IsEnvironmentStack reports whether the stack is dev or prod itself rather than a municipality's.
func (c Config) IsEnvironmentStack() bool { return !c.MunicipalityStack }

// OwnsBaseline reports whether the stack creates the account-wide baseline
// (CloudTrail, AWS Config recorder and rules, the Route53 zone). AWS Config
// allows one recorder per account and region, so only one stack per account may.
func (c Config) OwnsBaseline() bool {
	return c.IsEnvironmentStack() || c.Tenancy == TenancyAccount
}

// IsProd reports whether the stack is a production one.
func (c Config) IsProd() bool { return c.Environment == Prod }

// Tags returns the stack's standard tags.
func (c Config) Tags() map[string]string { return naming.Tags(c.Environment, c.MunicipalityCode) }

// Namer returns the stack's naming helper.
func (c Config) Namer() naming.Namer {
	n, err := naming.NewNamer(c.Stack, c.GlobalSuffix)
	if err != nil {
		// Parse has already validated both values.
		panic(err)
	}
	return n
}

// Key describes one configuration key.
type Key struct {
	Name        string // without the namespace
	Description string
	// Default is the seed's value as Pulumi.yaml declares it; empty for keys
	// whose default depends on the environment or that are optional.
	Default string
}

// Keys lists every key under cats:, with its description. Pulumi.yaml declares the
// same keys (a test keeps the two in step).
var Keys = []Key{
	{"environment", "Environment of the stack: dev or prod. Derived from the stack name (dev, prod, <code>-<env>); set it only for other stack names.", ""},
	{"municipalityCode", "6-digit 全国地方公共団体コード of the municipality this stack serves. Derived from a <code>-<env> stack name; on dev and prod it names the default tenant (optional).", ""},
	{"tenancy", "Municipality stacks only: shared (default: the environment's account, baseline by StackReference) or account (its own AWS account and baseline).", ""},
	{"environmentStack", "Fully qualified environment stack a shared municipality stack references (default <org>/cats-analytics/<env>).", ""},
	{"globalSuffix", "Extra suffix for globally unique names (S3 buckets), e.g. your organisation's short name.", ""},
	{"vpcCidr", "VPC CIDR block (seed §5).", "10.0.0.0/16"},
	{"publicSubnetCidrs", "The two public subnets, one per availability zone (seed §5).", `["10.0.1.0/24","10.0.2.0/24"]`},
	{"privateSubnetCidrs", "The two private subnets, one per availability zone (seed §5).", `["10.0.10.0/24","10.0.20.0/24"]`},
	{"availabilityZones", "Two availability zone names; default: the region's first two.", ""},
	{"natGateways", "single or per-az. Default: single in dev, per-az in prod.", ""},
	{"instanceType", "EC2 instance type of the ECS hosts (seed §4 EC2/ECS).", "t3.medium"},
	{"minInstances", "Auto Scaling minimum (seed §4).", "2"},
	{"maxInstances", "Auto Scaling maximum (seed §4).", "10"},
	{"containerImage", "Docker image of the application task (seed §4 タスク定義).", "public.ecr.aws/nginx/nginx:stable"},
	{"containerPort", "Port the application container listens on.", "80"},
	{"lambdaMemoryMb", "Memory of the cats-data-analysis Lambda in MB (seed §4).", "1024"},
	{"lambdaTimeoutSeconds", "Timeout of the cats-data-analysis Lambda in seconds (seed §4: 3 minutes).", "180"},
	{"firehoseBufferSizeMb", "Firehose buffer size in MB. The seed's 5 MB is below the 64 MB Firehose requires with Parquet conversion; the seed's 60 s interval still sets the delivery pace.", "64"},
	{"firehoseBufferIntervalSeconds", "Firehose buffer interval in seconds (seed §4).", "60"},
	{"aggregationWindowSeconds", "Tumbling window of the cats-data-analysis aggregation in seconds (1 to 900; seed §3: real time).", "60"},
	{"dataLakeEncryption", "AES256 (seed §4) or aws:kms with the stack's data key.", EncryptionAES256},
	{"domain", "Route53 hosted zone (seed §4). Set to \"none\" to run on the default AWS domains.", "cats.example.com"},
	{"cdnDefaultTtlSeconds", "CloudFront default TTL in seconds (seed §4: one day).", "86400"},
	{"wafRateLimit", "WAF rate limit: requests per IP per 5 minutes before blocking.", "2000"},
	{"logRetentionDays", "CloudWatch Logs retention in days. Default: 30 in dev, 365 in prod.", ""},
	{"alarmEmail", "E-mail address subscribed to the alarm topic (optional).", ""},
	{"quicksightEnabled", "Create the QuickSight data source and dashboard (needs an account subscription).", "false"},
	{"quicksightPrincipal", "QuickSight user or group ARN given access to the data source and dashboard.", ""},
}

var knownKeys = func() map[string]bool {
	m := make(map[string]bool, len(Keys))
	for _, k := range Keys {
		m[Namespace+":"+k.Name] = true
	}
	return m
}()

// RegionKey is the AWS provider's region key, read to build region-specific names.
const RegionKey = "aws:region"

// DefaultRegion is the region when aws:region is not set.
const DefaultRegion = "ap-northeast-1"

// cloudWatchRetentions are the values CloudWatch Logs accepts for retention in days.
var cloudWatchRetentions = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

var (
	regionPattern       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	instanceTypePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$`)
	domainPattern       = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	stackEnvPattern     = regexp.MustCompile(`^(\d{6})-([a-z]+)$`)
	qsPrincipalPattern  = regexp.MustCompile(`^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:\d{12}:(user|group)/.+$`)
)

// Lookup returns a raw config value by its full key ("cats:vpcCidr").
type Lookup func(key string) (string, bool)

// FromMap adapts a map of full keys to values.
func FromMap(values map[string]string) Lookup {
	return func(key string) (string, bool) {
		v, ok := values[key]
		return v, ok
	}
}

// Parse reads and validates the configuration of a stack. org names the
// organisation for the default environment stack reference. All problems are
// reported at once, each naming its key.
func Parse(org, project, stack string, lookup Lookup) (Config, error) {
	p := parser{lookup: lookup}
	c := Config{Stack: stack}

	if _, err := naming.NewNamer(stack, ""); err != nil {
		p.errs = append(p.errs, err)
	}
	c.Region = p.str(RegionKey, DefaultRegion)
	if !regionPattern.MatchString(c.Region) {
		p.fail(RegionKey, c.Region, "must be an AWS region such as ap-northeast-1")
	}

	// The stack name decides the environment and municipality; explicit keys must agree.
	envFromStack, codeFromStack := "", ""
	switch {
	case stack == Dev || stack == Prod:
		envFromStack = stack
	case stackEnvPattern.MatchString(stack):
		m := stackEnvPattern.FindStringSubmatch(stack)
		codeFromStack, envFromStack = m[1], m[2]
		if envFromStack != Dev && envFromStack != Prod {
			p.errs = append(p.errs, fmt.Errorf("stack %q: environment %q is unknown; name municipality stacks <code>-dev or <code>-prod", stack, envFromStack))
		}
	}
	c.Environment = p.str(key("environment"), envFromStack)
	switch {
	case c.Environment == "":
		p.fail(key("environment"), "", fmt.Sprintf("is required for stack %q: set it to dev or prod, or name the stack dev, prod or <code>-<env>", stack))
	case c.Environment != Dev && c.Environment != Prod:
		p.fail(key("environment"), c.Environment, "must be dev or prod")
	case envFromStack != "" && c.Environment != envFromStack:
		p.fail(key("environment"), c.Environment, fmt.Sprintf("contradicts the stack name %q (environment %s): remove the key", stack, envFromStack))
	}

	c.MunicipalityCode = p.str(key("municipalityCode"), codeFromStack)
	if c.MunicipalityCode != "" {
		if err := municipality.Validate(c.MunicipalityCode); err != nil {
			p.errs = append(p.errs, fmt.Errorf("%s: %w", key("municipalityCode"), err))
		} else if codeFromStack != "" && c.MunicipalityCode != codeFromStack {
			p.fail(key("municipalityCode"), c.MunicipalityCode, fmt.Sprintf("contradicts the stack name %q: remove the key", stack))
		}
	}
	// On dev and prod, cats:municipalityCode names the default tenant (a tag only);
	// the stack is still the environment's.
	c.MunicipalityStack = codeFromStack != ""
	if c.MunicipalityStack {
		c.Tenancy = p.oneOf(key("tenancy"), TenancyShared, TenancyShared, TenancyAccount)
	} else {
		if v, ok := lookup(key("tenancy")); ok {
			p.fail(key("tenancy"), v, "applies to municipality stacks only: an environment stack always owns its account's baseline; remove the key")
		}
		c.Tenancy = TenancyAccount
	}
	if org == "" {
		org = "organization"
	}
	c.EnvironmentStack = p.str(key("environmentStack"), fmt.Sprintf("%s/%s/%s", org, project, c.Environment))
	if strings.Count(c.EnvironmentStack, "/") != 2 {
		p.fail(key("environmentStack"), c.EnvironmentStack, "must be a fully qualified stack name org/project/stack")
	}
	c.GlobalSuffix = p.str(key("globalSuffix"), "")
	if _, err := naming.NewNamer(stack, c.GlobalSuffix); err != nil && c.GlobalSuffix != "" {
		p.errs = append(p.errs, err)
	}

	c.Network = p.network(c)
	c.Compute = Compute{
		InstanceType:   p.str(key("instanceType"), "t3.medium"),
		MinInstances:   p.intIn(key("minInstances"), 2, 1, 100),
		MaxInstances:   p.intIn(key("maxInstances"), 10, 1, 100),
		ContainerImage: p.str(key("containerImage"), "public.ecr.aws/nginx/nginx:stable"),
		ContainerPort:  p.intIn(key("containerPort"), 80, 1, 65535),
	}
	if !instanceTypePattern.MatchString(c.Compute.InstanceType) {
		p.fail(key("instanceType"), c.Compute.InstanceType, "must be an EC2 instance type such as t3.medium")
	}
	if c.Compute.MinInstances > c.Compute.MaxInstances {
		p.errs = append(p.errs, fmt.Errorf("%s (%d) is greater than %s (%d): lower the minimum or raise the maximum",
			key("minInstances"), c.Compute.MinInstances, key("maxInstances"), c.Compute.MaxInstances))
	}
	if strings.TrimSpace(c.Compute.ContainerImage) != c.Compute.ContainerImage || c.Compute.ContainerImage == "" {
		p.fail(key("containerImage"), c.Compute.ContainerImage, "must be an image reference such as public.ecr.aws/nginx/nginx:stable")
	}

	c.Functions = Functions{
		MemoryMB:       p.intIn(key("lambdaMemoryMb"), 1024, 128, 10240),
		TimeoutSeconds: p.intIn(key("lambdaTimeoutSeconds"), 180, 1, 900),
	}
	c.Streaming = Streaming{
		BufferSizeMB:             p.int(key("firehoseBufferSizeMb"), 64),
		BufferIntervalSeconds:    p.intIn(key("firehoseBufferIntervalSeconds"), 60, 0, 900),
		AggregationWindowSeconds: p.intIn(key("aggregationWindowSeconds"), 60, 1, 900),
	}
	if n := c.Streaming.BufferSizeMB; n < 64 || n > 128 {
		// Firehose rejects smaller buffers when it converts records to Parquet
		// ("BufferingHints.SizeInMBs must be at least 64 when data format
		// conversion is enabled"); the seed's 5 MB cannot be deployed with the
		// Glue-schema Parquet the data lake needs. At municipal volumes the 60 s
		// interval fills first either way.
		p.fail(key("firehoseBufferSizeMb"), strconv.Itoa(n), "must be between 64 and 128: Firehose needs at least 64 MB when it converts records to Parquet")
	}
	c.DataLake = DataLake{Encryption: p.oneOf(key("dataLakeEncryption"), EncryptionAES256, EncryptionAES256, EncryptionKMS)}

	c.Edge = Edge{
		Domain:            p.str(key("domain"), "cats.example.com"),
		DefaultTTLSeconds: p.intIn(key("cdnDefaultTtlSeconds"), 86400, 0, 31536000),
	}
	if c.Edge.Domain == "none" {
		c.Edge.Domain = ""
	} else if !domainPattern.MatchString(c.Edge.Domain) {
		p.fail(key("domain"), c.Edge.Domain, `must be a lower-case DNS name such as cats.example.com, or "none"`)
	}

	defaultRetention := 30
	if c.IsProd() {
		defaultRetention = 365
	}
	c.Security = Security{
		WafRateLimit:     p.intIn(key("wafRateLimit"), 2000, 100, 2000000000),
		LogRetentionDays: p.int(key("logRetentionDays"), defaultRetention),
	}
	if !containsInt(cloudWatchRetentions, c.Security.LogRetentionDays) {
		p.fail(key("logRetentionDays"), strconv.Itoa(c.Security.LogRetentionDays),
			fmt.Sprintf("must be one of the values CloudWatch Logs accepts: %v", cloudWatchRetentions))
	}

	c.Monitoring = Monitoring{AlarmEmail: p.str(key("alarmEmail"), "")}
	if c.Monitoring.AlarmEmail != "" {
		if a, err := mail.ParseAddress(c.Monitoring.AlarmEmail); err != nil || a.Address != c.Monitoring.AlarmEmail {
			p.fail(key("alarmEmail"), c.Monitoring.AlarmEmail, "must be a plain e-mail address such as ops@example.jp")
		}
	}

	c.Analytics = Analytics{
		QuickSightEnabled:   p.bool(key("quicksightEnabled"), false),
		QuickSightPrincipal: p.str(key("quicksightPrincipal"), ""),
	}
	if c.Analytics.QuickSightEnabled && c.Analytics.QuickSightPrincipal == "" {
		p.fail(key("quicksightPrincipal"), "", "is required when cats:quicksightEnabled is true: set the ARN of a QuickSight user or group")
	}
	if c.Analytics.QuickSightPrincipal != "" && !qsPrincipalPattern.MatchString(c.Analytics.QuickSightPrincipal) {
		p.fail(key("quicksightPrincipal"), c.Analytics.QuickSightPrincipal, "must be a QuickSight user or group ARN (arn:aws:quicksight:<region>:<account>:user/default/<name>)")
	}

	if err := errors.Join(p.errs...); err != nil {
		return Config{}, fmt.Errorf("invalid configuration for stack %q:\n%w", stack, err)
	}
	return c, nil
}

// UnknownKeys returns the keys under cats: that the program does not read, so
// a typo never passes silently. Keys of other namespaces are left alone.
func UnknownKeys(values map[string]string) []string {
	var unknown []string
	for k := range values {
		if strings.HasPrefix(k, Namespace+":") && !knownKeys[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	return unknown
}

func (p *parser) network(c Config) Network {
	n := Network{
		VpcCidr:            p.prefix(key("vpcCidr"), "10.0.0.0/16"),
		PublicSubnetCidrs:  p.prefixes(key("publicSubnetCidrs"), []string{"10.0.1.0/24", "10.0.2.0/24"}),
		PrivateSubnetCidrs: p.prefixes(key("privateSubnetCidrs"), []string{"10.0.10.0/24", "10.0.20.0/24"}),
		AvailabilityZones:  p.strings(key("availabilityZones"), nil),
	}
	defaultNat := NatSingle
	if c.IsProd() {
		defaultNat = NatPerAZ
	}
	n.NatGateways = p.oneOf(key("natGateways"), defaultNat, NatSingle, NatPerAZ)

	if n.VpcCidr.IsValid() && (n.VpcCidr.Bits() < 16 || n.VpcCidr.Bits() > 24) {
		p.fail(key("vpcCidr"), n.VpcCidr.String(), "must be between /16 and /24 (AWS allows /16 to /28 and the subnets need room)")
	}
	type subnet struct {
		key    string
		prefix netip.Prefix
	}
	var all []subnet
	for _, group := range []struct {
		key     string
		prefixs []netip.Prefix
	}{{key("publicSubnetCidrs"), n.PublicSubnetCidrs}, {key("privateSubnetCidrs"), n.PrivateSubnetCidrs}} {
		if group.prefixs == nil {
			continue
		}
		if len(group.prefixs) != 2 {
			p.errs = append(p.errs, fmt.Errorf("%s: has %d subnets; give exactly 2, one per availability zone (seed §5)", group.key, len(group.prefixs)))
		}
		for _, s := range group.prefixs {
			if s.Bits() > 28 {
				p.fail(group.key, s.String(), "is smaller than /28, the smallest subnet AWS allows")
			}
			if n.VpcCidr.IsValid() && !(n.VpcCidr.Contains(s.Addr()) && s.Bits() >= n.VpcCidr.Bits()) {
				p.fail(group.key, s.String(), fmt.Sprintf("is outside the VPC %s (cats:vpcCidr): pick a block inside it", n.VpcCidr))
			}
			all = append(all, subnet{group.key, s})
		}
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[i].prefix.Overlaps(all[j].prefix) {
				p.errs = append(p.errs, fmt.Errorf("%s: %s overlaps %s in %s: subnets must not overlap",
					all[j].key, all[j].prefix, all[i].prefix, all[i].key))
			}
		}
	}
	if n.AvailabilityZones != nil {
		if len(n.AvailabilityZones) != 2 {
			p.errs = append(p.errs, fmt.Errorf("%s: has %d zones; give exactly 2 (one per subnet pair)", key("availabilityZones"), len(n.AvailabilityZones)))
		}
		for _, az := range n.AvailabilityZones {
			if !strings.HasPrefix(az, c.Region) || len(az) != len(c.Region)+1 {
				p.fail(key("availabilityZones"), az, fmt.Sprintf("is not a zone of %s (aws:region): use names such as %sa", c.Region, c.Region))
			}
		}
		if len(n.AvailabilityZones) == 2 && n.AvailabilityZones[0] == n.AvailabilityZones[1] {
			p.fail(key("availabilityZones"), n.AvailabilityZones[1], "is listed twice: multi-AZ (seed §6) needs two different zones")
		}
	}
	return n
}

func key(name string) string { return Namespace + ":" + name }

type parser struct {
	lookup Lookup
	errs   []error
}

func (p *parser) fail(key, value, why string) {
	if value == "" {
		p.errs = append(p.errs, fmt.Errorf("%s %s", key, why))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %q %s", key, value, why))
}

func (p *parser) str(key, def string) string {
	if v, ok := p.lookup(key); ok {
		return v
	}
	return def
}

func (p *parser) oneOf(key, def string, allowed ...string) string {
	v := p.str(key, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(key, v, "must be one of "+strings.Join(allowed, ", "))
	return def
}

func (p *parser) int(key string, def int) int {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		p.fail(key, v, "must be a whole number")
		return def
	}
	return n
}

func (p *parser) intIn(key string, def, lo, hi int) int {
	n := p.int(key, def)
	if n < lo || n > hi {
		p.fail(key, strconv.Itoa(n), fmt.Sprintf("must be between %d and %d", lo, hi))
	}
	return n
}

func (p *parser) bool(key string, def bool) bool {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(key, v, "must be true or false")
		return def
	}
	return b
}

// strings reads a list, given as a JSON array (how Pulumi stores YAML lists) or comma-separated.
func (p *parser) strings(key string, def []string) []string {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	var list []string
	if strings.HasPrefix(strings.TrimSpace(v), "[") {
		if err := json.Unmarshal([]byte(v), &list); err != nil {
			p.fail(key, v, "must be a list of strings")
			return nil
		}
		return list
	}
	for _, s := range strings.Split(v, ",") {
		list = append(list, strings.TrimSpace(s))
	}
	return list
}

func (p *parser) prefix(key, def string) netip.Prefix {
	v := p.str(key, def)
	pre, err := parsePrefix(v)
	if err != nil {
		p.fail(key, v, err.Error())
	}
	return pre
}

func (p *parser) prefixes(key string, def []string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range p.strings(key, def) {
		pre, err := parsePrefix(v)
		if err != nil {
			p.fail(key, v, err.Error())
			continue
		}
		out = append(out, pre)
	}
	return out
}

func parsePrefix(v string) (netip.Prefix, error) {
	pre, err := netip.ParsePrefix(v)
	if err != nil || !pre.Addr().Is4() {
		return netip.Prefix{}, errors.New("is not an IPv4 CIDR block such as 10.0.1.0/24")
	}
	if pre.Masked() != pre {
		return netip.Prefix{}, fmt.Errorf("has host bits set: did you mean %s?", pre.Masked())
	}
	return pre, nil
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
