package diff

import (
	"errors"
	"fmt"
	"os"

	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/plan/cost"
)

// WithBase compares a head plan with the base plan of its stack at
// basePath; a stack with no base plan is new.
func WithBase(basePath string, head *Snapshot, catalog *cost.Catalog) StackDiff {
	base, err := Load(basePath, catalog)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return Compare(nil, head)
	case err != nil:
		return Failure(head.Stack, fmt.Errorf("read the base plan: %w", err))
	}
	return Compare(base, head)
}

// Gone is the diff of a stack the base planned and the head does not.
func Gone(basePath, stack string, catalog *cost.Catalog) StackDiff {
	base, err := Load(basePath, catalog)
	if err != nil {
		return Failure(stack, fmt.Errorf("read the base plan: %w", err))
	}
	return Compare(base, nil)
}

// Dirs compares every stack planned in either of two directories written by
// `cats plan --state-out`, on parallel workers.
func Dirs(baseDir, headDir string, catalog *cost.Catalog, parallel int) ([]StackDiff, error) {
	baseStacks, err := Stacks(baseDir)
	if err != nil {
		return nil, err
	}
	headStacks, err := Stacks(headDir)
	if err != nil {
		return nil, err
	}
	inHead := map[string]bool{}
	for _, s := range headStacks {
		inHead[s] = true
	}
	all := append([]string(nil), headStacks...)
	for _, s := range baseStacks {
		if !inHead[s] {
			all = append(all, s)
		}
	}
	out := make([]StackDiff, len(all))
	plan.Parallel(len(all), parallel, func(i int) {
		stack := all[i]
		if !inHead[stack] {
			out[i] = Gone(StateFile(baseDir, stack), stack, catalog)
			return
		}
		head, err := Load(StateFile(headDir, stack), catalog)
		if err != nil {
			out[i] = Failure(stack, fmt.Errorf("read the head plan: %w", err))
			return
		}
		out[i] = WithBase(StateFile(baseDir, stack), head, catalog)
	})
	return out, nil
}
