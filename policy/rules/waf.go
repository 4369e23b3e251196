package rules

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// WAF on every internet entry point (DESIGN.md, Policy pack; seed §8 WAF).

const (
	webACLAssociationType = "aws:wafv2/webAclAssociation:WebAclAssociation"
	webACLType            = "aws:wafv2/webAcl:WebAcl"
	webACLLoggingType     = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
	distributionType      = "aws:cloudfront/distribution:Distribution"
)

var (
	cloudFrontACLARN = regexp.MustCompile(`^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global/webacl/[^/]+/[^/]+$`)
	regionalACLARN   = regexp.MustCompile(`^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/[^/]+/[^/]+$`)
)

var loadBalancerTypes = []string{"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"}

func wafRules() []Rule {
	return []Rule{
		{
			Name: "cloudfront-waf",
			Description: "Every CloudFront distribution is protected by a WAFv2 web ACL of CLOUDFRONT scope (a global " +
				"wafv2 ARN; when the ACL is in the stack, its scope and a blocking rule are checked).",
			Control: "FSBP CloudFront.6",
			Level:   policyx.EnforcementLevelMandatory,
			Stack: func(c *Check, rs []policyx.AnalyzerResource) {
				for _, r := range rs {
					if r.Type != distributionType {
						continue
					}
					acl := get(r.Properties, "webAclId")
					if in := aclInStack(rs, r, "webAclId"); in != nil && (acl.unknown || acl.nonEmpty()) {
						if p := aclProblem(*in, "CLOUDFRONT"); p != "" {
							c.Fail(r.URN, "distribution %s: web ACL %s %s", display(r), display(*in), p)
						}
						continue
					}
					switch {
					case acl.unknown:
						c.Unknown(r.URN, acl, "distribution "+display(r))
					case !acl.nonEmpty():
						c.Fail(r.URN, "distribution %s: webAclId must name the CLOUDFRONT web ACL", display(r))
					default:
						if s, _ := acl.str(); !cloudFrontACLARN.MatchString(s) {
							c.Fail(r.URN, "distribution %s: webAclId %s is not a WAFv2 web ACL of CLOUDFRONT scope (arn:aws:wafv2:us-east-1:…:global/webacl/…)", display(r), quote(s))
						}
					}
				}
			},
		},
		{
			Name: "apigateway-stage-waf",
			Description: "Every API Gateway REST API stage (cats-api), including one a Deployment creates through stageName, " +
				"is associated with a regional WAFv2 web ACL.",
			Control: "FSBP APIGateway.4",
			Level:   policyx.EnforcementLevelMandatory,
			Stack: func(c *Check, rs []policyx.AnalyzerResource) {
				for _, s := range rs {
					if !typeIs(s, "aws:apigateway/stage:Stage") {
						continue
					}
					ids := []string{}
					if arn, ok := get(s.Properties, "arn").str(); ok && arn != "" {
						ids = append(ids, arn)
					}
					api, _ := get(s.Properties, "restApi").str()
					stage, _ := get(s.Properties, "stageName").str()
					suffix := ""
					if api != "" && stage != "" {
						suffix = "/restapis/" + api + "/stages/" + stage
					}
					requireAssociation(c, rs, s, "stage", func(arn string) bool {
						return suffix != "" && strings.HasSuffix(arn, suffix)
					}, ids...)
				}
				// A Deployment with stageName creates a stage no Stage resource
				// declares.
				for _, d := range rs {
					if !typeIs(d, "aws:apigateway/deployment:Deployment") {
						continue
					}
					stage := get(d.Properties, "stageName")
					if stage.unknown {
						c.Unknown(d.URN, stage, "deployment "+display(d))
						continue
					}
					name, _ := stage.str()
					if name == "" {
						continue
					}
					api, _ := get(d.Properties, "restApi").str()
					requireAssociation(c, rs, d, "stage "+quote(name)+" created by deployment", func(arn string) bool {
						return api != "" && strings.HasSuffix(arn, "/restapis/"+api+"/stages/"+name)
					})
				}
			},
		},
		{
			Name: "alb-waf",
			Description: "Every Application Load Balancer, internet-facing or internal, is associated with a regional WAFv2 web ACL " +
				"(aws:lb load balancers and awsx ApplicationLoadBalancer components).",
			Control: "FSBP ELB.16",
			Level:   policyx.EnforcementLevelMandatory,
			Stack: func(c *Check, rs []policyx.AnalyzerResource) {
				for _, lb := range rs {
					application, unknown := applicationLB(lb)
					if unknown != nil {
						c.Unknown(lb.URN, *unknown, "load balancer "+display(lb))
						continue
					}
					if !application {
						continue
					}
					var ids []string
					if arn, ok := get(lb.Properties, "arn").str(); ok && arn != "" {
						ids = append(ids, arn)
					}
					requireAssociation(c, rs, lb, "load balancer", nil, ids...)
				}
			},
		},
	}
}

// applicationLB reports whether a resource is an application load balancer.
func applicationLB(r policyx.AnalyzerResource) (bool, *val) {
	if !typeIs(r, append([]string{awsxALBType}, loadBalancerTypes...)...) {
		return false, nil
	}
	if r.Type == awsxALBType {
		return true, nil
	}
	kind := get(r.Properties, "loadBalancerType")
	if kind.unknown {
		return false, &kind
	}
	s, _ := kind.str()
	return s == "" || s == "application", nil
}

// internetFacingALB reports whether a resource is an internet-facing
// application load balancer.
func internetFacingALB(r policyx.AnalyzerResource) (bool, *val) {
	if !typeIs(r, append([]string{awsxALBType}, loadBalancerTypes...)...) {
		return false, nil
	}
	if r.Type != awsxALBType {
		kind := get(r.Properties, "loadBalancerType")
		if kind.unknown {
			return false, &kind
		}
		if s, ok := kind.str(); ok && s != "" && s != "application" {
			return false, nil
		}
	}
	internal := get(r.Properties, "internal")
	if internal.unknown {
		return false, &internal
	}
	return !internal.isTrue(), nil
}

// requireAssociation fails target unless a web ACL association refers to it
// with a web ACL set.
func requireAssociation(c *Check, rs []policyx.AnalyzerResource, target policyx.AnalyzerResource, what string,
	matches func(arn string) bool, ids ...string,
) {
	var unknown *val
	var problems []string
	for _, a := range rs {
		if !typeIs(a, webACLAssociationType) {
			continue
		}
		yes, unk := refers(a, "resourceArn", target, ids...)
		if !yes && matches != nil {
			if arn, ok := get(a.Properties, "resourceArn").str(); ok && matches(arn) {
				yes = true
			}
		}
		if unk {
			v := get(a.Properties, "resourceArn")
			unknown = &v
		}
		if !yes {
			continue
		}
		if in := aclInStack(rs, a, "webAclArn"); in != nil {
			if p := aclProblem(*in, "REGIONAL"); p != "" {
				problems = append(problems, fmt.Sprintf("association %s: web ACL %s %s", display(a), display(*in), p))
				continue
			}
			return
		}
		acl := get(a.Properties, "webAclArn")
		if acl.unknown && len(a.PropertyDependencies["webAclArn"]) == 0 {
			unknown = &acl
			continue
		}
		if acl.unknown {
			// An unknown ARN that comes from another resource is an
			// association in the making; the ACL is judged where it is known.
			return
		}
		if s, _ := acl.str(); acl.nonEmpty() {
			if !regionalACLARN.MatchString(s) {
				problems = append(problems, fmt.Sprintf("association %s: webAclArn %s is not a regional WAFv2 web ACL ARN", display(a), quote(s)))
				continue
			}
			return
		}
	}
	for _, p := range problems {
		c.Fail(target.URN, "%s %s: %s", what, display(target), p)
	}
	if len(problems) > 0 {
		return
	}
	if unknown != nil {
		c.Unknown(target.URN, *unknown, what+" "+display(target))
		return
	}
	c.Fail(target.URN, "%s %s: no WAFv2 web ACL association refers to it", what, display(target))
}

// aclInStack returns the web ACL of the stack that a property of r refers
// to (by dependency or ARN), if any.
func aclInStack(rs []policyx.AnalyzerResource, r policyx.AnalyzerResource, prop string) *policyx.AnalyzerResource {
	for i := range rs {
		if rs[i].Type != webACLType {
			continue
		}
		var ids []string
		for _, k := range []string{"arn", "id"} {
			if s, ok := get(rs[i].Properties, k).str(); ok && s != "" {
				ids = append(ids, s)
			}
		}
		if yes, _ := refers(r, prop, rs[i], ids...); yes {
			return &rs[i]
		}
	}
	return nil
}

// aclProblem says what is wrong with a web ACL that protects a resource of
// a scope: the wrong scope, or no rule that blocks.
func aclProblem(acl policyx.AnalyzerResource, scope string) string {
	if s, ok := get(acl.Properties, "scope").str(); ok && s != scope {
		return "has scope " + s + ", not " + scope
	}
	if blocking, unknown := aclBlocks(acl); unknown == nil && !blocking {
		return "has no rule that blocks (every rule counts only)"
	}
	return ""
}

// aclBlocks reports whether a web ACL has a rule that blocks: a rule whose
// action is block, captcha or challenge, or a rule group used with
// overrideAction none (the group's own actions apply).
func aclBlocks(acl policyx.AnalyzerResource) (bool, *val) {
	rules, unknown := get(acl.Properties, "rules").items()
	if unknown {
		v := get(acl.Properties, "rules")
		return false, &v
	}
	for _, r := range rules {
		for _, a := range []string{"block", "captcha", "challenge"} {
			if v := r.at("action", a); v.present() || v.unknown {
				return true, nil
			}
		}
		if v := r.at("overrideAction", "none"); v.present() || v.unknown {
			return true, nil
		}
	}
	return false, nil
}

func webACLRules() []Rule {
	return []Rule{
		{
			Name: "waf-web-acl-rules",
			Description: "A WAFv2 web ACL has at least one rule that blocks (block, captcha or challenge, or a rule group " +
				"without a count override), and CloudWatch metrics on for the ACL and every rule.",
			Control: "FSBP WAF.10 / WAF.12",
			Level:   policyx.EnforcementLevelMandatory,
			Types:   []string{webACLType},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				blocks, unknown := aclBlocks(r)
				switch {
				case unknown != nil:
					c.Unknown(r.URN, *unknown, "web ACL "+display(r))
					return
				case !blocks:
					c.Fail(r.URN, "web ACL %s: no rule blocks (WAF.10: a web ACL with no rule, or every rule in count mode, protects nothing)", display(r))
				}
				metrics := []val{get(r.Properties, "visibilityConfig", "cloudwatchMetricsEnabled")}
				rules, _ := get(r.Properties, "rules").items()
				for _, rule := range rules {
					metrics = append(metrics, rule.at("visibilityConfig", "cloudwatchMetricsEnabled"))
				}
				for _, m := range metrics {
					switch {
					case m.unknown:
						c.Unknown(r.URN, m, "web ACL "+display(r))
					case !m.isTrue():
						c.Fail(r.URN, "web ACL %s: %s must be true (WAF.12)", display(r), m.path)
					}
				}
			},
		},
		{
			Name:        "waf-logging",
			Description: "Every WAFv2 web ACL of the stack has a logging configuration (aws:wafv2/webAclLoggingConfiguration).",
			Control:     "FSBP WAF.11",
			Level:       policyx.EnforcementLevelAdvisory,
			Stack: func(c *Check, rs []policyx.AnalyzerResource) {
				for _, acl := range rs {
					if acl.Type != webACLType {
						continue
					}
					var ids []string
					if s, ok := get(acl.Properties, "arn").str(); ok && s != "" {
						ids = append(ids, s)
					}
					logged, unknown := false, false
					for _, l := range rs {
						if l.Type != webACLLoggingType {
							continue
						}
						yes, unk := refers(l, "resourceArn", acl, ids...)
						logged = logged || yes
						unknown = unknown || unk
					}
					switch {
					case logged:
					case unknown:
						c.Unknown(acl.URN, get(acl.Properties, "arn"), "web ACL "+display(acl)+" (which ACL a logging configuration applies to)")
					default:
						c.Fail(acl.URN, "web ACL %s: no logging configuration refers to it", display(acl))
					}
				}
			},
		},
	}
}
