package awsmodel

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The subnet types of an awsx VPC, in the order awsx creates them in a zone
// (public first: a NAT gateway lives in a public subnet and private routes
// point at it).
var subnetTypeOrder = []string{"Public", "Private", "Isolated"}

// SubnetSpec is one subnetSpecs entry of an awsx VPC.
type SubnetSpec struct {
	Type       string   // Public, Private or Isolated
	Name       string   // optional; the type in lower case when empty
	CidrBlocks []string // explicit layout: one block per zone
	Tags       map[string]string
}

// SubnetName is the name awsx gives the subnet of a spec in a zone (1-based),
// and also the subnet's route table, association and route: <vpc>-<spec>-<zone>.
func SubnetName(vpc string, spec SubnetSpec, zone int) string {
	n := spec.Name
	if n == "" {
		n = strings.ToLower(spec.Type)
	}
	return fmt.Sprintf("%s-%s-%d", vpc, n, zone)
}

// SubnetsOfZone returns the specs in the order awsx creates them in each zone.
func SubnetsOfZone(specs []SubnetSpec) []SubnetSpec {
	var out []SubnetSpec
	for _, t := range subnetTypeOrder {
		for _, s := range specs {
			if strings.EqualFold(s.Type, t) {
				out = append(out, s)
			}
		}
	}
	return out
}

// DefaultSubnetSpecs are awsx's subnets when the program gives none.
var DefaultSubnetSpecs = []SubnetSpec{{Type: "Private"}, {Type: "Public"}}

// DefaultZoneCount is the number of zones awsx uses when the program names
// neither zones nor a count.
const DefaultZoneCount = 3

// VpcOutputs are the outputs of an awsx VPC the program reads, computed from
// its inputs alone (the offline plan never sees the VPC's children): the
// VPC's id and its subnets' ids, as ID gives them to the aws:ec2 resources
// awsx registers.
func VpcOutputs(name string, inputs resource.PropertyMap) resource.PropertyMap {
	specs, zones := vpcLayout(inputs)
	ids := map[string][]any{}
	for zone := 1; zone <= zones; zone++ {
		for _, s := range SubnetsOfZone(specs) {
			ids[strings.ToLower(s.Type)] = append(ids[strings.ToLower(s.Type)], ID(subnetType, SubnetName(name, s, zone), nil))
		}
	}
	return resource.PropertyMap{
		"vpcId":            resource.NewStringProperty(ID(vpcType, name, nil)),
		"publicSubnetIds":  resource.NewPropertyValue(orEmpty(ids["public"])),
		"privateSubnetIds": resource.NewPropertyValue(orEmpty(ids["private"])),
	}
}

func orEmpty(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

// vpcLayout reads the subnet specs and the number of zones from a VPC's
// inputs, with awsx's defaults for what is not given.
func vpcLayout(inputs resource.PropertyMap) ([]SubnetSpec, int) {
	var specs []SubnetSpec
	zones := 0
	if v := inputs["subnetSpecs"]; v.IsArray() {
		for _, e := range v.ArrayValue() {
			if !e.IsObject() {
				continue
			}
			o := e.ObjectValue()
			s := SubnetSpec{}
			if t := o["type"]; t.IsString() {
				s.Type = t.StringValue()
			}
			if n := o["name"]; n.IsString() {
				s.Name = n.StringValue()
			}
			if c := o["cidrBlocks"]; c.IsArray() {
				for _, b := range c.ArrayValue() {
					if b.IsString() {
						s.CidrBlocks = append(s.CidrBlocks, b.StringValue())
					}
				}
				zones = len(s.CidrBlocks)
			}
			specs = append(specs, s)
		}
	}
	if len(specs) == 0 {
		specs = DefaultSubnetSpecs
	}
	if zones == 0 {
		if v := inputs["availabilityZoneNames"]; v.IsArray() {
			zones = len(v.ArrayValue())
		} else if v := inputs["numberOfAvailabilityZones"]; v.IsNumber() {
			zones = int(v.NumberValue())
		} else {
			zones = DefaultZoneCount
		}
	}
	return specs, zones
}
