package awsmodel_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/cats-analytics/cats-analytics/internal/awsmodel"
)

func TestBucketIDIsItsName(t *testing.T) {
	id, out := awsmodel.ResourceOutputs("aws:s3/bucketV2:BucketV2", "cats-data-lake", "ap-northeast-1", true,
		resource.PropertyMap{"bucket": resource.NewStringProperty("cats-data-lake-131016-prod")})
	if id != "cats-data-lake-131016-prod" || out["arn"].StringValue() != "arn:aws:s3:::cats-data-lake-131016-prod" {
		t.Errorf("an S3 bucket's id is its name and its ARN has no region or account (the configuration resources refer to it so): id %q, arn %v", id, out["arn"])
	}
}

// The awsx VPC's outputs under the plan's mocks must be the ids the stand-in
// gives the subnets awsx registers, in awsx's order: zone by zone, public
// before private.
func TestVpcOutputsNameTheSubnetsAwsxRegisters(t *testing.T) {
	inputs := resource.NewPropertyMapFromMap(map[string]any{
		"subnetSpecs": []any{
			map[string]any{"type": "Private", "name": "private", "cidrBlocks": []any{"10.0.10.0/24", "10.0.20.0/24"}},
			map[string]any{"type": "Public", "name": "public", "cidrBlocks": []any{"10.0.1.0/24", "10.0.2.0/24"}},
		},
	})
	out := awsmodel.VpcOutputs("cats-network-vpc", inputs)
	if got := out["vpcId"].StringValue(); got != awsmodel.ID("aws:ec2/vpc:Vpc", "cats-network-vpc", nil) {
		t.Errorf("vpcId %q is not the id of the aws:ec2/vpc:Vpc awsx registers under the component's name", got)
	}
	want := map[resource.PropertyKey][]any{
		"publicSubnetIds":  {"cats-network-vpc-public-1", "cats-network-vpc-public-2"},
		"privateSubnetIds": {"cats-network-vpc-private-1", "cats-network-vpc-private-2"},
	}
	for k, ids := range want {
		var got []any
		for _, v := range out[k].ArrayValue() {
			got = append(got, v.StringValue())
		}
		if !slices.Equal(got, ids) {
			t.Errorf("%s = %v, want %v (awsx names subnets <vpc>-<spec>-<zone>)", k, got, ids)
		}
	}
	// Without specs or zones, awsx's defaults: a private and a public subnet
	// in each of three zones.
	def := awsmodel.VpcOutputs("v", resource.PropertyMap{})
	if n := len(def["publicSubnetIds"].ArrayValue()); n != awsmodel.DefaultZoneCount {
		t.Errorf("awsx's default VPC has %d public subnets, got %d", awsmodel.DefaultZoneCount, n)
	}
}

func TestLaunchTemplateVersions(t *testing.T) {
	const lt = "aws:ec2/launchTemplate:LaunchTemplate"
	_, created := awsmodel.ResourceOutputs(lt, "cats-compute-launch-template", "ap-northeast-1", true, resource.PropertyMap{})
	if created["latestVersion"].NumberValue() != 1 {
		t.Fatalf("a new launch template is at version 1 (the ASG launches it by version): %v", created["latestVersion"])
	}
	news := resource.PropertyMap{"updateDefaultVersion": resource.NewBoolProperty(true)}
	updated := awsmodel.UpdatedOutputs(lt, "cats-compute-launch-template", "ap-northeast-1", created, news)
	if updated["latestVersion"].NumberValue() != 2 || updated["defaultVersion"].NumberValue() != 2 {
		t.Errorf("every change of a launch template is a new version, the default too with updateDefaultVersion: %v %v",
			updated["latestVersion"], updated["defaultVersion"])
	}
}

func TestCallResult(t *testing.T) {
	got, err := awsmodel.CallResult("aws:elb/getServiceAccount:getServiceAccount", "ap-northeast-1", resource.PropertyMap{})
	if err != nil || got["arn"].StringValue() != "arn:aws:iam::582318560864:root" {
		t.Errorf("ELB writes ap-northeast-1 access logs as account 582318560864 (AWS documentation); a bucket policy granting another account gets no logs: %v %v", got, err)
	}
	if _, err := awsmodel.CallResult("aws:index/getNothing:getNothing", "ap-northeast-1", nil); err == nil ||
		!strings.Contains(err.Error(), "aws:index/getNothing:getNothing") || !strings.Contains(err.Error(), "awsmodel.CallResult") {
		t.Errorf("an unanswered data source must be named with where to add it: %v", err)
	}
}

func TestReplacement(t *testing.T) {
	if !awsmodel.ForcesReplacement("aws:ec2/subnet:Subnet", "cidrBlock") || awsmodel.ForcesReplacement("aws:ec2/subnet:Subnet", "tags") {
		t.Error("a subnet's CIDR block cannot change in place; its tags can")
	}
	if awsmodel.PhysicalNameProperty("aws:s3/bucketV2:BucketV2") != "bucket" || awsmodel.PhysicalNameProperty("aws:iam/role:Role") != "name" {
		t.Error("a bucket is named by bucket, a role by name")
	}
}

// TestForceNewPropertiesExistInTheSDK reads the pulumi-aws Go SDK the
// program builds with: every property of the replacement table must be one
// of the resource's properties there, so a misspelt name (restApiId for
// restApi) cannot silently turn a replacement into an update.
func TestForceNewPropertiesExistInTheSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/pulumi/pulumi-aws/sdk/v6").Output()
	if err != nil {
		t.Fatalf("locate the pulumi-aws SDK: %v", err)
	}
	sdk := filepath.Join(strings.TrimSpace(string(out)), "go", "aws")
	for token, props := range awsmodel.ForceNewTable() {
		// aws:ec2/subnet:Subnet is declared in go/aws/ec2/subnet.go.
		module := strings.Split(token, ":")[1]
		src, err := os.ReadFile(filepath.Join(sdk, module+".go"))
		if err != nil {
			t.Errorf("%s: no such resource in the SDK: %v", token, err)
			continue
		}
		for _, p := range props {
			if !strings.Contains(string(src), `pulumi:"`+p+`"`) {
				t.Errorf("%s has no property %s in the SDK", token, p)
			}
		}
	}
}
