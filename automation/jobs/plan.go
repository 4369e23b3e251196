package jobs

import (
	"context"
	"fmt"

	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// Plan is the offline operation: the program under mocks and the policy pack,
// no cloud and no credentials.
const Plan = store.OperationPlan

// Planner runs the offline plan of a stack, telling onEvent of each step as
// it is done.
type Planner interface {
	Plan(ctx context.Context, stack string, config map[string]string, onEvent func(PlanEvent)) (PlanResult, error)
}

// PlanResult is a plan job's result (openapi.yaml, PlanResult).
type PlanResult struct {
	Stack     string `json:"stack"`
	Resources int    `json:"resources"`
	// Tiers counts the resources of each tier.
	Tiers               map[string]int `json:"tiers"`
	MandatoryViolations int            `json:"mandatoryViolations"`
	Violations          []Violation    `json:"violations"`
}

// Violation is a policy finding, in the shape of `cats plan --json` (policy,
// level, urn, message, control): the same for a plan, a preview and an up.
type Violation = rules.Violation

// Steps of a plan, in the order they happen.
const (
	StepConfig    = "config"
	StepProgram   = "program"
	StepPolicy    = "policy"
	StepViolation = "violation"
)

// PlanEvent is one step of a plan, streamed as the job's events as engine
// events are for the CLI operations (openapi.yaml, PlanEvent). The fields
// after Message belong to one step each.
type PlanEvent struct {
	Step    string `json:"step"`
	Message string `json:"message"`
	// Resources is how many resources the program registered (program).
	Resources *int `json:"resources,omitempty"`
	// Violations and MandatoryViolations count the findings (policy).
	Violations          *int `json:"violations,omitempty"`
	MandatoryViolations *int `json:"mandatoryViolations,omitempty"`
	// Violation is one finding (violation).
	Violation *Violation `json:"violation,omitempty"`
}

// ConfigChecked is the event of a stack configuration the program accepts.
func ConfigChecked(stack string, keys int) PlanEvent {
	return PlanEvent{Step: StepConfig, Message: fmt.Sprintf("configuration of %s is valid (%d keys set)", stack, keys)}
}

// ProgramRan is the event of the program run under mocks.
func ProgramRan(resources int) PlanEvent {
	return PlanEvent{Step: StepProgram, Message: fmt.Sprintf("program run under mocks: %d resources", resources), Resources: &resources}
}

// PolicyEvaluated is the event of the policy pack evaluated on the plan.
func PolicyEvaluated(violations, mandatory int) PlanEvent {
	return PlanEvent{
		Step:       StepPolicy,
		Message:    fmt.Sprintf("policy pack evaluated: %d violations, %d mandatory", violations, mandatory),
		Violations: &violations, MandatoryViolations: &mandatory,
	}
}

// ViolationFound is the event of one policy finding.
func ViolationFound(v Violation) PlanEvent {
	return PlanEvent{Step: StepViolation, Message: fmt.Sprintf("%s %s: %s", v.Level, v.Policy, v.Message), Violation: &v}
}
