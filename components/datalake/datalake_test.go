package datalake

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func TestArgs(t *testing.T) {
	n, err := naming.NewNamer("dev", "")
	if err != nil {
		t.Fatal(err)
	}
	a := Args{Namer: n, AccountID: "123456789012", Encryption: config.EncryptionAES256}
	if err := a.check(); err != nil {
		t.Errorf("complete wiring refused: %v", err)
	}
	a = Args{Namer: n, AccountID: "123456789012", Encryption: config.EncryptionKMS}
	if err := a.check(); err == nil || !strings.Contains(err.Error(), "cats:dataLakeEncryption") {
		t.Errorf("aws:kms without the data key must be refused naming cats:dataLakeEncryption, got %v", err)
	}
	a = Args{Namer: n, Encryption: config.EncryptionAES256}
	if err := a.check(); err == nil || !strings.Contains(err.Error(), "AccountID") {
		t.Errorf("a missing account must be refused, got %v", err)
	}
}

func TestPrefixesAreFolders(t *testing.T) {
	for _, p := range Prefixes {
		if !strings.HasSuffix(p, "/") || strings.Count(p, "/") != 1 {
			t.Errorf("prefix %q must be one top-level folder", p)
		}
	}
}

func TestPublishedReadStatement(t *testing.T) {
	doc := iamdoc.Document(PublishedReadStatement(
		pulumi.String("arn:aws:s3:::cats-data-lake-dev"),
		pulumi.String("arn:aws:cloudfront::123456789012:distribution/E123")))
	var policy struct {
		Statement []struct {
			Principal map[string]string
			Action    []string
			Resource  []string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(harness.Await(t, doc).(string)), &policy); err != nil {
		t.Fatal(err)
	}
	s := policy.Statement[0]
	if s.Principal["Service"] != "cloudfront.amazonaws.com" || len(s.Resource) != 1 || s.Resource[0] != "arn:aws:s3:::cats-data-lake-dev/published/*" {
		t.Errorf("statement %+v, want CloudFront reading published/* only (DESIGN.md deviation 4)", s)
	}
	if got := s.Condition["StringEquals"]["AWS:SourceArn"]; got != "arn:aws:cloudfront::123456789012:distribution/E123" {
		t.Errorf("condition source %q, want this distribution only", got)
	}
}
