package awsxprovider

import (
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func TestNATGatewaysPerStrategy(t *testing.T) {
	count := func(strategy string, zones int) int {
		n := 0
		for zone := range zones {
			if needsNatGateway(strategy, n, zone) {
				n++
			}
		}
		return n
	}
	if got := count(natSingle, 2); got != 1 {
		t.Errorf("Single (dev): one NAT gateway in all, got %d", got)
	}
	if got := count(natOnePerAz, 2); got != 2 {
		t.Errorf("OnePerAz (prod): a NAT gateway in each zone, so a zone outage cuts no other zone off; got %d", got)
	}
	if got := count(natNone, 2); got != 0 {
		t.Errorf("None: no NAT gateway, got %d", got)
	}
}

// Layouts the stand-in does not model are refused by name, never built
// differently from what the real awsx would build.
func TestOnlyExplicitLayoutsAreModelled(t *testing.T) {
	explicit := []subnetSpec{
		{Type: "Public", Name: ptr("public"), CidrBlocks: []string{"10.0.1.0/24", "10.0.2.0/24"}},
		{Type: "Private", Name: ptr("private"), CidrBlocks: []string{"10.0.10.0/24", "10.0.20.0/24"}},
	}
	if _, err := explicitSpecs("vpc", vpcArgs{SubnetStrategy: ptr("Auto"), SubnetSpecs: explicit}); err != nil {
		t.Fatalf("the program's layout must be modelled: %v", err)
	}
	for name, args := range map[string]vpcArgs{
		"legacy strategy":  {SubnetStrategy: ptr("Legacy"), SubnetSpecs: explicit},
		"no specs":         {SubnetStrategy: ptr("Auto")},
		"sized, not given": {SubnetStrategy: ptr("Auto"), SubnetSpecs: []subnetSpec{{Type: "Public", CidrMask: ptr(24)}}},
		"no public subnet for the NAT gateway": {SubnetStrategy: ptr("Auto"), SubnetSpecs: explicit[1:],
			NatGateways: &natGateways{Strategy: "Single"}},
		"no public subnet, default strategy": {SubnetStrategy: ptr("Auto"), SubnetSpecs: explicit[1:]},
	} {
		if _, err := explicitSpecs("vpc", args); err == nil || !strings.HasPrefix(err.Error(), "standin: awsx:ec2:Vpc vpc:") {
			t.Errorf("%s: must be refused, naming the VPC: %v", name, err)
		}
	}
}
