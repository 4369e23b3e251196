package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

var projectDir = map[string]string{"CATS_PROJECT_DIR": "../../.."}

func TestPlanTable(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"plan", "--stack", "dev"}, env(projectDir), &out); err != nil {
		t.Fatalf("cats plan --stack dev: %v\n%s", err, out.String())
	}
	for _, want := range []string{`Plan of stack dev`, `TIER`, `(?m)^security +aws:kms/key:Key +cats-security-data-key$`, `(?m)^network +`, `0 mandatory`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPlanJSONAndState(t *testing.T) {
	var out bytes.Buffer
	state := filepath.Join(t.TempDir(), "state.json")
	err := run(context.Background(), []string{"plan", "--stack", "131016-prod", "--json", "--state-out", state}, env(projectDir), &out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Stack     string `json:"stack"`
		Resources []struct {
			URN, Type, Name, Parent string
			Inputs                  map[string]any `json:"inputs"`
		} `json:"resources"`
		Violations []struct{ Policy, Level, URN, Message string } `json:"violations"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("--json must print one JSON document: %v\n%s", err, out.String())
	}
	if doc.Stack != "131016-prod" || len(doc.Resources) == 0 || doc.Violations == nil {
		t.Fatalf("document: stack %q, %d resources, violations %v", doc.Stack, len(doc.Resources), doc.Violations)
	}
	found := false
	for _, r := range doc.Resources {
		if r.URN == "" || r.Type == "" || r.Name == "" || r.Inputs == nil {
			t.Errorf("resource lacks urn, type, name or inputs: %+v", r)
		}
		if r.Type == "pulumi:pulumi:StackReference" {
			found = r.Inputs["name"] == "organization/cats-analytics/prod"
		}
	}
	if !found {
		t.Errorf("a shared municipality stack references organization/cats-analytics/prod")
	}
	raw, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	var d apitype.UntypedDeployment
	if err := json.Unmarshal(raw, &d); err != nil || d.Version != 3 {
		t.Fatalf("--state-out must write a version 3 deployment: %v", err)
	}
}

func TestPlanFailsOnMandatoryViolation(t *testing.T) {
	config := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(config, []byte(`{"log-group-retention": {"enforcementLevel": "mandatory", "minimumRetentionDays": 365}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"plan", "--stack", "dev", "--policy-config", config}, env(projectDir), &out)
	if !errors.Is(err, errMandatory) {
		t.Fatalf("a mandatory violation must fail the command, got %v", err)
	}
	if !strings.Contains(out.String(), "mandatory  log-group-retention") {
		t.Errorf("the table must show the violation:\n%s", out.String())
	}
}

func TestPlanAllMunicipalities(t *testing.T) {
	list := filepath.Join(t.TempDir(), "codes.csv")
	// a header, a comment, a prefecture row (skipped) and three municipalities
	if err := os.WriteFile(list, []byte("code,name\n# Tokyo\n130001,東京都\n131016,千代田区\n011002\n472018\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	states := t.TempDir()
	var out bytes.Buffer
	err := run(context.Background(), []string{"plan", "--all-municipalities", list, "--env", "prod", "--json", "--state-out", states}, env(projectDir), &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var summary struct {
		Stacks  int `json:"stacks"`
		Results []struct {
			Stack     string `json:"stack"`
			Resources int    `json:"resources"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &summary); err != nil {
		t.Fatal(err)
	}
	if summary.Stacks != 3 || summary.Results[0].Stack != "011002-prod" || summary.Results[0].Resources == 0 {
		t.Fatalf("want the three municipalities planned, got %+v", summary)
	}
	if _, err := os.Stat(filepath.Join(states, "472018-prod.json")); err != nil {
		t.Errorf("--state-out DIR must hold one state file per stack: %v", err)
	}
}

func TestPlanUsage(t *testing.T) {
	for _, args := range [][]string{
		{"plan"},
		{"plan", "--all-municipalities", "x"},
		{"plan", "--stack", "dev", "--all-municipalities", "x", "--env", "dev"},
		{"frobnicate"},
	} {
		if err := run(context.Background(), args, env(projectDir), &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("%v: want a usage error, got %v", args, err)
		}
	}
	if err := run(context.Background(), []string{"plan", "--stack", "123456-prod"}, env(projectDir), &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), "cats:municipalityCode") {
		t.Errorf("an invalid municipality code must fail naming the key, got %v", err)
	}
}

// TestHelpOpensNothing: every command's --help prints its help and succeeds
// without a passphrase, a CLI or a database (CATS_DATA points at a directory
// that must stay absent).
func TestHelpOpensNothing(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "absent")
	vars := env(map[string]string{"CATS_DATA": absent, "PULUMI": filepath.Join(absent, "pulumi")})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "cats COMMAND --help"},
		{[]string{"token", "--help"}, "cats token revoke"},
		{[]string{"token", "help"}, "cats token revoke"},
		{[]string{"token", "create", "--help"}, "-scope"},
		{[]string{"token", "revoke", "-h"}, "cats token revoke"},
		{[]string{"serve", "--help"}, "make pulumi"},
		{[]string{"plan", "--help"}, "-all-municipalities"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), tt.args, vars, &out); err != nil {
			t.Errorf("cats %s: %v, want the help and success", strings.Join(tt.args, " "), err)
		}
		if !strings.Contains(out.String(), tt.want) {
			t.Errorf("cats %s printed:\n%s\nwant it to mention %q", strings.Join(tt.args, " "), out.String(), tt.want)
		}
	}
	if _, err := os.Stat(absent); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("help created or opened the data directory %s: %v", absent, err)
	}
}

// TestOneDefaultDataDirectory: cats serve and cats token use --data, else
// $CATS_DATA, else .work/cats-data (the directory make serve uses too).
func TestOneDefaultDataDirectory(t *testing.T) {
	if got := dataDir(env(nil)); got != ".work/cats-data" {
		t.Errorf("default data directory %q, want .work/cats-data", got)
	}
	dir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"token", "create", "--scope", "131016"}, env(map[string]string{"CATS_DATA": dir}), &out); err != nil {
		t.Fatalf("token create with CATS_DATA: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cats.db")); err != nil {
		t.Errorf("token create did not use $CATS_DATA: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	id := strings.Split(strings.TrimPrefix(lines[len(lines)-1], "cats_"), "_")[0]
	if err := run(context.Background(), []string{"token", "revoke", id}, env(map[string]string{"CATS_DATA": dir}), &out); err != nil {
		t.Errorf("token revoke %s with CATS_DATA: %v", id, err)
	}
	for _, cmd := range []string{"serve", "token create"} {
		var help bytes.Buffer
		_ = run(context.Background(), append(strings.Fields(cmd), "--help"), env(nil), &help)
		if !strings.Contains(help.String(), "CATS_DATA") || !strings.Contains(help.String(), ".work/cats-data") {
			t.Errorf("cats %s --help does not say where its data lives:\n%s", cmd, help.String())
		}
	}
}

// TestServeRefusesQueueCapsBelowOne: a cap of 0 would refuse every job; the
// error names the flag.
func TestServeRefusesQueueCapsBelowOne(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "absent")
	for _, flag := range []string{"--max-queued-per-stack", "--max-queued-per-token"} {
		err := run(context.Background(), []string{"serve", flag, "0"}, env(map[string]string{"CATS_DATA": absent}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("cats serve %s 0: %v, want an error naming %s", flag, err, flag)
		}
	}
}
