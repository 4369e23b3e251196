package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// JSON writes the report for machines.
func (r *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// MarkdownOptions shape the Markdown report.
type MarkdownOptions struct {
	// MaxBytes bounds the document (GitHub's job summary refuses more than
	// 1 MiB): the per-stack detail stops when the next stack would pass it,
	// and says how many stacks were left out. 0 means no bound.
	MaxBytes int
	// Notes are printed at the end (where the prices and the rate come from).
	Notes []string
}

// How many paths and exceptions a group prints before "and N more".
const (
	maxGroupPaths      = 10
	maxGroupExceptions = 10
	maxDetailPaths     = 20
)

// Markdown writes the report a reviewer reads: what loses data first, a
// summary table, the changes grouped across the fleet, the policy results,
// then every changed stack's detail folded.
func (r *Report) Markdown(w io.Writer, opts MarkdownOptions) error {
	var b bytes.Buffer
	s := r.Summary
	title := []string{count(s.Stacks, "stack"), thousands(s.Changed) + " changed"}
	for _, n := range []struct {
		n    int
		what string
	}{{s.New, "new"}, {s.Removed, "removed"}, {s.Failed, "failed"}} {
		if n.n > 0 {
			title = append(title, thousands(n.n)+" "+n.what)
		}
	}
	fmt.Fprintf(&b, "## Offline plan diff: %s\n\n", strings.Join(title, ", "))
	fmt.Fprintf(&b, "Base plans %s, head plans %s. Planned offline with mocks: no cloud, no credentials.\n\n", code(r.Base), code(r.Head))
	for _, warning := range r.Warnings {
		fmt.Fprintf(&b, "**⚠ %s.**\n\n", strings.TrimSuffix(warning, "."))
	}
	b.WriteString("| | |\n|---|--:|\n")
	row := func(k string, v any) { fmt.Fprintf(&b, "| %s | %v |\n", k, v) }
	row("stacks compared", thousands(s.Stacks))
	row("stacks changed", thousands(s.Changed))
	if s.New+s.Removed+s.Failed > 0 {
		row("new / removed / failed stacks", fmt.Sprintf("%s / %s / %s", thousands(s.New), thousands(s.Removed), thousands(s.Failed)))
	}
	row("creates", thousands(s.Creates))
	row("updates", thousands(s.Updates))
	row("replaces", thousands(s.Replaces))
	row("may replace (type not in the replacement table)", thousands(s.MayReplaces))
	row("deletes", thousands(s.Deletes))
	row("new mandatory violations", bold(thousands(s.NewMandatory), s.NewMandatory > 0))
	row("new advisory violations", thousands(s.NewAdvisory))
	row("resolved violations (mandatory / advisory)", fmt.Sprintf("%s / %s", thousands(s.ResolvedMandatory), thousands(s.ResolvedAdvisory)))
	row("estimated fixed monthly cost", costChange(s.CostBefore.MonthlyUSD, s.CostAfter.MonthlyUSD, "$", 2))
	row("the same in JPY", costChange(s.CostBefore.MonthlyJPY, s.CostAfter.MonthlyJPY, "¥", 0))
	b.WriteString("\n")
	if !s.CostComplete {
		b.WriteString("The cost totals are lower bounds: a stack had no estimate or charges the price tables cannot price.\n\n")
	}
	if s.BaseRecomputed > 0 {
		fmt.Fprintf(&b, "The base wrote no results beside %s of its state files: their policy results and cost were computed with this change's rules and prices.\n\n",
			count(s.BaseRecomputed, "stack"))
	}

	if len(r.Groups) > 0 {
		b.WriteString("### Changes\n\n")
		for _, g := range r.Groups {
			writeGroup(&b, g)
		}
		b.WriteString("\n")
	}
	if fresh := r.stacksWith(New); len(fresh) > 0 {
		fmt.Fprintf(&b, "New stacks (every resource created): %s.\n\n", listStacks(fresh, 20))
	}
	if failed := r.stacksWith(Failed); len(failed) > 0 {
		b.WriteString("### Stacks that could not be compared\n\n")
		for _, d := range r.Stacks {
			if d.Status == Failed {
				fmt.Fprintf(&b, "- %s: %s\n", code(d.Stack), oneLine(d.Error))
			}
		}
		b.WriteString("\n")
	}
	if len(r.Policy) > 0 {
		b.WriteString("### Policy results\n\n")
		for _, p := range r.Policy {
			state := "resolved"
			if p.Appeared {
				state = "new"
			}
			fmt.Fprintf(&b, "- %s %s on %s %s in %s: %s\n", bold(state+" "+p.Level, p.Appeared && p.Level == "mandatory"),
				code(p.Policy), code(p.Type), code(p.Name), stackList(p.Stacks), oneLine(p.Message))
		}
		b.WriteString("\n")
	}

	var tail bytes.Buffer
	if len(opts.Notes) > 0 {
		tail.WriteString("\n")
		for _, n := range opts.Notes {
			fmt.Fprintf(&tail, "%s\n", n)
		}
	}
	if r.DiffSeconds > 0 {
		fmt.Fprintf(&tail, "\nCompared in %.1f s.\n", r.DiffSeconds)
	}

	changed := 0
	for _, d := range r.Stacks {
		if d.Status != Unchanged {
			changed++
		}
	}
	if changed > 0 {
		b.WriteString("### Per-stack detail\n\n")
		left := 0
		for _, d := range r.Stacks {
			if d.Status == Unchanged {
				continue
			}
			var one bytes.Buffer
			writeStack(&one, d)
			if opts.MaxBytes > 0 && b.Len()+one.Len()+tail.Len()+200 > opts.MaxBytes {
				left++
				continue
			}
			b.Write(one.Bytes())
		}
		if left > 0 {
			fmt.Fprintf(&b, "\n%s left out to keep this report under %s bytes: see the JSON report (`cats plan --diff … --json`).\n",
				count(left, "more stack"), thousands(opts.MaxBytes))
		}
		if unchanged := s.Stacks - changed; unchanged > 0 {
			fmt.Fprintf(&b, "\n%s unchanged.\n", count(unchanged, "stack"))
		}
	}
	b.Write(tail.Bytes())
	_, err := w.Write(b.Bytes())
	return err
}

func (r *Report) stacksWith(status Status) []string {
	var out []string
	for _, d := range r.Stacks {
		if d.Status == status {
			out = append(out, d.Stack)
		}
	}
	return out
}

func writeGroup(b *bytes.Buffer, g Group) {
	name := code(g.Name)
	if g.PhysicalName != "" && g.PhysicalName != g.Name {
		name += " (" + code(g.PhysicalName) + ")"
	}
	fmt.Fprintf(b, "- %s %s %s in %s", bold(string(g.Op), g.Op != Update && g.Op != Create), code(g.Type), name, g.StacksPhrase())
	if len(g.ReplaceBecause) > 0 {
		fmt.Fprintf(b, ", because %s cannot change in place", joinCode(g.ReplaceBecause))
	}
	if g.DeleteFirst {
		b.WriteString("; deleted before its replacement is created (same AWS name)")
	}
	b.WriteString("\n")
	for i, p := range g.Paths {
		if i == maxGroupPaths {
			fmt.Fprintf(b, "  - … and %d more paths\n", len(g.Paths)-maxGroupPaths)
			break
		}
		fmt.Fprintf(b, "  - %s\n", pathLine(p))
	}
	if !g.MembersListed() && len(g.Exceptions) > 0 {
		var parts []string
		for i, e := range g.Exceptions {
			if i == maxGroupExceptions {
				parts = append(parts, fmt.Sprintf("and %s more", thousands(len(g.Exceptions)-maxGroupExceptions)))
				break
			}
			parts = append(parts, code(e.Stack)+" ("+oneLine(e.Change)+")")
		}
		fmt.Fprintf(b, "  - except %s\n", strings.Join(parts, ", "))
	}
}

func pathLine(p PathChange) string {
	line := code(p.Path) + ": " + code(Show(p.Old, p.OldAbsent)) + " → " + code(Show(p.New, p.NewAbsent))
	if p.ForcesReplacement {
		line += " (forces replacement)"
	}
	return line
}

func writeStack(b *bytes.Buffer, d StackDiff) {
	counts := map[Op]int{}
	for _, c := range d.Changes {
		counts[c.Op]++
	}
	var parts []string
	for _, op := range []Op{Delete, Replace, MayReplace, Create, Update} {
		if counts[op] > 0 {
			parts = append(parts, fmt.Sprintf("%d × %s", counts[op], op))
		}
	}
	if n := len(d.NewViolations); n > 0 {
		parts = append(parts, count(n, "new violation"))
	}
	if n := len(d.ResolvedViolations); n > 0 {
		parts = append(parts, count(n, "resolved violation"))
	}
	if d.Status != Changed {
		parts = append([]string{string(d.Status) + " stack"}, parts...)
	}
	if d.CostBefore != nil || d.CostAfter != nil {
		parts = append(parts, "cost "+costChange(usd(d.CostBefore), usd(d.CostAfter), "$", 2))
	}
	fmt.Fprintf(b, "<details><summary><code>%s</code>: %s</summary>\n\n", html.EscapeString(d.Stack), html.EscapeString(strings.Join(parts, ", ")))
	if d.Error != "" {
		fmt.Fprintf(b, "Error: %s\n\n", oneLine(d.Error))
	}
	if len(d.Changes) > 0 {
		b.WriteString("| change | type | name | what changes |\n|---|---|---|---|\n")
		for _, c := range d.Changes {
			var what []string
			if c.Stateful != "" && isLoss(c.Op) {
				what = append(what, "**"+c.Stateful+"**")
			}
			for i, p := range c.Paths {
				if i == maxDetailPaths {
					what = append(what, fmt.Sprintf("… and %d more", len(c.Paths)-maxDetailPaths))
					break
				}
				what = append(what, pathLine(p))
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", c.Op, code(c.Type), code(c.Name), strings.Join(what, "<br>"))
		}
		b.WriteString("\n")
	}
	for _, f := range d.NewViolations {
		fmt.Fprintf(b, "- new %s %s on %s: %s\n", f.Level, code(f.Policy), typeAndName(f.URN), oneLine(f.Message))
	}
	for _, f := range d.ResolvedViolations {
		fmt.Fprintf(b, "- resolved %s %s on %s: %s\n", f.Level, code(f.Policy), typeAndName(f.URN), oneLine(f.Message))
	}
	if len(d.NewViolations)+len(d.ResolvedViolations) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("</details>\n")
}

func typeAndName(urn string) string {
	u := resource.URN(urn)
	if !u.IsValid() {
		return code(urn)
	}
	return code(string(u.Type())) + " " + code(u.Name())
}

func usd(c *Cost) float64 {
	if c == nil {
		return 0
	}
	return c.MonthlyUSD
}

// Text writes the report for a terminal: the summary, the warnings and the
// grouped changes.
func (r *Report) Text(w io.Writer) error {
	var b bytes.Buffer
	s := r.Summary
	fmt.Fprintf(&b, "Plan diff of %s (base %s, head %s): %s changed, %s new, %s removed, %s failed\n",
		count(s.Stacks, "stack"), r.Base, r.Head, thousands(s.Changed), thousands(s.New), thousands(s.Removed), thousands(s.Failed))
	fmt.Fprintf(&b, "%s creates, %s updates, %s replaces, %s may replace, %s deletes; %s new mandatory and %s new advisory violations, %s resolved\n",
		thousands(s.Creates), thousands(s.Updates), thousands(s.Replaces), thousands(s.MayReplaces), thousands(s.Deletes),
		thousands(s.NewMandatory), thousands(s.NewAdvisory), thousands(s.ResolvedMandatory+s.ResolvedAdvisory))
	fmt.Fprintf(&b, "Estimated fixed monthly cost: %s (%s)\n", costChange(s.CostBefore.MonthlyUSD, s.CostAfter.MonthlyUSD, "$", 2),
		costChange(s.CostBefore.MonthlyJPY, s.CostAfter.MonthlyJPY, "¥", 0))
	for _, warning := range r.Warnings {
		fmt.Fprintf(&b, "\nWARNING: %s\n", warning)
	}
	if len(r.Groups) > 0 {
		b.WriteString("\n")
	}
	for _, g := range r.Groups {
		fmt.Fprintf(&b, "%s %s %s in %s\n", g.Op, g.Type, g.Name, g.StacksPhrase())
		for i, p := range g.Paths {
			if i == maxGroupPaths {
				fmt.Fprintf(&b, "    … and %d more paths\n", len(g.Paths)-maxGroupPaths)
				break
			}
			force := ""
			if p.ForcesReplacement {
				force = " (forces replacement)"
			}
			fmt.Fprintf(&b, "    %s: %s → %s%s\n", p.Path, Show(p.Old, p.OldAbsent), Show(p.New, p.NewAbsent), force)
		}
		if !g.MembersListed() {
			for i, e := range g.Exceptions {
				if i == maxGroupExceptions {
					fmt.Fprintf(&b, "    except %s more\n", thousands(len(g.Exceptions)-maxGroupExceptions))
					break
				}
				fmt.Fprintf(&b, "    except %s: %s\n", e.Stack, e.Change)
			}
		}
	}
	for _, p := range r.Policy {
		state := "resolved"
		if p.Appeared {
			state = "new"
		}
		fmt.Fprintf(&b, "%s %s violation %s on %s %s in %s: %s\n", state, p.Level, p.Policy, p.Type, p.Name, stackList(p.Stacks), oneLine(p.Message))
	}
	for _, d := range r.Stacks {
		if d.Status == Failed {
			fmt.Fprintf(&b, "failed %s: %s\n", d.Stack, oneLine(d.Error))
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func stackList(stacks []string) string {
	if len(stacks) > 10 {
		return count(len(stacks), "stack") + " (" + listStacks(stacks, 10) + ")"
	}
	return strings.Join(stacks, ", ")
}

// costChange writes "$227.79 → $276.70 (+$48.91)".
func costChange(before, after float64, unit string, decimals int) string {
	delta := after - before
	sign := "+"
	if delta < 0 {
		sign, delta = "-", -delta
	}
	return fmt.Sprintf("%s → %s (%s%s)", money(before, unit, decimals), money(after, unit, decimals), sign, money(delta, unit, decimals))
}

func money(v float64, unit string, decimals int) string {
	s := fmt.Sprintf("%.*f", decimals, v)
	whole, frac, _ := strings.Cut(s, ".")
	n, err := strconv.Atoi(whole)
	if err != nil {
		return unit + s
	}
	out := unit + thousands(n)
	if frac != "" {
		out += "." + frac
	}
	return out
}

// code writes an inline code span that survives backticks and table cells.
func code(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

func joinCode(items []string) string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = code(s)
	}
	return strings.Join(out, ", ")
}

func bold(s string, on bool) string {
	if on {
		return "**" + s + "**"
	}
	return s
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ")
}
