// Package plan is the offline plan (DESIGN.md, Offline plan): it runs the
// program against mocks for any stack configuration, with no cloud and no
// credentials, evaluates the resource graph with the policy pack's rules in
// process, and writes it as a Pulumi state file so the real CLI can check it
// with `pulumi policy analyze --file`.
package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"gopkg.in/yaml.v3"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// Options select what to plan.
type Options struct {
	// Stack is the stack name: dev, prod or <code>-<env>.
	Stack string
	// Organization qualifies referenced stacks; config.DefaultOrganization
	// (the self-managed backends' name) when empty.
	Organization string
	// Config is the stack's configuration by full key ("cats:vpcCidr",
	// "aws:region"), e.g. from StackConfig.
	Config map[string]string
	// StackOutputs are the outputs of the stacks the program references; when
	// a shared municipality stack's environment is missing, EnvironmentOutputs
	// stands in for it.
	StackOutputs map[string]map[string]any
	// PolicyConfig configures the rules (levels, thresholds, exceptions).
	PolicyConfig map[string]rules.PolicyConfig
	// Mutate changes registrations before they are recorded (tests).
	Mutate func(*Resource)
}

// Result is a planned stack.
type Result struct {
	Stack      string
	StackURN   string
	Resources  []Resource
	Violations []rules.Violation
	Elapsed    time.Duration
}

// MandatoryViolations counts the violations that would block a deployment.
func (r *Result) MandatoryViolations() int {
	n := 0
	for _, v := range r.Violations {
		if v.Mandatory() {
			n++
		}
	}
	return n
}

// Run plans one stack of a program (platform.Program for the product).
func Run(ctx context.Context, program pulumi.RunFunc, opts Options) (*Result, error) {
	start := time.Now()
	if opts.Stack == "" {
		return nil, errors.New("plan: a stack name is required")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	org := opts.Organization
	if org == "" {
		org = config.DefaultOrganization
	}
	region := opts.Config[config.RegionKey]
	if region == "" {
		region = config.DefaultRegion
	}
	monitor := &Monitor{Stack: opts.Stack, Project: config.Project, Region: region, Mutate: opts.Mutate,
		StackOutputs: map[string]map[string]any{}}
	for k, v := range opts.StackOutputs {
		monitor.StackOutputs[k] = v
	}
	// A shared municipality stack reads its environment stack's outputs.
	c, err := config.Parse(org, config.Project, opts.Stack, lookup(opts.Config))
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", opts.Stack, err)
	}
	if !c.OwnsBaseline() {
		if _, ok := monitor.StackOutputs[c.EnvironmentStack]; !ok {
			monitor.StackOutputs[c.EnvironmentStack] = EnvironmentOutputs(c.Environment, region)
		}
	}
	err = pulumi.RunErr(program,
		pulumi.WithMocks(config.Project, opts.Stack, monitor),
		func(info *pulumi.RunInfo) {
			info.Config = opts.Config
			info.Organization = org
		})
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", opts.Stack, err)
	}
	res := &Result{Stack: opts.Stack, StackURN: monitor.StackURN(), Resources: withProviders(monitor)}
	res.Violations = Evaluate(rules.NewEvaluator(opts.PolicyConfig), res.Resources)
	res.Elapsed = time.Since(start)
	return res, nil
}

func lookup(cfg map[string]string) config.Lookup {
	return func(key string) (string, bool) {
		v, ok := cfg[key]
		return v, ok
	}
}

// EnvironmentOutputs stands in for an environment stack's outputs when a
// shared municipality stack is planned without it: the names the environment
// stack gives its resources, in the plan's account.
func EnvironmentOutputs(env, region string) map[string]any {
	namer, err := config.StackNamer(env, "")
	trail := "cats-trail-" + env
	if err == nil {
		trail = namer.PerStack("cats-trail")
	}
	return map[string]any{
		"environment":         env,
		"trailArn":            fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", region, AccountID, trail),
		"vpcId":               "vpc-" + env,
		"dataKeyArn":          fmt.Sprintf("arn:aws:kms:%s:%s:key/%s-data", region, AccountID, env),
		"regionalWebAclArn":   fmt.Sprintf("arn:aws:wafv2:%s:%s:regional/webacl/cats-waf-regional-%s/plan", region, AccountID, env),
		"cloudFrontWebAclArn": fmt.Sprintf("arn:aws:wafv2:us-east-1:%s:global/webacl/cats-waf-cloudfront-%s/plan", AccountID, env),
		"zoneId":              "ZPLAN" + strings.ToUpper(env),
	}
}

// withProviders returns the recorded resources behind the root stack and the
// default providers the engine would have created, with every custom
// resource pointing at its provider.
func withProviders(m *Monitor) []Resource {
	recorded := m.Resources()
	stack := Resource{URN: m.StackURN(), Type: string(resource.RootStackType), Name: m.Project + "-" + m.Stack,
		Inputs: resource.PropertyMap{}, Outputs: resource.PropertyMap{}}
	out := []Resource{stack}
	defaults := map[string]string{} // package → provider reference
	for i := range recorded {
		r := &recorded[i]
		if r.Parent == "" && r.Type != string(resource.RootStackType) {
			r.Parent = stack.URN
		}
		if !r.Custom || r.Provider != "" || strings.HasPrefix(r.Type, "pulumi:") {
			continue
		}
		pkg := strings.SplitN(r.Type, ":", 2)[0]
		ref, ok := defaults[pkg]
		if !ok {
			name := "default"
			if r.version != "" {
				name += "_" + strings.NewReplacer(".", "_", "-", "_").Replace(r.version)
			}
			p := Resource{
				URN:    m.urn("", "pulumi:providers:"+pkg, name),
				Type:   "pulumi:providers:" + pkg,
				Name:   name,
				Parent: "",
				Custom: true,
				ID:     "00000000-0000-0000-0000-000000000000",
				Inputs: resource.PropertyMap{"version": resource.NewStringProperty(r.version)},
			}
			if pkg == "aws" {
				p.Inputs["region"] = resource.NewStringProperty(m.Region)
			}
			p.Outputs = p.Inputs.Copy()
			out = append(out, p)
			ref = p.URN + "::" + p.ID
			defaults[pkg] = ref
		}
		r.Provider = ref
	}
	return append(out, recorded...)
}

// Evaluate runs the rules on a planned graph the way the CLI analyses a
// state file (engine deploy.AnalyzeSnapshot): resource rules read each
// resource's inputs, stack rules read every resource's outputs.
func Evaluate(e *rules.Evaluator, resources []Resource) []rules.Violation {
	var out []rules.Violation
	stack := make([]policyx.AnalyzerResource, 0, len(resources))
	for _, r := range resources {
		out = append(out, e.Resource(AnalyzerResource(r, r.Inputs))...)
		stack = append(stack, AnalyzerResource(r, r.Outputs))
	}
	out = append(out, e.Stack(stack)...)
	rules.Sort(out)
	return out
}

// AnalyzerResource converts a planned resource for the rules, with the
// given properties (inputs or outputs).
func AnalyzerResource(r Resource, props resource.PropertyMap) policyx.AnalyzerResource {
	return policyx.AnalyzerResource{
		Type: r.Type, URN: r.URN, Name: r.Name, Parent: r.Parent,
		Properties:           resource.FromResourcePropertyMap(props),
		Dependencies:         r.Dependencies,
		PropertyDependencies: r.PropertyDependencies,
	}
}

// StackConfig reads a stack's configuration the way the CLI does for a
// project directory: the values Pulumi.yaml declares, overridden by
// Pulumi.<stack>.yaml when it exists (municipality stacks usually have none:
// their settings follow from the stack name). Structured values become JSON,
// as the CLI passes them to the program.
func StackConfig(projectDir, stack string) (map[string]string, error) {
	cfg := map[string]string{}
	var project struct {
		Config map[string]struct {
			Value any `yaml:"value"`
		} `yaml:"config"`
	}
	if err := readYAML(filepath.Join(projectDir, "Pulumi.yaml"), &project); err != nil {
		return nil, err
	}
	for k, v := range project.Config {
		if v.Value != nil {
			s, err := configString(v.Value)
			if err != nil {
				return nil, fmt.Errorf("config %s in Pulumi.yaml: %w", k, err)
			}
			cfg[k] = s
		}
	}
	var stackFile struct {
		Config map[string]any `yaml:"config"`
	}
	path := filepath.Join(projectDir, "Pulumi."+stack+".yaml")
	if err := readYAML(path, &stackFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for k, v := range stackFile.Config {
		s, err := configString(v)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", filepath.Base(path), k, err)
		}
		cfg[k] = s
	}
	return cfg, nil
}

func readYAML(path string, into any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

func configString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case map[string]any:
		if _, secure := v["secure"]; secure {
			return "", errors.New("secret config values cannot be planned offline")
		}
	}
	switch v.(type) {
	case []any, map[string]any:
		return jsonString(v)
	}
	return fmt.Sprint(v), nil
}
