// Package config is the typed stack configuration under the `cats:` namespace.
// Every key is one entry of Keys: its description, its seed default, how it is
// read, its rule and the tiers that use it. Parse walks that table, so a bad
// value fails here, before any resource is registered, with an error that
// names the key and says how to fix it; a value Parse accepts is used by the
// tiers as given.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cats-analytics/cats-analytics/components/internal/naming"
)

// Namespace is the config namespace of the program's own keys.
const Namespace = "cats"

// Project is the Pulumi project name (Pulumi.yaml), also the value of the
// project tag.
const Project = naming.Project

// DefaultOrganization is the organization of stacks in a self-managed
// backend (file://, postgres://): their fully qualified names are
// organization/<project>/<stack>.
const DefaultOrganization = "organization"

// StackNamer returns the naming helper of a stack (physical names of its resources).
func StackNamer(stack, globalSuffix string) (naming.Namer, error) {
	return naming.NewNamer(stack, globalSuffix)
}

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

// CDNMaxTTLSeconds is the cache policy's maximum TTL (one year), and so the
// largest default TTL: CloudFront requires MinTTL ≤ DefaultTTL ≤ MaxTTL.
const CDNMaxTTLSeconds = 31536000

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

// Functions is the seed's Lambda settings (cats-data-analysis).
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
	WAFRateLimit     int // requests per 5 minutes per IP
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

// RegionKey is the AWS provider's region key, read to build region-specific names.
const RegionKey = "aws:region"

// DefaultRegion is the region when aws:region is not set.
const DefaultRegion = "ap-northeast-1"

var (
	regionPattern   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	stackEnvPattern = regexp.MustCompile(`^(\d{6})-([a-z]+)$`)
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

// reading is a configuration being parsed: the Config so far and what the
// stack's name and the caller say about it.
type reading struct {
	Config
	org, project string
	// envFromStack and codeFromStack are what the stack's name says
	// (dev, prod, <code>-<env>); empty for other names.
	envFromStack, codeFromStack string
	// given holds the keys the stack sets explicitly.
	given map[string]bool
}

// Parse reads and validates the configuration of a stack, key by key from
// Keys. org names the organization for the default environment stack
// reference (DefaultOrganization when empty). All problems are reported at
// once, each naming its key.
func Parse(org, project, stack string, lookup Lookup) (Config, error) {
	if org == "" {
		org = DefaultOrganization
	}
	r := &reading{Config: Config{Stack: stack}, org: org, project: project, given: map[string]bool{}}
	var errs []error

	if _, err := naming.NewNamer(stack, ""); err != nil {
		errs = append(errs, err)
	}
	r.Region = DefaultRegion
	if v, ok := lookup(RegionKey); ok {
		r.Region = v
		if err := CheckValue(RegionKey, v); err != nil {
			errs = append(errs, err)
		}
	}
	if !regionPattern.MatchString(r.Region) {
		errs = append(errs, fmt.Errorf("%s: %q must be an AWS region such as ap-northeast-1", RegionKey, r.Region))
	}
	switch {
	case stack == Dev || stack == Prod:
		r.envFromStack = stack
	case stackEnvPattern.MatchString(stack):
		m := stackEnvPattern.FindStringSubmatch(stack)
		r.codeFromStack, r.envFromStack = m[1], m[2]
		if r.envFromStack != Dev && r.envFromStack != Prod {
			errs = append(errs, fmt.Errorf("stack %q: environment %q is unknown; name municipality stacks <code>-dev or <code>-prod", stack, r.envFromStack))
		}
	}
	// On dev and prod, cats:municipalityCode names the default tenant (a tag
	// only); the stack is still the environment's.
	r.MunicipalityStack = r.codeFromStack != ""

	for _, k := range Keys {
		v, ok := lookup(k.FullName())
		r.given[k.Name] = ok
		if ok {
			if err := CheckValue(k.FullName(), v); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if !ok {
			v = k.Default
			if k.defaultFor != nil {
				v = k.defaultFor(r)
			}
		}
		p := &problems{key: k.FullName()}
		k.parse(r, v, p)
		errs = append(errs, p.errs...)
	}
	for _, k := range Keys {
		if k.check == nil {
			continue
		}
		p := &problems{key: k.FullName()}
		k.check(r, p)
		errs = append(errs, p.errs...)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("invalid configuration for stack %q:\n%w", stack, err)
	}
	return r.Config, nil
}

// MaxValueBytes bounds a config value: the longest legitimate one (a list of
// subnets, a fully qualified stack name) is a few hundred bytes.
const MaxValueBytes = 1024

// CheckValue checks what every value must be, whatever its key: UTF-8 text
// of at most MaxValueBytes without control characters. A NUL byte or a line
// break in a value makes every later CLI call on the stack fail (the CLI
// writes the value into the stack's settings file).
func CheckValue(key, value string) error {
	if len(value) > MaxValueBytes {
		return fmt.Errorf("%s: the value is %d bytes long; at most %d are allowed", key, len(value), MaxValueBytes)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("%s: the value is not valid UTF-8 text", key)
	}
	for i, r := range value {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s: the value holds the control character %U at byte %d; remove it (values are one line of text)", key, r, i)
		}
	}
	return nil
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

var knownKeys = func() map[string]bool {
	m := make(map[string]bool, len(Keys))
	for _, k := range Keys {
		m[k.FullName()] = true
	}
	return m
}()

// problems collects what is wrong with one key.
type problems struct {
	key  string
	errs []error
}

// bad reports a value that breaks the key's rule: `cats:key: "value" why`,
// or `cats:key why` when there is no value to show.
func (p *problems) bad(value, why string) {
	if value == "" {
		p.errs = append(p.errs, fmt.Errorf("%s %s", p.key, why))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %q %s", p.key, value, why))
}

// add reports a problem in its own words, prefixed with the key.
func (p *problems) add(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", p.key, fmt.Sprintf(format, args...)))
}

// addErr reports an error that already names the key.
func (p *problems) addErr(err error) { p.errs = append(p.errs, err) }
