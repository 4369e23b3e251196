package enginetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/internal/awsmodel"
)

// assertAWSXVpc checks the network the stand-in awsx built against what the
// real awsx v2.22.0 registers for the program's VPC (awsx/ec2/vpc.ts): the
// seed's exact CIDRs (seed §5), one public and one private subnet per zone,
// each with its route table, association and default route, and NAT
// gateways with their EIPs per the stack's strategy, with awsx's names and
// parents, and the component's outputs the network tier reads.
func assertAWSXVpc(t *testing.T, st apitype.DeploymentV3, stackConfig map[string]string) {
	t.Helper()
	cfg, err := config.Parse(config.DefaultOrganization, config.Project, municipalityStack, config.FromMap(stackConfig))
	if err != nil {
		t.Fatal(err)
	}
	net := cfg.Network
	var component apitype.ResourceV3
	byName := map[string]map[string]apitype.ResourceV3{} // type → name → resource
	for _, r := range st.Resources {
		if r.Type == awsmodel.AWSXVpcType {
			component = r
		}
		if byName[string(r.Type)] == nil {
			byName[string(r.Type)] = map[string]apitype.ResourceV3{}
		}
		byName[string(r.Type)][r.URN.Name()] = r
	}
	if component.URN == "" {
		t.Fatal("the state has no awsx:ec2:Vpc")
	}
	vpcName := component.URN.Name()
	get := func(typ, name string, parent resource.URN) apitype.ResourceV3 {
		t.Helper()
		r, ok := byName[typ][name]
		if !ok {
			t.Fatalf("awsx registers %s %s; the state has none", typ, name)
		}
		if r.Parent != parent {
			t.Errorf("%s %s: awsx parents it to %s, the state to %s", typ, name, parent, r.Parent)
		}
		return r
	}
	vpc := get("aws:ec2/vpc:Vpc", vpcName, component.URN)
	if got := vpc.Inputs["cidrBlock"]; got != net.VpcCidr.String() {
		t.Errorf("the VPC's CIDR is %v; the seed's is %s (seed §5)", got, net.VpcCidr)
	}
	igw := get("aws:ec2/internetGateway:InternetGateway", vpcName, vpc.URN)
	if igw.Inputs["vpcId"] != string(vpc.ID) {
		t.Errorf("the internet gateway is attached to %v, not the VPC %s", igw.Inputs["vpcId"], vpc.ID)
	}

	nats := 1
	if net.NatGateways == config.NatPerAZ {
		nats = len(net.PublicSubnetCidrs) // a zone outage must not cut the other zone off
	}
	children := 2 // the VPC and its internet gateway
	var publicIDs, privateIDs, tableIDs []any
	for zone := 1; zone <= len(net.PublicSubnetCidrs); zone++ {
		for _, kind := range []struct {
			name  string
			cidrs []string
		}{{"public", prefixes(net.PublicSubnetCidrs)}, {"private", prefixes(net.PrivateSubnetCidrs)}} {
			name := fmt.Sprintf("%s-%s-%d", vpcName, kind.name, zone)
			subnet := get("aws:ec2/subnet:Subnet", name, vpc.URN)
			table := get("aws:ec2/routeTable:RouteTable", name, subnet.URN)
			assoc := get("aws:ec2/routeTableAssociation:RouteTableAssociation", name, table.URN)
			route := get("aws:ec2/route:Route", name, table.URN)
			children += 4
			tableIDs = append(tableIDs, string(table.ID))
			if got := subnet.Inputs["cidrBlock"]; got != kind.cidrs[zone-1] {
				t.Errorf("%s has the CIDR %v; the seed's is %s (seed §5)", name, got, kind.cidrs[zone-1])
			}
			if got := subnet.Inputs["mapPublicIpOnLaunch"]; got != (kind.name == "public") {
				t.Errorf("%s: mapPublicIpOnLaunch is %v; awsx sets it on public subnets only", name, got)
			}
			if assoc.Inputs["subnetId"] != string(subnet.ID) || assoc.Inputs["routeTableId"] != string(table.ID) {
				t.Errorf("%s: the association must tie the subnet to its own route table: %v", name, assoc.Inputs)
			}
			if route.Inputs["destinationCidrBlock"] != "0.0.0.0/0" {
				t.Errorf("%s: the default route's destination is %v", name, route.Inputs["destinationCidrBlock"])
			}
			if kind.name == "public" {
				publicIDs = append(publicIDs, string(subnet.ID))
				if route.Inputs["gatewayId"] != string(igw.ID) {
					t.Errorf("%s: a public subnet routes to the internet gateway, not %v", name, route.Inputs["gatewayId"])
				}
				if zone <= nats {
					natName := fmt.Sprintf("%s-%d", vpcName, zone)
					eip := get("aws:ec2/eip:Eip", natName, subnet.URN)
					nat := get("aws:ec2/natGateway:NatGateway", natName, subnet.URN)
					children += 2
					if nat.Inputs["subnetId"] != string(subnet.ID) || nat.Inputs["allocationId"] != eip.Outputs["allocationId"] {
						t.Errorf("%s: the NAT gateway must live in %s with its own EIP: %v", natName, name, nat.Inputs)
					}
				}
			} else {
				privateIDs = append(privateIDs, string(subnet.ID))
				natZone := 1
				if net.NatGateways == config.NatPerAZ {
					natZone = zone
				}
				nat := byName["aws:ec2/natGateway:NatGateway"][fmt.Sprintf("%s-%d", vpcName, natZone)]
				if route.Inputs["natGatewayId"] != string(nat.ID) {
					t.Errorf("%s: a private subnet routes through the NAT gateway of zone %d (%s), not %v", name, natZone, nat.ID, route.Inputs["natGatewayId"])
				}
			}
		}
	}
	under := 0
	for _, r := range st.Resources {
		if isAWSXChild(r.URN) {
			under++
		}
	}
	if under != children {
		t.Errorf("awsx registers %d resources for this VPC; the state has %d under it", children, under)
	}
	if got := component.Outputs["vpcId"]; got != string(vpc.ID) {
		t.Errorf("the component's vpcId is %v, not the VPC's id %s", got, vpc.ID)
	}
	if got, _ := component.Outputs["publicSubnetIds"].([]any); !slices.Equal(got, publicIDs) {
		t.Errorf("the component's publicSubnetIds are %v, not the public subnets %v in zone order", got, publicIDs)
	}
	if got, _ := component.Outputs["privateSubnetIds"].([]any); !slices.Equal(got, privateIDs) {
		t.Errorf("the component's privateSubnetIds are %v, not the private subnets %v in zone order", got, privateIDs)
	}
	// The network tier reads awsx's routeTables output (resource references)
	// for its gateway endpoints: S3 and DynamoDB traffic must stay off the
	// NAT gateways from every subnet.
	endpoints := 0
	for _, e := range byName["aws:ec2/vpcEndpoint:VpcEndpoint"] {
		endpoints++
		if got, _ := e.Inputs["routeTableIds"].([]any); !slices.Equal(got, tableIDs) {
			t.Errorf("the gateway endpoint %s is on the route tables %v, not on every route table of the VPC %v", e.URN.Name(), got, tableIDs)
		}
	}
	if endpoints == 0 {
		t.Error("the network tier's gateway endpoints are missing")
	}
}

func prefixes[T fmt.Stringer](ps []T) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
