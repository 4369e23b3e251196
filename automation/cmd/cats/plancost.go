package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/cats-analytics/cats-analytics/plan/cost"
)

// priceCatalog is the repository's price tables, converting at rate when
// one is given.
func priceCatalog(jpyPerUSD float64) (*cost.Catalog, error) {
	c, err := cost.Default()
	if err != nil {
		return nil, fmt.Errorf("load the price tables: %w", err)
	}
	if jpyPerUSD > 0 {
		c = c.WithRate(cost.Rate{JPYPerUSD: jpyPerUSD, Date: "given with --usd-jpy", Source: "--usd-jpy"})
	}
	return c, nil
}

// costBasis says where an estimate's figures come from.
func costBasis(c *cost.Catalog) string {
	regions := make([]string, 0, len(c.Tables))
	for region, t := range c.Tables {
		regions = append(regions, region+" read "+t.Read)
	}
	sort.Strings(regions)
	return fmt.Sprintf("prices of plan/cost/prices (%s), ¥%g/USD (%s)", strings.Join(regions, ", "), c.Rate.JPYPerUSD, c.Rate.Date)
}

// writeCost prints a stack's estimate: by tier, each fixed charge, and what
// is left out because it depends on traffic or stored data.
func writeCost(w io.Writer, e *cost.Estimate) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nEstimated fixed monthly cost: %s (%s), at ¥%g/USD (%s)\n", usd(e.MonthlyUSD), jpy(e.MonthlyJPY), e.Rate.JPYPerUSD, e.Rate.Date)
	fmt.Fprintln(tw, "TIER\tUSD\tJPY")
	for _, t := range e.Tiers {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Tier, usd(t.MonthlyUSD), jpy(t.MonthlyJPY))
	}
	fmt.Fprintln(tw, "\nTIER\tRESOURCE\tCHARGE\tQUANTITY\tUNIT PRICE\tMONTHLY")
	unverified := false
	for _, l := range e.Lines {
		mark := ""
		if !l.Verified {
			mark, unverified = "*", true
		}
		quantity := fmt.Sprintf("%g %s", round(l.Quantity), l.Unit)
		if l.Unit == "month" {
			quantity = fmt.Sprintf("%g", round(l.Quantity))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t$%g/%s%s\t%s\n", l.Tier, l.Name, l.Charge, quantity, l.UnitUSD, l.Per, mark, usd(l.MonthlyUSD))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if unverified {
		fmt.Fprintln(w, "* unverified price: its source is in plan/cost/prices")
	}
	for _, u := range e.Unpriced {
		fmt.Fprintf(w, "NOT PRICED (the total is a lower bound): %s %s: %s\n", u.Type, u.Name, u.What)
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nNot included, usage-based (%d resources):\nTIER\tTYPE\tNAME\tCHARGED BY\n", len(e.NotIncluded))
	for _, u := range e.NotIncluded {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Tier, u.Type, u.Name, u.What)
	}
	return tw.Flush()
}

// fleetCost adds up the estimates of many stacks.
type fleetCost struct {
	stacks, unpriced int
	usd, jpy         float64
	min, max         float64
	minStack         string
	maxStack         string
}

func (f *fleetCost) add(e *cost.Estimate) {
	if f.stacks == 0 || e.MonthlyUSD < f.min {
		f.min, f.minStack = e.MonthlyUSD, e.Stack
	}
	if f.stacks == 0 || e.MonthlyUSD > f.max {
		f.max, f.maxStack = e.MonthlyUSD, e.Stack
	}
	f.stacks++
	f.usd += e.MonthlyUSD
	f.jpy += e.MonthlyJPY
	f.unpriced += len(e.Unpriced)
}

func (f fleetCost) write(w io.Writer, c *cost.Catalog) error {
	if f.stacks == 0 {
		return nil
	}
	perStack := fmt.Sprintf("%s each", usd(f.min))
	if usd(f.min) != usd(f.max) {
		perStack = fmt.Sprintf("per stack %s (%s) to %s (%s)", usd(f.min), f.minStack, usd(f.max), f.maxStack)
	}
	_, err := fmt.Fprintf(w, "Estimated fixed monthly cost of the %d stacks: %s (%s), %s; usage-based charges not included; %s\n",
		f.stacks, usd(f.usd), jpy(f.jpy), perStack, costBasis(c))
	if err == nil && f.unpriced > 0 {
		_, err = fmt.Fprintf(w, "%d fixed charges could not be priced: the total is a lower bound (cats plan --stack STACK lists them)\n", f.unpriced)
	}
	return err
}

func (f fleetCost) json(c *cost.Catalog) map[string]any {
	return map[string]any{"stacks": f.stacks, "monthlyUsd": f.usd, "monthlyJpy": f.jpy, "unpriced": f.unpriced,
		"jpyPerUsd": c.Rate.JPYPerUSD, "rateDate": c.Rate.Date}
}

func usd(v float64) string { return "$" + grouped(v, 2) }
func jpy(v float64) string { return "¥" + grouped(v, 0) }

// grouped writes 482526.6 as 482,526.60.
func grouped(v float64, decimals int) string {
	s := fmt.Sprintf("%.*f", decimals, math.Abs(v))
	whole, frac, _ := strings.Cut(s, ".")
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	if v < 0 {
		whole = "-" + whole
	}
	if frac != "" {
		return whole + "." + frac
	}
	return whole
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }
