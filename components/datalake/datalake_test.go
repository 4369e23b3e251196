package datalake

import (
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
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
