package runner

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

const tableURN = "urn:pulumi:131016-prod::cats-analytics::cats:platform:Platform$cats:database:Database$aws:dynamodb/table:Table::cats-database-cats-info"

func observed(evs ...apitype.EngineEvent) *observer {
	o := newObserver()
	for _, e := range evs {
		o.observe(events.EngineEvent{EngineEvent: e})
	}
	return o
}

// errCLI is an error as the Automation API returns it: the CLI's whole
// output in its text.
var errCLI = fmt.Errorf("failed to run update: exit status 1\ncode: 1\nstdout: %s\nstderr: %s", "Updating (131016-prod):\n  + 120 created\nerror: update failed\n", "")

// TestClassifyNamesTheReason: each failure a client can act on gets its
// code and a one-line message; the CLI's output never reaches the message.
func TestClassifyNamesTheReason(t *testing.T) {
	standinWarning := apitype.EngineEvent{DiagnosticEvent: &apitype.DiagnosticEvent{Severity: "warning",
		Message: "using pulumi-resource-aws from $PATH at /srv/bin/standin/pulumi-resource-aws"}}
	tests := []struct {
		name   string
		events []apitype.EngineEvent
		err    error
		reason Reason
		want   []string
	}{
		{"a mandatory violation", []apitype.EngineEvent{
			{PolicyEvent: &apitype.PolicyEvent{PolicyName: "log-group-retention", EnforcementLevel: "advisory", ResourceURN: tableURN, Message: "desc\nadvisory one"}},
			{PolicyEvent: &apitype.PolicyEvent{PolicyName: "log-group-retention", EnforcementLevel: "mandatory",
				ResourceURN: "urn:pulumi:131016-prod::cats-analytics::aws:cloudwatch/logGroup:LogGroup::cats-flow-logs",
				Message:     "CloudWatch Logs groups keep their logs [FSBP CloudWatch.16]\nlog group cats-flow-logs: retentionInDays 365 is below the minimum of 400\n"}},
		}, errCLI, ReasonPolicyViolation, []string{"1 mandatory policy violations", "log-group-retention on cats-flow-logs", "365 is below the minimum of 400"}},
		{"a resource the provider refused", []apitype.EngineEvent{standinWarning,
			{DiagnosticEvent: &apitype.DiagnosticEvent{Severity: "error", URN: tableURN,
				Message: "error: standin: injected failure creating aws:dynamodb/table:Table \"cats-database-cats-info\": ProvisionedThroughputExceededException\n"}},
			{ResOpFailedEvent: &apitype.ResOpFailedEvent{Metadata: apitype.StepEventMetadata{URN: tableURN, Op: apitype.OpCreate}}},
			{DiagnosticEvent: &apitype.DiagnosticEvent{Severity: "error", Message: "update failed"}},
		}, errCLI, ReasonProviderError, []string{`aws:dynamodb/table:Table "cats-database-cats-info"`, "ProvisionedThroughputExceededException"}},
		{"no AWS credentials", []apitype.EngineEvent{
			{DiagnosticEvent: &apitype.DiagnosticEvent{Severity: "error", URN: "urn:pulumi:131016-prod::cats-analytics::pulumi:providers:aws::default_6_83_4",
				Message: "error: pulumi:providers:aws resource 'default_6_83_4' has a problem: unable to validate AWS credentials.\nDetails: No valid credential sources found.\n"}},
		}, errCLI, ReasonMissingCredentials, []string{"unable to validate AWS credentials", "--cloud standin"}},
		{"credentials only in the CLI's output", nil,
			errors.New("failed to run update: exit status 1\nstdout: error: NoCredentialProviders: no valid providers in chain\n"),
			ReasonMissingCredentials, []string{"NoCredentialProviders"}},
		{"an unrecognised failure", []apitype.EngineEvent{standinWarning,
			{DiagnosticEvent: &apitype.DiagnosticEvent{Severity: "error", Message: "error: could not load plugin for aws provider\n"}}},
			errCLI, ReasonCLIError, []string{"up of 131016-prod failed: could not load plugin for aws provider"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := classify(Up, "131016-prod", tt.err, observed(tt.events...))
			if f.Reason != tt.reason {
				t.Errorf("reason %s (%q), want %s", f.Reason, f.Message, tt.reason)
			}
			for _, w := range tt.want {
				if !strings.Contains(f.Message, w) {
					t.Errorf("message %q does not say %q", f.Message, w)
				}
			}
			if strings.Contains(f.Message, "\n") || strings.Contains(f.Message, "stdout") || strings.Contains(f.Message, "created") {
				t.Errorf("message %q is not one line of its own: the CLI's output belongs to the events", f.Message)
			}
			if reason, msg := Explain(f); reason != f.Reason || msg != f.Message || !errors.Is(f, tt.err) {
				t.Errorf("Explain = %s %q; the failure must keep its reason, message and cause", reason, msg)
			}
		})
	}
	if reason, msg := Explain(errors.New("read the configuration of 131016-prod: open /srv/cats/cats.db: database is locked")); reason != ReasonServerError || msg != ServerErrorMessage {
		t.Errorf("an error of the server's own is %s %q, want %s %q: its detail is for the log", reason, msg, ReasonServerError, ServerErrorMessage)
	}
	// Raw CLI output with server paths reached municipality clients.
	f := classify(Up, "131016-prod", errCLI, observed(apitype.EngineEvent{DiagnosticEvent: &apitype.DiagnosticEvent{Severity: "error",
		Message: "error: could not read plugin [/srv/cats/data/pulumi-home/plugins/resource-aws/pulumi-resource-aws]: permission denied\n"}}))
	if strings.Contains(f.Message, "/srv") || !strings.Contains(f.Message, "could not read plugin [[path]]") {
		t.Errorf("message %q: the server's paths must not reach clients", f.Message)
	}
}

// TestViolationsHaveThePlansShape: a policy event becomes the finding
// `cats plan --json` shows: the rule's level, the finding without the rule's
// description, the control; each finding once.
func TestViolationsHaveThePlansShape(t *testing.T) {
	o := observed(
		apitype.EngineEvent{PolicyEvent: &apitype.PolicyEvent{PolicyName: "log-group-retention", EnforcementLevel: "warning",
			ResourceURN: tableURN, Message: "<{%reset%}>CloudWatch Logs groups keep their logs [FSBP CloudWatch.16]\nlog group x: retentionInDays 7 is below the minimum of 30<{%reset%}>\n"}},
		apitype.EngineEvent{PolicyEvent: &apitype.PolicyEvent{PolicyName: "log-group-retention", EnforcementLevel: "warning",
			ResourceURN: tableURN, Message: "CloudWatch Logs groups keep their logs [FSBP CloudWatch.16]\nlog group x: retentionInDays 7 is below the minimum of 30\n"}},
		apitype.EngineEvent{PolicyEvent: &apitype.PolicyEvent{PolicyName: "kms-key-rotation", EnforcementLevel: "mandatory", ResourceURN: tableURN, Message: "d\nno rotation"}},
	)
	vs := o.sortedViolations()
	if len(vs) != 2 {
		t.Fatalf("violations %+v, want 2: the same finding reported twice is one", vs)
	}
	if v := vs[0]; v.Policy != "kms-key-rotation" || !v.Mandatory() || v.Level != "mandatory" {
		t.Errorf("first violation %+v, want the mandatory one first (the plan's order)", v)
	}
	if v := vs[1]; v.Level != "advisory" || v.Message != "log group x: retentionInDays 7 is below the minimum of 30" || v.Control == "" || v.URN != tableURN {
		t.Errorf("violation %+v; want level advisory, the finding alone, the rule's control", v)
	}
	if len(observed().sortedViolations()) != 0 || observed().sortedViolations() == nil {
		t.Error("no finding is an empty list, never absent")
	}
}
