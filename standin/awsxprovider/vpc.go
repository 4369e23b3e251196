package awsxprovider

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	awsxec2 "github.com/pulumi/pulumi-awsx/sdk/v2/go/awsx/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"

	"github.com/cats-analytics/cats-analytics/internal/awsmodel"
	"github.com/cats-analytics/cats-analytics/standin"
)

// vpcArgs are the awsx:ec2:Vpc inputs the stand-in models. Anything else is
// refused by name, so the stand-in never quietly builds a different network
// than the real awsx would.
type vpcArgs struct {
	CidrBlock                 *string               `pulumi:"cidrBlock"`
	EnableDNSHostnames        pulumi.BoolPtrInput   `pulumi:"enableDnsHostnames"`
	EnableDNSSupport          pulumi.BoolPtrInput   `pulumi:"enableDnsSupport"`
	InstanceTenancy           pulumi.StringPtrInput `pulumi:"instanceTenancy"`
	AvailabilityZoneNames     []string              `pulumi:"availabilityZoneNames"`
	NumberOfAvailabilityZones *int                  `pulumi:"numberOfAvailabilityZones"`
	SubnetStrategy            *string               `pulumi:"subnetStrategy"`
	SubnetSpecs               []subnetSpec          `pulumi:"subnetSpecs"`
	NatGateways               *natGateways          `pulumi:"natGateways"`
	Tags                      pulumi.StringMapInput `pulumi:"tags"`
}

type subnetSpec struct {
	Type       string            `pulumi:"type"`
	Name       *string           `pulumi:"name"`
	CidrBlocks []string          `pulumi:"cidrBlocks"`
	CidrMask   *int              `pulumi:"cidrMask"`
	Tags       map[string]string `pulumi:"tags"`
}

type natGateways struct {
	Strategy               string   `pulumi:"strategy"`
	ElasticIPAllocationIDs []string `pulumi:"elasticIpAllocationIds"`
}

var modelledVpcInputs = []string{"cidrBlock", "enableDnsHostnames", "enableDnsSupport", "instanceTenancy",
	"availabilityZoneNames", "numberOfAvailabilityZones", "subnetStrategy", "subnetSpecs", "natGateways", "tags"}

// The NAT gateway strategies awsx knows (compared case-insensitively, as awsx does).
const (
	natNone     = "none"
	natSingle   = "single"
	natOnePerAz = "oneperaz"
)

// newVpc registers an awsx VPC's children as awsx v2.22.0 does (awsx/ec2/vpc.ts):
// the VPC under the component; under the VPC its internet gateway and, per
// zone and in the order public, private, isolated, a subnet named
// <vpc>-<spec>-<zone>; under each subnet its route table (same name), under
// that the association and the default route (same name); under the public
// subnet of a zone that gets one, an EIP and a NAT gateway <vpc>-<zone>.
func newVpc(ctx *pulumi.Context, name string, inputs provider.ConstructInputs, opts pulumi.ResourceOption) (*awsxec2.Vpc, error) {
	given, err := inputs.Map()
	if err != nil {
		return nil, standin.Errorf("awsx:ec2:Vpc %s: read the inputs: %w", name, err)
	}
	for k := range given {
		if !slices.Contains(modelledVpcInputs, k) {
			return nil, standin.Errorf("awsx:ec2:Vpc %s: the input %s is not modelled by the stand-in (it models %s)",
				name, k, strings.Join(modelledVpcInputs, ", "))
		}
	}
	var args vpcArgs
	if err := inputs.CopyTo(&args); err != nil {
		return nil, standin.Errorf("awsx:ec2:Vpc %s: read the inputs: %w", name, err)
	}
	strategy := natOnePerAz
	if args.NatGateways != nil {
		if len(args.NatGateways.ElasticIPAllocationIDs) > 0 {
			return nil, standin.Errorf("awsx:ec2:Vpc %s: natGateways.elasticIpAllocationIds is not modelled by the stand-in", name)
		}
		strategy = strings.ToLower(args.NatGateways.Strategy)
	}
	if strategy != natNone && strategy != natSingle && strategy != natOnePerAz {
		return nil, standin.Errorf("awsx:ec2:Vpc %s: unknown NAT gateway strategy %q", name, args.NatGateways.Strategy)
	}
	specs, err := explicitSpecs(name, args)
	if err != nil {
		return nil, err
	}

	comp := &awsxec2.Vpc{}
	if err := ctx.RegisterComponentResource(awsmodel.AWSXVpcType, name, comp, opts); err != nil {
		return nil, standin.Errorf("awsx:ec2:Vpc %s: register the component: %w", name, err)
	}
	zones, err := availabilityZones(ctx, comp, args)
	if err != nil {
		return nil, standin.Errorf("awsx:ec2:Vpc %s: %w", name, err)
	}
	for _, s := range specs {
		if len(s.CidrBlocks) != len(zones) {
			return nil, standin.Errorf("awsx:ec2:Vpc %s: the %s subnets have %d CIDR blocks for %d availability zones",
				name, awsmodel.SubnetName(name, s, 1), len(s.CidrBlocks), len(zones))
		}
	}

	cidr := "10.0.0.0/16" // awsx's default
	if args.CidrBlock != nil {
		cidr = *args.CidrBlock
	}
	var tags pulumi.StringMapInput = pulumi.StringMap{}
	if args.Tags != nil {
		tags = args.Tags
	}
	sharedTags := withTags(pulumi.StringMap{"Name": pulumi.String(name)}, tags)

	vpc, err := ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock:          pulumi.StringPtr(cidr),
		EnableDnsHostnames: args.EnableDNSHostnames,
		EnableDnsSupport:   args.EnableDNSSupport,
		InstanceTenancy:    args.InstanceTenancy,
		Tags:               sharedTags,
	}, pulumi.Parent(comp))
	if err != nil {
		return nil, standin.Errorf("awsx:ec2:Vpc %s: register the VPC: %w", name, err)
	}
	underVpc := []pulumi.ResourceOption{pulumi.Parent(vpc), pulumi.DependsOn([]pulumi.Resource{vpc})}
	igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{VpcId: vpc.ID(), Tags: sharedTags}, underVpc...)
	if err != nil {
		return nil, standin.Errorf("awsx:ec2:Vpc %s: register the internet gateway: %w", name, err)
	}

	var (
		subnets                            ec2.SubnetArray
		routeTables                        ec2.RouteTableArray
		associations                       ec2.RouteTableAssociationArray
		routes                             ec2.RouteArray
		natGatewayList                     []*ec2.NatGateway
		eips                               ec2.EipArray
		publicIDs, privateIDs, isolatedIDs pulumi.StringArray
	)
	for i, zone := range zones {
		for _, spec := range awsmodel.SubnetsOfZone(specs) {
			subnetName := awsmodel.SubnetName(name, spec, i+1)
			kind := strings.ToLower(spec.Type)
			subnetTags := withTags(sharedTags, pulumi.ToStringMap(spec.Tags))
			subnet, err := ec2.NewSubnet(ctx, subnetName, &ec2.SubnetArgs{
				VpcId:               vpc.ID(),
				AvailabilityZone:    pulumi.StringPtr(zone),
				MapPublicIpOnLaunch: pulumi.BoolPtr(kind == "public"),
				CidrBlock:           pulumi.StringPtr(spec.CidrBlocks[i]),
				Tags:                withTags(subnetTags, pulumi.StringMap{"Name": pulumi.String(subnetName), "SubnetType": pulumi.String(spec.Type)}),
			}, underVpc...)
			if err != nil {
				return nil, standin.Errorf("awsx:ec2:Vpc %s: register the subnet %s: %w", name, subnetName, err)
			}
			subnets = append(subnets, subnet)
			id := subnet.ID().ToStringOutput()
			switch kind {
			case "public":
				publicIDs = append(publicIDs, id)
			case "private":
				privateIDs = append(privateIDs, id)
			default:
				isolatedIDs = append(isolatedIDs, id)
			}
			underSubnet := []pulumi.ResourceOption{pulumi.Parent(subnet), pulumi.DependsOn([]pulumi.Resource{subnet})}
			table, err := ec2.NewRouteTable(ctx, subnetName, &ec2.RouteTableArgs{
				VpcId: vpc.ID(),
				Tags:  withTags(sharedTags, pulumi.StringMap{"Name": pulumi.String(subnetName), "SubnetType": pulumi.String(spec.Type)}),
			}, underSubnet...)
			if err != nil {
				return nil, standin.Errorf("awsx:ec2:Vpc %s: register the route table %s: %w", name, subnetName, err)
			}
			routeTables = append(routeTables, table)
			underTable := []pulumi.ResourceOption{pulumi.Parent(table), pulumi.DependsOn([]pulumi.Resource{table})}
			assoc, err := ec2.NewRouteTableAssociation(ctx, subnetName, &ec2.RouteTableAssociationArgs{
				RouteTableId: table.ID(),
				SubnetId:     subnet.ID(),
			}, underTable...)
			if err != nil {
				return nil, standin.Errorf("awsx:ec2:Vpc %s: register the route table association %s: %w", name, subnetName, err)
			}
			associations = append(associations, assoc)

			if kind == "public" && needsNatGateway(strategy, len(natGatewayList), i) {
				natName := fmt.Sprintf("%s-%d", name, i+1)
				natTags := withTags(tags, pulumi.StringMap{"Name": pulumi.String(natName)})
				eip, err := ec2.NewEip(ctx, natName, &ec2.EipArgs{Tags: natTags}, underSubnet...)
				if err != nil {
					return nil, standin.Errorf("awsx:ec2:Vpc %s: register the EIP %s: %w", name, natName, err)
				}
				eips = append(eips, eip)
				nat, err := ec2.NewNatGateway(ctx, natName, &ec2.NatGatewayArgs{
					SubnetId:     subnet.ID(),
					AllocationId: eip.AllocationId,
					Tags:         natTags,
				}, underSubnet...)
				if err != nil {
					return nil, standin.Errorf("awsx:ec2:Vpc %s: register the NAT gateway %s: %w", name, natName, err)
				}
				natGatewayList = append(natGatewayList, nat)
			}

			route := &ec2.RouteArgs{RouteTableId: table.ID(), DestinationCidrBlock: pulumi.StringPtr("0.0.0.0/0")}
			switch {
			case kind == "public":
				route.GatewayId = igw.ID()
			case kind == "private" && strategy != natNone:
				nat := natGatewayList[0]
				if strategy == natOnePerAz {
					nat = natGatewayList[i]
				}
				route.NatGatewayId = nat.ID()
			default:
				continue // isolated subnets have no route out
			}
			r, err := ec2.NewRoute(ctx, subnetName, route, underTable...)
			if err != nil {
				return nil, standin.Errorf("awsx:ec2:Vpc %s: register the route %s: %w", name, subnetName, err)
			}
			routes = append(routes, r)
		}
	}

	var natGatewayArray ec2.NatGatewayArray
	for _, n := range natGatewayList {
		natGatewayArray = append(natGatewayArray, n)
	}
	comp.Vpc = vpc.ToVpcOutput()
	comp.VpcId = vpc.ID().ToStringOutput()
	comp.InternetGateway = igw.ToInternetGatewayOutput()
	comp.Subnets = subnets.ToSubnetArrayOutput()
	comp.RouteTables = routeTables.ToRouteTableArrayOutput()
	comp.RouteTableAssociations = associations.ToRouteTableAssociationArrayOutput()
	comp.Routes = routes.ToRouteArrayOutput()
	comp.NatGateways = natGatewayArray.ToNatGatewayArrayOutput()
	comp.Eips = eips.ToEipArrayOutput()
	comp.VpcEndpoints = ec2.VpcEndpointArray{}.ToVpcEndpointArrayOutput()
	comp.PublicSubnetIds = orEmpty(publicIDs).ToStringArrayOutput()
	comp.PrivateSubnetIds = orEmpty(privateIDs).ToStringArrayOutput()
	comp.IsolatedSubnetIds = orEmpty(isolatedIDs).ToStringArrayOutput()
	comp.SubnetLayout = pulumi.ToOutput(subnetLayout(args.SubnetSpecs)).(awsxec2.ResolvedSubnetSpecArrayOutput)

	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{
		"vpc":                    comp.Vpc,
		"vpcId":                  comp.VpcId,
		"internetGateway":        comp.InternetGateway,
		"subnets":                comp.Subnets,
		"routeTables":            comp.RouteTables,
		"routeTableAssociations": comp.RouteTableAssociations,
		"routes":                 comp.Routes,
		"natGateways":            comp.NatGateways,
		"eips":                   comp.Eips,
		"vpcEndpoints":           comp.VpcEndpoints,
		"publicSubnetIds":        comp.PublicSubnetIds,
		"privateSubnetIds":       comp.PrivateSubnetIds,
		"isolatedSubnetIds":      comp.IsolatedSubnetIds,
		"subnetLayout":           comp.SubnetLayout,
	}); err != nil {
		return nil, standin.Errorf("awsx:ec2:Vpc %s: register the outputs: %w", name, err)
	}
	return comp, nil
}

// explicitSpecs checks that the layout is one the stand-in models: every
// subnet spec with explicit CIDR blocks and an Auto or Exact strategy (awsx
// then places exactly those blocks; its own allocators are not modelled).
func explicitSpecs(name string, args vpcArgs) ([]awsmodel.SubnetSpec, error) {
	strategy := "Legacy" // awsx's default
	if args.SubnetStrategy != nil {
		strategy = *args.SubnetStrategy
	}
	if len(args.SubnetSpecs) == 0 || strategy != "Auto" && strategy != "Exact" {
		return nil, standin.Errorf("awsx:ec2:Vpc %s: the stand-in models explicit layouts only: subnetSpecs with cidrBlocks and subnetStrategy Auto or Exact (got %d specs, strategy %s)",
			name, len(args.SubnetSpecs), strategy)
	}
	var specs []awsmodel.SubnetSpec
	kinds := map[string]bool{}
	for i, s := range args.SubnetSpecs {
		if len(s.CidrBlocks) == 0 {
			return nil, standin.Errorf("awsx:ec2:Vpc %s: subnetSpecs[%d] has no cidrBlocks; the stand-in models explicit layouts only", name, i)
		}
		kind := strings.ToLower(s.Type)
		if kind != "public" && kind != "private" && kind != "isolated" {
			return nil, standin.Errorf("awsx:ec2:Vpc %s: subnetSpecs[%d] has the type %q; the stand-in models Public, Private and Isolated", name, i, s.Type)
		}
		kinds[kind] = true
		spec := awsmodel.SubnetSpec{Type: s.Type, CidrBlocks: s.CidrBlocks, Tags: s.Tags}
		if s.Name != nil {
			spec.Name = *s.Name
		}
		specs = append(specs, spec)
	}
	strategyNat := natOnePerAz
	if args.NatGateways != nil {
		strategyNat = strings.ToLower(args.NatGateways.Strategy)
	}
	// awsx's rule: NAT gateways need a public subnet to live in and a
	// private or isolated one to serve.
	if strategyNat != natNone && (!kinds["public"] || !kinds["private"] && !kinds["isolated"]) {
		return nil, standin.Errorf("awsx:ec2:Vpc %s: with NAT gateway strategy %s, public subnets must be declared to host the NAT gateway, along with private or isolated subnets to route through it",
			name, strategyNat)
	}
	return specs, nil
}

// availabilityZones are the zones named, or the region's first ones (three
// unless a number is given), as awsx looks them up.
func availabilityZones(ctx *pulumi.Context, comp *awsxec2.Vpc, args vpcArgs) ([]string, error) {
	if len(args.AvailabilityZoneNames) > 0 {
		if args.NumberOfAvailabilityZones != nil {
			return nil, fmt.Errorf("only one of availabilityZoneNames and numberOfAvailabilityZones can be specified")
		}
		return args.AvailabilityZoneNames, nil
	}
	want := awsmodel.DefaultZoneCount
	if args.NumberOfAvailabilityZones != nil {
		want = *args.NumberOfAvailabilityZones
	}
	result, err := aws.GetAvailabilityZones(ctx, nil, pulumi.Parent(comp))
	if err != nil {
		return nil, fmt.Errorf("look up the availability zones: %w", err)
	}
	if len(result.Names) < want {
		return nil, fmt.Errorf("the region has %d availability zones, fewer than the %d wanted; name them in availabilityZoneNames", len(result.Names), want)
	}
	return result.Names[:want], nil
}

// needsNatGateway is awsx's rule for a zone's public subnet: one gateway in
// all (Single) or one per zone (OnePerAz).
func needsNatGateway(strategy string, existing, zoneIndex int) bool {
	switch strategy {
	case natSingle:
		return existing < 1
	case natOnePerAz:
		return existing < zoneIndex+1
	}
	return false
}

// withTags merges extra over base, keeping secret-ness and dependencies.
func withTags(base pulumi.StringMapInput, extra pulumi.StringMapInput) pulumi.StringMapOutput {
	return pulumi.All(base, extra).ApplyT(func(v []any) map[string]string {
		out := map[string]string{}
		for _, m := range v {
			for k, s := range m.(map[string]string) {
				out[k] = s
			}
		}
		return out
	}).(pulumi.StringMapOutput)
}

func orEmpty(a pulumi.StringArray) pulumi.StringArray {
	if a == nil {
		return pulumi.StringArray{}
	}
	return a
}

// subnetLayout is the resolved layout awsx reports for an explicit layout:
// the specs as given.
func subnetLayout(specs []subnetSpec) []awsxec2.ResolvedSubnetSpec {
	out := make([]awsxec2.ResolvedSubnetSpec, len(specs))
	for i, s := range specs {
		out[i] = awsxec2.ResolvedSubnetSpec{Type: awsxec2.SubnetType(s.Type), Name: s.Name, CidrBlocks: s.CidrBlocks, CidrMask: s.CidrMask}
	}
	return out
}
