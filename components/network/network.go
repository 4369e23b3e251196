// Package network is the network tier (seed §5): the VPC with the seed's exact
// subnets over two availability zones, its security groups and NACLs, flow
// logs and gateway endpoints.
package network

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	awsxec2 "github.com/pulumi/pulumi-awsx/sdk/v2/go/awsx/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/iamrole"
	"github.com/cats-analytics/cats-analytics/components/internal/loggroup"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
)

// Type is the component's type token.
const Type = "cats:network:Network"

// Args configures the tier.
type Args struct {
	// Mandatory.
	Namer      naming.Namer
	AccountID  string
	Region     string
	Network    config.Network // CIDRs, zones, NAT layout (validated by config.Parse)
	LogsKeyArn pulumi.StringInput

	LogRetentionDays int // flow log retention, cats:logRetentionDays
	ContainerPort    int // the application's port behind the ALB, cats:containerPort
}

// Network is the network tier.
type Network struct {
	pulumi.ResourceState

	VPCID              pulumi.StringOutput      `pulumi:"vpcId"`
	PublicSubnetIDs    pulumi.StringArrayOutput `pulumi:"publicSubnetIds"`
	PrivateSubnetIDs   pulumi.StringArrayOutput `pulumi:"privateSubnetIds"`
	ALBSecurityGroupID pulumi.StringOutput      `pulumi:"albSecurityGroupId"`
	AppSecurityGroupID pulumi.StringOutput      `pulumi:"appSecurityGroupId"`
	DBSecurityGroupID  pulumi.StringOutput      `pulumi:"dbSecurityGroupId"`
	// DefaultSecurityGroupID is the VPC's default group, locked: no rules.
	DefaultSecurityGroupID pulumi.StringOutput `pulumi:"defaultSecurityGroupId"`
}

func (a *Args) check() error {
	c := tier.NewAccountCheck("network", a.Namer, a.AccountID, a.Region)
	c.Expect(a.LogsKeyArn != nil, "LogsKeyArn is required (flow logs are encrypted)")
	return c.Err()
}

// NewNetwork registers the network tier.
func NewNetwork(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := tier.Register(ctx, Type, name, n, args.check, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(n)
	vpc, err := awsxec2.NewVpc(ctx, name+"-vpc", vpcArgs(args), parent)
	if err != nil {
		return nil, fmt.Errorf("vpc: %w", err)
	}
	n.VPCID = vpc.VpcId
	n.PublicSubnetIDs = vpc.PublicSubnetIds
	n.PrivateSubnetIDs = vpc.PrivateSubnetIds
	if err := n.securityGroups(ctx, name, args, parent); err != nil {
		return nil, err
	}
	if err := n.lockDefaultSecurityGroup(ctx, name, args, parent); err != nil {
		return nil, err
	}
	if err := n.networkACLs(ctx, name, args, parent); err != nil {
		return nil, err
	}
	if err := flowLogs(ctx, name, args, n.VPCID, parent); err != nil {
		return nil, err
	}
	if err := gatewayEndpoints(ctx, name, args, vpc, parent); err != nil {
		return nil, err
	}
	if err := tier.RegisterOutputs(ctx, name, n); err != nil {
		return nil, err
	}
	return n, nil
}

// vpcArgs is the seed's VPC: its exact subnets over two zones, one NAT
// gateway in dev and one per zone in prod.
func vpcArgs(args Args) *awsxec2.VpcArgs {
	cfg := args.Network
	nat := awsxec2.NatGatewayStrategySingle // dev: one NAT gateway
	if cfg.NatGateways == config.NatPerAZ {
		nat = awsxec2.NatGatewayStrategyOnePerAz // prod: a zone outage must not cut the other zone off
	}
	subnetStrategy := awsxec2.SubnetAllocationStrategyAuto
	vpc := &awsxec2.VpcArgs{
		CidrBlock:          pulumi.StringRef(cfg.VpcCidr.String()),
		EnableDnsHostnames: pulumi.Bool(true),
		EnableDnsSupport:   pulumi.Bool(true),
		// Explicit CIDR lists select awsx's explicit allocator: the subnets are
		// exactly the seed's, one of each kind per zone, in zone order.
		SubnetStrategy: &subnetStrategy,
		SubnetSpecs: []awsxec2.SubnetSpecArgs{
			{Type: awsxec2.SubnetTypePublic, Name: pulumi.StringRef("public"), CidrBlocks: prefixStrings(cfg.PublicSubnetCidrs)},
			{Type: awsxec2.SubnetTypePrivate, Name: pulumi.StringRef("private"), CidrBlocks: prefixStrings(cfg.PrivateSubnetCidrs)},
		},
		NatGateways: &awsxec2.NatGatewayConfigurationArgs{Strategy: nat},
		Tags:        pulumi.StringMap{"Name": pulumi.String(args.Namer.PerStack("cats-vpc"))},
	}
	if len(cfg.AvailabilityZones) > 0 {
		vpc.AvailabilityZoneNames = cfg.AvailabilityZones
	} else {
		vpc.NumberOfAvailabilityZones = pulumi.IntRef(2)
	}
	return vpc
}

var allTraffic = ec2.SecurityGroupEgressArray{&ec2.SecurityGroupEgressArgs{
	Description: pulumi.String("ALL traffic (seed §5)"),
	Protocol:    pulumi.String("-1"),
	FromPort:    pulumi.Int(0),
	ToPort:      pulumi.Int(0),
	CidrBlocks:  pulumi.StringArray{pulumi.String("0.0.0.0/0")},
}}

// webIngress is the seed's HTTP and HTTPS inbound, from the sources set.
func webIngress(sources func(*ec2.SecurityGroupIngressArgs)) ec2.SecurityGroupIngressArray {
	var rules ec2.SecurityGroupIngressArray
	for _, port := range []struct {
		port int
		what string
	}{{80, "HTTP"}, {443, "HTTPS"}} {
		rule := &ec2.SecurityGroupIngressArgs{
			Description: pulumi.String(port.what + " (seed §5)"),
			Protocol:    pulumi.String("tcp"),
			FromPort:    pulumi.Int(port.port),
			ToPort:      pulumi.Int(port.port),
		}
		sources(rule)
		rules = append(rules, rule)
	}
	return rules
}

// securityGroups creates the seed's two groups and the ALB's. The seed gives
// cats-app-sg HTTP and HTTPS inbound without a source; the source is the
// internet-facing ALB's group, so the application hosts are never reachable
// from the internet directly, and only the ALB group is open to 0.0.0.0/0.
func (n *Network) securityGroups(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) error {
	alb, err := ec2.NewSecurityGroup(ctx, name+"-alb-sg", &ec2.SecurityGroupArgs{
		Name:        pulumi.String("cats-alb-sg"),
		Description: pulumi.String("Internet-facing ALB: HTTP and HTTPS from anywhere"),
		VpcId:       n.VPCID,
		Ingress: webIngress(func(r *ec2.SecurityGroupIngressArgs) {
			r.CidrBlocks = pulumi.StringArray{pulumi.String("0.0.0.0/0")}
		}),
		Egress: ec2.SecurityGroupEgressArray{&ec2.SecurityGroupEgressArgs{
			Description: pulumi.String("to the application hosts in the VPC"),
			Protocol:    pulumi.String("tcp"),
			FromPort:    pulumi.Int(0),
			ToPort:      pulumi.Int(65535),
			CidrBlocks:  pulumi.StringArray{pulumi.String(args.Network.VpcCidr.String())},
		}},
	}, parent)
	if err != nil {
		return fmt.Errorf("create cats-alb-sg: %w", err)
	}
	app, err := appSecurityGroup(ctx, name, args, n.VPCID, alb, parent)
	if err != nil {
		return err
	}
	db, err := ec2.NewSecurityGroup(ctx, name+"-db-sg", &ec2.SecurityGroupArgs{
		Name:        pulumi.String("cats-db-sg"),
		Description: pulumi.String("Database: MySQL/Aurora from cats-app-sg (seed §5 cats-db-sg)"),
		VpcId:       n.VPCID,
		Ingress: ec2.SecurityGroupIngressArray{&ec2.SecurityGroupIngressArgs{
			Description:    pulumi.String("MySQL/Aurora from cats-app-sg (seed §5)"),
			Protocol:       pulumi.String("tcp"),
			FromPort:       pulumi.Int(3306),
			ToPort:         pulumi.Int(3306),
			SecurityGroups: pulumi.StringArray{app.ID()},
		}},
		Egress: allTraffic,
	}, parent)
	if err != nil {
		return fmt.Errorf("create cats-db-sg: %w", err)
	}
	n.ALBSecurityGroupID = alb.ID().ToStringOutput()
	n.AppSecurityGroupID = app.ID().ToStringOutput()
	n.DBSecurityGroupID = db.ID().ToStringOutput()
	return nil
}

// appSecurityGroup is the seed's cats-app-sg: HTTP, HTTPS and the
// container's port from the ALB only.
func appSecurityGroup(ctx *pulumi.Context, name string, args Args, vpcID pulumi.StringOutput, alb *ec2.SecurityGroup, parent pulumi.ResourceOption) (*ec2.SecurityGroup, error) {
	ingress := webIngress(func(r *ec2.SecurityGroupIngressArgs) { r.SecurityGroups = pulumi.StringArray{alb.ID()} })
	if args.ContainerPort != 80 && args.ContainerPort != 443 {
		ingress = append(ingress, &ec2.SecurityGroupIngressArgs{
			Description:    pulumi.String("application container port from the ALB"),
			Protocol:       pulumi.String("tcp"),
			FromPort:       pulumi.Int(args.ContainerPort),
			ToPort:         pulumi.Int(args.ContainerPort),
			SecurityGroups: pulumi.StringArray{alb.ID()},
		})
	}
	app, err := ec2.NewSecurityGroup(ctx, name+"-app-sg", &ec2.SecurityGroupArgs{
		Name:        pulumi.String("cats-app-sg"),
		Description: pulumi.String("Application: HTTP and HTTPS from the ALB (seed §5 cats-app-sg)"),
		VpcId:       vpcID,
		Ingress:     ingress,
		Egress:      allTraffic,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create cats-app-sg: %w", err)
	}
	return app, nil
}

// lockDefaultSecurityGroup takes over the VPC's default security group and
// removes its rules (CIS 5.4, FSBP EC2.2): AWS creates it allowing all traffic
// between its members and out, and anything launched without a group of its
// own would land in it. Nothing of the program uses it.
func (n *Network) lockDefaultSecurityGroup(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) error {
	group, err := ec2.NewDefaultSecurityGroup(ctx, name+"-default-sg", &ec2.DefaultSecurityGroupArgs{
		VpcId: n.VPCID,
		// No ingress and no egress: the provider removes every rule AWS created.
		Tags: pulumi.StringMap{"Name": pulumi.String(args.Namer.PerStack("cats-default-sg-locked"))},
	}, parent)
	if err != nil {
		return fmt.Errorf("lock the VPC's default security group: %w", err)
	}
	n.DefaultSecurityGroupID = group.ID().ToStringOutput()
	return nil
}

// ACLRule is one NACL entry; NACLs are stateless, so return traffic needs its own rule.
type ACLRule struct {
	No       int
	Protocol string // tcp, udp or -1
	CIDR     string
	From, To int
	Why      string
}

func (r ACLRule) String() string {
	return fmt.Sprintf("%d allow %s %d-%d %s (%s)", r.No, r.Protocol, r.From, r.To, r.CIDR, r.Why)
}

// AdministrationPorts are SSH and RDP. No NACL entry admits them from the
// internet (CIS 5.1, FSBP EC2.21): nothing in the VPC serves them (the hosts
// are reached through Session Manager).
var AdministrationPorts = []int{22, 3389}

// ephemeral is the ephemeral port range 1024-65535 that replies arrive on,
// as consecutive entries from no (step 10) that skip AdministrationPorts
// (DESIGN.md deviation 8): NACLs are stateless, so a reply needs an entry of
// its own, and one entry for the whole range would admit the internet to
// RDP. A reply that lands on 3389 is dropped and its connection retried,
// which a NAT gateway's or a host's port choice makes rare.
func ephemeral(no int, cidr, why string) []ACLRule {
	var rules []ACLRule
	from := 1024
	for _, port := range AdministrationPorts {
		if port < from {
			continue
		}
		rules = append(rules, ACLRule{No: no, Protocol: "tcp", CIDR: cidr, From: from, To: port - 1, Why: why})
		no += 10
		from = port + 1
	}
	return append(rules, ACLRule{No: no, Protocol: "tcp", CIDR: cidr, From: from, To: 65535, Why: why})
}

// PrivateACLRules is DESIGN.md deviation 5. The seed's private NACL allows only
// MySQL/Aurora (3306) in and out; that would cut the ECS hosts off from ECR, ECS,
// CloudWatch and S3 (HTTPS) and drop every reply, since NACLs are stateless.
// Allowed instead, and nothing else:
//   - in:  3306 from the VPC (seed), 80/443 and the container port from the VPC
//     (the ALB), and the ephemeral ports but 3389 from anywhere (replies to the
//     hosts' own HTTPS calls through the NAT gateway and the S3/DynamoDB
//     endpoints; deviation 8);
//   - out: 3306 to the VPC (seed), 443 to anywhere (AWS APIs, ECR), and TCP
//     1024–65535 to the VPC (replies to the ALB's health checks and requests).
//
// DNS (the VPC resolver) and the instance metadata service are not subject to NACLs.
func PrivateACLRules(vpcCidr string, containerPort int) (ingress, egress []ACLRule) {
	ingress = []ACLRule{
		{No: 100, Protocol: "tcp", CIDR: vpcCidr, From: 3306, To: 3306, Why: "MySQL/Aurora within the VPC (seed §5)"},
		{No: 110, Protocol: "tcp", CIDR: vpcCidr, From: 80, To: 80, Why: "HTTP from the ALB"},
		{No: 120, Protocol: "tcp", CIDR: vpcCidr, From: 443, To: 443, Why: "HTTPS from the ALB"},
	}
	if containerPort < 1024 && containerPort != 80 && containerPort != 443 {
		ingress = append(ingress, ACLRule{No: 130, Protocol: "tcp", CIDR: vpcCidr, From: containerPort, To: containerPort, Why: "container port from the ALB"})
	}
	ingress = append(ingress, ephemeral(200, "0.0.0.0/0", "replies to outbound HTTPS")...)
	egress = []ACLRule{
		{No: 100, Protocol: "tcp", CIDR: vpcCidr, From: 3306, To: 3306, Why: "MySQL/Aurora within the VPC (seed §5)"},
		{No: 110, Protocol: "tcp", CIDR: "0.0.0.0/0", From: 443, To: 443, Why: "HTTPS to AWS APIs and ECR"},
		{No: 200, Protocol: "tcp", CIDR: vpcCidr, From: 1024, To: 65535, Why: "replies to the ALB"},
	}
	return ingress, egress
}

// PublicACLRules is DESIGN.md deviation 8. The seed lets ALL traffic in and out
// of the public subnets; in, that admits the internet to SSH and RDP (CIS 5.1,
// FSBP EC2.21). Allowed in instead: HTTP and HTTPS from anywhere (the ALB),
// everything from the VPC (the private hosts' traffic through the NAT gateway,
// the targets' answers to the ALB), and the ephemeral ports but 3389 from
// anywhere (replies to the NAT gateway and the ALB). Out stays ALL traffic, as
// the seed says: the security groups filter.
func PublicACLRules(vpcCidr string) (ingress, egress []ACLRule) {
	ingress = []ACLRule{
		{No: 100, Protocol: "tcp", CIDR: "0.0.0.0/0", From: 80, To: 80, Why: "HTTP to the ALB"},
		{No: 110, Protocol: "tcp", CIDR: "0.0.0.0/0", From: 443, To: 443, Why: "HTTPS to the ALB"},
		{No: 120, Protocol: "-1", CIDR: vpcCidr, From: 0, To: 0, Why: "the VPC: private hosts through the NAT gateway, replies to the ALB"},
	}
	ingress = append(ingress, ephemeral(200, "0.0.0.0/0", "replies to the NAT gateway and the ALB")...)
	egress = []ACLRule{{No: 100, Protocol: "-1", CIDR: "0.0.0.0/0", From: 0, To: 0, Why: "ALL traffic (seed §5)"}}
	return ingress, egress
}

// networkACLs: the public subnets' NACL is PublicACLRules, the private
// subnets' PrivateACLRules.
func (n *Network) networkACLs(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) error {
	in, out := PublicACLRules(args.Network.VpcCidr.String())
	if err := networkACL(ctx, name+"-public-nacl", args.Namer.PerStack("cats-public-nacl"), n.VPCID, n.PublicSubnetIDs, in, out, parent); err != nil {
		return err
	}
	in, out = PrivateACLRules(args.Network.VpcCidr.String(), args.ContainerPort)
	return networkACL(ctx, name+"-private-nacl", args.Namer.PerStack("cats-private-nacl"), n.VPCID, n.PrivateSubnetIDs, in, out, parent)
}

// networkACL is one NACL that allows what its rules say and nothing else.
func networkACL(ctx *pulumi.Context, name, aclName string, vpcID pulumi.StringOutput, subnets pulumi.StringArrayOutput, in, out []ACLRule, parent pulumi.ResourceOption) error {
	var ingress ec2.NetworkAclIngressArray
	for _, r := range in {
		ingress = append(ingress, &ec2.NetworkAclIngressArgs{
			RuleNo: pulumi.Int(r.No), Action: pulumi.String("allow"), Protocol: pulumi.String(r.Protocol),
			CidrBlock: pulumi.String(r.CIDR), FromPort: pulumi.Int(r.From), ToPort: pulumi.Int(r.To),
		})
	}
	var egress ec2.NetworkAclEgressArray
	for _, r := range out {
		egress = append(egress, &ec2.NetworkAclEgressArgs{
			RuleNo: pulumi.Int(r.No), Action: pulumi.String("allow"), Protocol: pulumi.String(r.Protocol),
			CidrBlock: pulumi.String(r.CIDR), FromPort: pulumi.Int(r.From), ToPort: pulumi.Int(r.To),
		})
	}
	if _, err := ec2.NewNetworkAcl(ctx, name, &ec2.NetworkAclArgs{
		VpcId:     vpcID,
		SubnetIds: subnets,
		Ingress:   ingress,
		Egress:    egress,
		Tags:      pulumi.StringMap{"Name": pulumi.String(aclName)},
	}, parent); err != nil {
		return fmt.Errorf("create the NACL %s: %w", aclName, err)
	}
	return nil
}

// flowLogs sends the VPC's flow logs (accepted and rejected) to an encrypted
// log group through a role that can write only there (FSBP EC2.6).
func flowLogs(ctx *pulumi.Context, name string, args Args, vpcID pulumi.StringOutput, parent pulumi.ResourceOption) error {
	group, err := loggroup.New(ctx, name+"-flow-logs", "/cats/vpc-flow-logs/"+args.Namer.Stack(), args.LogRetentionDays, args.LogsKeyArn, parent)
	if err != nil {
		return fmt.Errorf("flow logs: %w", err)
	}
	// The trust VPC Flow Logs documents against the confused deputy: this
	// account's flow logs only (docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html;
	// the flow log's id is not known before the role exists, hence the wildcard).
	role, err := iamrole.New(ctx, name+"-flow-logs-role", iamrole.Args{
		Name:    args.Namer.PerStack("cats-flow-logs"),
		Service: "vpc-flow-logs.amazonaws.com",
		Trust: iamdoc.Condition{
			"StringEquals": {"aws:SourceAccount": args.AccountID},
			"ArnLike":      {"aws:SourceArn": fmt.Sprintf("arn:aws:ec2:%s:%s:vpc-flow-log/*", args.Region, args.AccountID)},
		},
		Policy: iamdoc.Document(iamdoc.Statement{
			Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
			Resources: []pulumi.StringInput{group.Arn, pulumi.Sprintf("%s:log-stream:*", group.Arn)},
		}),
		PolicyName: name + "-flow-logs-role-policy",
	}, parent)
	if err != nil {
		return fmt.Errorf("flow logs: %w", err)
	}
	if _, err := ec2.NewFlowLog(ctx, name+"-flow-log", &ec2.FlowLogArgs{
		VpcId:              vpcID,
		TrafficType:        pulumi.String("ALL"),
		LogDestinationType: pulumi.String("cloud-watch-logs"),
		LogDestination:     group.Arn,
		IamRoleArn:         role.Role.Arn,
	}, parent, pulumi.DependsOn([]pulumi.Resource{role.Policy})); err != nil {
		return fmt.Errorf("create the VPC flow log: %w", err)
	}
	return nil
}

// gatewayEndpoints keep S3 and DynamoDB traffic inside AWS's network: free, and
// no NAT gateway charges for the data lake and cats-info traffic.
func gatewayEndpoints(ctx *pulumi.Context, name string, args Args, vpc *awsxec2.Vpc, parent pulumi.ResourceOption) error {
	routeTableIDs := vpc.RouteTables.ApplyT(func(tables []*ec2.RouteTable) pulumi.StringArrayOutput {
		ids := make(pulumi.StringArray, 0, len(tables))
		for _, t := range tables {
			ids = append(ids, t.ID().ToStringOutput())
		}
		return ids.ToStringArrayOutput()
	}).(pulumi.StringArrayOutput)
	for _, service := range []string{"s3", "dynamodb"} {
		if _, err := ec2.NewVpcEndpoint(ctx, name+"-"+service+"-endpoint", &ec2.VpcEndpointArgs{
			VpcId:           vpc.VpcId,
			ServiceName:     pulumi.String(fmt.Sprintf("com.amazonaws.%s.%s", args.Region, service)),
			VpcEndpointType: pulumi.String("Gateway"),
			RouteTableIds:   routeTableIDs,
			Tags:            pulumi.StringMap{"Name": pulumi.String(args.Namer.PerStack("cats-" + service + "-endpoint"))},
		}, parent); err != nil {
			return fmt.Errorf("create the %s gateway endpoint: %w", service, err)
		}
	}
	return nil
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return slices.Clip(out)
}
