package rules

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// unknown is a value not known until deployment, as a preview sends it.
var unknown = property.New(property.Computed)

func toValue(v any) property.Value {
	switch v := v.(type) {
	case property.Value:
		return v
	case nil:
		return property.Value{}
	case map[string]any:
		m := map[string]property.Value{}
		for k, e := range v {
			m[k] = toValue(e)
		}
		return property.New(property.NewMap(m))
	case []any:
		a := make([]property.Value, len(v))
		for i, e := range v {
			a[i] = toValue(e)
		}
		return property.New(property.NewArray(a))
	case string:
		return property.New(v)
	case bool:
		return property.New(v)
	case int:
		return property.New(float64(v))
	case float64:
		return property.New(v)
	}
	panic(fmt.Sprintf("toValue: %T", v))
}

// res builds a resource as the engine hands it to the pack.
func res(typ, name string, props map[string]any) policyx.AnalyzerResource {
	if props == nil {
		props = map[string]any{}
	}
	return policyx.AnalyzerResource{
		Type: typ, Name: name, URN: "urn:pulumi:test::cats-analytics::" + typ + "::" + name,
		Properties: toValue(props).AsMap(), PropertyDependencies: map[string][]string{},
	}
}

// dependsOn records that a property's value comes from other resources.
func dependsOn(r policyx.AnalyzerResource, prop string, on ...policyx.AnalyzerResource) policyx.AnalyzerResource {
	deps := map[string][]string{}
	for k, v := range r.PropertyDependencies {
		deps[k] = v
	}
	for _, o := range on {
		deps[prop] = append(deps[prop], o.URN)
	}
	r.PropertyDependencies = deps
	return r
}

// inStack moves resources to a stack: their URNs (and the URNs their
// dependencies name) carry the stack's name, as the engine's do.
func inStack(stack string, rs ...policyx.AnalyzerResource) []policyx.AnalyzerResource {
	move := func(urn string) string {
		return strings.Replace(urn, "urn:pulumi:test::", "urn:pulumi:"+stack+"::", 1)
	}
	out := make([]policyx.AnalyzerResource, len(rs))
	for i, r := range rs {
		r.URN, r.Parent = move(r.URN), move(r.Parent)
		deps := map[string][]string{}
		for k, urns := range r.PropertyDependencies {
			for _, u := range urns {
				deps[k] = append(deps[k], move(u))
			}
		}
		r.PropertyDependencies = deps
		out[i] = r
	}
	return out
}

func bucket(name string) policyx.AnalyzerResource {
	return res("aws:s3/bucketV2:BucketV2", name, map[string]any{"bucket": name + "-physical"})
}

func sse(b policyx.AnalyzerResource, algorithm any) policyx.AnalyzerResource {
	return res(sseConfigTypes[0], b.Name+"-encryption", map[string]any{
		"bucket": b.Name + "-physical",
		"rules":  []any{map[string]any{"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": algorithm}}},
	})
}

func pab(b policyx.AnalyzerResource, flags map[string]any) policyx.AnalyzerResource {
	props := map[string]any{"bucket": b.Name + "-physical",
		"blockPublicAcls": true, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true}
	for k, v := range flags {
		props[k] = v
	}
	return res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", b.Name+"-pab", props)
}

const tlsOnlyPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny",
"Principal":{"AWS":"*"},"Action":["s3:*"],"Resource":["arn:aws:s3:::data-lake-physical","arn:aws:s3:::data-lake-physical/*"],
"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`

func bucketPolicy(b policyx.AnalyzerResource, doc any) policyx.AnalyzerResource {
	return res("aws:s3/bucketPolicy:BucketPolicy", b.Name+"-policy", map[string]any{"bucket": b.Name + "-physical", "policy": doc})
}

func trail(props map[string]any) policyx.AnalyzerResource {
	p := map[string]any{"isMultiRegionTrail": true, "enableLogFileValidation": true,
		"kmsKeyId": "arn:aws:kms:ap-northeast-1:123456789012:key/k", "cloudWatchLogsGroupArn": "arn:aws:logs:ap-northeast-1:123456789012:log-group:t:*"}
	for k, v := range props {
		p[k] = v
	}
	return res(trailType, "trail", p)
}

func stackRef(name string, outputs any) policyx.AnalyzerResource {
	props := map[string]any{"name": name}
	if outputs != nil {
		props["outputs"] = outputs
	}
	return res(stackReferenceType, "env", props)
}

func sg(name string, ingress ...any) policyx.AnalyzerResource {
	return res(securityGroupType, name, map[string]any{"ingress": ingress})
}

func ingress(port int, cidr string) map[string]any {
	return map[string]any{"protocol": "tcp", "fromPort": port, "toPort": port, "cidrBlocks": []any{cidr}}
}

func alb(name string, props map[string]any) policyx.AnalyzerResource {
	return res("aws:lb/loadBalancer:LoadBalancer", name, props)
}

const regionalACL = "arn:aws:wafv2:ap-northeast-1:123456789012:regional/webacl/cats-waf-regional/abc"

func association(target policyx.AnalyzerResource, acl any) policyx.AnalyzerResource {
	a := res(webACLAssociationType, target.Name+"-waf", map[string]any{"resourceArn": unknown, "webAclArn": acl})
	return dependsOn(a, "resourceArn", target)
}
