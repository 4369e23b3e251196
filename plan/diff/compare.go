package diff

import (
	"bytes"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/cats-analytics/cats-analytics/internal/awsmodel"
)

// Op is what happens to a resource.
type Op string

// The operations, in the order a reader should see them.
const (
	Delete     Op = "delete"
	Replace    Op = "replace"
	MayReplace Op = "may replace"
	Create     Op = "create"
	Update     Op = "update"
)

var opOrder = map[Op]int{Delete: 0, Replace: 1, MayReplace: 2, Create: 3, Update: 4}

// Change is what happens to one resource of a stack.
type Change struct {
	URN  string `json:"urn"`
	Tier string `json:"tier"`
	Effect
}

// Effect is what a change does to a resource, wherever the resource is: a
// stack's Change and a fleet's Group (the same change in many stacks) share it.
type Effect struct {
	Op   Op     `json:"op"`
	Type string `json:"type"`
	Name string `json:"name"`
	// PhysicalName is the resource's name in AWS, where the inputs set it.
	PhysicalName string       `json:"physicalName,omitempty"`
	Paths        []PathChange `json:"paths,omitempty"`
	// ReplaceBecause lists the properties AWS cannot change in place.
	ReplaceBecause []string `json:"replaceBecause,omitempty"`
	// DeleteFirst: the replacement keeps the AWS name, and AWS refuses two
	// resources with one name, so the old one is deleted before the new one
	// is created.
	DeleteFirst bool `json:"deleteFirst,omitempty"`
	// Stateful is the role of a resource that holds data.
	Stateful string `json:"stateful,omitempty"`
	// RetainedOnDelete: the old resource is left in the account, out of the
	// stack, instead of being deleted.
	RetainedOnDelete bool `json:"retainedOnDelete,omitempty"`
}

// Status is what happens to a stack.
type Status string

// Stack statuses.
const (
	Unchanged Status = "unchanged"
	Changed   Status = "changed"
	// New: no plan of the stack in the base (every resource is created).
	New Status = "new"
	// Removed: the base planned the stack, the head does not.
	Removed Status = "removed"
	// Failed: the head could not plan the stack, or its base plan could not
	// be read.
	Failed Status = "failed"
)

// StackDiff is the difference between two plans of a stack.
type StackDiff struct {
	Stack              string    `json:"stack"`
	Kind               string    `json:"kind"`
	Status             Status    `json:"status"`
	Error              string    `json:"error,omitempty"`
	Changes            []Change  `json:"changes"`
	NewViolations      []Finding `json:"newViolations"`
	ResolvedViolations []Finding `json:"resolvedViolations"`
	CostBefore         *Cost     `json:"costBefore,omitempty"`
	CostAfter          *Cost     `json:"costAfter,omitempty"`
	// BaseRecomputed: the base wrote no results beside its state, so its
	// policy results and cost were computed with this build's rules and
	// prices.
	BaseRecomputed bool `json:"baseRecomputed,omitempty"`

	// identities are the resources of the stack in either plan, for the
	// fleet's "every stack but these" lines.
	identities map[uint64]struct{}
}

// MunicipalityStack reports whether a stack is a municipality's
// (<code>-<env>) and of which environment.
func MunicipalityStack(stack string) (env string, ok bool) {
	if m := municipalityStack.FindStringSubmatch(stack); m != nil {
		return m[2], true
	}
	return "", false
}

// Kind is the group of stacks a stack belongs to for the fleet's counts.
func Kind(stack string) string {
	if m := municipalityStack.FindStringSubmatch(stack); m != nil {
		return "municipality stacks (" + m[2] + ")"
	}
	return "environment stacks"
}

// forceNew is awsmodel's replacement table: a type in it is replaced only
// when a property it lists changes; a type missing from it may be replaced
// by any change, as far as this offline diff knows.
var forceNew = awsmodel.ForceNewTable()

// Failure is the diff of a stack that could not be compared.
func Failure(stack string, err error) StackDiff {
	return StackDiff{Stack: stack, Kind: Kind(stack), Status: Failed, Error: err.Error(),
		Changes: []Change{}, NewViolations: []Finding{}, ResolvedViolations: []Finding{}}
}

// Compare diffs two plans of one stack; base is nil for a stack the base did
// not plan, head nil for one the head no longer plans.
func Compare(base, head *Snapshot) StackDiff {
	var stack string
	switch {
	case head != nil:
		stack = head.Stack
	case base != nil:
		stack = base.Stack
	}
	d := StackDiff{Stack: stack, Kind: Kind(stack), Status: Unchanged, Changes: []Change{},
		NewViolations: []Finding{}, ResolvedViolations: []Finding{}, identities: map[uint64]struct{}{}}
	var baseRes, headRes []Resource
	if base != nil {
		baseRes, d.CostBefore, d.BaseRecomputed = base.Resources, base.Cost, base.Recomputed
	}
	if head != nil {
		headRes, d.CostAfter = head.Resources, head.Cost
	}
	before := make(map[string]*Resource, len(baseRes))
	for i := range baseRes {
		before[baseRes[i].URN] = &baseRes[i]
		d.identities[identity(baseRes[i].URN)] = struct{}{}
	}
	seen := make(map[string]bool, len(headRes))
	for i := range headRes {
		h := &headRes[i]
		seen[h.URN] = true
		d.identities[identity(h.URN)] = struct{}{}
		if h.Type == "pulumi:pulumi:Stack" {
			continue
		}
		b, ok := before[h.URN]
		if !ok {
			d.Changes = append(d.Changes, change(Create, h, nil))
			continue
		}
		if c, changed := update(b, h); changed {
			d.Changes = append(d.Changes, c)
		}
	}
	for i := range baseRes {
		b := &baseRes[i]
		if !seen[b.URN] && b.Type != "pulumi:pulumi:Stack" {
			d.Changes = append(d.Changes, change(Delete, b, nil))
		}
	}
	sort.Slice(d.Changes, func(i, j int) bool {
		a, b := d.Changes[i], d.Changes[j]
		if a.Tier != b.Tier {
			return a.Tier < b.Tier
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Name < b.Name
	})
	if base != nil && head != nil {
		d.NewViolations = subtract(head.Violations, base.Violations)
		d.ResolvedViolations = subtract(base.Violations, head.Violations)
	} else if head != nil {
		d.NewViolations = subtract(head.Violations, nil)
	}
	switch {
	case base == nil:
		d.Status = New
	case head == nil:
		d.Status = Removed
	case len(d.Changes) > 0 || len(d.NewViolations) > 0 || len(d.ResolvedViolations) > 0:
		d.Status = Changed
	}
	return d
}

func change(op Op, r, old *Resource) Change {
	c := Change{URN: r.URN, Tier: r.Tier, Effect: Effect{Op: op, Type: r.Type, Name: r.Name, PhysicalName: physicalName(r),
		Stateful: Stateful(*r)}}
	if old != nil {
		if c.Stateful == "" {
			c.Stateful = Stateful(*old)
		}
		c.RetainedOnDelete = old.RetainOnDelete
	} else if op == Delete {
		c.RetainedOnDelete = r.RetainOnDelete
	}
	return c
}

// update classifies a resource present in both plans.
func update(b, h *Resource) (Change, bool) {
	if b.Inputs == nil && h.Inputs == nil && bytes.Equal(b.raw, h.raw) {
		return Change{}, false
	}
	paths := diffInputs(b.inputs(), h.inputs())
	if len(paths) == 0 {
		return Change{}, false
	}
	c := change(Update, h, b)
	_, known := forceNew[h.Type]
	switch {
	case !h.Custom && !strings.HasPrefix(h.Type, "cats:") && !strings.HasPrefix(h.Type, "pulumi:"):
		// A component of another package (awsx's VPC): its children are not
		// in the offline plan, and a change may replace any of them.
		c.Op = MayReplace
	case !h.Custom || strings.HasPrefix(h.Type, "pulumi:"):
		// This program's components and Pulumi's own resources.
	case known:
		for i := range paths {
			if awsmodel.ForcesReplacement(h.Type, paths[i].Property()) {
				paths[i].ForcesReplacement = true
				if !containsString(c.ReplaceBecause, paths[i].Property()) {
					c.ReplaceBecause = append(c.ReplaceBecause, paths[i].Property())
				}
			}
		}
		if len(c.ReplaceBecause) > 0 {
			c.Op = Replace
			old, new := physicalName(b), physicalName(h)
			c.DeleteFirst = new != "" && old == new
		}
	default:
		c.Op = MayReplace
	}
	c.Paths = paths
	return c, true
}

func physicalName(r *Resource) string {
	if s, ok := r.inputs()[awsmodel.PhysicalNameProperty(r.Type)].(string); ok {
		return s
	}
	return ""
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func findingKey(f Finding) string {
	return f.Policy + "\x00" + f.Level + "\x00" + f.URN + "\x00" + f.Message
}

// subtract returns the findings of a that b does not have.
func subtract(a, b []Finding) []Finding {
	have := make(map[string]bool, len(b))
	for _, f := range b {
		have[findingKey(f)] = true
	}
	out := []Finding{}
	for _, f := range a {
		if !have[findingKey(f)] {
			out = append(out, f)
		}
	}
	return out
}

// identity is a resource's URN without its stack and project: the same
// resource in every stack of the fleet.
func identity(urn string) uint64 { return hashKey(resourceKey(urn)) }

func hashKey(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}

func resourceKey(urn string) string {
	if parts := strings.SplitN(urn, "::", 3); len(parts) == 3 {
		return parts[2]
	}
	return urn
}
