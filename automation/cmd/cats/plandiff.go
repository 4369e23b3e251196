package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/plan/cost"
	"github.com/cats-analytics/cats-analytics/plan/diff"
)

// errDiffFailed is returned when a stack could not be compared.
var errDiffFailed = errors.New("stacks could not be compared")

// diffOne compares a stack's plan with its base plan: BASE/<stack>.json, or
// BASE itself when it is a state file.
func diffOne(f planFlags, res *plan.Result, estimate *cost.Estimate, catalog *cost.Catalog, stdout io.Writer) error {
	basePath := f.diff
	if info, err := os.Stat(f.diff); err == nil && info.IsDir() {
		basePath = diff.StateFile(f.diff, res.Stack)
	}
	start := time.Now()
	d := diff.WithBase(basePath, diff.FromResult(res, estimate), catalog)
	report := diff.Build(f.diff, headLabel(f), []diff.StackDiff{d})
	report.DiffSeconds = time.Since(start).Seconds()
	return writeReport(f, report, catalog, stdout)
}

// diffMunicipalities completes the diff of planned municipality stacks: the
// stacks that failed to plan, and those the base planned and the head no
// longer does.
func diffMunicipalities(f planFlags, catalog *cost.Catalog, stacks []string, results []plan.Summary, diffs []diff.StackDiff, stdout io.Writer) error {
	for _, r := range results {
		if r.Error != "" {
			diffs = append(diffs, diff.Failure(r.Stack, errors.New(r.Error)))
		}
	}
	planned := map[string]bool{}
	for _, s := range stacks {
		planned[s] = true
	}
	baseStacks, err := diff.Stacks(f.diff)
	if err != nil {
		return err
	}
	for _, s := range baseStacks {
		if env, ok := diff.MunicipalityStack(s); ok && env == f.env && !planned[s] {
			diffs = append(diffs, diff.Gone(diff.StateFile(f.diff, s), s, catalog))
		}
	}
	return writeReport(f, diff.Build(f.diff, headLabel(f), diffs), catalog, stdout)
}

// headLabel names the head of a diff planned in this process.
func headLabel(f planFlags) string {
	return "planned now from " + f.projectDir
}

// diffDirs compares two directories of plans without planning.
func diffDirs(f planFlags, catalog *cost.Catalog, stdout io.Writer) error {
	start := time.Now()
	diffs, err := diff.Dirs(f.diff, f.head, catalog, f.parallel)
	if err != nil {
		return err
	}
	report := diff.Build(f.diff, f.head, diffs)
	report.DiffSeconds = time.Since(start).Seconds()
	return writeReport(f, report, catalog, stdout)
}

func writeReport(f planFlags, report *diff.Report, catalog *cost.Catalog, stdout io.Writer) error {
	var err error
	switch f.format {
	case "json":
		err = report.JSON(stdout)
	case "markdown":
		err = report.Markdown(stdout, diff.MarkdownOptions{MaxBytes: f.maxReportBytes, Notes: []string{
			"Costs are fixed monthly charges only (usage-based charges are listed per resource by `cats plan --stack STACK`): " +
				strings.ReplaceAll(costBasis(catalog), "plan/cost/prices", "`plan/cost/prices`") + ".",
		}})
	default:
		err = report.Text(stdout)
	}
	if err != nil {
		return err
	}
	s := report.Summary
	switch {
	case s.NewMandatory > 0:
		return fmt.Errorf("%d new mandatory policy violations: %w", s.NewMandatory, errMandatory)
	case s.Failed > 0:
		return fmt.Errorf("%d %w", s.Failed, errDiffFailed)
	}
	return nil
}
