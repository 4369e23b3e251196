package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Encryption in transit (DESIGN.md, Policy pack): TLS-only buckets,
// HTTPS-only CloudFront, HTTPS listeners.

var (
	listenerTypes = []string{"aws:lb/listener:Listener", "aws:alb/listener:Listener"}
	awsxALBType   = "awsx:lb:ApplicationLoadBalancer"
)

func transitRules() []Rule {
	return []Rule{
		{
			Name: "s3-tls-only",
			Description: "Every S3 bucket's policy denies requests that do not use TLS (aws:SecureTransport false) for every " +
				"principal, on the bucket itself and on its objects; every policy that may take effect (each BucketPolicy " +
				"and an inline policy) must do so, and only one may target a bucket.",
			Control: "FSBP S3.5",
			Level:   policyx.EnforcementLevelMandatory,
			Stack:   tlsOnlyBuckets,
		},
		{
			Name: "cloudfront-https-only",
			Description: "CloudFront distributions serve viewers over HTTPS only (redirect-to-https or https-only) " +
				"and reach custom origins over HTTPS.",
			Control: "FSBP CloudFront.3 / CloudFront.9",
			Level:   policyx.EnforcementLevelMandatory,
			Types:   []string{"aws:cloudfront/distribution:Distribution"},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				behaviours := []val{get(r.Properties, "defaultCacheBehavior")}
				ordered, unknown := get(r.Properties, "orderedCacheBehaviors").items()
				if unknown {
					c.Unknown(r.URN, get(r.Properties, "orderedCacheBehaviors"), "distribution "+display(r))
				}
				behaviours = append(behaviours, ordered...)
				for _, b := range behaviours {
					policy := b.at("viewerProtocolPolicy")
					switch {
					case policy.unknown:
						c.Unknown(r.URN, policy, "distribution "+display(r))
					case !strIn(policy, "redirect-to-https", "https-only"):
						s, _ := policy.str()
						c.Fail(r.URN, "distribution %s: %s is %s; viewers must use HTTPS", display(r), policy.path, quote(s))
					}
				}
				origins, _ := get(r.Properties, "origins").items()
				for _, o := range origins {
					custom := o.at("customOriginConfig")
					if !custom.present() {
						continue
					}
					policy := custom.at("originProtocolPolicy")
					switch {
					case policy.unknown:
						c.Unknown(r.URN, policy, "distribution "+display(r))
					case !strEq(policy, "https-only"):
						c.Fail(r.URN, "distribution %s: %s must be https-only", display(r), policy.path)
					}
				}
			},
		},
		{
			Name: "alb-https-listeners",
			Description: "Load balancer listeners use HTTPS (or TLS); an HTTP listener only redirects to HTTPS. " +
				"Checked on aws:lb listeners and on awsx ApplicationLoadBalancer listener inputs.",
			Control: "FSBP ELB.1",
			Level:   policyx.EnforcementLevelMandatory,
			Types:   append([]string{awsxALBType}, listenerTypes...),
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				if r.Type == awsxALBType {
					listeners, unknown := get(r.Properties, "listeners").items()
					if unknown {
						c.Unknown(r.URN, get(r.Properties, "listeners"), "load balancer "+display(r))
					}
					if l := get(r.Properties, "listener"); l.present() || l.unknown {
						listeners = append(listeners, l)
					}
					if len(listeners) == 0 && !unknown {
						// awsx creates a plain HTTP listener on port 80 without one.
						c.Fail(r.URN, "load balancer %s: no listener given, so awsx creates an HTTP listener on port 80", display(r))
					}
					for _, l := range listeners {
						checkListener(c, r, l, "load balancer "+display(r))
					}
					return
				}
				checkListener(c, r, val{v: propertyOf(r), path: "listener"}, "listener "+display(r))
			},
		},
	}
}

func checkListener(c *Check, r policyx.AnalyzerResource, l val, what string) {
	protocol := l.at("protocol")
	if protocol.unknown {
		c.Unknown(r.URN, protocol, what)
		return
	}
	p, _ := protocol.str()
	switch strings.ToUpper(p) {
	case "HTTPS", "TLS":
		return
	case "", "HTTP":
		actions, unknown := l.at("defaultActions").items()
		if unknown {
			c.Unknown(r.URN, l.at("defaultActions"), what)
			return
		}
		if len(actions) == 0 {
			actions, _ = l.at("defaultAction").items()
		}
		if len(actions) == 0 {
			c.Fail(r.URN, "%s: HTTP listener with no default action", what)
			return
		}
		for _, a := range actions {
			typ, redirect := a.at("type"), a.at("redirect", "protocol")
			if typ.unknown || redirect.unknown {
				c.Unknown(r.URN, typ, what)
				return
			}
			if !strEq(typ, "redirect") || !strEq(redirect, "HTTPS") {
				c.Fail(r.URN, "%s: an HTTP listener must only redirect to HTTPS (%s)", what, l.path)
				return
			}
		}
	default:
		c.Fail(r.URN, "%s: protocol %s is not HTTPS", what, quote(p))
	}
}

func tlsOnlyBuckets(c *Check, rs []policyx.AnalyzerResource) {
	for _, b := range rs {
		if !typeIs(b, bucketTypes...) {
			continue
		}
		name, _ := get(b.Properties, "bucket").str()
		type source struct {
			what string
			doc  val
		}
		var policies []source
		var unknownLink *val
		if inline := get(b.Properties, "policy"); inline.unknown || inline.nonEmpty() {
			policies = append(policies, source{"inline policy", inline})
		}
		for _, p := range rs {
			if p.Type != "aws:s3/bucketPolicy:BucketPolicy" {
				continue
			}
			yes, unk := refers(p, "bucket", b, bucketIDs(b)...)
			if unk {
				v := get(p.Properties, "bucket")
				unknownLink = &v
			}
			if yes {
				policies = append(policies, source{"policy " + display(p), get(p.Properties, "policy")})
			}
		}
		if len(policies) == 0 {
			if unknownLink != nil {
				c.Unknown(b.URN, *unknownLink, "bucket "+display(b)+" (which bucket a policy applies to)")
			} else {
				c.Fail(b.URN, "bucket %s: no bucket policy refers to it, so plain-HTTP requests are allowed", display(b))
			}
			continue
		}
		if len(policies) > 1 {
			var names []string
			for _, p := range policies {
				names = append(names, p.what)
			}
			c.Fail(b.URN, "bucket %s: %s all set its policy; a bucket has one policy, so only the last one applied takes effect", display(b), strings.Join(names, ", "))
			continue
		}
		p := policies[0]
		if p.doc.unknown {
			c.Unknown(b.URN, p.doc, "bucket "+display(b))
			continue
		}
		bucket, objects := deniesInsecureTransport(p.doc, name)
		switch {
		case !bucket && !objects:
			c.Fail(b.URN, "bucket %s: %s: the policy has no Deny statement on aws:SecureTransport false for every principal", display(b), p.what)
		case !bucket:
			c.Fail(b.URN, "bucket %s: %s: the TLS Deny covers the objects but not the bucket itself (arn:aws:s3:::%s)", display(b), p.what, orStar(name))
		case !objects:
			c.Fail(b.URN, "bucket %s: %s: the TLS Deny covers the bucket but not its objects (arn:aws:s3:::%s/*)", display(b), p.what, orStar(name))
		}
	}
}

// deniesInsecureTransport reports whether an IAM policy document (a JSON
// string or an object) denies everyone when aws:SecureTransport is false,
// on the bucket (its ARN) and on its objects (ARN/*). An empty bucket name
// (not known yet) accepts any bucket's ARNs.
func deniesInsecureTransport(doc val, bucketName string) (bucket, objects bool) {
	statements, err := policyStatements(doc)
	if err != nil {
		return false, false
	}
	for _, st := range statements {
		if st["Effect"] != "Deny" || !everyone(st["Principal"]) || !coversAllS3(st["Action"]) {
			continue
		}
		cond, _ := st["Condition"].(map[string]any)
		boolCond, _ := cond["Bool"].(map[string]any)
		if fmt.Sprint(boolCond["aws:SecureTransport"]) != "false" && fmt.Sprint(boolCond["aws:SecureTransport"]) != "[false]" {
			continue
		}
		for _, r := range asStrings(st["Resource"]) {
			switch {
			case r == "*" || r == "arn:aws:s3:::*":
				bucket, objects = true, true
			case strings.HasSuffix(r, "/*"):
				objects = objects || bucketARNMatches(strings.TrimSuffix(r, "/*"), bucketName)
			default:
				bucket = bucket || bucketARNMatches(r, bucketName)
			}
		}
	}
	return bucket, objects
}

func bucketARNMatches(arn, name string) bool {
	if !strings.HasPrefix(arn, "arn:aws:s3:::") || strings.Contains(strings.TrimPrefix(arn, "arn:aws:s3:::"), "/") {
		return false
	}
	return name == "" || arn == "arn:aws:s3:::"+name
}

func asStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

func everyone(p any) bool {
	switch p := p.(type) {
	case string:
		return p == "*"
	case map[string]any:
		switch aws := p["AWS"].(type) {
		case string:
			return aws == "*"
		case []any:
			for _, a := range aws {
				if a == "*" {
					return true
				}
			}
		}
	}
	return false
}

func coversAllS3(a any) bool {
	var actions []string
	switch a := a.(type) {
	case string:
		actions = []string{a}
	case []any:
		for _, x := range a {
			actions = append(actions, fmt.Sprint(x))
		}
	}
	return slices.Contains(actions, "s3:*") || slices.Contains(actions, "*")
}

const (
	listenerRuleType     = "aws:lb/listenerRule:ListenerRule"
	albListenerRuleType  = "aws:alb/listenerRule:ListenerRule"
	logDeliverySource    = "aws:cloudwatch/logDeliverySource:LogDeliverySource"
	logDelivery          = "aws:cloudwatch/logDelivery:LogDelivery"
	tls12ViewerPolicyMin = "TLSv1.2_2021"
)

// tls12ListenerPolicy matches the ELB security policies that allow TLS 1.2
// and newer only.
var tls12ListenerPolicy = regexp.MustCompile(`^ELBSecurityPolicy-(TLS13-1-[23]-|TLS-1-2-|FS-1-2-)`)

// viewerPolicies are CloudFront's viewer security policies at TLSv1.2_2021
// or newer.
var viewerPolicies = []string{"TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"}

func transitRulesMore() []Rule {
	return []Rule{
		{
			Name: "alb-tls-policy",
			Description: "HTTPS and TLS listeners use an ELB security policy that allows TLS 1.2 or newer only " +
				"(an unset sslPolicy means ELBSecurityPolicy-2016-08, which allows TLS 1.0).",
			Control: "FSBP ELB.17",
			Level:   policyx.EnforcementLevelMandatory,
			Types:   append([]string{awsxALBType}, listenerTypes...),
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				check := func(l val, what string) {
					protocol := l.at("protocol")
					if protocol.unknown {
						c.Unknown(r.URN, protocol, what)
						return
					}
					if p, _ := protocol.str(); !strings.EqualFold(p, "HTTPS") && !strings.EqualFold(p, "TLS") {
						return
					}
					policy := l.at("sslPolicy")
					switch {
					case policy.unknown:
						c.Unknown(r.URN, policy, what)
					case !tls12ListenerPolicy.MatchString(strOr(policy, "ELBSecurityPolicy-2016-08")):
						c.Fail(r.URN, "%s: sslPolicy %s allows TLS older than 1.2; use ELBSecurityPolicy-TLS13-1-2-2021-06 or another TLS 1.2+ policy",
							what, quote(strOr(policy, "ELBSecurityPolicy-2016-08 (the default)")))
					}
				}
				if r.Type == awsxALBType {
					listeners, _ := get(r.Properties, "listeners").items()
					if l := get(r.Properties, "listener"); l.present() {
						listeners = append(listeners, l)
					}
					for _, l := range listeners {
						check(l, "load balancer "+display(r))
					}
					return
				}
				check(val{v: propertyOf(r), path: "listener"}, "listener "+display(r))
			},
		},
		{
			Name:        "alb-drop-invalid-headers",
			Description: "Application load balancers drop HTTP headers with invalid names (dropInvalidHeaderFields), against request smuggling.",
			Control:     "FSBP ELB.4",
			Level:       policyx.EnforcementLevelMandatory,
			Types:       append([]string{awsxALBType}, loadBalancerTypes...),
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				application, unknown := applicationLB(r)
				if unknown != nil {
					c.Unknown(r.URN, *unknown, "load balancer "+display(r))
					return
				}
				if !application {
					return
				}
				drop := get(r.Properties, "dropInvalidHeaderFields")
				switch {
				case drop.unknown:
					c.Unknown(r.URN, drop, "load balancer "+display(r))
				case !drop.isTrue():
					c.Fail(r.URN, "load balancer %s: dropInvalidHeaderFields must be true", display(r))
				}
			},
		},
		{
			Name: "alb-http-listener-rules",
			Description: "No listener rule on an HTTP listener forwards (or answers) requests: an HTTP listener only " +
				"redirects to HTTPS, through its default action and every rule.",
			Control: "FSBP ELB.1",
			Level:   policyx.EnforcementLevelMandatory,
			Stack: func(c *Check, rs []policyx.AnalyzerResource) {
				for _, rule := range rs {
					if !typeIs(rule, listenerRuleType, albListenerRuleType) {
						continue
					}
					for _, l := range rs {
						if !typeIs(l, listenerTypes...) {
							continue
						}
						var ids []string
						for _, k := range []string{"arn", "id"} {
							if s, ok := get(l.Properties, k).str(); ok && s != "" {
								ids = append(ids, s)
							}
						}
						yes, unknown := refers(rule, "listenerArn", l, ids...)
						if unknown {
							c.Unknown(rule.URN, get(rule.Properties, "listenerArn"), "listener rule "+display(rule))
							break
						}
						if !yes {
							continue
						}
						protocol := get(l.Properties, "protocol")
						if protocol.unknown {
							c.Unknown(rule.URN, protocol, "listener rule "+display(rule))
							break
						}
						if p := strings.ToUpper(strOr(protocol, "HTTP")); p != "HTTP" {
							break
						}
						actions, unk := get(rule.Properties, "actions").items()
						if unk {
							c.Unknown(rule.URN, get(rule.Properties, "actions"), "listener rule "+display(rule))
							break
						}
						for _, a := range actions {
							typ, redirect := a.at("type"), a.at("redirect", "protocol")
							if typ.unknown || redirect.unknown {
								c.Unknown(rule.URN, typ, "listener rule "+display(rule))
								break
							}
							if !strEq(typ, "redirect") || !strEq(redirect, "HTTPS") {
								t, _ := typ.str()
								c.Fail(rule.URN, "listener rule %s: on HTTP listener %s its %s action serves plain HTTP; it may only redirect to HTTPS", display(rule), display(l), quote(t))
								break
							}
						}
						break
					}
				}
			},
		},
		{
			Name: "cloudfront-tls",
			Description: "A distribution with a custom certificate admits viewers at " + tls12ViewerPolicyMin + " or newer, and " +
				"reaches custom origins with TLSv1.2 only (no SSLv3, TLSv1, TLSv1.1).",
			Control: "FSBP CloudFront.10; viewer policy: CloudFront's recommended " + tls12ViewerPolicyMin,
			Level:   policyx.EnforcementLevelMandatory,
			Types:   []string{distributionType},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				cert := get(r.Properties, "viewerCertificate")
				acm, iam := cert.at("acmCertificateArn"), cert.at("iamCertificateId")
				switch {
				case acm.unknown || iam.unknown:
					c.Unknown(r.URN, acm, "distribution "+display(r))
				case acm.nonEmpty() || iam.nonEmpty():
					version := cert.at("minimumProtocolVersion")
					switch {
					case version.unknown:
						c.Unknown(r.URN, version, "distribution "+display(r))
					case !strIn(version, viewerPolicies...):
						s, _ := version.str()
						c.Fail(r.URN, "distribution %s: viewerCertificate.minimumProtocolVersion %s must be %s or newer", display(r), quote(s), tls12ViewerPolicyMin)
					}
				}
				origins, unknown := get(r.Properties, "origins").items()
				if unknown {
					c.Unknown(r.URN, get(r.Properties, "origins"), "distribution "+display(r))
					return
				}
				for _, o := range origins {
					custom := o.at("customOriginConfig")
					if !custom.present() {
						continue
					}
					protocols, unk := custom.at("originSslProtocols").strings()
					if unk {
						c.Unknown(r.URN, custom.at("originSslProtocols"), "distribution "+display(r))
						continue
					}
					for _, p := range protocols {
						if p != "TLSv1.2" {
							c.Fail(r.URN, "distribution %s: %s.originSslProtocols includes %s; only TLSv1.2 is allowed", display(r), o.path, p)
						}
					}
					if len(protocols) == 0 {
						c.Fail(r.URN, "distribution %s: %s.originSslProtocols must be [TLSv1.2]", display(r), o.path)
					}
				}
			},
		},
		{
			Name: "cloudfront-logging",
			Description: "Every CloudFront distribution logs its requests: standard logging v2 (a CloudWatch log delivery " +
				"source of ACCESS_LOGS for the distribution, with a delivery) or the legacy loggingConfig.",
			Control: "FSBP CloudFront.5",
			Level:   policyx.EnforcementLevelAdvisory,
			Stack: func(c *Check, rs []policyx.AnalyzerResource) {
				for _, d := range rs {
					if d.Type != distributionType {
						continue
					}
					if get(d.Properties, "loggingConfig", "bucket").nonEmpty() {
						continue
					}
					var ids []string
					if s, ok := get(d.Properties, "arn").str(); ok && s != "" {
						ids = append(ids, s)
					}
					logged, unknown := false, false
					for _, src := range rs {
						if src.Type != logDeliverySource || !strEq(get(src.Properties, "logType"), "ACCESS_LOGS") {
							continue
						}
						yes, unk := refers(src, "resourceArn", d, ids...)
						unknown = unknown || unk
						if !yes {
							continue
						}
						name, _ := get(src.Properties, "name").str()
						for _, del := range rs {
							if del.Type != logDelivery {
								continue
							}
							if y, _ := refers(del, "deliverySourceName", src, name); y {
								logged = true
							}
						}
					}
					switch {
					case logged:
					case unknown:
						c.Unknown(d.URN, get(d.Properties, "arn"), "distribution "+display(d)+" (which distribution a log delivery source applies to)")
					default:
						c.Fail(d.URN, "distribution %s: no access log delivery (standard logging v2) or loggingConfig", display(d))
					}
				}
			},
		},
	}
}
