// Package rules is the cats-analytics policy pack: each rule names the AWS
// Foundational Security Best Practices (FSBP) control it enforces, carries its
// own enforcement level and, where a threshold or an exception makes sense, a
// config schema. The same rules run in the pack binary (policy/) under the
// Pulumi CLI and in process in the offline plan (plan/), through Evaluator.
package rules

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// PackName and PackVersion identify the pack to the CLI.
const (
	PackName    = "cats-analytics"
	PackVersion = "1.0.0"
)

// Rule is one policy. A resource rule has Types and Resource; a stack rule
// (one that has to relate resources, e.g. a bucket to its encryption
// configuration) has Stack.
type Rule struct {
	Name        string
	Description string
	// Control is the FSBP control (or, where FSBP has none, the AWS Config
	// managed rule) the rule maps to.
	Control string
	// Level is the rule's own default enforcement level. policyx in sdk
	// v3.274.1 ignores the level given to NewPolicyPack, so every rule sets one.
	Level policyx.EnforcementLevel
	// Properties are the rule's config keys (JSON schema, each with a
	// "default"); every rule also takes exemptResources.
	Properties map[string]map[string]any

	Types    []string
	Resource func(c *Check, r policyx.AnalyzerResource)
	Stack    func(c *Check, rs []policyx.AnalyzerResource)
}

// exemptResources is the exception every rule accepts: logical names or URNs
// of resources a reviewed decision has exempted.
var exemptResources = map[string]any{
	"type":        "array",
	"items":       map[string]any{"type": "string"},
	"default":     []any{},
	"description": "Logical names or URNs of resources exempted from this rule (a reviewed exception).",
}

// Schema is the rule's config schema as the CLI sees it.
func (r Rule) Schema() *policyx.ConfigSchema {
	props := map[string]map[string]any{"exemptResources": exemptResources}
	for k, v := range r.Properties {
		props[k] = v
	}
	return &policyx.ConfigSchema{Properties: props}
}

// FullDescription is the description shown with every violation.
func (r Rule) FullDescription() string {
	return fmt.Sprintf("%s [%s]", r.Description, r.Control)
}

// Config is a rule's configuration: the schema defaults overlaid with the
// policy pack config the CLI sends (JSON values: numbers are float64).
type Config map[string]any

func (r Rule) config(overrides map[string]any) Config {
	c := Config{}
	for k, v := range r.Schema().Properties {
		if d, ok := v["default"]; ok {
			c[k] = d
		}
	}
	for k, v := range overrides {
		c[k] = v
	}
	return c
}

// Int reads an integer setting.
func (c Config) Int(key string) int {
	switch v := c[key].(type) {
	case float64:
		return int(math.Round(v))
	case int:
		return v
	case int64:
		return int(v)
	}
	return 0
}

// Bool reads a boolean setting.
func (c Config) Bool(key string) bool {
	b, _ := c[key].(bool)
	return b
}

// String reads a string setting.
func (c Config) String(key string) string {
	s, _ := c[key].(string)
	return s
}

// Strings reads a list of strings.
func (c Config) Strings(key string) []string {
	switch v := c[key].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Ints reads a list of integers.
func (c Config) Ints(key string) []int {
	switch v := c[key].(type) {
	case []int:
		return v
	case []any:
		out := make([]int, 0, len(v))
		for _, e := range v {
			switch n := e.(type) {
			case float64:
				out = append(out, int(n))
			case int:
				out = append(out, n)
			}
		}
		return out
	}
	return nil
}

// Check collects what one rule finds.
type Check struct {
	Config   Config
	rule     Rule
	findings []finding
	exempt   []string
	// references are the stacks the stack references by its configuration
	// (Evaluator.References).
	references []string
	// stack is what the stack's configuration says about it
	// (Evaluator.StackContext), nil when the pack has no configuration.
	stack *StackContext
}

type finding struct {
	urn, message string
	unknown      bool
}

// Fail reports a violation on a resource.
func (c *Check) Fail(urn, format string, args ...any) {
	c.findings = append(c.findings, finding{urn: urn, message: fmt.Sprintf(format, args...)})
}

// Unknown reports that a value the verdict depends on is not known yet
// (preview): it can neither pass nor be judged, so it is reported.
func (c *Check) Unknown(urn string, v val, what string) {
	c.findings = append(c.findings, finding{urn: urn, unknown: true,
		message: fmt.Sprintf("%s: %s is unknown until deployment, so this rule cannot verify it", what, v.path)})
}

func (c *Check) isExempt(r policyx.AnalyzerResource) bool {
	return slices.Contains(c.exempt, r.Name) || slices.Contains(c.exempt, r.URN)
}

// Violation is one finding, as the CLI, the plan and its JSON show it.
type Violation struct {
	Policy  string `json:"policy"`
	Level   string `json:"level"`
	URN     string `json:"urn"`
	Message string `json:"message"`
	// Control is the FSBP control of the rule.
	Control string `json:"control,omitempty"`
	// Description is the rule's description.
	Description string `json:"-"`
	// EnforcementLevel is Level as the analyzer protocol carries it.
	EnforcementLevel policyx.EnforcementLevel `json:"-"`
}

// Mandatory reports whether the violation blocks a deployment.
func (v Violation) Mandatory() bool { return v.EnforcementLevel == policyx.EnforcementLevelMandatory }

// LevelName is the CLI's name of an enforcement level.
func LevelName(l policyx.EnforcementLevel) string {
	switch l {
	case policyx.EnforcementLevelAdvisory:
		return "advisory"
	case policyx.EnforcementLevelMandatory:
		return "mandatory"
	case policyx.EnforcementLevelDisabled:
		return "disabled"
	case policyx.EnforcementLevelRemediate:
		return "remediate"
	}
	return fmt.Sprintf("level(%d)", l)
}

// ParseLevel reads a level name.
func ParseLevel(s string) (policyx.EnforcementLevel, error) {
	for _, l := range []policyx.EnforcementLevel{policyx.EnforcementLevelAdvisory, policyx.EnforcementLevelMandatory,
		policyx.EnforcementLevelDisabled, policyx.EnforcementLevelRemediate} {
		if LevelName(l) == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("unknown enforcement level %q (advisory, mandatory, disabled)", s)
}

// PolicyConfig is the configuration of one rule: an optional enforcement
// level override and its properties.
type PolicyConfig struct {
	EnforcementLevel *policyx.EnforcementLevel
	Properties       map[string]any
}

// Evaluator runs rules with their configuration.
type Evaluator struct {
	Rules  []Rule
	Config map[string]PolicyConfig
	// DryRun is set during preview: an unknown value is then reported as an
	// advisory finding (the value is checked again with its real value when
	// `pulumi up` analyses the resolved inputs before the step runs); outside
	// a preview an unknown value is reported at the rule's own level.
	DryRun bool
	// References are the stacks this stack references (StackReference), as
	// its configuration says, when the engine runs the pack: the engine's
	// AnalyzeStack leaves reads, and so every StackReference, out of the
	// resources it passes (pulumi v3.274.1 keeps them apart from the
	// resources it manages), and never passes them to Analyze either. The
	// offline plan and `pulumi policy analyze --file` pass the references as
	// resources and leave this empty.
	References []string
	// Stack is the stack being analysed as its configuration describes it
	// (set from ConfigureStack); nil when the pack sees resources only
	// (`pulumi policy analyze --file`, the offline plan), where the rules
	// read the same facts from the resources (the root stack's URN, a trail
	// or a Config recorder for a stack that owns its account's baseline).
	StackContext *StackContext
}

// StackContext is what a stack's configuration says about it.
type StackContext struct {
	Organization, Project, Stack string
	// Environment is dev or prod.
	Environment string
	// OwnsBaseline: an environment stack, or a municipality with its own AWS
	// account (cats:tenancy account), owns its account's baseline (trail,
	// Config recorder, account-level public access block).
	OwnsBaseline bool
}

// NewEvaluator evaluates the pack's rules with a configuration.
func NewEvaluator(config map[string]PolicyConfig) *Evaluator {
	return &Evaluator{Rules: All(), Config: config}
}

// Level is a rule's effective enforcement level.
func (e *Evaluator) Level(r Rule) policyx.EnforcementLevel {
	if c, ok := e.Config[r.Name]; ok && c.EnforcementLevel != nil {
		return *c.EnforcementLevel
	}
	return r.Level
}

// Resource runs the resource rules on one resource.
func (e *Evaluator) Resource(res policyx.AnalyzerResource) []Violation {
	var out []Violation
	for _, r := range e.Rules {
		if r.Resource == nil || !slices.Contains(r.Types, res.Type) {
			continue
		}
		out = append(out, e.run(r, res.URN, func(c *Check) {
			if !c.isExempt(res) {
				r.Resource(c, res)
			}
		})...)
	}
	return out
}

// Stack runs the stack rules on every resource of a stack.
func (e *Evaluator) Stack(resources []policyx.AnalyzerResource) []Violation {
	var out []Violation
	for _, r := range e.Rules {
		if r.Stack == nil {
			continue
		}
		out = append(out, e.run(r, "", func(c *Check) {
			kept := make([]policyx.AnalyzerResource, 0, len(resources))
			for _, res := range resources {
				if !c.isExempt(res) {
					kept = append(kept, res)
				}
			}
			r.Stack(c, kept)
		})...)
	}
	return out
}

// All runs every rule on a whole stack: what the CLI does with a state file.
func (e *Evaluator) All(resources []policyx.AnalyzerResource) []Violation {
	var out []Violation
	for _, res := range resources {
		out = append(out, e.Resource(res)...)
	}
	out = append(out, e.Stack(resources)...)
	Sort(out)
	return out
}

// Sort orders violations by level (mandatory first), policy and URN.
func Sort(vs []Violation) {
	sort.SliceStable(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
		if a.Mandatory() != b.Mandatory() {
			return a.Mandatory()
		}
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		return a.URN < b.URN
	})
}

// run evaluates one rule. A panic in a rule (for instance an accessor on an
// unknown value) becomes a violation: it never crashes the pack and never
// lets the resource pass.
func (e *Evaluator) run(r Rule, defaultURN string, body func(*Check)) (out []Violation) {
	level := e.Level(r)
	if level == policyx.EnforcementLevelDisabled {
		return nil
	}
	c := &Check{rule: r, references: e.References, stack: e.StackContext}
	var props map[string]any
	if pc, ok := e.Config[r.Name]; ok {
		props = pc.Properties
	}
	c.Config = r.config(props)
	c.exempt = c.Config.Strings("exemptResources")
	func() {
		defer func() {
			if p := recover(); p != nil {
				c.findings = append(c.findings, finding{urn: defaultURN,
					message: fmt.Sprintf("the rule could not evaluate this resource (%v); treated as a violation", p)})
			}
		}()
		body(c)
	}()
	for _, f := range c.findings {
		l := level
		if f.unknown && e.DryRun && l == policyx.EnforcementLevelMandatory {
			l = policyx.EnforcementLevelAdvisory
		}
		urn := f.urn
		if urn == "" {
			urn = defaultURN
		}
		out = append(out, Violation{
			Policy: r.Name, Level: LevelName(l), URN: urn, Message: f.message, Control: r.Control,
			Description: r.FullDescription(), EnforcementLevel: l,
		})
	}
	return out
}

// ByName returns a rule of the pack.
func ByName(name string) (Rule, bool) {
	for _, r := range All() {
		if r.Name == name {
			return r, true
		}
	}
	return Rule{}, false
}

// All is every rule of the pack, in a stable order.
func All() []Rule {
	return slices.Concat(
		encryptionRules(),
		transitRules(),
		transitRulesMore(),
		wafRules(),
		webACLRules(),
		trailRules(),
		bucketRules(),
		networkRules(),
		keyRules(),
		logRules(),
		accessRules(),
		tracingRules(),
		alarmRules(),
	)
}

// typeIs reports whether a resource has one of the types.
func typeIs(r policyx.AnalyzerResource, types ...string) bool {
	return slices.Contains(types, r.Type)
}

// display names a resource in messages.
func display(r policyx.AnalyzerResource) string {
	if r.Name != "" {
		return r.Name
	}
	if i := strings.LastIndex(r.URN, "::"); i >= 0 {
		return r.URN[i+2:]
	}
	return r.URN
}

// ParseConfig reads a policy pack config document (the JSON the CLI's
// --policy-pack-config takes): {"policy": "mandatory"} or {"policy":
// {"enforcementLevel": "advisory", "property": value}}; "all" sets the level
// of every rule.
func ParseConfig(doc map[string]any) (map[string]PolicyConfig, error) {
	out := map[string]PolicyConfig{}
	var all *policyx.EnforcementLevel
	for name, v := range doc {
		pc := PolicyConfig{}
		switch v := v.(type) {
		case string:
			l, err := ParseLevel(v)
			if err != nil {
				return nil, fmt.Errorf("policy config %s: %w", name, err)
			}
			pc.EnforcementLevel = &l
		case map[string]any:
			pc.Properties = map[string]any{}
			for k, x := range v {
				if k == "enforcementLevel" {
					s, _ := x.(string)
					l, err := ParseLevel(s)
					if err != nil {
						return nil, fmt.Errorf("policy config %s: %w", name, err)
					}
					pc.EnforcementLevel = &l
					continue
				}
				pc.Properties[k] = x
			}
		default:
			return nil, fmt.Errorf("policy config %s: want a level or an object", name)
		}
		if name == "all" {
			all = pc.EnforcementLevel
			continue
		}
		if _, ok := ByName(name); !ok {
			return nil, fmt.Errorf("policy config: the pack has no policy %q", name)
		}
		out[name] = pc
	}
	if all != nil {
		for _, r := range All() {
			pc := out[r.Name]
			if pc.EnforcementLevel == nil {
				pc.EnforcementLevel = all
			}
			out[r.Name] = pc
		}
	}
	return out, nil
}
