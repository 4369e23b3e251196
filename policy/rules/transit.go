package rules

import (
	"encoding/json"
	"fmt"
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
			Name:        "s3-tls-only",
			Description: "Every S3 bucket's policy denies requests that do not use TLS (aws:SecureTransport false).",
			Control:     "FSBP S3.5",
			Level:       policyx.EnforcementLevelMandatory,
			Stack: func(c *Check, rs []policyx.AnalyzerResource) {
				bucketsWith(c, rs, []string{"aws:s3/bucketPolicy:BucketPolicy"}, nil,
					func(p policyx.AnalyzerResource) (string, *val) {
						doc := get(p.Properties, "policy")
						if doc.unknown {
							return "", &doc
						}
						if deniesInsecureTransport(doc) {
							return "", nil
						}
						return "the policy has no Deny statement on aws:SecureTransport false for every principal", nil
					},
					"no bucket policy refers to it, so plain-HTTP requests are allowed")
			},
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

// deniesInsecureTransport reports whether an IAM policy document (a JSON
// string or an object) has a Deny statement for everyone when
// aws:SecureTransport is false.
func deniesInsecureTransport(doc val) bool {
	var parsed map[string]any
	if s, ok := doc.str(); ok {
		if err := json.Unmarshal([]byte(s), &parsed); err != nil {
			return false
		}
	} else if doc.v.IsMap() {
		raw, err := json.Marshal(toGo(doc.v))
		if err != nil || json.Unmarshal(raw, &parsed) != nil {
			return false
		}
	} else {
		return false
	}
	statements, ok := parsed["Statement"].([]any)
	if !ok {
		if one, isMap := parsed["Statement"].(map[string]any); isMap {
			statements = []any{one}
		}
	}
	for _, raw := range statements {
		st, _ := raw.(map[string]any)
		if st["Effect"] != "Deny" || !everyone(st["Principal"]) || !coversAllS3(st["Action"]) {
			continue
		}
		cond, _ := st["Condition"].(map[string]any)
		boolCond, _ := cond["Bool"].(map[string]any)
		if fmt.Sprint(boolCond["aws:SecureTransport"]) == "false" {
			return true
		}
	}
	return false
}

func everyone(p any) bool {
	switch p := p.(type) {
	case string:
		return p == "*"
	case map[string]any:
		return fmt.Sprint(p["AWS"]) == "*"
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
