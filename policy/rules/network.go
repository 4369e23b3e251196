package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Ingress from the internet (seed §5 セキュリティグループ): only the
// internet-facing load balancer takes traffic from the internet, on TCP 80
// and 443; no network ACL admits the internet to an administration port
// (DESIGN.md deviation 8); the VPC's default security group has no rules.

const (
	securityGroupType        = "aws:ec2/securityGroup:SecurityGroup"
	defaultSecurityGroupType = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
	securityGroupRuleType    = "aws:ec2/securityGroupRule:SecurityGroupRule"
	ingressRuleType          = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	egressRuleType           = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
	networkACLType           = "aws:ec2/networkAcl:NetworkAcl"
	defaultNetworkACLType    = "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"
	networkACLRuleType       = "aws:ec2/networkAclRule:NetworkAclRule"
)

// vpcTypes are the resources that create a VPC (and with it a default
// security group): the awsx component, as the mocks and the engine see it,
// and the plain resource.
var vpcTypes = []string{"aws:ec2/vpc:Vpc", "awsx:ec2:Vpc"}

func networkRules() []Rule {
	return []Rule{
		{
			Name: "no-open-ingress",
			Description: "No security group (inline rules, securityGroupRule, vpc.SecurityGroupIngressRule, the default group) " +
				"admits the internet (0.0.0.0/0, ::/0 or CIDRs that together cover either space) except on the authorized TCP ports " +
				"(80/443) of a group attached to an internet-facing load balancer; UDP, ICMP and all-protocol rules are never authorized.",
			Control: "FSBP EC2.18 / EC2.19 / EC2.53 / EC2.54, CIS 5.2 / 5.3",
			Level:   policyx.EnforcementLevelMandatory,
			Properties: map[string]map[string]any{
				"authorizedPorts": {"type": "array", "items": map[string]any{"type": "integer"}, "default": []any{80, 443},
					"description": "TCP ports that may be open to the internet."},
				"requirePublicLoadBalancer": {"type": "boolean", "default": true,
					"description": "Only a group attached to an internet-facing load balancer may be open to the internet."},
			},
			Stack: openIngress,
		},
		{
			Name: "nacl-no-admin-ingress",
			Description: "No network ACL entry (inline, aws:ec2/networkAclRule or the managed default ACL) allows the internet " +
				"(0.0.0.0/0, ::/0 or CIDRs covering either) to a remote administration port (22, 3389).",
			Control: "FSBP EC2.21, CIS 5.1",
			Level:   policyx.EnforcementLevelMandatory,
			Properties: map[string]map[string]any{
				"adminPorts": {"type": "array", "items": map[string]any{"type": "integer"}, "default": []any{22, 3389},
					"description": "Ports no entry may open to the internet."},
			},
			Stack: naclAdminIngress,
		},
		{
			Name: "default-security-group-closed",
			Description: "Every VPC's default security group is managed by the stack (aws:ec2/defaultSecurityGroup) with no " +
				"ingress or egress rules, and no rule resource adds one to it.",
			Control: "FSBP EC2.2, CIS 5.4",
			Level:   policyx.EnforcementLevelMandatory,
			Stack:   defaultGroupClosed,
		},
	}
}

// flow is one allow rule from a set of sources, before the sources are
// judged: a security group rule or a network ACL entry.
type flow struct {
	owner    policyx.AnalyzerResource // the resource that declares the rule
	group    *policyx.AnalyzerResource
	groupKey string // rules of one group (or ACL) are judged together
	protocol string // tcp, udp, icmp, icmpv6, all, or an IANA number
	from, to int
	cidrs    []string
	where    string
}

// protocolName normalises a protocol as AWS accepts it (name or number).
func protocolName(p string) string {
	switch strings.ToLower(p) {
	case "-1", "all", "":
		return "all"
	case "6", "tcp":
		return "tcp"
	case "17", "udp":
		return "udp"
	case "1", "icmp":
		return "icmp"
	case "58", "icmpv6", "icmp-v6":
		return "icmpv6"
	}
	return strings.ToLower(p)
}

// hasPorts reports whether the protocol has ports.
func hasPorts(protocol string) bool { return protocol == "tcp" || protocol == "udp" }

// readFlow reads protocol, ports and sources of a rule value; it returns
// false (after reporting) when a value the verdict needs is unknown.
func readFlow(c *Check, owner policyx.AnalyzerResource, rule val, cidrKeys []string, f *flow) bool {
	for _, k := range cidrKeys {
		cidrs, unknown := rule.at(k).strings()
		if unknown {
			c.Unknown(owner.URN, rule.at(k), display(owner))
			return false
		}
		f.cidrs = append(f.cidrs, cidrs...)
	}
	if !slices.ContainsFunc(f.cidrs, func(s string) bool { return s != "" }) {
		return true // group-to-group or prefix-list sources: not the internet
	}
	protocol, from, to := rule.at("protocol"), rule.at("fromPort"), rule.at("toPort")
	if !protocol.present() && !protocol.unknown {
		protocol = rule.at("ipProtocol")
	}
	for _, v := range []val{protocol, from, to} {
		if v.unknown {
			c.Unknown(owner.URN, v, display(owner))
			return false
		}
	}
	p, ok := protocol.str()
	if !ok {
		if n, isNum := protocol.number(); isNum {
			p = strconv.Itoa(int(n))
		}
	}
	f.protocol = protocolName(p)
	fromN, fromOK := from.number()
	toN, toOK := to.number()
	f.from, f.to = int(fromN), int(toN)
	if !hasPorts(f.protocol) || (!fromOK && !toOK) {
		f.from, f.to = 0, 65535
	} else if !toOK {
		f.to = f.from
	}
	if f.to < f.from {
		f.from, f.to = f.to, f.from
	}
	f.where = rule.path
	return true
}

// openIntervals judges the flows of one group (or ACL) together: for every
// protocol and port interval, it unions the sources of every flow that
// admits it, so 0.0.0.0/1 in one rule and 128.0.0.0/1 in another are as open
// as 0.0.0.0/0. It returns, per protocol, the open port intervals and the
// flows that open them.
type openInterval struct {
	protocol string
	from, to int
	flows    []flow
}

func openIntervals(flows []flow) []openInterval {
	var out []openInterval
	for _, protocol := range []string{"all", "tcp", "udp", "icmp", "icmpv6", "other"} {
		var applies []flow
		for _, f := range flows {
			switch {
			case f.protocol == protocol:
			case protocol == "other" && !slices.Contains([]string{"all", "tcp", "udp", "icmp", "icmpv6"}, f.protocol):
			case f.protocol == "all" && protocol != "all":
				// an all-protocol flow adds its sources to every protocol
			default:
				continue
			}
			applies = append(applies, f)
		}
		if len(applies) == 0 {
			continue
		}
		bounds := map[int]bool{0: true, 65536: true}
		for _, f := range applies {
			bounds[f.from], bounds[f.to+1] = true, true
		}
		points := make([]int, 0, len(bounds))
		for p := range bounds {
			points = append(points, p)
		}
		sort.Ints(points)
		for i := 0; i+1 < len(points); i++ {
			lo, hi := points[i], points[i+1]-1
			var cidrs []string
			var by []flow
			for _, f := range applies {
				if f.from <= lo && hi <= f.to {
					cidrs = append(cidrs, f.cidrs...)
					by = append(by, f)
				}
			}
			if !coversInternet(cidrs) {
				continue
			}
			if protocol != "all" && coversInternet(allProtocolSources(by)) {
				continue // reported once, as all protocols
			}
			if n := len(out); n > 0 && out[n-1].protocol == protocol && out[n-1].to+1 == lo && sameFlows(out[n-1].flows, by) {
				out[n-1].to = hi
				continue
			}
			out = append(out, openInterval{protocol: protocol, from: lo, to: hi, flows: by})
		}
	}
	return out
}

func allProtocolSources(fs []flow) []string {
	var out []string
	for _, f := range fs {
		if f.protocol == "all" {
			out = append(out, f.cidrs...)
		}
	}
	return out
}

func sameFlows(a, b []flow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].where != b[i].where || a[i].owner.URN != b[i].owner.URN {
			return false
		}
	}
	return true
}

// coversInternet reports whether the CIDRs together cover the whole IPv4 or
// the whole IPv6 address space.
func coversInternet(cidrs []string) bool {
	var v4, v6 []netip.Prefix
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			continue
		}
		p = p.Masked()
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return coversAll(v4, netip.IPv4Unspecified()) || coversAll(v6, netip.IPv6Unspecified())
}

// coversAll reports whether the prefixes cover every address from first on.
func coversAll(prefixes []netip.Prefix, first netip.Addr) bool {
	sort.Slice(prefixes, func(i, j int) bool { return prefixes[i].Addr().Less(prefixes[j].Addr()) })
	need := first
	for _, p := range prefixes {
		if need.Less(p.Addr()) {
			return false
		}
		last := lastAddr(p)
		if last.Less(need) {
			continue
		}
		next := last.Next()
		if !next.IsValid() {
			return true // the prefix reaches the end of the space
		}
		need = next
	}
	return false
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - uint(i%8))
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func openIngress(c *Check, rs []policyx.AnalyzerResource) {
	authorized := c.Config.Ints("authorizedPorts")
	groupOf := func(r policyx.AnalyzerResource) *policyx.AnalyzerResource {
		for i := range rs {
			if !typeIs(rs[i], securityGroupType, defaultSecurityGroupType) {
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
	var flows []flow
	add := func(owner policyx.AnalyzerResource, group *policyx.AnalyzerResource, rule val, cidrKeys ...string) {
		f := flow{owner: owner, group: group, groupKey: owner.URN}
		if group != nil {
			f.groupKey = group.URN
		} else if id, ok := get(owner.Properties, "securityGroupId").str(); ok && id != "" {
			f.groupKey = "id:" + id
		}
		if readFlow(c, owner, rule, cidrKeys, &f) && len(f.cidrs) > 0 {
			flows = append(flows, f)
		}
	}
	for _, r := range rs {
		switch r.Type {
		case securityGroupType, defaultSecurityGroupType:
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
	byGroup := map[string][]flow{}
	var keys []string
	for _, f := range flows {
		if _, ok := byGroup[f.groupKey]; !ok {
			keys = append(keys, f.groupKey)
		}
		byGroup[f.groupKey] = append(byGroup[f.groupKey], f)
	}
	for _, key := range keys {
		for _, o := range openIntervals(byGroup[key]) {
			f := o.flows[0]
			what := "security group " + display(f.owner)
			if f.group != nil && f.group.URN != f.owner.URN {
				what = fmt.Sprintf("rule %s of security group %s", display(f.owner), display(*f.group))
			}
			where := flowPlaces(o.flows)
			switch {
			case o.protocol == "all":
				c.Fail(f.owner.URN, "%s: %s opens all protocols and ports to the internet", what, where)
				continue
			case o.protocol != "tcp":
				port := ""
				if hasPorts(o.protocol) {
					port = fmt.Sprintf(" port %d", firstPort(o.from, o.to, []int{22, 3389}))
				}
				c.Fail(f.owner.URN, "%s: %s opens %s%s to the internet (only TCP %v may be open)", what, where, strings.ToUpper(o.protocol), port, authorized)
				continue
			}
			if bad := unauthorizedPort(o.from, o.to, authorized); bad >= 0 {
				c.Fail(f.owner.URN, "%s: %s opens port %d to the internet (authorized: TCP %v)", what, where, bad, authorized)
				continue
			}
			if !c.Config.Bool("requirePublicLoadBalancer") {
				continue
			}
			if f.group == nil {
				c.Fail(f.owner.URN, "%s: %s is open to the internet and its group is not in the stack", what, where)
				continue
			}
			if f.group.Type == defaultSecurityGroupType {
				c.Fail(f.owner.URN, "%s: %s opens the VPC's default security group to the internet", what, where)
				continue
			}
			attached, unknown := attachedToPublicLB(rs, *f.group)
			switch {
			case unknown != nil:
				c.Unknown(f.owner.URN, *unknown, what)
			case !attached:
				c.Fail(f.owner.URN, "%s: %s is open to the internet but no internet-facing load balancer in the stack uses the group", what, where)
			}
		}
	}
}

func flowPlaces(fs []flow) string {
	var out []string
	for _, f := range fs {
		if !slices.Contains(out, f.where) {
			out = append(out, f.where)
		}
	}
	return strings.Join(out, " + ")
}

// firstPort returns the first of the preferred ports in from..to (the ones a
// reader cares most about), or from.
func firstPort(from, to int, preferred []int) int {
	for _, p := range preferred {
		if from <= p && p <= to {
			return p
		}
	}
	return from
}

// unauthorizedPort returns the first port of from..to that is not
// authorized (22 and 3389 first), or -1.
func unauthorizedPort(from, to int, authorized []int) int {
	if to < from {
		from, to = to, from
	}
	for _, p := range []int{22, 3389} {
		if from <= p && p <= to && !slices.Contains(authorized, p) {
			return p
		}
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

func naclAdminIngress(c *Check, rs []policyx.AnalyzerResource) {
	admin := c.Config.Ints("adminPorts")
	aclOf := func(r policyx.AnalyzerResource) string {
		for _, acl := range rs {
			if !typeIs(acl, networkACLType, defaultNetworkACLType) {
				continue
			}
			var ids []string
			if id, ok := get(acl.Properties, "id").str(); ok && id != "" {
				ids = append(ids, id)
			}
			if yes, _ := refers(r, "networkAclId", acl, ids...); yes {
				return acl.URN
			}
		}
		if id, ok := get(r.Properties, "networkAclId").str(); ok && id != "" {
			return "id:" + id
		}
		return r.URN
	}
	byACL := map[string][]flow{}
	var keys []string
	add := func(key string, f flow) {
		if _, ok := byACL[key]; !ok {
			keys = append(keys, key)
		}
		byACL[key] = append(byACL[key], f)
	}
	for _, r := range rs {
		switch r.Type {
		case networkACLType, defaultNetworkACLType:
			entries, unknown := get(r.Properties, "ingress").items()
			if unknown {
				c.Unknown(r.URN, get(r.Properties, "ingress"), "network ACL "+display(r))
				continue
			}
			for _, e := range entries {
				action := e.at("action")
				if action.unknown {
					c.Unknown(r.URN, action, "network ACL "+display(r))
					continue
				}
				if !strings.EqualFold(strOr(action, "allow"), "allow") {
					continue
				}
				f := flow{owner: r}
				if readFlow(c, r, e, []string{"cidrBlock", "ipv6CidrBlock"}, &f) && len(f.cidrs) > 0 {
					add(r.URN, f)
				}
			}
		case networkACLRuleType:
			egress, action := get(r.Properties, "egress"), get(r.Properties, "ruleAction")
			for _, v := range []val{egress, action} {
				if v.unknown {
					c.Unknown(r.URN, v, "network ACL rule "+display(r))
				}
			}
			if egress.unknown || action.unknown || egress.isTrue() || !strings.EqualFold(strOr(action, ""), "allow") {
				continue
			}
			f := flow{owner: r}
			if readFlow(c, r, val{v: propertyOf(r), path: display(r)}, []string{"cidrBlock", "ipv6CidrBlock"}, &f) && len(f.cidrs) > 0 {
				add(aclOf(r), f)
			}
		}
	}
	for _, key := range keys {
		for _, o := range openIntervals(byACL[key]) {
			if o.protocol != "all" && !hasPorts(o.protocol) {
				continue // ICMP has no ports to administer through
			}
			for _, p := range admin {
				if o.from <= p && p <= o.to {
					f := o.flows[0]
					c.Fail(f.owner.URN, "network ACL %s: %s allows %s port %d from the internet (remote administration)",
						display(f.owner), flowPlaces(o.flows), protocolLabel(o.protocol), p)
					break
				}
			}
		}
	}
}

func protocolLabel(p string) string {
	if p == "all" {
		return "every protocol, including"
	}
	return strings.ToUpper(p)
}

// strOr returns a known string value, or def when it is not set.
func strOr(v val, def string) string {
	if s, ok := v.str(); ok && s != "" {
		return s
	}
	return def
}

func defaultGroupClosed(c *Check, rs []policyx.AnalyzerResource) {
	var defaults []policyx.AnalyzerResource
	for _, r := range rs {
		if r.Type != defaultSecurityGroupType {
			continue
		}
		defaults = append(defaults, r)
		for _, dir := range []string{"ingress", "egress"} {
			rules, unknown := get(r.Properties, dir).items()
			switch {
			case unknown:
				c.Unknown(r.URN, get(r.Properties, dir), "default security group "+display(r))
			case len(rules) > 0:
				c.Fail(r.URN, "default security group %s: %s has %d rule(s); the default group must have none", display(r), dir, len(rules))
			}
		}
	}
	for _, r := range rs {
		if !typeIs(r, securityGroupRuleType, ingressRuleType, egressRuleType) {
			continue
		}
		for _, d := range defaults {
			var ids []string
			if id, ok := get(d.Properties, "id").str(); ok && id != "" {
				ids = append(ids, id)
			}
			if yes, _ := refers(r, "securityGroupId", d, ids...); yes {
				c.Fail(r.URN, "rule %s adds a rule to the default security group %s, which must have none", display(r), display(d))
			}
		}
	}
	for _, vpc := range rs {
		if !typeIs(vpc, vpcTypes...) {
			continue
		}
		var ids []string
		for _, k := range []string{"id", "vpcId"} {
			if id, ok := get(vpc.Properties, k).str(); ok && id != "" {
				ids = append(ids, id)
			}
		}
		// The engine shows awsx's VPC component and, as its child, the
		// aws:ec2/vpc:Vpc it creates: one VPC, and a default group that
		// refers to either manages it.
		same := []policyx.AnalyzerResource{vpc}
		for _, p := range rs {
			if p.URN == vpc.Parent && typeIs(p, vpcTypes...) {
				same = append(same, p)
			}
			if p.Parent == vpc.URN && typeIs(p, vpcTypes...) {
				same = append(same, p)
			}
		}
		managed, unknown := false, false
		for _, d := range defaults {
			for _, v := range same {
				yes, unk := refers(d, "vpcId", v, ids...)
				managed = managed || yes
				unknown = unknown || unk
			}
		}
		switch {
		case managed:
		case unknown:
			v := get(defaults[0].Properties, "vpcId")
			c.Unknown(vpc.URN, v, "VPC "+display(vpc)+" (which VPC a default security group belongs to)")
		default:
			c.Fail(vpc.URN, "VPC %s: its default security group is not managed by the stack (aws:ec2/defaultSecurityGroup with no rules), so it keeps AWS's allow-all rules", display(vpc))
		}
	}
}
