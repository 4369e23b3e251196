package diff_test

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/domain/municipality"
	"github.com/cats-analytics/cats-analytics/plan/diff"
)

// BenchmarkDiffFleet is the pull request workflow's comparison of every
// municipality (1,747 stacks, about 1 GB of state files a side): read both
// directories, compare, group, write the bounded Markdown report. The head
// raises the aggregator's memory, as cats:lambdaMemoryMb 2048 would (goal:
// under a minute on 2 cores). The plans are 131016-prod's, written once per
// municipality with the code replaced, which is what planning each gives.
func BenchmarkDiffFleet(b *testing.B) {
	c := catalog(b)
	base, head := b.TempDir(), b.TempDir()
	template := func(s side) (state, results []byte) {
		res := planStack(b, "131016-prod", s)
		path := diff.StateFile(b.TempDir(), res.Stack)
		if err := diff.WritePlan(path, res, c.Estimate(res)); err != nil {
			b.Fatal(err)
		}
		state, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		results, err = os.ReadFile(diff.ResultsFile(path))
		if err != nil {
			b.Fatal(err)
		}
		return state, results
	}
	baseState, baseResults := template(side{})
	headState, headResults := template(side{config: map[string]string{"cats:lambdaMemoryMb": "2048"}})
	all := municipality.All()
	for _, m := range all {
		code := []byte(m.Code)
		for _, f := range []struct {
			dir            string
			state, results []byte
		}{{base, baseState, baseResults}, {head, headState, headResults}} {
			path := diff.StateFile(f.dir, m.Code+"-prod")
			if err := os.WriteFile(path, bytes.ReplaceAll(f.state, []byte("131016"), code), 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(diff.ResultsFile(path), bytes.ReplaceAll(f.results, []byte("131016"), code), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	for b.Loop() {
		start := time.Now()
		diffs, err := diff.Dirs(base, head, c, runtime.GOMAXPROCS(0))
		if err != nil {
			b.Fatal(err)
		}
		r := diff.Build(base, head, diffs)
		if err := r.Markdown(io.Discard, diff.MarkdownOptions{MaxBytes: 1 << 20}); err != nil {
			b.Fatal(err)
		}
		if r.Summary.Changed != len(all) || len(r.Groups) != 1 || len(r.Groups[0].Stacks) != len(all) {
			b.Fatalf("want one change in every stack, got %+v and %d groups", r.Summary, len(r.Groups))
		}
		b.ReportMetric(float64(len(all))/time.Since(start).Seconds(), "stacks/s")
	}
}
