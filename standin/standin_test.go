package standin_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/cats-analytics/cats-analytics/standin"
)

const bucketURN = "urn:pulumi:131016-prod::cats-analytics::cats:datalake:DataLake$aws:s3/bucketV2:BucketV2::cats-data-lake"

// The versions the plugins report must be those the program's SDKs ask the
// engine for, or the engine would look for (and fail to find) other plugins.
func TestVersionsAreTheSDKs(t *testing.T) {
	for _, sdk := range []struct{ module, pkg, want string }{
		{"github.com/pulumi/pulumi-aws/sdk/v6", "aws", standin.AWSVersion},
		{"github.com/pulumi/pulumi-awsx/sdk/v2", "awsx", standin.AWSXVersion},
	} {
		module, want := sdk.module, sdk.want
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
		if err != nil {
			t.Fatalf("locate %s: %v", module, err)
		}
		raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "go", sdk.pkg, "pulumi-plugin.json"))
		if err != nil {
			t.Fatalf("read the plugin version %s asks for: %v", module, err)
		}
		var plugin struct{ Version string }
		if err := json.Unmarshal(raw, &plugin); err != nil {
			t.Fatal(err)
		}
		if plugin.Version != want {
			t.Errorf("%s asks the engine for version %s; the stand-in reports %s", module, plugin.Version, want)
		}
	}
}

func TestDirFromEnvRefusesToGuess(t *testing.T) {
	_, err := standin.DirFromEnv(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), standin.DirEnv) || !strings.HasPrefix(err.Error(), standin.Prefix) {
		t.Fatalf("without %s the plugins must refuse to start, naming the variable: %v", standin.DirEnv, err)
	}
}

func TestStoreKeepsSecretsAndAssets(t *testing.T) {
	s, err := standin.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	archive, err := resource.NewAssetArchive(map[string]any{"bootstrap": mustAsset(t, "#!/bin/sh\n")})
	if err != nil {
		t.Fatal(err)
	}
	in := resource.PropertyMap{
		"bucket":   resource.NewStringProperty("cats-data-lake-131016-prod"),
		"password": resource.MakeSecret(resource.NewStringProperty("s3cr3t")),
		"code":     resource.NewArchiveProperty(archive),
	}
	o := standin.Object{URN: bucketURN, Type: "aws:s3/bucketV2:BucketV2", Name: "cats-data-lake", ID: "cats-data-lake-131016-prod",
		Inputs: in, Outputs: in}
	if err := s.Put(o); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(o.URN, o.ID)
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if !got.Inputs["password"].IsSecret() {
		t.Error("a secret must stay a secret in the stand-in's files, so Read hands it back as one")
	}
	if !got.Inputs.DeepEquals(in) {
		t.Errorf("what the store gives back differs from what it was given:\n%v\n%v", got.Inputs, in)
	}
	files, _ := filepath.Glob(filepath.Join(s.Dir(), "objects", "*"))
	if len(files) != 1 {
		t.Fatalf("one file per resource, no temporary files left: %v", files)
	}
	if fi, _ := os.Stat(files[0]); fi.Mode().Perm() != 0o600 {
		t.Errorf("the files hold secret values: only the owner may read them, mode %v", fi.Mode().Perm())
	}
	if err := s.Delete(o.URN, o.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(o.URN, o.ID); err != nil {
		t.Errorf("deleting what is gone already is not an error (AWS providers treat not found as deleted): %v", err)
	}
	if all, _ := s.List(); len(all) != 0 {
		t.Errorf("deleted, yet listed: %v", all)
	}
}

func mustAsset(t *testing.T, text string) *resource.Asset {
	t.Helper()
	a, err := resource.NewTextAsset(text)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The engine runs steps in parallel: concurrent writes of many resources
// must all land, whole.
func TestStoreUnderParallelWrites(t *testing.T) {
	s, err := standin.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			id := strings.Repeat("x", i+1)
			if err := s.Put(standin.Object{URN: bucketURN, ID: id, Inputs: resource.PropertyMap{}, Outputs: resource.PropertyMap{}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if all, err := s.List(); err != nil || len(all) != 64 {
		t.Fatalf("64 parallel writes, %d listed: %v", len(all), err)
	}
}

func TestFailureKnob(t *testing.T) {
	s, err := standin.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := standin.WriteFailures(s.Dir(), []standin.Failure{{Operation: standin.OpCreate, Type: "aws:s3/bucketV2:BucketV2", Name: "cats-data-lake", Message: "AccessDenied"}}); err != nil {
		t.Fatal(err)
	}
	err = s.InjectedFailure(standin.OpCreate, bucketURN)
	want := `standin: injected failure creating aws:s3/bucketV2:BucketV2 "cats-data-lake": AccessDenied`
	if err == nil || err.Error() != want {
		t.Errorf("the injected error must name the resource and say it is the stand-in's:\n got %v\nwant %s", err, want)
	}
	if err := s.InjectedFailure(standin.OpUpdate, bucketURN); err != nil {
		t.Errorf("a create failure must not fail an update: %v", err)
	}
	if err := s.InjectedFailure(standin.OpCreate, strings.Replace(bucketURN, "::cats-data-lake", "::cats-access-logs", 1)); err != nil {
		t.Errorf("a failure selected by name must not fail another resource: %v", err)
	}
	if err := standin.WriteFailures(s.Dir(), []standin.Failure{{Operation: standin.OpCreate, Message: "x"}}); err == nil {
		t.Error("a failure that selects no resource would fail every create: it must be refused")
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), standin.FailuresFile), []byte(`[{"operation":"craete","name":"x","message":"m"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.InjectedFailure(standin.OpCreate, bucketURN); err == nil || !strings.Contains(err.Error(), "craete") {
		t.Errorf("a misspelt operation in the knob must fail loudly, not never fire: %v", err)
	}
	if err := standin.WriteFailures(s.Dir(), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.InjectedFailure(standin.OpCreate, bucketURN); err != nil {
		t.Errorf("with the knob removed nothing fails: %v", err)
	}
}

func TestDriftKnob(t *testing.T) {
	s, err := standin.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := standin.WriteDrift(s.Dir(), map[string]any{
		bucketURN:     map[string]any{"versioning": "Suspended", "tags": nil},
		"gone-bucket": standin.Deleted,
	}); err != nil {
		t.Fatal(err)
	}
	gone, overrides, err := s.Drift(bucketURN, "cats-data-lake-131016-prod")
	if err != nil || gone || overrides["versioning"] != "Suspended" {
		t.Fatalf("drift by URN: %v %v %v", gone, overrides, err)
	}
	props := standin.ApplyDrift(resource.PropertyMap{"tags": resource.NewStringProperty("x"), "versioning": resource.NewStringProperty("Enabled")}, overrides)
	if _, has := props["tags"]; has || props["versioning"].StringValue() != "Suspended" {
		t.Errorf("an override replaces a property and a null removes it: %v", props)
	}
	if gone, _, err := s.Drift("urn:other", "gone-bucket"); err != nil || !gone {
		t.Errorf("drift by id, deleted: %v %v", gone, err)
	}
	if err := standin.WriteDrift(s.Dir(), map[string]any{bucketURN: "gone"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Drift(bucketURN, ""); err == nil || !strings.Contains(err.Error(), standin.Deleted) {
		t.Errorf("a drift value other than %q or an object must be refused, saying what is allowed: %v", standin.Deleted, err)
	}
}
