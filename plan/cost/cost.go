// Package cost estimates what a planned stack costs every month whatever its
// traffic: NAT gateways, the ECS hosts the Auto Scaling group keeps running,
// the load balancer, KMS keys, WAF web ACLs, alarms, a Kinesis stream. The
// prices come from tables kept in the repository (prices/*.json), one per
// region the program uses, each price with the page it can be checked
// against and whether it was; the JPY figure uses the rate of
// prices/usd-jpy.json unless another is given. Charges that depend on
// traffic or stored data (requests, GB stored, GB transferred) are listed per
// resource as "not included", never estimated and never silently dropped.
package cost

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/cats-analytics/cats-analytics/plan"
)

//go:embed prices/*.json
var embedded embed.FS

// Price is one unit price of a table.
type Price struct {
	USD float64 `json:"usd"`
	// Per is the unit: "hour" (multiplied by the table's hours per month),
	// "month", "GB-month" or "metric-month".
	Per  string `json:"per"`
	What string `json:"what"`
	// UsageType is the usage type of the AWS Price List offer file, to check
	// the price against.
	UsageType string `json:"usageType,omitempty"`
	// Source is the AWS page the price belongs to.
	Source string `json:"source"`
	// Status is "verified" when the figure was read on Source, or
	// "unverified, from <where it was read>".
	Status string `json:"status"`
}

// Verified reports whether the price was read on the AWS page itself.
func (p Price) Verified() bool { return p.Status == "verified" }

// Table is the price table of one region.
type Table struct {
	Region        string           `json:"region"`
	Currency      string           `json:"currency"`
	Read          string           `json:"read"` // the date the prices were read
	HoursPerMonth float64          `json:"hoursPerMonth"`
	OfferFiles    []string         `json:"offerFiles"`
	Prices        map[string]Price `json:"prices"`
}

// Rate converts USD to JPY.
type Rate struct {
	JPYPerUSD float64 `json:"jpyPerUsd"`
	Date      string  `json:"date"`
	Source    string  `json:"source"`
}

// Catalog is every price table and the exchange rate.
type Catalog struct {
	Tables map[string]*Table // by region
	Rate   Rate
}

const rateFile = "usd-jpy.json"

// Load reads the price tables (<region>.json) and the exchange rate
// (usd-jpy.json) of a directory, checking that every price says what it is,
// where it comes from and whether it was verified.
func Load(fsys fs.FS) (*Catalog, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read the price tables: %w", err)
	}
	c := &Catalog{Tables: map[string]*Table{}}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".json" {
			continue
		}
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read price table %s: %w", name, err)
		}
		if name == rateFile {
			if err := json.Unmarshal(raw, &c.Rate); err != nil {
				return nil, fmt.Errorf("read the exchange rate %s: %w", name, err)
			}
			if c.Rate.JPYPerUSD <= 0 || c.Rate.Date == "" || c.Rate.Source == "" {
				return nil, fmt.Errorf("%s: jpyPerUsd must be positive, with its date and source", name)
			}
			continue
		}
		var t Table
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, fmt.Errorf("read price table %s: %w", name, err)
		}
		if err := t.check(strings.TrimSuffix(name, ".json")); err != nil {
			return nil, fmt.Errorf("price table %s: %w", name, err)
		}
		c.Tables[t.Region] = &t
	}
	if c.Rate.JPYPerUSD == 0 {
		return nil, fmt.Errorf("read the price tables: %s is missing", rateFile)
	}
	return c, nil
}

func (t *Table) check(region string) error {
	var problems []error
	if t.Region != region {
		problems = append(problems, fmt.Errorf("region %q must match the file name %q", t.Region, region))
	}
	if t.Currency != "USD" {
		problems = append(problems, fmt.Errorf("currency %q: the tables are in USD", t.Currency))
	}
	if t.Read == "" {
		problems = append(problems, errors.New("read: say when the prices were read"))
	}
	if t.HoursPerMonth <= 0 {
		problems = append(problems, errors.New("hoursPerMonth must be positive"))
	}
	for key, p := range t.Prices {
		switch {
		case p.USD <= 0:
			problems = append(problems, fmt.Errorf("%s: usd must be positive", key))
		case p.Per == "" || p.What == "":
			problems = append(problems, fmt.Errorf("%s: say what is priced and per what", key))
		case !strings.HasPrefix(p.Source, "https://"):
			problems = append(problems, fmt.Errorf("%s: source must be the https URL of the AWS page", key))
		case !p.Verified() && !strings.HasPrefix(p.Status, "unverified, from "):
			problems = append(problems, fmt.Errorf(`%s: status must be "verified" or "unverified, from <source>"`, key))
		}
	}
	return errors.Join(problems...)
}

var defaultCatalog = sync.OnceValues(func() (*Catalog, error) {
	sub, err := fs.Sub(embedded, "prices")
	if err != nil {
		return nil, err
	}
	return Load(sub)
})

// Default is the catalog kept in the repository (plan/cost/prices).
func Default() (*Catalog, error) { return defaultCatalog() }

// WithRate returns a copy of the catalog converting at another rate.
func (c *Catalog) WithRate(r Rate) *Catalog {
	out := *c
	out.Rate = r
	return &out
}

// Line is one fixed monthly charge of a resource.
type Line struct {
	Tier   string `json:"tier"`
	Type   string `json:"type"`
	Name   string `json:"name"`
	Charge string `json:"charge"`
	// Quantity is what is billed per month, in Unit: hours for an hourly
	// price (Per "hour"), else units of Per (month, GB-month, metric-month).
	Quantity   float64 `json:"quantity"`
	Unit       string  `json:"unit"`
	Per        string  `json:"per"`
	Price      string  `json:"price"` // the key of the price table
	Region     string  `json:"region"`
	UnitUSD    float64 `json:"unitUsd"`
	MonthlyUSD float64 `json:"monthlyUsd"`
	Verified   bool    `json:"verified"`
}

// Item names a resource and a charge the estimate does not include.
type Item struct {
	Tier string `json:"tier"`
	Type string `json:"type"`
	Name string `json:"name"`
	What string `json:"what"`
}

// TierCost is the fixed monthly cost of one tier.
type TierCost struct {
	Tier       string  `json:"tier"`
	MonthlyUSD float64 `json:"monthlyUsd"`
	MonthlyJPY float64 `json:"monthlyJpy"`
}

// Estimate is the fixed monthly cost of a stack.
type Estimate struct {
	Stack      string  `json:"stack"`
	MonthlyUSD float64 `json:"monthlyUsd"`
	MonthlyJPY float64 `json:"monthlyJpy"`
	// Rate and PricesRead say which figures the estimate used.
	Rate       Rate              `json:"rate"`
	PricesRead map[string]string `json:"pricesRead"` // region → date
	Tiers      []TierCost        `json:"tiers"`
	Lines      []Line            `json:"lines"`
	// NotIncluded are the usage-based charges, per resource.
	NotIncluded []Item `json:"notIncluded"`
	// Unpriced are fixed charges the tables cannot price (a type, instance
	// type or region without a price): the total is a lower bound while any
	// is listed.
	Unpriced []Item `json:"unpriced"`
}

// Estimate prices a planned stack.
func (c *Catalog) Estimate(res *plan.Result) *Estimate {
	e := &estimator{catalog: c, res: res, byURN: map[string]plan.Resource{}, byID: map[string]plan.Resource{}}
	for _, r := range res.Resources {
		e.byURN[r.URN] = r
		if r.ID != "" {
			e.byID[r.ID] = r
		}
		if r.Type == "pulumi:providers:aws" && strings.HasPrefix(r.Name, "default") && e.stackRegion == "" {
			e.stackRegion = r.Str("region")
		}
	}
	out := &Estimate{Stack: res.Stack, Rate: c.Rate, PricesRead: map[string]string{},
		Tiers: []TierCost{}, Lines: []Line{}, NotIncluded: []Item{}, Unpriced: []Item{}}
	for region, t := range c.Tables {
		out.PricesRead[region] = t.Read
	}
	order, byTier := res.Tiers()
	for _, tier := range order {
		for _, r := range byTier[tier] {
			p, ok := pricingOf(r.Type)
			if !ok {
				out.Unpriced = append(out.Unpriced, Item{tier, r.Type, r.Name, "no price rule for this type"})
				continue
			}
			if p.fixed != nil {
				charges, problem := p.fixed(e, r)
				if problem != "" {
					out.Unpriced = append(out.Unpriced, Item{tier, r.Type, r.Name, problem})
				}
				for _, ch := range charges {
					line, problem := e.line(r, ch)
					if problem != "" {
						out.Unpriced = append(out.Unpriced, Item{tier, r.Type, r.Name, problem})
						continue
					}
					line.Tier = tier
					out.Lines = append(out.Lines, line)
				}
			}
			if usage := p.usageOf(r); usage != "" {
				out.NotIncluded = append(out.NotIncluded, Item{tier, r.Type, r.Name, usage})
			}
		}
	}
	// The program registers resources concurrently: sort before adding up, so
	// the same plan always gives the same figures in the same order.
	sort.Slice(out.Lines, func(i, j int) bool {
		a, b := out.Lines[i], out.Lines[j]
		return a.Tier+"\x00"+a.Type+"\x00"+a.Name+"\x00"+a.Charge < b.Tier+"\x00"+b.Type+"\x00"+b.Name+"\x00"+b.Charge
	})
	sortItems(out.NotIncluded)
	sortItems(out.Unpriced)
	for _, l := range out.Lines {
		out.MonthlyUSD += l.MonthlyUSD
		if n := len(out.Tiers); n > 0 && out.Tiers[n-1].Tier == l.Tier {
			out.Tiers[n-1].MonthlyUSD += l.MonthlyUSD
		} else {
			out.Tiers = append(out.Tiers, TierCost{Tier: l.Tier, MonthlyUSD: l.MonthlyUSD})
		}
	}
	for i := range out.Tiers {
		out.Tiers[i].MonthlyJPY = out.Tiers[i].MonthlyUSD * c.Rate.JPYPerUSD
	}
	sort.SliceStable(out.Tiers, func(i, j int) bool { return out.Tiers[i].MonthlyUSD > out.Tiers[j].MonthlyUSD })
	out.MonthlyJPY = out.MonthlyUSD * c.Rate.JPYPerUSD
	return out
}

func sortItems(items []Item) {
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		return a.Tier+"\x00"+a.Type+"\x00"+a.Name+"\x00"+a.What < b.Tier+"\x00"+b.Type+"\x00"+b.Name+"\x00"+b.What
	})
}

// charge is a fixed charge a rule finds on a resource: count units of a
// price per month (per hour for hourly prices).
type charge struct {
	what  string
	count float64
	price string
}

type estimator struct {
	catalog *Catalog
	res     *plan.Result
	byURN   map[string]plan.Resource
	byID    map[string]plan.Resource
	// stackRegion is the default AWS provider's region.
	stackRegion string
}

// region is where a resource is billed: its provider's region (the
// CLOUDFRONT web ACL's provider is in us-east-1), else the stack's.
func (e *estimator) region(r plan.Resource) string {
	if i := strings.LastIndex(r.Provider, "::"); i >= 0 {
		if p, ok := e.byURN[r.Provider[:i]]; ok {
			if region := p.Str("region"); region != "" {
				return region
			}
		}
	}
	return e.stackRegion
}

func (e *estimator) line(r plan.Resource, ch charge) (Line, string) {
	region := e.region(r)
	t, ok := e.catalog.Tables[region]
	if !ok {
		return Line{}, fmt.Sprintf("%s: no price table for region %q", ch.what, region)
	}
	p, ok := t.Prices[ch.price]
	if !ok {
		return Line{}, fmt.Sprintf("%s: no price %q in the %s table", ch.what, ch.price, region)
	}
	qty, unit := ch.count, p.Per
	if p.Per == "hour" {
		qty, unit = ch.count*t.HoursPerMonth, "hours"
	}
	return Line{
		Type: r.Type, Name: r.Name, Charge: ch.what, Quantity: qty, Unit: unit, Per: p.Per, Price: ch.price, Region: region,
		UnitUSD: p.USD, MonthlyUSD: qty * p.USD, Verified: p.Verified(),
	}, ""
}

// Priced, Usage and Free classify a resource type for the coverage check.
const (
	Priced = "priced" // has fixed charges (and maybe usage-based ones)
	Usage  = "usage"  // usage-based charges only, listed as not included
	Free   = "free"   // costs nothing by itself
)

// Classify says how the estimate treats a type, "" when it has no rule (the
// estimate then lists its resources as unpriced).
func Classify(typ string) string {
	p, ok := pricingOf(typ)
	switch {
	case !ok:
		return ""
	case p.fixed != nil:
		return Priced
	case p.usage != "" || p.usageFn != nil:
		return Usage
	}
	return Free
}
