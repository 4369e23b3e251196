package platform_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/network"
	"github.com/cats-analytics/cats-analytics/plan"
)

func TestSeedNetwork(t *testing.T) {
	for _, env := range environments {
		t.Run(env, func(t *testing.T) {
			rec := run(t, env, nil)
			vpc := rec.One(t, "awsx:ec2:Vpc")
			if got := vpc.Str("cidrBlock"); got != "10.0.0.0/16" {
				t.Errorf("VPC CIDR = %q, want 10.0.0.0/16 (seed §5)", got)
			}
			if got := vpc.Input("numberOfAvailabilityZones"); !got.IsNumber() || got.NumberValue() != 2 {
				t.Errorf("VPC spans %v zones, want 2 (seed §6 multi-AZ)", got)
			}
			want := map[string][]string{
				"Public":  {"10.0.1.0/24", "10.0.2.0/24"},
				"Private": {"10.0.10.0/24", "10.0.20.0/24"},
			}
			specs := vpc.Input("subnetSpecs").ArrayValue()
			if len(specs) != 2 {
				t.Fatalf("subnet specs = %v, want one public and one private (seed §5)", specs)
			}
			for _, spec := range specs {
				kind := spec.ObjectValue()["type"].StringValue()
				if got := strs(spec.ObjectValue()["cidrBlocks"]); !equal(got, want[kind]) {
					t.Errorf("%s subnets = %v, want exactly %v (seed §5)", kind, got, want[kind])
				}
			}
			strategy := vpc.Input("natGateways").ObjectValue()["strategy"].StringValue()
			wantNat := map[string]string{"dev": "Single", "prod": "OnePerAz"}[env]
			if strategy != wantNat {
				t.Errorf("NAT strategy = %s, want %s (DESIGN.md: one NAT in dev, one per AZ in prod)", strategy, wantNat)
			}
		})
	}
}

func TestSecurityGroupsAreTheSeeds(t *testing.T) {
	for _, env := range environments {
		t.Run(env, func(t *testing.T) {
			rec := run(t, env, nil)
			byName := map[string]plan.Resource{}
			for _, sg := range rec.ByType("aws:ec2/securityGroup:SecurityGroup") {
				byName[sg.Str("name")] = sg
			}
			app, db, alb := byName["cats-app-sg"], byName["cats-db-sg"], byName["cats-alb-sg"]
			if app.Type == "" || db.Type == "" || alb.Type == "" {
				t.Fatalf("security groups = %v, want cats-app-sg and cats-db-sg (seed §5) and cats-alb-sg", keys(byName))
			}
			if got := ingressPorts(app); !equal(got, []string{"tcp/443 from sg:" + alb.ID, "tcp/80 from sg:" + alb.ID}) {
				t.Errorf("cats-app-sg ingress = %v, want HTTP and HTTPS (seed §5) from the ALB only", got)
			}
			if got := ingressPorts(db); !equal(got, []string{"tcp/3306 from sg:" + app.ID}) {
				t.Errorf("cats-db-sg ingress = %v, want MySQL/Aurora 3306 from cats-app-sg (seed §5)", got)
			}
			for _, sg := range []plan.Resource{app, db} {
				if got := egressRules(sg); !equal(got, []string{"-1/0 to 0.0.0.0/0"}) {
					t.Errorf("%s egress = %v, want ALL traffic (seed §5)", sg.Str("name"), got)
				}
			}
			// Only the internet-facing ALB may be open to the internet, and only on 80/443.
			for _, sg := range byName {
				for _, rule := range ingressPorts(sg) {
					if strings.Contains(rule, "0.0.0.0/0") && sg.Str("name") != "cats-alb-sg" {
						t.Errorf("%s allows %s: only the public ALB may be open to the internet", sg.Str("name"), rule)
					}
				}
			}
			if got := ingressPorts(alb); !equal(got, []string{"tcp/443 from 0.0.0.0/0", "tcp/80 from 0.0.0.0/0"}) {
				t.Errorf("cats-alb-sg ingress = %v, want 80 and 443 from anywhere", got)
			}
		})
	}
}

func TestNetworkACLs(t *testing.T) {
	rec := run(t, "prod", nil)
	public, ok := rec.Find("aws:ec2/networkAcl:NetworkAcl", "cats-network-public-nacl")
	if !ok {
		t.Fatal("no public NACL")
	}
	// DESIGN.md deviation 8: in, the seed's ALL traffic less SSH and RDP from the internet.
	wantPublicIn := []string{
		"100 allow tcp 80-80 0.0.0.0/0", "110 allow tcp 443-443 0.0.0.0/0", "120 allow -1 0-0 10.0.0.0/16",
		"200 allow tcp 1024-3388 0.0.0.0/0", "210 allow tcp 3390-65535 0.0.0.0/0",
	}
	if got := aclRules(public, "ingress"); !equal(got, wantPublicIn) {
		t.Errorf("public NACL ingress = %v, want %v (deviation 8: HTTP/HTTPS, the VPC, replies but RDP)", got, wantPublicIn)
	}
	if got := aclRules(public, "egress"); !equal(got, []string{"100 allow -1 0-0 0.0.0.0/0"}) {
		t.Errorf("public NACL egress = %v, want ALL traffic (seed §5)", got)
	}
	if got := strs(public.Input("subnetIds")); !equal(got, []string{"cats-network-vpc-public-1", "cats-network-vpc-public-2"}) {
		t.Errorf("public NACL subnets = %v, want the public subnets", got)
	}
	private, ok := rec.Find("aws:ec2/networkAcl:NetworkAcl", "cats-network-private-nacl")
	if !ok {
		t.Fatal("no private NACL")
	}
	if got := strs(private.Input("subnetIds")); !equal(got, []string{"cats-network-vpc-private-1", "cats-network-vpc-private-2"}) {
		t.Errorf("private NACL subnets = %v, want the private subnets", got)
	}
	in, out := aclRules(private, "ingress"), aclRules(private, "egress")
	for _, want := range []string{"100 allow tcp 3306-3306 10.0.0.0/16"} {
		if !slices.Contains(in, want) || !slices.Contains(out, want) {
			t.Errorf("private NACL must allow MySQL/Aurora within the VPC both ways (seed §5); in %v out %v", in, out)
		}
	}
	// Deviation 5: what else is open must be exactly what the tiers need.
	for _, want := range []string{"200 allow tcp 1024-3388 0.0.0.0/0", "210 allow tcp 3390-65535 0.0.0.0/0", "120 allow tcp 443-443 10.0.0.0/16"} {
		if !slices.Contains(in, want) {
			t.Errorf("private NACL ingress %v lacks %q (DESIGN.md deviation 5)", in, want)
		}
	}
	if !slices.Contains(out, "110 allow tcp 443-443 0.0.0.0/0") {
		t.Errorf("private NACL egress %v must allow HTTPS out for ECR/ECS/CloudWatch (deviation 5)", out)
	}
	for _, r := range append(in, out...) {
		if strings.Contains(r, " -1 ") {
			t.Errorf("private NACL rule %q allows all protocols; deviation 5 allows only what the tiers need", r)
		}
	}
}

// TestNoACLEntryAdmitsTheInternetToAdministrationPorts: CIS 5.1 / FSBP
// EC2.21, in every kind of stack and for any container port.
func TestNoACLEntryAdmitsTheInternetToAdministrationPorts(t *testing.T) {
	for _, kind := range stackKinds {
		t.Run(kind.name, func(t *testing.T) {
			rec := run(t, kind.stack, kind.cfg)
			acls := rec.ByType("aws:ec2/networkAcl:NetworkAcl")
			if len(acls) != 2 {
				t.Fatalf("%d NACLs, want the public and the private one", len(acls))
			}
			for _, acl := range acls {
				for _, r := range acl.Input("ingress").ArrayValue() {
					o := r.ObjectValue()
					if o["action"].StringValue() != "allow" || o["cidrBlock"].StringValue() != "0.0.0.0/0" {
						continue
					}
					from, to := o["fromPort"].NumberValue(), o["toPort"].NumberValue()
					all := o["protocol"].StringValue() == "-1"
					for _, port := range network.AdministrationPorts {
						if all || (from <= float64(port) && float64(port) <= to) {
							t.Errorf("%s entry %v admits the internet to port %d (CIS 5.1, FSBP EC2.21)", acl.Name, o["ruleNo"].NumberValue(), port)
						}
					}
				}
			}
		})
	}
	for _, port := range []int{22, 80, 81, 3389, 8080} {
		in, _ := network.PrivateACLRules("10.0.0.0/16", port)
		pub, _ := network.PublicACLRules("10.0.0.0/16")
		for _, r := range append(in, pub...) {
			if r.CIDR == "0.0.0.0/0" && ((r.From <= 22 && 22 <= r.To) || (r.From <= 3389 && 3389 <= r.To) || r.Protocol == "-1") {
				t.Errorf("container port %d: %s admits the internet to an administration port", port, r)
			}
		}
	}
}

// TestDefaultSecurityGroupIsLocked: CIS 5.4 / FSBP EC2.2.
func TestDefaultSecurityGroupIsLocked(t *testing.T) {
	for _, kind := range stackKinds {
		t.Run(kind.name, func(t *testing.T) {
			rec := run(t, kind.stack, kind.cfg)
			group := rec.One(t, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
			vpc := rec.One(t, "awsx:ec2:Vpc")
			if group.Str("vpcId") != out(vpc, "vpcId") {
				t.Errorf("default security group of VPC %q, want the stack's VPC %q", group.Str("vpcId"), out(vpc, "vpcId"))
			}
			for _, dir := range []string{"ingress", "egress"} {
				if v := group.Input(dir); v.IsArray() && len(v.ArrayValue()) > 0 {
					t.Errorf("default security group %s = %v, want no rules (CIS 5.4, FSBP EC2.2)", dir, v)
				}
			}
			underTier(t, rec, group, network.Type)
		})
	}
}

func TestFlowLogsAndEndpoints(t *testing.T) {
	rec := run(t, "dev", nil)
	flow := rec.One(t, "aws:ec2/flowLog:FlowLog")
	if flow.Str("trafficType") != "ALL" || flow.Str("logDestinationType") != "cloud-watch-logs" {
		t.Errorf("flow log = %v, want ALL traffic to CloudWatch Logs (FSBP EC2.6)", flow.Inputs)
	}
	group, _ := rec.Find("aws:cloudwatch/logGroup:LogGroup", "cats-network-flow-logs")
	if group.Str("kmsKeyId") == "" || group.Input("retentionInDays").NumberValue() != 30 {
		t.Errorf("flow log group = %v, want KMS encryption and dev's 30-day retention", group.Inputs)
	}
	var services []string
	for _, ep := range rec.ByType("aws:ec2/vpcEndpoint:VpcEndpoint") {
		if ep.Str("vpcEndpointType") != "Gateway" {
			t.Errorf("endpoint %s is %s, want Gateway (free, no NAT charges)", ep.Name, ep.Str("vpcEndpointType"))
		}
		services = append(services, ep.Str("serviceName"))
	}
	if !equal(services, []string{"com.amazonaws.ap-northeast-1.dynamodb", "com.amazonaws.ap-northeast-1.s3"}) {
		t.Errorf("gateway endpoints = %v, want S3 and DynamoDB", services)
	}
}

func TestPrivateACLRulesTable(t *testing.T) {
	in, _ := network.PrivateACLRules("10.0.0.0/16", 8080)
	for _, r := range in {
		if r.String() == "" {
			t.Fatal("empty rule")
		}
	}
	in, _ = network.PrivateACLRules("10.0.0.0/16", 81)
	found := false
	for _, r := range in {
		found = found || strings.Contains(r.String(), "81-81")
	}
	if !found {
		t.Errorf("a container port below 1024 must get its own rule from the VPC: %v", in)
	}
}
