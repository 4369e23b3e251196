package diff

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Report is the difference between the plans of a base and a head, for one
// stack or a fleet.
type Report struct {
	Base    string  `json:"base"`
	Head    string  `json:"head"`
	Summary Summary `json:"summary"`
	// Warnings call out what loses data: a stateful resource replaced or
	// deleted, stacks the head no longer plans.
	Warnings []string      `json:"warnings"`
	Groups   []Group       `json:"groups"`
	Policy   []PolicyGroup `json:"policy"`
	Stacks   []StackDiff   `json:"stacks"`
	// DiffSeconds is how long the comparison took (0: not measured).
	DiffSeconds float64 `json:"diffSeconds,omitempty"`
}

// Summary counts a report.
type Summary struct {
	Stacks            int `json:"stacks"`
	Changed           int `json:"changed"`
	New               int `json:"new"`
	Removed           int `json:"removed"`
	Failed            int `json:"failed"`
	Creates           int `json:"creates"`
	Updates           int `json:"updates"`
	Replaces          int `json:"replaces"`
	MayReplaces       int `json:"mayReplaces"`
	Deletes           int `json:"deletes"`
	NewMandatory      int `json:"newMandatory"`
	NewAdvisory       int `json:"newAdvisory"`
	ResolvedMandatory int `json:"resolvedMandatory"`
	ResolvedAdvisory  int `json:"resolvedAdvisory"`
	// CostBefore and CostAfter add up the stacks' fixed monthly estimates;
	// CostComplete is false when a stack had none, or had unpriced charges.
	CostBefore   Cost `json:"costBefore"`
	CostAfter    Cost `json:"costAfter"`
	CostComplete bool `json:"costComplete"`
	// BaseRecomputed counts stacks whose base wrote no results file.
	BaseRecomputed int `json:"baseRecomputed"`
}

// Group is one change made identically in several stacks (names that carry
// the stack read {stack}, the municipality code {code}).
type Group struct {
	Effect
	Stacks []string `json:"stacks"`
	// Kinds are the kinds of stack the group's stacks are; Population how
	// many stacks of those kinds have the resource.
	Kinds      []string    `json:"kinds"`
	Population int         `json:"population"`
	Exceptions []Exception `json:"exceptions"`

	key, resource string
}

// Exception is a stack of a group's kind, with the resource, that does not
// make the group's change.
type Exception struct {
	Stack string `json:"stack"`
	// Change is what it does instead ("no change" when nothing).
	Change string `json:"change"`
}

// PolicyGroup is a policy result that appears (or disappears) identically in
// several stacks.
type PolicyGroup struct {
	Appeared bool     `json:"appeared"`
	Policy   string   `json:"policy"`
	Level    string   `json:"level"`
	Type     string   `json:"type"`
	Name     string   `json:"name"`
	Message  string   `json:"message"`
	Stacks   []string `json:"stacks"`

	resource string
}

// Build assembles the report of stack diffs.
func Build(base, head string, diffs []StackDiff) *Report {
	r := &Report{Base: base, Head: head, Stacks: diffs, Warnings: []string{}, Groups: []Group{}, Policy: []PolicyGroup{}}
	sort.Slice(r.Stacks, func(i, j int) bool { return r.Stacks[i].Stack < r.Stacks[j].Stack })
	r.summarize()
	r.group()
	r.groupPolicy()
	r.warn()
	return r
}

func (r *Report) summarize() {
	s := &r.Summary
	s.Stacks = len(r.Stacks)
	s.CostComplete = true
	for _, d := range r.Stacks {
		switch d.Status {
		case Changed:
			s.Changed++
		case New:
			s.New++
		case Removed:
			s.Removed++
		case Failed:
			s.Failed++
		}
		if d.BaseRecomputed {
			s.BaseRecomputed++
		}
		for _, c := range d.Changes {
			switch c.Op {
			case Create:
				s.Creates++
			case Update:
				s.Updates++
			case Replace:
				s.Replaces++
			case MayReplace:
				s.MayReplaces++
			case Delete:
				s.Deletes++
			}
		}
		for _, f := range d.NewViolations {
			if f.Mandatory() {
				s.NewMandatory++
			} else {
				s.NewAdvisory++
			}
		}
		for _, f := range d.ResolvedViolations {
			if f.Mandatory() {
				s.ResolvedMandatory++
			} else {
				s.ResolvedAdvisory++
			}
		}
		s.CostComplete = addCost(&s.CostBefore, d.CostBefore, d.Status != New) && s.CostComplete
		s.CostComplete = addCost(&s.CostAfter, d.CostAfter, d.Status != Removed && d.Status != Failed) && s.CostComplete
	}
}

// addCost adds a stack's estimate to a total; it reports false when the
// stack should have one and has none, or has unpriced charges.
func addCost(total *Cost, c *Cost, expected bool) bool {
	if c == nil {
		return !expected
	}
	total.MonthlyUSD += c.MonthlyUSD
	total.MonthlyJPY += c.MonthlyJPY
	total.Unpriced += c.Unpriced
	return c.Unpriced == 0
}

// group collapses identical changes across stacks. Stacks that are new,
// removed or failed are listed apart: their every resource changes.
func (r *Report) group() {
	byKey := map[string]*Group{}
	var order []*Group
	// byResource: resource → stack → the key of that stack's change to it.
	byResource := map[string]map[string]string{}
	for _, d := range r.Stacks {
		if d.Status != Changed {
			continue
		}
		norm := newNormalizer(d.Stack)
		for _, c := range d.Changes {
			g := normalizedGroup(c, norm)
			if existing, ok := byKey[g.key]; ok {
				g = existing
			} else {
				byKey[g.key] = g
				order = append(order, g)
			}
			g.Stacks = append(g.Stacks, d.Stack)
			if byResource[g.resource] == nil {
				byResource[g.resource] = map[string]string{}
			}
			byResource[g.resource][d.Stack] = g.key
		}
	}
	for _, g := range order {
		kinds := map[string]bool{}
		for _, s := range g.Stacks {
			kinds[Kind(s)] = true
		}
		for k := range kinds {
			g.Kinds = append(g.Kinds, k)
		}
		sort.Strings(g.Kinds)
		id := hashKey(g.resource)
		members := map[string]bool{}
		for _, s := range g.Stacks {
			members[s] = true
		}
		g.Exceptions = []Exception{}
		for _, d := range r.Stacks {
			if (d.Status != Changed && d.Status != Unchanged) || !kinds[d.Kind] {
				continue
			}
			if _, has := d.identities[id]; !has {
				continue
			}
			g.Population++
			if members[d.Stack] {
				continue
			}
			what := "no change"
			if key, ok := byResource[g.resource][d.Stack]; ok {
				what = byKey[key].Summary()
			}
			g.Exceptions = append(g.Exceptions, Exception{Stack: d.Stack, Change: what})
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if (a.Stateful != "") != (b.Stateful != "") && (isLoss(a.Op) || isLoss(b.Op)) {
			return a.Stateful != "" && isLoss(a.Op)
		}
		if opOrder[a.Op] != opOrder[b.Op] {
			return opOrder[a.Op] < opOrder[b.Op]
		}
		if len(a.Stacks) != len(b.Stacks) {
			return len(a.Stacks) > len(b.Stacks)
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.key < b.key
	})
	for _, g := range order {
		r.Groups = append(r.Groups, *g)
	}
}

// isLoss reports whether an operation can lose what a resource holds.
func isLoss(op Op) bool { return op == Delete || op == Replace || op == MayReplace }

func normalizedGroup(c Change, norm normalizer) *Group {
	g := &Group{Effect: c.Effect, resource: resourceKey(c.URN)}
	g.PhysicalName, g.Paths = norm.string(c.PhysicalName), nil
	for _, p := range c.Paths {
		p.Old, p.New = norm.value(p.Old), norm.value(p.New)
		g.Paths = append(g.Paths, p)
	}
	paths, _ := json.Marshal(g.Paths)
	g.key = strings.Join([]string{string(g.Op), g.resource, g.PhysicalName, string(paths),
		fmt.Sprint(g.DeleteFirst, g.RetainedOnDelete)}, "\x00")
	return g
}

// Summary is the group's change in a few words, e.g. "update: memorySize
// 1024 → 2048".
func (g Group) Summary() string {
	var parts []string
	for i, p := range g.Paths {
		if i == 2 {
			parts = append(parts, fmt.Sprintf("and %d more", len(g.Paths)-2))
			break
		}
		parts = append(parts, p.Path+" "+Show(p.Old, p.OldAbsent)+" → "+Show(p.New, p.NewAbsent))
	}
	if len(parts) == 0 {
		return string(g.Op)
	}
	return string(g.Op) + ": " + strings.Join(parts, ", ")
}

func (r *Report) groupPolicy() {
	byKey := map[string]*PolicyGroup{}
	var order []*PolicyGroup
	add := func(stack string, f Finding, appeared bool) {
		norm := newNormalizer(stack)
		urn := resource.URN(f.URN)
		g := PolicyGroup{Appeared: appeared, Policy: f.Policy, Level: f.Level, Message: norm.string(f.Message),
			resource: resourceKey(f.URN)}
		if urn.IsValid() {
			g.Type, g.Name = string(urn.Type()), urn.Name()
		}
		key := fmt.Sprint(g.Appeared, "\x00", g.Policy, "\x00", g.Level, "\x00", g.resource, "\x00", g.Message)
		if existing, ok := byKey[key]; ok {
			existing.Stacks = append(existing.Stacks, stack)
			return
		}
		g.Stacks = []string{stack}
		byKey[key] = &g
		order = append(order, &g)
	}
	for _, d := range r.Stacks {
		for _, f := range d.NewViolations {
			add(d.Stack, f, true)
		}
		for _, f := range d.ResolvedViolations {
			add(d.Stack, f, false)
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.Appeared != b.Appeared {
			return a.Appeared
		}
		if (a.Level == "mandatory") != (b.Level == "mandatory") {
			return a.Level == "mandatory"
		}
		if len(a.Stacks) != len(b.Stacks) {
			return len(a.Stacks) > len(b.Stacks)
		}
		return a.Policy+a.resource+a.Message < b.Policy+b.resource+b.Message
	})
	for _, g := range order {
		r.Policy = append(r.Policy, *g)
	}
}

func (r *Report) warn() {
	for _, g := range r.Groups {
		if g.Stateful == "" || !isLoss(g.Op) {
			continue
		}
		var what string
		switch g.Op {
		case Delete:
			what = "deletes"
		case Replace:
			what = "replaces"
		case MayReplace:
			what = "may replace"
		}
		w := fmt.Sprintf("%s %s `%s` in %s", what, g.Stateful, g.Name, g.StacksPhrase())
		if len(g.ReplaceBecause) > 0 {
			w += fmt.Sprintf(", because %s cannot change in place", strings.Join(g.ReplaceBecause, ", "))
		}
		switch {
		case g.DeleteFirst && g.RetainedOnDelete:
			w += "; it is retained on delete and keeps its name, and AWS refuses a second resource with that name: " +
				"the replacement fails until the old one is removed by hand"
		case g.DeleteFirst:
			w += "; the old one is deleted before the new one is created (the AWS name stays)"
		case g.RetainedOnDelete:
			w += "; the old one is retained on delete: it stays in the account, out of the stack"
		}
		if role := roleOf(g.Stateful); role != nil {
			w += ". At stake: " + role.Loss
		}
		r.Warnings = append(r.Warnings, w)
	}
	var removed []string
	for _, d := range r.Stacks {
		if d.Status == Removed {
			removed = append(removed, d.Stack)
		}
	}
	if len(removed) > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s planned in the base %s not planned by the head (%s): destroying %s deletes %s data lake, cats-info and keys",
			count(len(removed), "stack"), plural(len(removed), "is", "are"), listStacks(removed, 10),
			plural(len(removed), "it", "them"), plural(len(removed), "its", "their")))
	}
}

func roleOf(name string) *StatefulRole {
	for i := range StatefulRoles {
		if StatefulRoles[i].Role == name {
			return &StatefulRoles[i]
		}
	}
	return nil
}

// StacksPhrase says which stacks make a group's change: "all 1,747
// municipality stacks (prod)", "1,746 of 1,747 …", or the stacks by name.
func (g Group) StacksPhrase() string {
	n := len(g.Stacks)
	var of string
	switch {
	case n == g.Population && n > 1:
		of = "all " + thousands(n)
	case n > g.Population/2 && n > 3:
		of = thousands(n) + " of " + thousands(g.Population)
	default:
		return count(n, "stack") + " (" + listStacks(g.Stacks, 10) + ")"
	}
	if len(g.Kinds) == 1 {
		return of + " " + g.Kinds[0]
	}
	perKind := map[string]int{}
	for _, s := range g.Stacks {
		perKind[Kind(s)]++
	}
	parts := make([]string, len(g.Kinds))
	for i, k := range g.Kinds {
		parts[i] = thousands(perKind[k]) + " " + k
	}
	return of + " stacks (" + strings.Join(parts, ", ") + ")"
}

// MembersListed reports whether StacksPhrase names the stacks (few of them)
// rather than counting them (most of their kind, exceptions apart).
func (g Group) MembersListed() bool {
	n := len(g.Stacks)
	return !(n == g.Population && n > 1) && !(n > g.Population/2 && n > 3)
}

func listStacks(stacks []string, max int) string {
	if len(stacks) <= max {
		return strings.Join(stacks, ", ")
	}
	return strings.Join(stacks[:max], ", ") + fmt.Sprintf(" and %s more", thousands(len(stacks)-max))
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(n) + " " + noun + "s"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// thousands writes 1747 as 1,747.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
