package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

// A stack's status in the fleet, the first that applies.
const (
	StatusInProgress  = "in_progress"  // a job of it (not a drift check) is queued or running
	StatusFailed      = "failed"       // its last operation failed
	StatusViolating   = "violating"    // its last plan, preview or up found a mandatory violation
	StatusDrifted     = "drifted"      // its last drift check found drift
	StatusNotDeployed = "not_deployed" // never deployed by an up
	StatusOutdated    = "outdated"     // deployed, but not the current version
	StatusOK          = "ok"
)

// Statuses lists every status, in the order they are decided.
var Statuses = []string{StatusInProgress, StatusFailed, StatusViolating, StatusDrifted, StatusNotDeployed, StatusOutdated, StatusOK}

// Cost is a stack's estimated fixed monthly cost (plan/cost).
type Cost struct {
	MonthlyUSD float64 `json:"monthlyUsd"`
	MonthlyJPY float64 `json:"monthlyJpy"`
	// Unpriced counts charges the price tables cannot price: the figure is
	// then a lower bound.
	Unpriced int `json:"unpriced"`
}

// LastOperation is a stack's latest finished job.
type LastOperation struct {
	Job        int64           `json:"job"`
	Operation  store.Operation `json:"operation"`
	State      string          `json:"state"`
	Reason     string          `json:"reason,omitempty"`
	FinishedAt string          `json:"finishedAt"`
}

// Violations counts the policy findings of a stack's last plan, preview or up.
type Violations struct {
	Job       int64 `json:"job"`
	Mandatory int   `json:"mandatory"`
	Advisory  int   `json:"advisory"`
}

// DriftView is a stack's drift status.
type DriftView struct {
	Status    string                  `json:"status"`
	CheckedAt string                  `json:"checkedAt,omitempty"`
	Resources []store.DriftedResource `json:"resources,omitempty"`
	Error     string                  `json:"error,omitempty"`
}

// StackStatus is one stack in the fleet status.
type StackStatus struct {
	Stack           string         `json:"stack"`
	Environment     string         `json:"environment"`
	Status          string         `json:"status"`
	LastOperation   *LastOperation `json:"lastOperation,omitempty"`
	DeployedVersion string         `json:"deployedVersion,omitempty"`
	UpToDate        bool           `json:"upToDate"`
	Drift           DriftView      `json:"drift"`
	Violations      *Violations    `json:"violations,omitempty"`
	Cost            *Cost          `json:"cost,omitempty"`
	CostError       string         `json:"costError,omitempty"`
}

// MunicipalityStatus is a municipality with its stacks.
type MunicipalityStatus struct {
	Code       string        `json:"code"`
	Name       string        `json:"name"`
	Prefecture string        `json:"prefecture"`
	Stacks     []StackStatus `json:"stacks"`
}

// Status is the fleet at a glance (GET /v1/fleet).
type Status struct {
	// CurrentVersion is the version this server deploys.
	CurrentVersion string `json:"currentVersion"`
	Stacks         int    `json:"stacks"`
	// ByStatus counts the stacks by status, ByDrift by drift status,
	// ByLastResult by their last operation's state ("none" before any).
	ByStatus     map[string]int `json:"byStatus"`
	ByDrift      map[string]int `json:"byDrift"`
	ByLastResult map[string]int `json:"byLastResult"`
	// MonthlyUSD and MonthlyJPY add up the stacks' estimates.
	MonthlyUSD     float64              `json:"monthlyUsd"`
	MonthlyJPY     float64              `json:"monthlyJpy"`
	Municipalities []MunicipalityStatus `json:"municipalities"`
}

// Filter narrows the fleet status; empty fields match everything.
type Filter struct {
	Environment string
	Prefecture  string
	Status      string
	// Code limits it to one municipality (a municipality's token).
	Code string
}

// Validate checks a filter, naming the query parameter at fault.
func (f Filter) Validate() error {
	switch {
	case f.Environment != "" && f.Environment != config.Dev && f.Environment != config.Prod:
		return &FieldError{"environment", fmt.Sprintf("%q must be dev or prod", f.Environment)}
	case f.Prefecture != "" && !isPrefecture(f.Prefecture):
		return &FieldError{"prefecture", fmt.Sprintf("%q is not a prefecture's name (e.g. 東京都)", f.Prefecture)}
	case f.Status != "" && !slices.Contains(Statuses, f.Status):
		return &FieldError{"status", fmt.Sprintf("%q must be one of %s", f.Status, strings.Join(Statuses, ", "))}
	}
	return nil
}

// statusOperations are the operations whose end is a stack's last
// operation; drift checks have their own place (DriftView), and would hide
// a failed up otherwise.
var statusOperations = []store.Operation{store.OperationPlan, store.OperationPreview, store.OperationUp, store.OperationRefresh, store.OperationDestroy}

// policyOperations are those whose result lists the policy pack's findings.
var policyOperations = []store.Operation{store.OperationPlan, store.OperationPreview, store.OperationUp}

// Status returns the fleet's status; withCost adds each stack's estimate.
func (c *Controller) Status(ctx context.Context, f Filter, withCost bool) (Status, error) {
	if err := f.Validate(); err != nil {
		return Status{}, err
	}
	s := c.cfg.Store
	all, err := s.ListMunicipalities(ctx, f.Code)
	if err != nil {
		return Status{}, err
	}
	versions, err := s.StackVersions(ctx)
	if err != nil {
		return Status{}, err
	}
	drift, err := s.DriftStatuses(ctx)
	if err != nil {
		return Status{}, err
	}
	// A drift check changes nothing: it leaves the stack's status as it was.
	busy, err := s.BusyStacks(ctx, runner.Drift)
	if err != nil {
		return Status{}, err
	}
	out := Status{CurrentVersion: c.cfg.Version, ByStatus: map[string]int{}, ByDrift: map[string]int{}, ByLastResult: map[string]int{},
		Municipalities: []MunicipalityStatus{}}
	byCode := map[string]int{}
	for _, m := range all {
		if (f.Environment != "" && m.Environment != f.Environment) || (f.Prefecture != "" && m.Prefecture != f.Prefecture) {
			continue
		}
		st, err := c.stackStatus(ctx, m, versions, drift, busy, withCost)
		if err != nil {
			return Status{}, err
		}
		if f.Status != "" && st.Status != f.Status {
			continue
		}
		i, ok := byCode[m.Code]
		if !ok {
			name := m.Name
			if official, found := municipality.Lookup(m.Code); found {
				name = official.Name
			}
			i = len(out.Municipalities)
			byCode[m.Code] = i
			out.Municipalities = append(out.Municipalities, MunicipalityStatus{Code: m.Code, Name: name, Prefecture: m.Prefecture})
		}
		out.Municipalities[i].Stacks = append(out.Municipalities[i].Stacks, st)
		out.Stacks++
		out.ByStatus[st.Status]++
		out.ByDrift[st.Drift.Status]++
		last := "none"
		if st.LastOperation != nil {
			last = st.LastOperation.State
		}
		out.ByLastResult[last]++
		if st.Cost != nil {
			out.MonthlyUSD += st.Cost.MonthlyUSD
			out.MonthlyJPY += st.Cost.MonthlyJPY
		}
	}
	sort.SliceStable(out.Municipalities, func(i, j int) bool { return out.Municipalities[i].Code < out.Municipalities[j].Code })
	return out, nil
}

func (c *Controller) stackStatus(ctx context.Context, m store.Municipality, versions map[string]store.StackVersion,
	drift map[string]store.Drift, busy map[string]bool, withCost bool) (StackStatus, error) {
	s := c.cfg.Store
	st := StackStatus{Stack: m.Stack, Environment: m.Environment, Drift: DriftView{Status: store.DriftUnknown}}
	last, err := s.LastJob(ctx, m.Stack, statusOperations...)
	switch {
	case err == nil:
		st.LastOperation = &LastOperation{Job: last.ID, Operation: last.Operation, State: string(last.State), Reason: last.Reason, FinishedAt: last.FinishedAt}
	case !errors.Is(err, store.ErrNotFound):
		return st, err
	}
	policy, err := s.LastJob(ctx, m.Stack, policyOperations...)
	switch {
	case err == nil:
		mandatory, advisory := mandatoryIn(policy)
		st.Violations = &Violations{Job: policy.ID, Mandatory: mandatory, Advisory: advisory}
	case !errors.Is(err, store.ErrNotFound):
		return st, err
	}
	if v, ok := versions[m.Stack]; ok {
		st.DeployedVersion = v.Version
		st.UpToDate = v.Version == c.cfg.Version
	}
	if d, ok := drift[m.Stack]; ok {
		st.Drift = DriftView{Status: d.Status, CheckedAt: d.CheckedAt, Resources: d.Resources, Error: d.Error}
	}
	if withCost && c.cfg.Cost != nil {
		cost, err := c.cfg.Cost(ctx, m)
		if err != nil {
			st.CostError = err.Error()
		} else {
			st.Cost = cost
		}
	}
	switch {
	case busy[m.Stack]:
		st.Status = StatusInProgress
	case st.LastOperation != nil && st.LastOperation.State != string(store.JobSucceeded):
		st.Status = StatusFailed
	case st.Violations != nil && st.Violations.Mandatory > 0:
		st.Status = StatusViolating
	case st.Drift.Status == store.DriftDrifted:
		st.Status = StatusDrifted
	case st.DeployedVersion == "":
		st.Status = StatusNotDeployed
	case !st.UpToDate:
		st.Status = StatusOutdated
	default:
		st.Status = StatusOK
	}
	return st, nil
}
