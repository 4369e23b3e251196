// Package diff compares offline plans: the plans a pull request's base
// branch wrote (`cats plan --state-out`) with the plans of its head, stack
// by stack and across the fleet. For every stack it lists the resources to
// create, delete, replace (when a changed input forces it, as far as
// internal/awsmodel knows; "may replace" when it does not know the type) and
// update with the input paths that change, the policy results that appear or
// disappear and the estimated monthly cost before and after; across the
// fleet it groups identical changes, so a change to every municipality reads
// as one line with the stacks that differ. Report renders it as Markdown for
// reviewers, text for a terminal and JSON for machines.
package diff

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/plan/cost"
	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// Snapshot is one stack's plan as the diff sees it: every resource with its
// inputs in the state file's form (secrets already redacted), the policy
// results and the cost estimate.
type Snapshot struct {
	Stack      string
	Resources  []Resource
	Violations []Finding
	// Cost is nil when the plan carries no estimate and none could be made.
	Cost *Cost
	// Recomputed is true when the policy results and the cost were computed
	// by this build from the state file, because the plan wrote no results
	// beside it (a base branch older than the results file).
	Recomputed bool
}

// Resource is one planned resource.
type Resource struct {
	URN, Type, Name, Parent, Provider, ID string
	Custom                                bool
	RetainOnDelete                        bool
	Tier                                  string
	Inputs                                map[string]any

	// raw is the inputs as a state file holds them, decoded into Inputs
	// only when they differ from the other plan's: most of a fleet's
	// resources do not change, and decoding them is most of a diff's time.
	raw json.RawMessage
}

// inputs returns the resource's inputs, decoding them on first use.
func (r *Resource) inputs() map[string]any {
	if r.Inputs == nil && len(r.raw) > 0 {
		if err := json.Unmarshal(r.raw, &r.Inputs); err != nil || r.Inputs == nil {
			r.Inputs = map[string]any{}
		}
	}
	return r.Inputs
}

// Finding is a policy result.
type Finding struct {
	Policy  string `json:"policy"`
	Level   string `json:"level"`
	URN     string `json:"urn"`
	Message string `json:"message"`
	Control string `json:"control,omitempty"`
}

// Mandatory reports whether the finding blocks a deployment.
func (f Finding) Mandatory() bool { return f.Level == "mandatory" }

// Cost is the part of an estimate the diff compares.
type Cost struct {
	MonthlyUSD float64 `json:"monthlyUsd"`
	MonthlyJPY float64 `json:"monthlyJpy"`
	// Unpriced counts fixed charges the price tables could not price.
	Unpriced int `json:"unpriced"`
}

// Results is what a plan writes beside its state file (<stack>.results.json):
// what the state file cannot hold without changing what `pulumi policy
// analyze --file` reads (the policy results, the cost estimate), and the
// resources with their inputs in compact JSON, all a diff reads: a fifth of
// the state file, which also holds outputs and is indented for reading.
type Results struct {
	Stack      string            `json:"stack"`
	PolicyPack string            `json:"policyPack"`
	Violations []Finding         `json:"violations"`
	Cost       *cost.Estimate    `json:"cost,omitempty"`
	Resources  []PlannedResource `json:"resources"`
}

// PlannedResource is a resource as a results file (and, with more fields, a
// state file) holds it.
type PlannedResource struct {
	URN            string          `json:"urn"`
	Custom         bool            `json:"custom"`
	ID             string          `json:"id,omitempty"`
	Type           string          `json:"type"`
	Inputs         json.RawMessage `json:"inputs,omitempty"`
	Parent         string          `json:"parent,omitempty"`
	Provider       string          `json:"provider,omitempty"`
	RetainOnDelete bool            `json:"retainOnDelete,omitempty"`
}

// NewResults gathers what a plan writes beside its state.
func NewResults(res *plan.Result, estimate *cost.Estimate) Results {
	r := Results{Stack: res.Stack, PolicyPack: rules.PackName + "@" + rules.PackVersion,
		Violations: findings(res.Violations), Cost: estimate}
	for _, x := range FromResult(res, estimate).Resources {
		r.Resources = append(r.Resources, PlannedResource{URN: x.URN, Custom: x.Custom, ID: x.ID, Type: x.Type,
			Inputs: x.raw, Parent: x.Parent, Provider: x.Provider, RetainOnDelete: x.RetainOnDelete})
	}
	return r
}

// Write writes the results file, compact: the inputs stay byte for byte
// what FromResult makes, so a diff compares them without decoding.
func (r Results) Write(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}

// WritePlan writes a plan as `cats plan --state-out` does: the state file
// (the format `pulumi stack export` writes, which `pulumi policy analyze
// --file` reads) and the results file beside it.
func WritePlan(statePath string, res *plan.Result, estimate *cost.Estimate) error {
	if err := writeFile(statePath, res.WriteState); err != nil {
		return fmt.Errorf("write the state of %s: %w", res.Stack, err)
	}
	if err := writeFile(ResultsFile(statePath), NewResults(res, estimate).Write); err != nil {
		return fmt.Errorf("write the results of %s: %w", res.Stack, err)
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(file); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

func findings(vs []rules.Violation) []Finding {
	out := make([]Finding, 0, len(vs))
	for _, v := range vs {
		out = append(out, Finding{Policy: v.Policy, Level: v.Level, URN: v.URN, Message: v.Message, Control: v.Control})
	}
	return out
}

func costOf(e *cost.Estimate) *Cost {
	if e == nil {
		return nil
	}
	return &Cost{MonthlyUSD: e.MonthlyUSD, MonthlyJPY: e.MonthlyJPY, Unpriced: len(e.Unpriced)}
}

// FromResult is the snapshot of a plan made in this process, in the same
// form as one read from its results file: the inputs as the state file
// holds them (secrets redacted), in compact JSON.
func FromResult(res *plan.Result, estimate *cost.Estimate) *Snapshot {
	s := &Snapshot{Stack: res.Stack, Violations: findings(res.Violations), Cost: costOf(estimate)}
	order, byTier := res.Tiers()
	s.Resources = make([]Resource, 0, len(res.Resources))
	for _, tier := range order {
		for _, r := range byTier[tier] {
			s.Resources = append(s.Resources, Resource{
				URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.Parent, Provider: r.Provider, ID: r.ID,
				Custom: r.Custom, RetainOnDelete: r.RetainOnDelete, Tier: tier, raw: compact(plan.PlainMap(r.Inputs)),
			})
		}
	}
	return s
}

// compact is inputs as compact JSON; nil for none, as a state file omits them.
func compact(inputs map[string]any) json.RawMessage {
	if len(inputs) == 0 {
		return nil
	}
	raw, err := json.Marshal(inputs)
	if err != nil {
		// PlainMap gives JSON values only; keep the map form if that changes.
		raw, _ = json.Marshal(fmt.Sprint(inputs))
	}
	return raw
}

// StateFile and ResultsFile are where `cats plan --state-out DIR` writes a
// stack's plan.
func StateFile(dir, stack string) string { return filepath.Join(dir, stack+".json") }

// ResultsFile is the results file beside a state file.
func ResultsFile(statePath string) string {
	return strings.TrimSuffix(statePath, ".json") + resultsSuffix
}

const resultsSuffix = ".results.json"

// Stacks lists the stacks a directory holds plans of.
func Stacks(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list the plans in %s: %w", dir, err)
	}
	var stacks []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasSuffix(name, resultsSuffix) {
			continue
		}
		stacks = append(stacks, strings.TrimSuffix(name, ".json"))
	}
	sort.Strings(stacks)
	return stacks, nil
}

// Load reads a stack's plan from its results file, or from its state file
// when the results file is older than the inputs it now holds. Without a
// results file the policy results and the cost are computed here from the
// state, with this build's rules and prices (Recomputed says so). A missing
// state file is os.ErrNotExist: the stack was not planned.
func Load(statePath string, catalog *cost.Catalog) (*Snapshot, error) {
	if _, err := os.Stat(statePath); err != nil {
		return nil, err
	}
	resultsRaw, err := os.ReadFile(ResultsFile(statePath))
	switch {
	case errors.Is(err, os.ErrNotExist):
		raw, err := os.ReadFile(statePath)
		if err != nil {
			return nil, err
		}
		return recompute(statePath, raw, catalog)
	case err != nil:
		return nil, fmt.Errorf("read the results beside %s: %w", statePath, err)
	}
	var results Results
	if err := json.Unmarshal(resultsRaw, &results); err != nil {
		return nil, fmt.Errorf("read %s: %w", ResultsFile(statePath), err)
	}
	s := &Snapshot{Stack: results.Stack, Violations: results.Violations, Cost: costOf(results.Cost)}
	if s.Stack == "" {
		s.Stack = stackOfFile(statePath)
	}
	resources := results.Resources
	if resources == nil {
		raw, err := os.ReadFile(statePath)
		if err != nil {
			return nil, err
		}
		var state struct {
			Deployment struct {
				Resources []PlannedResource `json:"resources"`
			} `json:"deployment"`
		}
		if err := json.Unmarshal(raw, &state); err != nil {
			return nil, fmt.Errorf("read the state file %s: %w", statePath, err)
		}
		resources = state.Deployment.Resources
	}
	s.Resources = make([]Resource, 0, len(resources))
	for _, r := range resources {
		s.Resources = append(s.Resources, Resource{URN: r.URN, Type: r.Type, Name: resource.URN(r.URN).Name(),
			Parent: r.Parent, Provider: r.Provider, ID: r.ID, Custom: r.Custom, RetainOnDelete: r.RetainOnDelete, raw: r.Inputs})
	}
	setTiers(s.Resources)
	return s, nil
}

func stackOfFile(path string) string { return strings.TrimSuffix(filepath.Base(path), ".json") }

// recompute reads a state file without results: the resources with their
// outputs and dependencies, so the policy pack's stack rules and the cost
// estimate run on it as on a fresh plan.
func recompute(statePath string, raw []byte, catalog *cost.Catalog) (*Snapshot, error) {
	var untyped apitype.UntypedDeployment
	if err := json.Unmarshal(raw, &untyped); err != nil {
		return nil, fmt.Errorf("read the state file %s: %w", statePath, err)
	}
	var d apitype.DeploymentV3
	if err := json.Unmarshal(untyped.Deployment, &d); err != nil {
		return nil, fmt.Errorf("read the state file %s: %w", statePath, err)
	}
	res := &plan.Result{Stack: stackOfFile(statePath)}
	for _, r := range d.Resources {
		pr := plan.Resource{
			URN: string(r.URN), Type: string(r.Type), Name: r.URN.Name(), Parent: string(r.Parent),
			Provider: r.Provider, Custom: r.Custom, ID: string(r.ID), RetainOnDelete: r.RetainOnDelete,
			Inputs:  resource.NewPropertyMapFromMap(r.Inputs),
			Outputs: resource.NewPropertyMapFromMap(r.Outputs),
		}
		for _, dep := range r.Dependencies {
			pr.Dependencies = append(pr.Dependencies, string(dep))
		}
		if len(r.PropertyDependencies) > 0 {
			pr.PropertyDependencies = map[string][]string{}
			for k, urns := range r.PropertyDependencies {
				for _, u := range urns {
					pr.PropertyDependencies[string(k)] = append(pr.PropertyDependencies[string(k)], string(u))
				}
			}
		}
		if r.Type == resource.RootStackType {
			res.StackURN = string(r.URN)
		}
		res.Resources = append(res.Resources, pr)
	}
	res.Violations = plan.Evaluate(rules.NewEvaluator(nil), res.Resources)
	var estimate *cost.Estimate
	if catalog != nil {
		estimate = catalog.Estimate(res)
	}
	s := FromResult(res, estimate)
	// Keep the state file's inputs as they were written, not as this build
	// would convert them again.
	byURN := map[string]map[string]any{}
	for _, r := range d.Resources {
		byURN[string(r.URN)] = r.Inputs
	}
	for i := range s.Resources {
		s.Resources[i].raw = compact(byURN[s.Resources[i].URN])
	}
	s.Recomputed = true
	return s, nil
}

// setTiers gives each resource the tier of its nearest cats:<tier>:<Type>
// ancestor (plan.Result.Tiers for resources read from a state file).
func setTiers(rs []Resource) {
	byURN := make(map[string]*Resource, len(rs))
	for i := range rs {
		byURN[rs[i].URN] = &rs[i]
	}
	for i := range rs {
		rs[i].Tier = "stack"
		for cur := &rs[i]; cur != nil; cur = byURN[cur.Parent] {
			if parts := strings.Split(cur.Type, ":"); len(parts) == 3 && parts[0] == "cats" {
				rs[i].Tier = parts[1]
				break
			}
			if cur.Parent == "" {
				break
			}
		}
	}
}
