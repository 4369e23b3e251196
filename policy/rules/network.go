package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Ingress from the internet (seed §5 セキュリティグループ): only the
// internet-facing load balancer takes traffic from 0.0.0.0/0, on 80 and 443.

const (
	securityGroupType     = "aws:ec2/securityGroup:SecurityGroup"
	securityGroupRuleType = "aws:ec2/securityGroupRule:SecurityGroupRule"
	ingressRuleType       = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
)

func networkRules() []Rule {
	return []Rule{{
		Name: "no-open-ingress",
		Description: "No security group takes traffic from 0.0.0.0/0 or ::/0 except on authorized ports " +
			"(80/443) of a group attached to an internet-facing load balancer.",
		Control: "FSBP EC2.18 / EC2.19 / EC2.53",
		Level:   policyx.EnforcementLevelAdvisory,
		Properties: map[string]map[string]any{
			"authorizedPorts": {"type": "array", "items": map[string]any{"type": "integer"}, "default": []any{80, 443},
				"description": "Ports that may be open to the internet."},
			"requirePublicLoadBalancer": {"type": "boolean", "default": true,
				"description": "Only a group attached to an internet-facing load balancer may be open to the internet."},
		},
		Stack: openIngress,
	}}
}

type openRule struct {
	owner    policyx.AnalyzerResource // the resource that declares the rule
	group    *policyx.AnalyzerResource
	protocol string
	from, to int
	where    string
}

func openIngress(c *Check, rs []policyx.AnalyzerResource) {
	authorized := c.Config.Ints("authorizedPorts")
	var open []openRule
	groupOf := func(r policyx.AnalyzerResource) *policyx.AnalyzerResource {
		for i := range rs {
			if rs[i].Type != securityGroupType {
				continue
			}
			var ids []string
			if id, ok := get(rs[i].Properties, "id").str(); ok {
				ids = append(ids, id)
			}
			if yes, _ := refers(r, "securityGroupId", rs[i], ids...); yes {
				return &rs[i]
			}
		}
		return nil
	}
	add := func(owner policyx.AnalyzerResource, group *policyx.AnalyzerResource, rule val, cidrKeys ...string) bool {
		isOpen := false
		for _, k := range cidrKeys {
			cidrs, unknown := rule.at(k).strings()
			if unknown {
				c.Unknown(owner.URN, rule.at(k), "security group rule of "+display(owner))
				return false
			}
			if slices.Contains(cidrs, "0.0.0.0/0") || slices.Contains(cidrs, "::/0") {
				isOpen = true
			}
		}
		if !isOpen {
			return true
		}
		protocol, from, to := rule.at("protocol"), rule.at("fromPort"), rule.at("toPort")
		if !protocol.present() {
			protocol = rule.at("ipProtocol")
		}
		for _, v := range []val{protocol, from, to} {
			if v.unknown {
				c.Unknown(owner.URN, v, "security group rule of "+display(owner))
				return false
			}
		}
		p, _ := protocol.str()
		f, _ := from.number()
		t, _ := to.number()
		open = append(open, openRule{owner: owner, group: group, protocol: p, from: int(f), to: int(t), where: rule.path})
		return true
	}
	for _, r := range rs {
		switch r.Type {
		case securityGroupType:
			rules, unknown := get(r.Properties, "ingress").items()
			if unknown {
				c.Unknown(r.URN, get(r.Properties, "ingress"), "security group "+display(r))
				continue
			}
			for _, rule := range rules {
				add(r, &r, rule, "cidrBlocks", "ipv6CidrBlocks")
			}
		case securityGroupRuleType:
			typ := get(r.Properties, "type")
			if typ.unknown {
				c.Unknown(r.URN, typ, "security group rule "+display(r))
				continue
			}
			if strEq(typ, "ingress") {
				add(r, groupOf(r), val{v: propertyOf(r), path: display(r)}, "cidrBlocks", "ipv6CidrBlocks")
			}
		case ingressRuleType:
			add(r, groupOf(r), val{v: propertyOf(r), path: display(r)}, "cidrIpv4", "cidrIpv6")
		}
	}
	for _, o := range open {
		what := "security group " + display(o.owner)
		if o.group != nil && o.group.URN != o.owner.URN {
			what = fmt.Sprintf("rule %s of security group %s", display(o.owner), display(*o.group))
		}
		if strings.EqualFold(o.protocol, "-1") || strings.EqualFold(o.protocol, "all") {
			c.Fail(o.owner.URN, "%s: %s opens all protocols and ports to the internet", what, o.where)
			continue
		}
		if bad := unauthorizedPort(o.from, o.to, authorized); bad >= 0 {
			c.Fail(o.owner.URN, "%s: %s opens port %d to the internet (authorized: %v)", what, o.where, bad, authorized)
			continue
		}
		if !c.Config.Bool("requirePublicLoadBalancer") {
			continue
		}
		if o.group == nil {
			c.Fail(o.owner.URN, "%s: %s is open to the internet and its group is not in the stack", what, o.where)
			continue
		}
		attached, unknown := attachedToPublicLB(rs, *o.group)
		switch {
		case unknown != nil:
			c.Unknown(o.owner.URN, *unknown, what)
		case !attached:
			c.Fail(o.owner.URN, "%s: %s is open to the internet but no internet-facing load balancer in the stack uses the group", what, o.where)
		}
	}
}

// unauthorizedPort returns the first port of from..to that is not
// authorized, or -1.
func unauthorizedPort(from, to int, authorized []int) int {
	if to < from {
		from, to = to, from
	}
	for p := from; p <= to; p++ {
		if !slices.Contains(authorized, p) {
			return p
		}
	}
	return -1
}

func attachedToPublicLB(rs []policyx.AnalyzerResource, group policyx.AnalyzerResource) (bool, *val) {
	var ids []string
	if id, ok := get(group.Properties, "id").str(); ok {
		ids = append(ids, id)
	}
	var unknown *val
	for _, lb := range rs {
		public, unk := internetFacingALB(lb)
		if unk != nil {
			unknown = unk
			continue
		}
		if !public {
			continue
		}
		for _, prop := range []string{"securityGroups", "defaultSecurityGroup"} {
			yes, unk := refers(lb, prop, group, ids...)
			if yes {
				return true, nil
			}
			if unk {
				v := get(lb.Properties, prop)
				unknown = &v
			}
		}
	}
	return false, unknown
}
