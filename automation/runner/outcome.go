package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// Reason is the short, stable code of a failed job (openapi.yaml, Reason):
// what a client acts on, where the message is for people.
type Reason string

// Why a job failed. The CLI's raw output is in the job's events, never in
// the message.
const (
	// ReasonPolicyViolation: the policy pack reported a mandatory violation;
	// an up stops at its preview, before anything changes.
	ReasonPolicyViolation Reason = "policy_violation"
	// ReasonConcurrentUpdate: another operation held the stack's lock on
	// every attempt.
	ReasonConcurrentUpdate Reason = "concurrent_update"
	// ReasonCompilationError: the program did not build.
	ReasonCompilationError Reason = "compilation_error"
	// ReasonProgramError: the program failed while it ran (a bad
	// configuration, a panic, an error it returned).
	ReasonProgramError Reason = "program_error"
	// ReasonProviderError: the cloud refused an operation on a resource; the
	// message names the resource.
	ReasonProviderError Reason = "provider_error"
	// ReasonMissingCredentials: the AWS provider found no credentials it
	// could use (or AWS refused them).
	ReasonMissingCredentials Reason = "missing_credentials"
	// ReasonCancelled: cancelled on request.
	ReasonCancelled Reason = "cancelled"
	// ReasonInterrupted: the server stopped while the job ran; the job is
	// not run again, so that it never runs twice.
	ReasonInterrupted Reason = "interrupted"
	// ReasonCLIError: the Pulumi CLI failed in a way none of the above
	// describes (an engine bug included); its output is in the job's events.
	ReasonCLIError Reason = "cli_error"
	// ReasonServerError: the server could not run the job (its database, its
	// data directory); its log has the detail.
	ReasonServerError Reason = "server_error"
)

// Reasons lists every reason code.
var Reasons = []Reason{ReasonPolicyViolation, ReasonConcurrentUpdate, ReasonCompilationError, ReasonProgramError,
	ReasonProviderError, ReasonMissingCredentials, ReasonCancelled, ReasonInterrupted, ReasonCLIError, ReasonServerError}

// Failure is a failed operation: its reason code, a one-line message, and
// the error it came from (whose text may hold the CLI's whole output).
type Failure struct {
	Reason  Reason
	Message string
	Err     error
}

func (f *Failure) Error() string { return f.Message }
func (f *Failure) Unwrap() error { return f.Err }

// ServerErrorMessage is the whole message of a server_error: its detail
// (paths of the server's files, its database) is for the server's log.
const ServerErrorMessage = "the server could not run the operation"

// Explain returns the reason and the one-line message of an operation's
// error; an error that is not a Failure is the server's own, and its message
// is ServerErrorMessage.
func Explain(err error) (Reason, string) {
	if f, ok := errors.AsType[*Failure](err); ok {
		return f.Reason, f.Message
	}
	return ReasonServerError, ServerErrorMessage
}

// Changes counts the resources of an operation by kind of change
// (openapi.yaml, Changes). A replacement counts once, as replace.
type Changes struct {
	Create  int `json:"create"`
	Update  int `json:"update"`
	Delete  int `json:"delete"`
	Replace int `json:"replace"`
	Same    int `json:"same"`
}

func changesOf(m map[apitype.OpType]int) Changes {
	return Changes{Create: m[apitype.OpCreate], Update: m[apitype.OpUpdate], Delete: m[apitype.OpDelete],
		Replace: m[apitype.OpReplace], Same: m[apitype.OpSame]}
}

// observer reads the engine events of one CLI command for what the job's
// result and its failure reason need.
type observer struct {
	summary    *apitype.SummaryEvent
	violations []rules.Violation
	seen       map[string]bool // violations already recorded
	// failed is the first resource an operation failed on, with the error
	// the engine reported for it.
	failedURN, failedMessage string
	// errors are the engine's error diagnostics, in order.
	errors []string
}

func newObserver() *observer { return &observer{seen: map[string]bool{}} }

func (o *observer) observe(e events.EngineEvent) {
	switch {
	case e.SummaryEvent != nil:
		o.summary = e.SummaryEvent
	case e.PolicyEvent != nil:
		v := violationOf(*e.PolicyEvent)
		key := v.Policy + "\x00" + v.URN + "\x00" + v.Message
		if !o.seen[key] {
			o.seen[key] = true
			o.violations = append(o.violations, v)
		}
	case e.DiagnosticEvent != nil && e.DiagnosticEvent.Severity == "error":
		d := e.DiagnosticEvent
		msg := plainText(d.Message)
		o.errors = append(o.errors, msg)
		if d.URN != "" && o.failedURN == "" && isResource(d.URN) {
			o.failedURN, o.failedMessage = d.URN, msg
		}
	case e.ResOpFailedEvent != nil:
		if urn := e.ResOpFailedEvent.Metadata.URN; o.failedURN == "" && urn != "" {
			o.failedURN = urn
		}
	}
}

// isResource: the URN is a resource's, not the stack's (the program's own
// errors are reported on the stack).
func isResource(urn string) bool {
	u := resource.URN(urn)
	return u.IsValid() && u.QualifiedType() != resource.RootStackType
}

// changes are the counts of the engine's summary (ok false when there was none).
func (o *observer) changes() (Changes, bool) {
	if o.summary == nil {
		return Changes{}, false
	}
	return changesOf(o.summary.ResourceChanges), true
}

// mandatory are the violations that block a deployment.
func (o *observer) mandatory() []rules.Violation {
	var out []rules.Violation
	for _, v := range o.violations {
		if v.Mandatory() {
			out = append(out, v)
		}
	}
	return out
}

// sortedViolations are the violations in the plan's order (mandatory first),
// never nil: a preview or an up always says what the policy pack found.
func (o *observer) sortedViolations() []rules.Violation {
	out := append([]rules.Violation{}, o.violations...)
	rules.Sort(out)
	return out
}

// violationOf turns the engine's policy event into the plan's shape. The
// pack (policy/analyzer) sends the rule's description, a newline, then the
// finding; the plan's message is the finding.
func violationOf(p apitype.PolicyEvent) rules.Violation {
	msg := strings.TrimSpace(plainText(p.Message))
	if _, finding, ok := strings.Cut(msg, "\n"); ok && strings.TrimSpace(finding) != "" {
		msg = strings.TrimSpace(finding)
	}
	level := p.EnforcementLevel
	if level == "warning" { // the engine's older name of advisory
		level = "advisory"
	}
	v := rules.Violation{Policy: p.PolicyName, Level: level, URN: p.ResourceURN, Message: msg}
	if l, err := rules.ParseLevel(level); err == nil {
		v.EnforcementLevel = l
	}
	if r, ok := rules.ByName(p.PolicyName); ok {
		v.Control, v.Description = r.Control, r.FullDescription()
	}
	return v
}

// classify turns the error of a CLI command into a Failure, with what its
// events showed. The order matters: a mandatory violation or a lock is the
// cause even when a resource step failed with it, and a credentials error
// arrives as a provider's error.
func classify(op, stack string, err error, o *observer) *Failure {
	f := &Failure{Err: err}
	text := err.Error()
	switch mandatory := o.mandatory(); {
	case len(mandatory) > 0:
		v := mandatory[0]
		f.Reason = ReasonPolicyViolation
		f.Message = fmt.Sprintf("%s of %s: %d mandatory policy violations, e.g. %s on %s: %s",
			op, stack, len(mandatory), v.Policy, urnName(v.URN), v.Message)
	case auto.IsConcurrentUpdateError(err):
		f.Reason = ReasonConcurrentUpdate
		f.Message = fmt.Sprintf("%s of %s: the stack is locked by another operation", op, stack)
	case auto.IsCompilationError(err):
		f.Reason = ReasonCompilationError
		f.Message = fmt.Sprintf("%s of %s: the program does not compile", op, stack)
	case credentialsProblem(append(o.errors, text)) != "":
		f.Reason = ReasonMissingCredentials
		f.Message = fmt.Sprintf("%s of %s: the AWS provider has no usable credentials (%s); give the server AWS credentials "+
			"(AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or run it with --cloud standin",
			op, stack, credentialsProblem(append(o.errors, text)))
	case o.failedURN != "":
		u := resource.URN(o.failedURN)
		f.Reason = ReasonProviderError
		f.Message = fmt.Sprintf("%s of %s failed at %s %q: %s", op, stack, u.Type(), u.Name(), oneLine(withoutErrorPrefix(o.failedMessage)))
	case auto.IsRuntimeError(err):
		f.Reason = ReasonProgramError
		f.Message = fmt.Sprintf("%s of %s: the program failed: %s", op, stack, oneLine(firstOf(o.errors, text)))
	case auto.IsUnexpectedEngineError(err):
		f.Reason = ReasonCLIError
		f.Message = fmt.Sprintf("%s of %s: the Pulumi engine failed unexpectedly (a CLI bug); its output is in the job's events", op, stack)
	default:
		f.Reason = ReasonCLIError
		f.Message = fmt.Sprintf("%s of %s failed: %s", op, stack, oneLine(firstOf(o.errors, text)))
	}
	return f
}

// credentialTexts are how the AWS provider and its SDK say that they found no
// credentials, or that AWS refused the ones they found (lower case).
var credentialTexts = []string{
	"no valid credential sources",
	"nocredentialproviders",
	"unable to validate aws credentials",
	"failed to refresh cached credentials",
	"failed to get shared config profile",
	"no ec2 imds role found",
	"invalidclienttokenid",
	"the security token included in the request is invalid",
	"the security token included in the request is expired",
}

// credentialsProblem returns the first line that reports a credentials
// problem, or "".
func credentialsProblem(texts []string) string {
	for _, t := range texts {
		for _, line := range strings.Split(t, "\n") {
			lower := strings.ToLower(line)
			for _, c := range credentialTexts {
				if strings.Contains(lower, c) {
					return oneLine(withoutErrorPrefix(line))
				}
			}
		}
	}
	return ""
}

func firstOf(errs []string, fallback string) string {
	for _, e := range errs {
		if s := oneLine(withoutErrorPrefix(e)); s != "" && s != "update failed" && s != "preview failed" {
			return s
		}
	}
	return withoutErrorPrefix(fallback)
}

// maxMessage bounds a one-line message.
const maxMessage = 400

// absolutePath is a file system path in a message: the server's own layout
// (data directory, workspaces, the CLI's home) that clients need not see.
var absolutePath = regexp.MustCompile(`(^|[\s"'(=:\[])/[^\s"')\]]+`)

// withoutPaths replaces the absolute paths in a message with [path].
func withoutPaths(s string) string {
	return absolutePath.ReplaceAllString(s, "${1}[path]")
}

// oneLine is the first non-empty line of a text, trimmed and bounded,
// without file system paths.
func oneLine(s string) string {
	return withoutPaths(firstLine(s))
}

func firstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if len(line) > maxMessage {
				cut := maxMessage
				for cut > 0 && !utf8.RuneStart(line[cut]) {
					cut--
				}
				line = line[:cut] + "…"
			}
			return line
		}
	}
	return ""
}

// withoutErrorPrefix drops what the CLI puts before a message: the stream
// it was written to, its "error: ".
func withoutErrorPrefix(s string) string {
	s = strings.TrimSpace(s)
	for _, p := range []string{"stdout: ", "stderr: ", "error: ", "Error: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// plainText removes the engine's color directives.
func plainText(s string) string { return colors.Never.Colorize(s) }

func urnName(urn string) string {
	if u := resource.URN(urn); u.IsValid() {
		return u.Name()
	}
	return urn
}

// maxOutput bounds the CLI output a failed job keeps in its events: its end,
// where the CLI says what went wrong.
const maxOutput = 256 << 10

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := len(s) - n
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return "…" + s[cut:]
}

// Steps of an operation the server itself reports in the job's events,
// between the engine's (openapi.yaml, OperationStep).
const (
	StepCloud  = "cloud"  // which cloud serves the operation
	StepPolicy = "policy" // the policy pack's verdict on the preview before an up
	StepState  = "state"  // the resources in the stack's state afterwards
	StepOutput = "output" // the CLI's raw output, when it failed
)

// Step is one step the server reports in an operation's events.
type Step struct {
	Step    string `json:"step"`
	Message string `json:"message"`
	// Cloud is the cloud (StepCloud).
	Cloud string `json:"cloud,omitempty"`
	// Violations and MandatoryViolations count the findings (StepPolicy).
	Violations          *int `json:"violations,omitempty"`
	MandatoryViolations *int `json:"mandatoryViolations,omitempty"`
	// Resources is the number of resources in the state (StepState).
	Resources *int `json:"resources,omitempty"`
	// Output is the end of the CLI's output (StepOutput).
	Output string `json:"output,omitempty"`
}

// IsStep reports whether a stored event is one of the server's steps rather
// than an engine event: a Step's encoding starts with its step, an engine
// event's with its sequence number.
func IsStep(event json.RawMessage) bool {
	return strings.HasPrefix(string(event), `{"step":`)
}

func policyStep(o *observer) Step {
	n, m := len(o.violations), len(o.mandatory())
	msg := fmt.Sprintf("the policy pack passed the preview (%d advisory violations): running the up", n-m)
	if m > 0 {
		msg = fmt.Sprintf("the policy pack found %d mandatory violations in the preview: the up does not run, nothing changes", m)
	}
	return Step{Step: StepPolicy, Message: msg, Violations: &n, MandatoryViolations: &m}
}
