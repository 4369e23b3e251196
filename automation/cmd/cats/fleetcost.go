package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"

	"github.com/cats-analytics/cats-analytics/automation/fleet"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/plan/cost"
)

// stackCosts estimates a stack's fixed monthly cost for the fleet status as
// `cats plan` does (the platform program under mocks, priced by plan/cost),
// keeping each estimate until the stack's configuration changes: a plan
// takes 10–50 ms, a fleet status asks for every stack.
type stackCosts struct {
	base    map[string]string
	catalog *cost.Catalog

	mu    sync.Mutex
	cache map[string]costEntry // stack → its configuration and estimate
}

type costEntry struct {
	config string
	cost   *fleet.Cost
}

func newStackCosts(base map[string]string) (*stackCosts, error) {
	catalog, err := priceCatalog(0)
	if err != nil {
		return nil, err
	}
	return &stackCosts{base: base, catalog: catalog, cache: map[string]costEntry{}}, nil
}

// Estimate prices a registered stack.
func (c *stackCosts) Estimate(ctx context.Context, m store.Municipality) (*fleet.Cost, error) {
	cfg := maps.Clone(c.base)
	if cfg == nil {
		cfg = map[string]string{}
	}
	maps.Copy(cfg, m.Config)
	key, err := json.Marshal(cfg) // map keys are sorted: the same config, the same key
	if err != nil {
		return nil, fmt.Errorf("estimate the cost of %s: %w", m.Stack, err)
	}
	c.mu.Lock()
	e, ok := c.cache[m.Stack]
	c.mu.Unlock()
	if ok && e.config == string(key) {
		return e.cost, nil
	}
	res, err := plan.Run(ctx, platform.Program, plan.Options{Stack: m.Stack, Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("estimate the cost of %s: %w", m.Stack, err)
	}
	est := c.catalog.Estimate(res)
	out := &fleet.Cost{MonthlyUSD: est.MonthlyUSD, MonthlyJPY: est.MonthlyJPY, Unpriced: len(est.Unpriced)}
	c.mu.Lock()
	c.cache[m.Stack] = costEntry{config: string(key), cost: out}
	c.mu.Unlock()
	return out, nil
}
