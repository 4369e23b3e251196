package awsprovider_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cats-analytics/cats-analytics/internal/awsmodel"
	"github.com/cats-analytics/cats-analytics/standin"
	"github.com/cats-analytics/cats-analytics/standin/awsprovider"
)

const (
	bucketType = "aws:s3/bucketV2:BucketV2"
	bucketURN  = "urn:pulumi:131016-prod::cats-analytics::cats:datalake:DataLake$aws:s3/bucketV2:BucketV2::cats-data-lake"
	routeURN   = "urn:pulumi:131016-prod::cats-analytics::aws:ec2/route:Route::cats-network-vpc-public-1"
	region     = "ap-northeast-1"
)

var opts = plugin.MarshalOptions{KeepSecrets: true, KeepUnknowns: true}

func props(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(resource.NewPropertyMapFromMap(m), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func unprops(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.UnmarshalProperties(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newProvider(t *testing.T) (*awsprovider.Provider, *standin.Store) {
	t.Helper()
	store, err := standin.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := awsprovider.New(nil, store)
	if _, err := p.Configure(context.Background(), &pulumirpc.ConfigureRequest{Args: props(t, map[string]any{"region": region})}); err != nil {
		t.Fatal(err)
	}
	return p, store
}

var bucketInputs = map[string]any{"bucket": "cats-data-lake-131016-prod", "tags": map[string]any{"project": "cats-analytics"}}

func create(t *testing.T, p *awsprovider.Provider, urn string, inputs map[string]any) *pulumirpc.CreateResponse {
	t.Helper()
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn, Properties: props(t, inputs)})
	if err != nil {
		t.Fatalf("create %s: %v", urn, err)
	}
	return resp
}

// A stand-in create answers what the offline plan's mocks answer, and keeps
// it so a refresh reads it back.
func TestCreateAnswersTheModelAndKeepsIt(t *testing.T) {
	p, store := newProvider(t)
	resp := create(t, p, bucketURN, bucketInputs)
	wantID, wantOut := awsmodel.ResourceOutputs(bucketType, "cats-data-lake", region, true, resource.NewPropertyMapFromMap(bucketInputs))
	if resp.GetId() != wantID || !unprops(t, resp.GetProperties()).DeepEquals(wantOut) {
		t.Errorf("the stand-in must answer as the plan does: got %s %v, want %s %v", resp.GetId(), unprops(t, resp.GetProperties()), wantID, wantOut)
	}
	read, err := p.Read(context.Background(), &pulumirpc.ReadRequest{Urn: bucketURN, Id: resp.GetId()})
	if err != nil || read.GetId() != wantID || !unprops(t, read.GetProperties()).DeepEquals(wantOut) {
		t.Errorf("a refresh must read back what was created: %v %v", read, err)
	}
	if objs, _ := store.List(); len(objs) != 1 {
		t.Errorf("one resource created, %d kept", len(objs))
	}
}

func TestPreviewCreatesNothing(t *testing.T) {
	p, store := newProvider(t)
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: bucketURN, Properties: props(t, bucketInputs), Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	out := unprops(t, resp.GetProperties())
	if resp.GetId() != "" || !out["arn"].IsComputed() || out["bucket"].StringValue() != "cats-data-lake-131016-prod" {
		t.Errorf("a preview knows the inputs and not what AWS computes: %v %v", resp.GetId(), out)
	}
	if objs, _ := store.List(); len(objs) != 0 {
		t.Errorf("a preview must create nothing; the stand-in holds %d", len(objs))
	}
}

func TestInjectedCreateFailure(t *testing.T) {
	p, store := newProvider(t)
	if err := standin.WriteFailures(store.Dir(), []standin.Failure{{Operation: standin.OpCreate, URN: bucketURN, Message: "AccessDenied"}}); err != nil {
		t.Fatal(err)
	}
	_, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: bucketURN, Properties: props(t, bucketInputs)})
	if err == nil || !strings.Contains(err.Error(), `standin: injected failure creating aws:s3/bucketV2:BucketV2 "cats-data-lake": AccessDenied`) {
		t.Errorf("the failure knob must fail the create, naming the resource: %v", err)
	}
	if objs, _ := store.List(); len(objs) != 0 {
		t.Errorf("a failed create creates nothing; the stand-in holds %d", len(objs))
	}
}

// Two resources with one name are refused, as AWS refuses a second bucket
// named like the first (a replacement of a named resource deletes first;
// a destroy that retained the resource leaves it in the way).
func TestNamedResourcesConflictOthersGetFreshIDs(t *testing.T) {
	p, _ := newProvider(t)
	create(t, p, bucketURN, bucketInputs)
	_, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: bucketURN, Properties: props(t, bucketInputs)})
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.HasPrefix(err.Error(), standin.Prefix) {
		t.Errorf("a second bucket named cats-data-lake-131016-prod must conflict: %v", err)
	}
	route := map[string]any{"routeTableId": "rt", "destinationCidrBlock": "0.0.0.0/0"}
	first, second := create(t, p, routeURN, route), create(t, p, routeURN, route)
	if first.GetId() == second.GetId() {
		t.Errorf("a replacement created before the old one is deleted needs its own id, as AWS gives it: both %s", first.GetId())
	}
}

func TestDriftShowsInRead(t *testing.T) {
	p, store := newProvider(t)
	id := create(t, p, bucketURN, bucketInputs).GetId()
	if err := standin.WriteDrift(store.Dir(), map[string]any{bucketURN: map[string]any{"tags": map[string]any{"project": "changed-by-hand"}}}); err != nil {
		t.Fatal(err)
	}
	read, err := p.Read(context.Background(), &pulumirpc.ReadRequest{Urn: bucketURN, Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if got := unprops(t, read.GetProperties())["tags"].ObjectValue()["project"].StringValue(); got != "changed-by-hand" {
		t.Errorf("Read must return the drifted value, so refresh sees it: %s", got)
	}
	if got := unprops(t, read.GetInputs())["tags"].ObjectValue()["project"].StringValue(); got != "changed-by-hand" {
		t.Errorf("the drift of an input shows in the inputs Read returns, so preview diffs it: %s", got)
	}
	if err := standin.WriteDrift(store.Dir(), map[string]any{id: standin.Deleted}); err != nil {
		t.Fatal(err)
	}
	if read, err := p.Read(context.Background(), &pulumirpc.ReadRequest{Urn: bucketURN, Id: id}); err != nil || read.GetId() != "" {
		t.Errorf("a resource the drift knob deleted must read as gone (empty id): %v %v", read, err)
	}
	// Created again after the drift deleted it: the cloud no longer has it.
	if err := standin.WriteDrift(store.Dir(), map[string]any{id: standin.Deleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: bucketURN, Properties: props(t, bucketInputs)}); err != nil {
		t.Errorf("re-creating a resource the drift knob deleted must succeed: %v", err)
	}
}

func TestDiff(t *testing.T) {
	p, _ := newProvider(t)
	secretName := map[string]any{"bucket": resource.MakeSecret(resource.NewStringProperty("cats-data-lake-131016-prod")),
		"tags": map[string]any{"project": "cats-analytics"}}
	for _, c := range []struct {
		name           string
		typ            string
		olds, news     map[string]any
		oldInputs      map[string]any
		changed        []string
		replace, first bool
	}{
		{name: "no change", typ: bucketType, olds: bucketInputs, news: bucketInputs},
		{name: "a secret equals its value", typ: bucketType, olds: bucketInputs, news: secretName},
		{name: "tags update in place", typ: bucketType, olds: bucketInputs,
			news: map[string]any{"bucket": "cats-data-lake-131016-prod", "tags": map[string]any{"project": "other"}}, changed: []string{"tags"}},
		{name: "a renamed bucket is replaced, the old one deleted first", typ: bucketType, olds: bucketInputs,
			news: map[string]any{"bucket": "cats-data-lake-2", "tags": map[string]any{"project": "cats-analytics"}}, changed: []string{"bucket"}, replace: true, first: true},
		{name: "an unnamed subnet is replaced, the new one created first", typ: "aws:ec2/subnet:Subnet",
			olds: map[string]any{"cidrBlock": "10.0.1.0/24"}, news: map[string]any{"cidrBlock": "10.0.3.0/24"}, changed: []string{"cidrBlock"}, replace: true},
		{name: "a removed input", typ: bucketType, olds: bucketInputs, oldInputs: bucketInputs,
			news: map[string]any{"bucket": "cats-data-lake-131016-prod"}, changed: []string{"tags"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			urn := "urn:pulumi:s::p::" + c.typ + "::r"
			resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: urn, Id: "r-id",
				Olds: props(t, c.olds), News: props(t, c.news), OldInputs: props(t, c.oldInputs)})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(resp.GetDiffs(), ",") != strings.Join(c.changed, ",") {
				t.Errorf("changed %v, want %v", resp.GetDiffs(), c.changed)
			}
			if want := len(c.changed) > 0; (resp.GetChanges() == pulumirpc.DiffResponse_DIFF_SOME) != want {
				t.Errorf("changes %v, want some: %v", resp.GetChanges(), want)
			}
			if (len(resp.GetReplaces()) > 0) != c.replace || resp.GetDeleteBeforeReplace() != c.first {
				t.Errorf("replaces %v delete-before-replace %v; want replace %v first %v",
					resp.GetReplaces(), resp.GetDeleteBeforeReplace(), c.replace, c.first)
			}
		})
	}
}

func TestUpdateKeepsTheIDAndCountsVersions(t *testing.T) {
	p, store := newProvider(t)
	const lt = "urn:pulumi:131016-prod::cats-analytics::aws:ec2/launchTemplate:LaunchTemplate::cats-compute-launch-template"
	created := create(t, p, lt, map[string]any{"instanceType": "t3.medium", "updateDefaultVersion": true})
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: lt, Id: created.GetId(), Olds: created.GetProperties(),
		News: props(t, map[string]any{"instanceType": "t3.large", "updateDefaultVersion": true})})
	if err != nil {
		t.Fatal(err)
	}
	out := unprops(t, resp.GetProperties())
	if out["instanceType"].StringValue() != "t3.large" || out["latestVersion"].NumberValue() != 2 {
		t.Errorf("an updated launch template has the new inputs and a new version: %v", out)
	}
	obj, ok, err := store.Get(lt, created.GetId())
	if err != nil || !ok || obj.Outputs["instanceType"].StringValue() != "t3.large" {
		t.Errorf("the update must be kept under the same id: %v %v %v", obj, ok, err)
	}
}

func TestDelete(t *testing.T) {
	p, store := newProvider(t)
	id := create(t, p, bucketURN, bucketInputs).GetId()
	if err := standin.WriteFailures(store.Dir(), []standin.Failure{{Operation: standin.OpDelete, Name: "cats-data-lake", Message: "BucketNotEmpty"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{Urn: bucketURN, Id: id}); err == nil || !strings.Contains(err.Error(), "injected failure deleting") {
		t.Errorf("the failure knob must fail the delete: %v", err)
	}
	if err := standin.WriteFailures(store.Dir(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{Urn: bucketURN, Id: id}); err != nil {
		t.Fatal(err)
	}
	if objs, _ := store.List(); len(objs) != 0 {
		t.Errorf("deleted, yet the stand-in holds %d", len(objs))
	}
}

func TestInvoke(t *testing.T) {
	p, _ := newProvider(t)
	resp, err := p.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: "aws:index/getCallerIdentity:getCallerIdentity", Args: props(t, nil)})
	if err != nil || unprops(t, resp.GetReturn())["accountId"].StringValue() != awsmodel.AccountID {
		t.Errorf("the caller's account is the model's: %v %v", resp, err)
	}
	if _, err := p.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: "aws:index/getNothing:getNothing", Args: props(t, nil)}); err == nil ||
		!strings.HasPrefix(err.Error(), standin.Prefix) {
		t.Errorf("an unmodelled data source must fail, saying it is the stand-in's: %v", err)
	}
}

func TestTheRegionIsRequired(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	store, err := standin.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := awsprovider.New(nil, store)
	check, err := p.CheckConfig(context.Background(), &pulumirpc.CheckRequest{News: props(t, nil)})
	if err != nil || len(check.GetFailures()) != 1 || check.GetFailures()[0].GetProperty() != "region" {
		t.Errorf("a provider without a region must fail its check on region, as the AWS provider does: %v %v", check, err)
	}
	if _, err := p.Configure(context.Background(), &pulumirpc.ConfigureRequest{Args: props(t, nil)}); err == nil || !strings.Contains(err.Error(), "aws:region") {
		t.Errorf("configure without a region must say to set aws:region: %v", err)
	}
}
