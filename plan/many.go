package plan

import (
	"context"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// Summary is the outcome of planning one of many stacks.
type Summary struct {
	Stack     string `json:"stack"`
	Resources int    `json:"resources"`
	Mandatory int    `json:"mandatory"`
	Advisory  int    `json:"advisory"`
	Error     string `json:"error,omitempty"`
}

// Many plans stacks on `parallel` workers (each plan is CPU-bound and
// independent) and returns one summary per stack, in order. each, when set,
// receives every successful plan (e.g. to write its state file).
func Many(ctx context.Context, program pulumi.RunFunc, projectDir string, stacks []string, parallel int,
	policyConfig map[string]rules.PolicyConfig, each func(*Result) error,
) []Summary {
	summaries := make([]Summary, len(stacks))
	Parallel(len(stacks), parallel, func(i int) {
		summaries[i] = one(ctx, program, projectDir, stacks[i], policyConfig, each)
	})
	return summaries
}

// Parallel calls fn(0) … fn(n-1) on at most `workers` goroutines (at least
// one) and returns when every call has returned.
func Parallel(n, workers int, fn func(i int)) {
	workers = max(1, min(workers, n))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func one(ctx context.Context, program pulumi.RunFunc, projectDir, stack string, policyConfig map[string]rules.PolicyConfig, each func(*Result) error) Summary {
	out := Summary{Stack: stack}
	cfg, err := StackConfig(projectDir, stack)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	res, err := Run(ctx, program, Options{Stack: stack, Config: cfg, PolicyConfig: policyConfig})
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.Resources = len(res.Resources)
	out.Mandatory = res.MandatoryViolations()
	out.Advisory = len(res.Violations) - out.Mandatory
	if each != nil {
		if err := each(res); err != nil {
			out.Error = err.Error()
		}
	}
	return out
}
