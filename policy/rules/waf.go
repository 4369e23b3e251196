package rules

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// WAF on every internet entry point (DESIGN.md, Policy pack; seed §8 WAF).

const webACLAssociationType = "aws:wafv2/webAclAssociation:WebAclAssociation"

var loadBalancerTypes = []string{"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"}

func wafRules() []Rule {
	return []Rule{
		{
			Name:        "cloudfront-waf",
			Description: "Every CloudFront distribution is protected by a WAFv2 web ACL (CLOUDFRONT scope).",
			Control:     "FSBP CloudFront.6",
			Level:       policyx.EnforcementLevelMandatory,
			Types:       []string{"aws:cloudfront/distribution:Distribution"},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				acl := get(r.Properties, "webAclId")
				switch {
				case acl.unknown:
					c.Unknown(r.URN, acl, "distribution "+display(r))
				case !acl.nonEmpty():
					c.Fail(r.URN, "distribution %s: webAclId must name the CLOUDFRONT web ACL", display(r))
				}
			},
		},
		{
			Name:        "apigateway-stage-waf",
			Description: "Every API Gateway REST API stage (cats-api) is associated with a regional WAFv2 web ACL.",
			Control:     "FSBP APIGateway.4",
			Level:       policyx.EnforcementLevelMandatory,
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
			},
		},
		{
			Name: "alb-waf",
			Description: "Every internet-facing Application Load Balancer is associated with a regional WAFv2 web ACL " +
				"(aws:lb load balancers and awsx ApplicationLoadBalancer components).",
			Control: "FSBP ELB.16",
			Level:   policyx.EnforcementLevelMandatory,
			Stack: func(c *Check, rs []policyx.AnalyzerResource) {
				for _, lb := range rs {
					public, unknown := internetFacingALB(lb)
					if unknown != nil {
						c.Unknown(lb.URN, *unknown, "load balancer "+display(lb))
						continue
					}
					if !public {
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
		acl := get(a.Properties, "webAclArn")
		if acl.unknown && len(a.PropertyDependencies["webAclArn"]) == 0 {
			unknown = &acl
			continue
		}
		if acl.unknown || acl.nonEmpty() {
			// An unknown ARN that comes from another resource (the web ACL)
			// is an association in the making; the web ACL itself is checked
			// when its value is known.
			return
		}
	}
	if unknown != nil {
		c.Unknown(target.URN, *unknown, what+" "+display(target))
		return
	}
	c.Fail(target.URN, "%s %s: no WAFv2 web ACL association refers to it", what, display(target))
}
