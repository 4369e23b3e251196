package iamdoc_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/internal/harness"
)

type trustPolicy struct {
	Statement []struct {
		Effect    string
		Principal map[string]string
		Action    []string
		Condition map[string]map[string]string
	}
}

func renderTrust(t *testing.T, service string, condition iamdoc.Condition) trustPolicy {
	t.Helper()
	var p trustPolicy
	doc := harness.Await(t, iamdoc.AssumeRole(service, condition)).(string)
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("trust policy is not JSON: %v: %s", err, doc)
	}
	if len(p.Statement) != 1 {
		t.Fatalf("a trust policy has one statement, got %d: %s", len(p.Statement), doc)
	}
	return p
}

// A role's trust carries exactly the condition its service documents, and
// none at all where the service documents none: a condition on a key the
// service does not send (aws:SourceAccount for CloudTrail's CloudWatch Logs
// role, say) denies the service the role.
func TestAssumeRoleCarriesOnlyTheGivenCondition(t *testing.T) {
	bare := renderTrust(t, "cloudtrail.amazonaws.com", nil)
	s := bare.Statement[0]
	if s.Effect != "Allow" || !reflect.DeepEqual(s.Action, []string{"sts:AssumeRole"}) || s.Principal["Service"] != "cloudtrail.amazonaws.com" {
		t.Errorf("trust statement %+v, want Allow sts:AssumeRole to the service", s)
	}
	if s.Condition != nil {
		t.Errorf("a role whose service documents no condition must have none, got %v", s.Condition)
	}

	want := map[string]map[string]string{"StringEquals": {"sts:ExternalId": "123456789012"}}
	firehose := renderTrust(t, "firehose.amazonaws.com", iamdoc.Condition{"StringEquals": {"sts:ExternalId": "123456789012"}})
	if got := firehose.Statement[0].Condition; !reflect.DeepEqual(got, want) {
		t.Errorf("condition %v, want %v as given (Firehose documents sts:ExternalId, not aws:SourceAccount)", got, want)
	}

	config := renderTrust(t, "config.amazonaws.com", iamdoc.SourceAccount("123456789012"))
	if got, want := config.Statement[0].Condition, (map[string]map[string]string{"StringEquals": {"aws:SourceAccount": "123456789012"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("SourceAccount gives %v, want %v", got, want)
	}
}
