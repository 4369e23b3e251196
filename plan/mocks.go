package plan

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// AccountID is the AWS account the offline plan pretends to run in (the
// example account of the AWS documentation).
const AccountID = "123456789012"

// Resource is one resource of the planned graph.
type Resource struct {
	URN      string `json:"urn"`
	Type     string `json:"type"`
	Name     string `json:"name"`
	Parent   string `json:"parent,omitempty"`
	Provider string `json:"provider,omitempty"` // provider reference urn::id; empty for the default provider
	Custom   bool   `json:"custom"`
	ID       string `json:"id,omitempty"`
	// Inputs are what the program gave; Outputs what the mocks answered (the
	// inputs plus ids, ARNs and names).
	Inputs               resource.PropertyMap `json:"-"`
	Outputs              resource.PropertyMap `json:"-"`
	Dependencies         []string             `json:"-"`
	PropertyDependencies map[string][]string  `json:"-"`
	// RetainOnDelete is the resource option: the engine leaves the resource
	// in the cloud when the stack is destroyed.
	RetainOnDelete bool `json:"-"`
	// version is the provider plugin version the SDK asked for.
	version string
}

// Monitor is the mock resource monitor the plan runs the program against:
// it records every registration and answers with plausible outputs, with no
// cloud and no credentials.
type Monitor struct {
	Stack   string
	Project string
	Region  string
	// StackOutputs are the outputs of stacks the program references, by
	// fully qualified name.
	StackOutputs map[string]map[string]any
	// Mutate, when set, changes a registration before it is recorded and
	// answered: a test breaks a resource input this way and checks that a
	// rule fires.
	Mutate func(*Resource)

	mu        sync.Mutex
	resources []Resource
}

var _ pulumi.MockResourceMonitor = (*Monitor)(nil)

// NewResource records a registration (or a read, e.g. a StackReference).
func (m *Monitor) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := Resource{
		Type: args.TypeToken, Name: args.Name, Provider: args.Provider, Custom: args.Custom,
		Inputs: args.Inputs, PropertyDependencies: map[string][]string{},
	}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.Dependencies = rpc.GetDependencies()
		for k, deps := range rpc.GetPropertyDependencies() {
			if urns := deps.GetUrns(); len(urns) > 0 {
				r.PropertyDependencies[k] = urns
			}
		}
		r.version = rpc.GetVersion()
		r.RetainOnDelete = rpc.GetRetainOnDelete()
	}
	if rpc := args.ReadRPC; rpc != nil {
		r.Custom = true // a read (StackReference) is a custom resource in the state
		r.Parent = rpc.GetParent()
		r.Dependencies = rpc.GetDependencies()
		r.version = rpc.GetVersion()
	}
	if m.Mutate != nil {
		r.Inputs = r.Inputs.Copy()
		m.Mutate(&r)
	}
	r.URN = m.urn(r.Parent, r.Type, r.Name)

	id, outputs := ResourceOutputs(args.TypeToken, args.Name, m.Region, args.Custom, r.Inputs)
	if args.TypeToken == "pulumi:pulumi:StackReference" {
		name := r.Inputs["name"]
		if !name.IsString() {
			return "", nil, fmt.Errorf("plan: stack reference %s has no name", args.Name)
		}
		stackOutputs, ok := m.StackOutputs[name.StringValue()]
		if !ok {
			return "", nil, fmt.Errorf("plan: no outputs for referenced stack %q", name.StringValue())
		}
		outputs["outputs"] = resource.NewPropertyValue(stackOutputs)
		outputs["secretOutputNames"] = resource.NewPropertyValue([]any{})
		id = name.StringValue()
	}
	if args.Custom || args.ReadRPC != nil {
		r.ID = id // components have no id in a state file
	}
	r.Outputs = outputs

	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	return id, outputs, nil
}

// Call answers the provider functions the program invokes.
func (m *Monitor) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return CallResult(args.Token, m.Region, args.Args)
}

// CallResult answers a provider function the program invokes, as AWS would
// in the plan's account. The test mocks answer with it too, so tests and the
// plan never disagree on what the program sees.
func CallResult(token, region string, args resource.PropertyMap) (resource.PropertyMap, error) {
	switch token {
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.NewPropertyMapFromMap(map[string]any{
			"accountId": AccountID,
			"arn":       "arn:aws:iam::" + AccountID + ":user/plan",
			"userId":    "AIDAPLAN",
			"id":        AccountID,
		}), nil
	case "aws:index/getRegion:getRegion":
		return resource.NewPropertyMapFromMap(map[string]any{"name": region, "id": region}), nil
	case "aws:index/getPartition:getPartition":
		return resource.NewPropertyMapFromMap(map[string]any{"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}), nil
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return resource.NewPropertyMapFromMap(map[string]any{
			"names": []any{region + "a", region + "c"}, "zoneIds": []any{"apne1-az4", "apne1-az1"}, "id": region,
		}), nil
	case "aws:ssm/getParameter:getParameter":
		name, _ := args["name"].V.(string)
		return resource.NewPropertyMapFromMap(map[string]any{
			"name": name, "id": name, "type": "String", "value": "ami-0123456789abcdef0", "insecureValue": "ami-0123456789abcdef0",
		}), nil
	case "aws:ec2/getAmi:getAmi":
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": "ami-0123456789abcdef0", "imageId": "ami-0123456789abcdef0",
			"arn": fmt.Sprintf("arn:aws:ec2:%s::image/ami-0123456789abcdef0", region), "architecture": "arm64",
		}), nil
	case "aws:route53/getZone:getZone":
		name, _ := args["name"].V.(string)
		return resource.NewPropertyMapFromMap(map[string]any{"id": "ZPLAN", "zoneId": "ZPLAN", "name": name}), nil
	case "aws:elb/getServiceAccount:getServiceAccount":
		// As the provider answers: the account Elastic Load Balancing writes
		// access logs from, in the Regions that opened before August 2022
		// (docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html);
		// later Regions have none and use a service principal instead.
		elbAccounts := map[string]string{
			"af-south-1":     "098369216593",
			"ap-east-1":      "754344448648",
			"ap-northeast-1": "582318560864",
			"ap-northeast-2": "600734575887",
			"ap-northeast-3": "383597477331",
			"ap-south-1":     "718504428378",
			"ap-southeast-1": "114774131450",
			"ap-southeast-2": "783225319266",
			"ap-southeast-3": "589379963580",
			"ca-central-1":   "985666609251",
			"cn-north-1":     "638102146993",
			"cn-northwest-1": "037604701340",
			"eu-central-1":   "054676820928",
			"eu-north-1":     "897822967062",
			"eu-south-1":     "635631232127",
			"eu-west-1":      "156460612806",
			"eu-west-2":      "652711504416",
			"eu-west-3":      "009996457667",
			"me-south-1":     "076674570225",
			"sa-east-1":      "507241528517",
			"us-east-1":      "127311923021",
			"us-east-2":      "033677994240",
			"us-gov-east-1":  "190560391635",
			"us-gov-west-1":  "048591011584",
			"us-west-1":      "027434742980",
			"us-west-2":      "797873946194",
		}
		r := region
		if v := args["region"]; v.IsString() && v.StringValue() != "" {
			r = v.StringValue()
		}
		account, ok := elbAccounts[r]
		if !ok {
			return nil, fmt.Errorf("plan: Elastic Load Balancing has no access-log account in %s: a Region opened since August 2022 takes the logdelivery.elasticloadbalancing.amazonaws.com service principal", r)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": account, "arn": "arn:aws:iam::" + account + ":root", "region": r}), nil
	case "aws:iam/getPolicyDocument:getPolicyDocument":
		return resource.NewPropertyMapFromMap(map[string]any{"id": "plan", "json": `{"Version":"2012-10-17","Statement":[]}`}), nil
	}
	return nil, fmt.Errorf("plan: the program calls %s, which the offline plan does not answer; add it to plan.Monitor.Call", token)
}

// Resources returns the registrations in the order they happened (parents
// and dependencies before the resources that use them).
func (m *Monitor) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Resource(nil), m.resources...)
}

// urn builds the URN the engine gives a resource (the same as the SDK's
// mock monitor does).
func (m *Monitor) urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(m.Stack), tokens.PackageName(m.Project), parentType, tokens.Type(typ), name))
}

// StackURN is the URN of the stack's root resource.
func (m *Monitor) StackURN() string {
	return string(resource.NewURN(tokens.QName(m.Stack), tokens.PackageName(m.Project), "", resource.RootStackType,
		m.Project+"-"+m.Stack))
}

// service is the ARN service segment of a type token (aws:s3/bucketV2:BucketV2 → s3).
func service(token string) string {
	parts := strings.Split(token, ":")
	if len(parts) < 2 {
		return "mock"
	}
	return strings.SplitN(parts[1], "/", 2)[0]
}

// ResourceOutputs returns the id and outputs a resource gets in the plan: its
// inputs, an ARN and a name for custom resources, and the type-specific
// outputs the program reads (ids, DNS names, validation records). The test
// mocks use it too, so tests and the plan never disagree.
func ResourceOutputs(token, name, region string, custom bool, inputs resource.PropertyMap) (string, resource.PropertyMap) {
	outputs := inputs.Copy()
	id := name + "-id"
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
	case "aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket":
		// An S3 bucket's id is its name: configuration resources refer to it so.
		if b := str("bucket"); b != "" {
			id = b
			outputs["arn"] = resource.NewStringProperty("arn:aws:s3:::" + id)
			setDefault("bucketRegionalDomainName", id+".s3."+region+".amazonaws.com")
		}
	case "awsx:ec2:Vpc":
		outputs["vpcId"] = resource.NewStringProperty(name + "-vpc-id")
		outputs["publicSubnetIds"] = resource.NewPropertyValue([]any{name + "-public-1", name + "-public-2"})
		outputs["privateSubnetIds"] = resource.NewPropertyValue([]any{name + "-private-1", name + "-private-2"})
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
