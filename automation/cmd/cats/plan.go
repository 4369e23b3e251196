package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/plan/cost"
	"github.com/cats-analytics/cats-analytics/plan/diff"
	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// errMandatory is returned when a plan violates a mandatory policy.
var errMandatory = errors.New("mandatory policy violations")

type planFlags struct {
	stack, stateOut, policyConfig, projectDir, municipalities, env string
	json                                                           bool
	parallel                                                       int
	// diff is the directory (or, for one stack, the state file) of the base
	// plans; head a directory of head plans to compare without planning.
	diff, head, format string
	maxReportBytes     int
	usdJPY             float64
}

const planHelp = `usage:
  cats plan --stack STACK [--json] [--state-out FILE] [--policy-config FILE] [--project-dir DIR]
  cats plan --all-municipalities FILE --env dev|prod [--json] [--state-out DIR] [--parallel N]

Plans a stack offline: the program runs against Pulumi mocks (no cloud, no
credentials) with the stack's configuration (Pulumi.<stack>.yaml in the
project directory), the policy pack checks the result, and the command exits
non-zero when a mandatory policy is violated.

Flags:
`

func runPlan(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var f planFlags
	fs := flag.NewFlagSet("cats plan", flag.ContinueOnError)
	quiet(fs)
	fs.StringVar(&f.stack, "stack", "", "stack to plan: dev, prod or <code>-<env>")
	fs.BoolVar(&f.json, "json", false, "print one JSON document")
	fs.StringVar(&f.stateOut, "state-out", "", "write the Pulumi state file (a directory with --all-municipalities)")
	fs.StringVar(&f.policyConfig, "policy-config", "", "policy pack config (the JSON `pulumi --policy-pack-config` takes)")
	fs.StringVar(&f.projectDir, "project-dir", "", "directory of Pulumi.yaml (default $CATS_PROJECT_DIR or .)")
	fs.StringVar(&f.municipalities, "all-municipalities", "", "file of municipality codes (one a line, or the first CSV column) to plan")
	fs.StringVar(&f.env, "env", "", "environment of the municipality stacks: dev or prod")
	fs.IntVar(&f.parallel, "parallel", runtime.GOMAXPROCS(0), "stacks planned at once with --all-municipalities")
	fs.StringVar(&f.diff, "diff", "", "compare with the plans written by --state-out on the base: a directory (or one stack's state file)")
	fs.StringVar(&f.head, "head", "", "with --diff: compare with this directory of plans instead of planning")
	fs.StringVar(&f.format, "format", "", "output of --diff: text (default), markdown or json")
	fs.IntVar(&f.maxReportBytes, "max-report-bytes", 0, "bound the Markdown report (GitHub's job summary takes 1 MiB); 0: no bound")
	fs.Float64Var(&f.usdJPY, "usd-jpy", 0, "JPY per USD for the cost estimate (default: plan/cost/prices/usd-jpy.json)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return printHelp(stdout, planHelp, fs)
		}
		return fmt.Errorf("%w\n%w", err, errUsage)
	}
	if err := f.checkOutput(); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v\n%w", fs.Args(), errUsage)
	}
	if f.projectDir == "" {
		f.projectDir = getenv("CATS_PROJECT_DIR")
	}
	if f.projectDir == "" {
		f.projectDir = "."
	}
	policyConfig, err := readPolicyConfig(f.policyConfig)
	if err != nil {
		return err
	}
	catalog, err := priceCatalog(f.usdJPY)
	if err != nil {
		return err
	}
	if f.diff != "" {
		// A missing base would make every stack new: say so instead.
		if _, err := os.Stat(f.diff); err != nil {
			return fmt.Errorf("--diff: the base plans: %w", err)
		}
	}
	switch {
	case f.head != "":
		return diffDirs(f, catalog, stdout)
	case f.municipalities != "" && f.stack != "":
		return fmt.Errorf("--stack and --all-municipalities exclude each other\n%w", errUsage)
	case f.municipalities != "":
		if f.env != "dev" && f.env != "prod" {
			return fmt.Errorf("--all-municipalities needs --env dev or --env prod\n%w", errUsage)
		}
		return planMunicipalities(ctx, f, policyConfig, catalog, stdout)
	case f.stack == "":
		return fmt.Errorf("--stack is required\n%w", errUsage)
	}
	return planOne(ctx, f, policyConfig, catalog, stdout)
}

// checkOutput checks the output flags: --format belongs to --diff, and
// --json is --format json.
func (f *planFlags) checkOutput() error {
	switch {
	case f.head != "" && f.diff == "":
		return fmt.Errorf("--head needs --diff BASE\n%w", errUsage)
	case f.head != "" && (f.stack != "" || f.municipalities != ""):
		return fmt.Errorf("--head compares two directories of plans: it excludes --stack and --all-municipalities\n%w", errUsage)
	case f.format != "" && f.diff == "":
		return fmt.Errorf("--format chooses the output of --diff (use --json for the plan)\n%w", errUsage)
	case f.json && f.format != "" && f.format != "json":
		return fmt.Errorf("--json and --format %s exclude each other\n%w", f.format, errUsage)
	case f.usdJPY < 0:
		return fmt.Errorf("--usd-jpy %g: give the JPY a dollar buys, e.g. 155\n%w", f.usdJPY, errUsage)
	}
	if f.json {
		f.format = "json"
	}
	switch f.format {
	case "":
		f.format = "text"
	case "text", "markdown", "json":
	default:
		return fmt.Errorf("--format %q: text, markdown or json\n%w", f.format, errUsage)
	}
	return nil
}

func planOne(ctx context.Context, f planFlags, policyConfig map[string]rules.PolicyConfig, catalog *cost.Catalog, stdout io.Writer) error {
	cfg, err := plan.StackConfig(f.projectDir, f.stack)
	if err != nil {
		return fmt.Errorf("read the configuration of %s: %w", f.stack, err)
	}
	res, err := plan.Run(ctx, platform.Program, plan.Options{Stack: f.stack, Config: cfg, PolicyConfig: policyConfig})
	if err != nil {
		return err
	}
	estimate := catalog.Estimate(res)
	if f.stateOut != "" {
		if err := diff.WritePlan(f.stateOut, res, estimate); err != nil {
			return err
		}
	}
	if f.diff != "" {
		return diffOne(f, res, estimate, catalog, stdout)
	}
	if f.json {
		err = writeJSON(stdout, res, estimate)
	} else {
		err = writeTable(stdout, res, estimate)
	}
	if err != nil {
		return err
	}
	if n := res.MandatoryViolations(); n > 0 {
		return fmt.Errorf("stack %s: %d %w", f.stack, n, errMandatory)
	}
	return nil
}

// planJSON is the --json document.
type planJSON struct {
	Stack      string            `json:"stack"`
	Resources  []resourceJSON    `json:"resources"`
	Violations []rules.Violation `json:"violations"`
	Cost       *cost.Estimate    `json:"cost"`
}

type resourceJSON struct {
	URN      string         `json:"urn"`
	Type     string         `json:"type"`
	Name     string         `json:"name"`
	Parent   string         `json:"parent,omitempty"`
	Tier     string         `json:"tier"`
	Provider string         `json:"provider,omitempty"`
	Inputs   map[string]any `json:"inputs"`
}

func writeJSON(w io.Writer, res *plan.Result, estimate *cost.Estimate) error {
	doc := planJSON{Stack: res.Stack, Violations: res.Violations, Cost: estimate}
	if doc.Violations == nil {
		doc.Violations = []rules.Violation{}
	}
	for _, r := range res.Resources {
		inputs := plan.PlainMap(r.Inputs)
		if inputs == nil {
			inputs = map[string]any{}
		}
		doc.Resources = append(doc.Resources, resourceJSON{
			URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.Parent, Tier: res.Tier(r), Provider: r.Provider, Inputs: inputs,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func writeTable(w io.Writer, res *plan.Result, estimate *cost.Estimate) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	order, byTier := res.Tiers()
	fmt.Fprintf(tw, "Plan of stack %s: %d resources (offline, %s)\n\n", res.Stack, len(res.Resources), res.Elapsed.Round(time.Millisecond))
	fmt.Fprintln(tw, "TIER\tTYPE\tNAME")
	for _, tier := range order {
		for _, r := range byTier[tier] {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", tier, r.Type, r.Name)
		}
	}
	mandatory := res.MandatoryViolations()
	fmt.Fprintf(tw, "\nPolicies (%s %s): %d mandatory, %d advisory violations\n",
		rules.PackName, rules.PackVersion, mandatory, len(res.Violations)-mandatory)
	if len(res.Violations) > 0 {
		fmt.Fprintln(tw, "LEVEL\tPOLICY\tCONTROL\tRESOURCE\tMESSAGE")
		for _, v := range res.Violations {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Level, v.Policy, v.Control, urnName(v.URN), v.Message)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeCost(w, estimate)
}

func urnName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// readPolicyConfig reads the policy pack config file the CLI's
// --policy-pack-config takes: {"policy": "mandatory"} or
// {"policy": {"enforcementLevel": "advisory", "property": value}}.
func readPolicyConfig(path string) (map[string]rules.PolicyConfig, error) {
	if path == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy config: %w", err)
	}
	config, err := parsePolicyConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("read policy config %s: %w", path, err)
	}
	return config, nil
}

// parsePolicyConfig checks a policy pack config: every rule it names must be
// one of the pack's, every level a level (the error names the rule).
func parsePolicyConfig(raw []byte) (map[string]rules.PolicyConfig, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON object of rules: %w", err)
	}
	config, err := rules.ParseConfig(doc)
	if err != nil {
		return nil, err
	}
	// The CLI would refuse a property the rule's schema does not have only
	// when a preview starts; refuse it now, naming the rule.
	for name, pc := range config {
		r, _ := rules.ByName(name)
		known := slices.Sorted(maps.Keys(r.Schema().Properties))
		for prop := range pc.Properties {
			if !slices.Contains(known, prop) {
				return nil, fmt.Errorf("policy config %s: the rule has no setting %q (it takes %s)", name, prop, strings.Join(known, ", "))
			}
		}
	}
	return config, nil
}

func planMunicipalities(ctx context.Context, f planFlags, policyConfig map[string]rules.PolicyConfig, catalog *cost.Catalog, stdout io.Writer) error {
	codes, err := readCodes(f.municipalities)
	if err != nil {
		return err
	}
	if f.stateOut != "" {
		if err := os.MkdirAll(f.stateOut, 0o755); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
	}
	stacks := make([]string, len(codes))
	for i, c := range codes {
		stacks[i] = c + "-" + f.env
	}
	var (
		mu        sync.Mutex
		estimates = map[string]*cost.Estimate{}
		diffs     []diff.StackDiff
	)
	start := time.Now()
	results := plan.Many(ctx, platform.Program, f.projectDir, stacks, f.parallel, policyConfig, func(res *plan.Result) error {
		estimate := catalog.Estimate(res)
		if f.stateOut != "" {
			if err := diff.WritePlan(diff.StateFile(f.stateOut, res.Stack), res, estimate); err != nil {
				return err
			}
		}
		var d diff.StackDiff
		if f.diff != "" {
			d = diff.WithBase(diff.StateFile(f.diff, res.Stack), diff.FromResult(res, estimate), catalog)
		}
		mu.Lock()
		defer mu.Unlock()
		estimates[res.Stack] = estimate
		if f.diff != "" {
			diffs = append(diffs, d)
		}
		return nil
	})
	elapsed := time.Since(start)
	if f.diff != "" {
		return diffMunicipalities(f, catalog, stacks, results, diffs, stdout)
	}

	failed, violating, resources := 0, 0, 0
	var fleet fleetCost
	fleetResults := make([]fleetResult, len(results))
	for i, r := range results {
		resources += r.Resources
		if r.Error != "" {
			failed++
		}
		if r.Mandatory > 0 {
			violating++
		}
		fleetResults[i] = fleetResult{Summary: r}
		if e, ok := estimates[r.Stack]; ok && r.Error == "" {
			fleet.add(e)
			fleetResults[i].MonthlyUSD, fleetResults[i].MonthlyJPY = e.MonthlyUSD, e.MonthlyJPY
		}
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(map[string]any{
			"environment": f.env, "stacks": len(results), "failed": failed, "withMandatoryViolations": violating,
			"resources": resources, "elapsedSeconds": elapsed.Seconds(), "cost": fleet.json(catalog), "results": fleetResults,
		})
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, r := range results {
			if r.Error != "" || r.Mandatory > 0 {
				fmt.Fprintf(tw, "%s\t%d mandatory\t%d advisory\t%s\n", r.Stack, r.Mandatory, r.Advisory, r.Error)
			}
		}
		fmt.Fprintf(tw, "Planned %d municipality stacks (%s) in %s with %d workers: %d resources, %d failed to plan, %d with mandatory violations\n",
			len(results), f.env, elapsed.Round(time.Millisecond), f.parallel, resources, failed, violating)
		if err = tw.Flush(); err == nil {
			err = fleet.write(stdout, catalog)
		}
	}
	if err != nil {
		return err
	}
	if failed > 0 || violating > 0 {
		return fmt.Errorf("%d stacks failed to plan, %d have %w", failed, violating, errMandatory)
	}
	return nil
}

// fleetResult is one stack of the --all-municipalities JSON document.
type fleetResult struct {
	plan.Summary
	MonthlyUSD float64 `json:"monthlyUsd"`
	MonthlyJPY float64 `json:"monthlyJpy"`
}

// readCodes reads municipality codes: one a line, or the first column of a
// CSV such as the shipped municipal_codes.csv. Headers, blank lines and #
// comments are skipped, and so are prefecture rows, which are not
// municipalities.
func readCodes(path string) ([]string, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read municipality list: %w", err)
	}
	defer file.Close()
	var codes []string
	seen := map[string]bool{}
	scanner := bufio.NewScanner(file)
	line := 0
	for scanner.Scan() {
		line++
		text := strings.TrimSpace(scanner.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		code := strings.Trim(strings.TrimSpace(strings.SplitN(text, ",", 2)[0]), `"`)
		if _, err := strconv.Atoi(code); err != nil {
			if line == 1 {
				continue // a header
			}
			return nil, fmt.Errorf("%s line %d: %q is not a municipality code", path, line, code)
		}
		if m, ok := municipality.Lookup(code); ok && m.IsPrefecture() {
			continue
		}
		if !seen[code] {
			seen[code] = true
			codes = append(codes, code)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read municipality list: %w", err)
	}
	sort.Strings(codes)
	return codes, nil
}
