// Package fleet operates the municipalities' stacks as a fleet: rollouts of
// an operation in waves with a canary and a failure budget, scheduled drift
// detection, the program version each stack runs, and the fleet's status.
//
// Its controller creates jobs only through the store's job-creation method
// (the path the API's job handler takes) and learns how a job ended by
// reading the job's state: the job engine stays the one place that runs
// operations, one per stack at a time. Everything it decides is in the
// database, so a restart loses nothing, and a lease row makes one replica
// run it at a time.
package fleet

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

// version is the program version set at build time:
// go build -ldflags "-X github.com/cats-analytics/cats-analytics/automation/fleet.version=v1.2.3".
var version string

// Version is the version of the program this server deploys: the one set at
// build time, else the build's VCS revision (with "+dirty" for uncommitted
// changes), else "unknown" (a test binary or go run without VCS stamping).
func Version() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return versionOf(info.Settings)
}

func versionOf(settings []debug.BuildSetting) string {
	revision, dirty := "", false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if revision == "" {
		return "unknown"
	}
	if dirty {
		revision += "+dirty"
	}
	return revision
}

// RolloutOperations are the operations a rollout can roll out.
var RolloutOperations = []store.Operation{store.OperationPreview, store.OperationUp, store.OperationRefresh}

// Selector chooses a rollout's stacks: every registered stack with All, or
// those matching every filter given.
type Selector struct {
	All         bool     `json:"all,omitempty"`
	Environment string   `json:"environment,omitempty"`
	Prefectures []string `json:"prefectures,omitempty"`
	// Codes are municipality codes (each of their stacks) or stack names (<code>-<env>).
	Codes []string `json:"codes,omitempty"`
	// NotOnVersion keeps the stacks whose last deployed version is not this one.
	NotOnVersion string `json:"notOnVersion,omitempty"`
}

// Wave is one wave after the canary: a count of stacks, or a cumulative
// percentage of the stacks after the canary.
type Wave struct {
	Count   int     `json:"count,omitempty"`
	Percent float64 `json:"percent,omitempty"`
}

// Canary is the first wave: a count of stacks, or the stacks named.
type Canary struct {
	Count int `json:"count,omitempty"`
	// Stacks are stack names (<code>-<env>) or municipality codes.
	Stacks []string `json:"stacks,omitempty"`
}

// RolloutRequest is POST /v1/rollouts.
type RolloutRequest struct {
	Operation      store.Operation `json:"operation"`
	Selector       Selector        `json:"selector"`
	Canary         *Canary         `json:"canary,omitempty"`
	Waves          []Wave          `json:"waves,omitempty"`
	MaxConcurrency int             `json:"maxConcurrency,omitempty"`
	// FailureBudget is how many stacks may fail before the rollout stops
	// (0: the first failure stops it). A mandatory policy violation always
	// stops it.
	FailureBudget int `json:"failureBudget"`
}

// FieldError is a bad request field, with what to do about it.
type FieldError struct{ Field, Reason string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// DefaultMaxConcurrency is a rollout's maxConcurrency when not given.
const DefaultMaxConcurrency = 4

// Validate checks a request, naming the field at fault and the fix.
func (r *RolloutRequest) Validate() error {
	if !slices.Contains(RolloutOperations, r.Operation) {
		return &FieldError{"operation", fmt.Sprintf("%q must be one of %s", r.Operation, store.JoinOperations(RolloutOperations))}
	}
	sel := r.Selector
	filtered := sel.Environment != "" || len(sel.Prefectures) > 0 || len(sel.Codes) > 0
	switch {
	case sel.All && filtered:
		return &FieldError{"selector.all", "selects every stack: remove it, or remove environment, prefectures and codes"}
	case !sel.All && !filtered && sel.NotOnVersion == "":
		return &FieldError{"selector", `selects nothing: set "all": true, or an environment, prefectures or codes`}
	case sel.Environment != "" && sel.Environment != config.Dev && sel.Environment != config.Prod:
		return &FieldError{"selector.environment", fmt.Sprintf("%q must be dev or prod", sel.Environment)}
	}
	for i, p := range sel.Prefectures {
		if !isPrefecture(p) {
			return &FieldError{fmt.Sprintf("selector.prefectures[%d]", i), fmt.Sprintf("%q is not a prefecture's name (e.g. 東京都)", p)}
		}
	}
	for i, c := range sel.Codes {
		if err := validStackOrCode(c); err != nil {
			return &FieldError{fmt.Sprintf("selector.codes[%d]", i), err.Error()}
		}
	}
	if r.Canary != nil {
		switch {
		case r.Canary.Count < 0:
			return &FieldError{"canary.count", "must be 0 or more"}
		case r.Canary.Count > 0 && len(r.Canary.Stacks) > 0:
			return &FieldError{"canary", "give a count or stacks, not both"}
		}
		for i, c := range r.Canary.Stacks {
			if err := validStackOrCode(c); err != nil {
				return &FieldError{fmt.Sprintf("canary.stacks[%d]", i), err.Error()}
			}
		}
	}
	last := 0.0
	for i, w := range r.Waves {
		field := fmt.Sprintf("waves[%d]", i)
		switch {
		case (w.Count > 0) == (w.Percent > 0):
			return &FieldError{field, "give a count or a percent (more than 0), not both"}
		case w.Count < 0 || w.Percent < 0 || w.Percent > 100:
			return &FieldError{field, "a count is 1 or more, a percent more than 0 and at most 100"}
		case w.Percent > 0 && w.Percent <= last:
			return &FieldError{field + ".percent", fmt.Sprintf("percentages are cumulative: %g must be more than the wave before (%g)", w.Percent, last)}
		}
		if w.Percent > 0 {
			last = w.Percent
		}
	}
	if r.MaxConcurrency < 0 {
		return &FieldError{"maxConcurrency", "must be 1 or more (default 4)"}
	}
	if r.MaxConcurrency == 0 {
		r.MaxConcurrency = DefaultMaxConcurrency
	}
	if r.FailureBudget < 0 {
		return &FieldError{"failureBudget", "must be 0 or more: the number of failed stacks that stops the rollout is one more"}
	}
	return nil
}

// isPrefecture reports whether name is one of the 47 prefectures' names.
func isPrefecture(name string) bool {
	return slices.ContainsFunc(municipality.All(), func(m municipality.Municipality) bool { return m.Prefecture == name })
}

func validStackOrCode(s string) error {
	code, env, hasEnv := strings.Cut(s, "-")
	if err := municipality.Validate(code); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	if hasEnv && env != config.Dev && env != config.Prod {
		return fmt.Errorf("%q: a stack is <code>-dev or <code>-prod", s)
	}
	return nil
}

func matches(names []string, m store.Municipality) bool {
	return slices.Contains(names, m.Code) || slices.Contains(names, m.Stack)
}

// Select returns the registered stacks the selector chooses, in the order of
// the list (code, then environment); a stack being deleted is never chosen.
func (sel Selector) Select(stacks []store.Municipality, versions map[string]store.StackVersion) []store.Municipality {
	var out []store.Municipality
	for _, m := range stacks {
		switch {
		case m.State != store.MunicipalityActive:
		case sel.Environment != "" && m.Environment != sel.Environment:
		case len(sel.Prefectures) > 0 && !slices.Contains(sel.Prefectures, m.Prefecture):
		case len(sel.Codes) > 0 && !matches(sel.Codes, m):
		case sel.NotOnVersion != "" && versions[m.Stack].Version == sel.NotOnVersion:
		default:
			out = append(out, m)
		}
	}
	return out
}

// Plan assigns the selected stacks to waves: wave 0 is the canary (when
// there is one), then one per wave. A count takes that many stacks, a
// percentage the stacks up to that share of those after the canary; the
// last wave takes every stack left, so none is forgotten.
func Plan(selected []store.Municipality, canary *Canary, waves []Wave) []store.RolloutStack {
	var out []store.RolloutStack
	add := func(m store.Municipality, wave int) {
		out = append(out, store.RolloutStack{Stack: m.Stack, Code: m.Code, Environment: m.Environment, Wave: wave, Position: len(out)})
	}
	rest := selected
	wave := 0
	if canary != nil && (canary.Count > 0 || len(canary.Stacks) > 0) {
		var others []store.Municipality
		for i, m := range selected {
			if (canary.Count > 0 && i < canary.Count) || (len(canary.Stacks) > 0 && matches(canary.Stacks, m)) {
				add(m, wave)
			} else {
				others = append(others, m)
			}
		}
		rest = others
		wave++
	}
	total, taken := len(rest), 0
	for i, w := range waves {
		n := w.Count
		if w.Percent > 0 {
			n = int(math.Ceil(float64(total)*w.Percent/100)) - taken
		}
		if i == len(waves)-1 {
			n = total - taken
		}
		n = min(max(n, 0), total-taken)
		for _, m := range rest[taken : taken+n] {
			add(m, wave)
		}
		taken += n
		wave++
	}
	for _, m := range rest[taken:] { // no waves given: one wave of the rest
		add(m, wave)
	}
	return out
}

// encode is json.Marshal for values that always encode.
func encode(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return b
}
