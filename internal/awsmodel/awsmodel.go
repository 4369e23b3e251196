// Package awsmodel is what AWS answers a program, as far as this project's
// program needs it and without a cloud: the ids, ARNs, names and DNS names it
// computes for a resource, its answers to the data sources the program reads,
// and which property changes it can only make by replacing a resource. The
// offline plan's mocks and the stand-in provider plugins both answer with it,
// so a plan and a stand-in deployment of the same stack agree.
package awsmodel

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// AccountID is the AWS account the model runs in (the example account of the
// AWS documentation).
const AccountID = "123456789012"

// Types whose ids the model derives from something other than the
// resource's name.
const (
	bucketV2Type = "aws:s3/bucketV2:BucketV2"
	bucketType   = "aws:s3/bucket:Bucket"
	subnetType   = "aws:ec2/subnet:Subnet"
	vpcType      = "aws:ec2/vpc:Vpc"

	launchTemplateType = "aws:ec2/launchTemplate:LaunchTemplate"
	// AWSXVpcType is the awsx VPC component (the only awsx component the
	// program uses).
	AWSXVpcType = "awsx:ec2:Vpc"
)

// ID is the id a resource gets: its S3 bucket name for a bucket (AWS's id of
// a bucket is its name, and its configuration resources refer to it so), its
// name for a subnet (the plan's awsx VPC has always answered subnet ids so),
// and name-id otherwise.
func ID(token, name string, inputs resource.PropertyMap) string {
	switch token {
	case bucketV2Type, bucketType:
		if b := inputs["bucket"]; b.IsString() && b.StringValue() != "" {
			return b.StringValue()
		}
	case subnetType:
		return name
	}
	return name + "-id"
}

// service is the ARN service segment of a type token (aws:s3/bucketV2:BucketV2 → s3).
func service(token string) string {
	parts := strings.Split(token, ":")
	if len(parts) < 2 {
		return "mock"
	}
	return strings.SplitN(parts[1], "/", 2)[0]
}

// ResourceOutputs returns the id and outputs a resource gets: its inputs, an
// ARN and a name for custom resources, and the type-specific outputs the
// program reads (ids, DNS names, validation records).
func ResourceOutputs(token, name, region string, custom bool, inputs resource.PropertyMap) (string, resource.PropertyMap) {
	outputs := inputs.Copy()
	id := ID(token, name, inputs)
	setDefault := func(k string, v any) {
		if _, ok := outputs[resource.PropertyKey(k)]; !ok {
			outputs[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
		}
	}
	str := func(k string) string {
		if v := inputs[resource.PropertyKey(k)]; v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	if custom && !strings.HasPrefix(token, "pulumi:providers:") {
		setDefault("arn", fmt.Sprintf("arn:aws:%s:%s:%s:%s", service(token), region, AccountID, name))
		setDefault("name", name)
	}
	switch token {
	case bucketV2Type, bucketType:
		if str("bucket") != "" {
			outputs["arn"] = resource.NewStringProperty("arn:aws:s3:::" + id)
			setDefault("bucketRegionalDomainName", id+".s3."+region+".amazonaws.com")
		}
	case AWSXVpcType:
		for k, v := range VpcOutputs(name, inputs) {
			outputs[k] = v
		}
	case "aws:ec2/eip:Eip":
		// A NAT gateway takes its EIP by allocation id.
		setDefault("allocationId", "eipalloc-"+name)
		setDefault("publicIp", "203.0.113.10") // TEST-NET-3 (RFC 5737): never a real address
	case launchTemplateType:
		// A new launch template is at version 1; the ASG launches that one.
		setDefault("latestVersion", 1)
		setDefault("defaultVersion", 1)
	case "aws:kms/key:Key":
		setDefault("keyId", name+"-key-id")
	case "aws:apigateway/restApi:RestApi":
		setDefault("rootResourceId", name+"-root-id")
		setDefault("executionArn", fmt.Sprintf("arn:aws:execute-api:%s:%s:%s", region, AccountID, id))
	case "aws:apigateway/stage:Stage":
		setDefault("invokeUrl", fmt.Sprintf("https://%s.execute-api.%s.amazonaws.com/%s", name, region, str("stageName")))
	case "aws:lambda/function:Function":
		setDefault("invokeArn", fmt.Sprintf("arn:aws:apigateway:%s:lambda:path/2015-03-31/functions/arn:aws:lambda:%s:%s:function:%s/invocations", region, region, AccountID, name))
	case "aws:acm/certificate:Certificate":
		var options []any
		domains := []string{str("domainName")}
		if sans := inputs["subjectAlternativeNames"]; sans.IsArray() {
			for _, san := range sans.ArrayValue() {
				if san.IsString() {
					domains = append(domains, san.StringValue())
				}
			}
		}
		for _, d := range domains {
			options = append(options, map[string]any{
				"domainName":          d,
				"resourceRecordName":  "_validation." + d + ".",
				"resourceRecordType":  "CNAME",
				"resourceRecordValue": "_answer.acm-validations.aws.",
			})
		}
		setDefault("domainValidationOptions", options)
	case "aws:route53/zone:Zone":
		setDefault("zoneId", "Z"+strings.ToUpper(strings.ReplaceAll(name, "-", "")))
		setDefault("nameServers", []any{"ns-1.awsdns-01.org", "ns-2.awsdns-02.co.uk"})
	case "aws:route53/record:Record":
		setDefault("fqdn", str("name"))
	case "aws:cloudfront/distribution:Distribution":
		setDefault("domainName", name+".cloudfront.net")
		setDefault("hostedZoneId", "Z2FDTNDATAQYW2")
	case "aws:lb/loadBalancer:LoadBalancer":
		setDefault("dnsName", fmt.Sprintf("%s.%s.elb.amazonaws.com", name, region))
		setDefault("zoneId", "Z14GRHDCWA56QT")
		setDefault("arnSuffix", "app/"+name+"/0123456789abcdef")
	case "aws:lb/targetGroup:TargetGroup":
		setDefault("arnSuffix", "targetgroup/"+name+"/0123456789abcdef")
	}
	return id, outputs
}

// UpdatedOutputs returns the outputs of a resource updated in place from
// olds (its outputs before) to the inputs news: as a new one's, except what
// AWS keeps or counts across updates (a launch template's versions).
func UpdatedOutputs(token, name, region string, olds, news resource.PropertyMap) resource.PropertyMap {
	_, outputs := ResourceOutputs(token, name, region, true, news)
	if token == launchTemplateType {
		// Every change to a launch template is a new version; with
		// updateDefaultVersion the default follows it.
		if v := olds["latestVersion"]; v.IsNumber() {
			outputs["latestVersion"] = resource.NewNumberProperty(v.NumberValue() + 1)
			if u := news["updateDefaultVersion"]; u.IsBool() && u.BoolValue() {
				outputs["defaultVersion"] = outputs["latestVersion"]
			} else if d := olds["defaultVersion"]; d.IsNumber() {
				outputs["defaultVersion"] = d
			}
		}
	}
	return outputs
}
