package rules

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Cases of the rules issue 11 adds, merged into ruleCases (TestRules runs
// them, TestEveryRuleIsCovered keeps them complete).
func init() {
	for name, cases := range controlCases {
		ruleCases[name] = append(ruleCases[name], cases...)
	}
}

const cloudFrontACL = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/cats-waf-cloudfront/abc"

func lambdaPermission(props map[string]any) policyx.AnalyzerResource {
	return res(lambdaPermissionType, "invoke", props)
}

func keyWithPolicy(doc any) policyx.AnalyzerResource {
	return res(kmsKeyType, "k", map[string]any{"enableKeyRotation": true, "policy": doc})
}

const ownAccountKeyPolicy = `{"Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},
{"Sid":"Logs","Effect":"Allow","Principal":{"Service":"logs.ap-northeast-1.amazonaws.com"},"Action":["kms:Encrypt*"],"Resource":"*"}]}`

const everyoneNarrowed = `{"Statement":[{"Sid":"ViaS3","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*",
"Condition":{"StringEquals":{"kms:CallerAccount":"123456789012","kms:ViaService":"s3.ap-northeast-1.amazonaws.com"}}}]}`

const everyoneOpen = `{"Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}`

func template(props map[string]any) policyx.AnalyzerResource {
	return res(launchTemplateType, "lt", props)
}

func taskDef(containers string) policyx.AnalyzerResource {
	return res(taskDefinitionType, "task", map[string]any{"containerDefinitions": containers})
}

func nacl(entries ...any) policyx.AnalyzerResource {
	return res(networkACLType, "private-nacl", map[string]any{"ingress": entries})
}

func aclEntry(protocol string, from, to int, cidr string) map[string]any {
	return map[string]any{"ruleNo": 100, "action": "allow", "protocol": protocol, "fromPort": from, "toPort": to, "cidrBlock": cidr}
}

func awsxVPC() policyx.AnalyzerResource { return res("awsx:ec2:Vpc", "vpc", nil) }

func defaultSG(props map[string]any) policyx.AnalyzerResource {
	return dependsOn(res(defaultSecurityGroupType, "default-sg", props), "vpcId", awsxVPC())
}

func webACL(rules ...any) policyx.AnalyzerResource {
	return res(webACLType, "waf", map[string]any{"scope": "REGIONAL", "rules": rules,
		"visibilityConfig": map[string]any{"cloudwatchMetricsEnabled": true, "metricName": "waf", "sampledRequestsEnabled": true}})
}

func wafRule(name string, action map[string]any, override map[string]any) map[string]any {
	r := map[string]any{"name": name, "priority": 1,
		"visibilityConfig": map[string]any{"cloudwatchMetricsEnabled": true, "metricName": name, "sampledRequestsEnabled": true}}
	if action != nil {
		r["action"] = action
	}
	if override != nil {
		r["overrideAction"] = override
	}
	return r
}

var empty = map[string]any{}

func httpsListener(policy any) policyx.AnalyzerResource {
	props := map[string]any{"protocol": "HTTPS", "port": 443, "certificateArn": "arn"}
	if policy != nil {
		props["sslPolicy"] = policy
	}
	return res("aws:lb/listener:Listener", "https", props)
}

func httpListener() policyx.AnalyzerResource {
	return res("aws:lb/listener:Listener", "http", map[string]any{"protocol": "HTTP", "port": 80,
		"defaultActions": []any{map[string]any{"type": "redirect", "redirect": map[string]any{"protocol": "HTTPS", "statusCode": "HTTP_301"}}}})
}

func listenerRule(on policyx.AnalyzerResource, actionType string) policyx.AnalyzerResource {
	action := map[string]any{"type": actionType}
	if actionType == "redirect" {
		action["redirect"] = map[string]any{"protocol": "HTTPS", "statusCode": "HTTP_301"}
	}
	r := res(listenerRuleType, "rule", map[string]any{"listenerArn": unknown, "actions": []any{action}})
	return dependsOn(r, "listenerArn", on)
}

func distribution(props map[string]any) policyx.AnalyzerResource {
	p := map[string]any{"defaultCacheBehavior": map[string]any{"viewerProtocolPolicy": "redirect-to-https"}, "arn": "arn:aws:cloudfront::123456789012:distribution/E1"}
	for k, v := range props {
		p[k] = v
	}
	return res(distributionType, "cdn", p)
}

func customCert(version any) map[string]any {
	return map[string]any{"acmCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/c", "sslSupportMethod": "sni-only", "minimumProtocolVersion": version}
}

func customOrigin(protocols ...any) map[string]any {
	return map[string]any{"originId": "api", "domainName": "api.example.com",
		"customOriginConfig": map[string]any{"originProtocolPolicy": "https-only", "httpPort": 80, "httpsPort": 443, "originSslProtocols": protocols}}
}

func accessLogDelivery(d policyx.AnalyzerResource) []policyx.AnalyzerResource {
	src := dependsOn(res(logDeliverySource, "cdn-logs", map[string]any{"name": "cdn-logs", "logType": "ACCESS_LOGS", "resourceArn": unknown}), "resourceArn", d)
	del := dependsOn(res(logDelivery, "cdn-delivery", map[string]any{"deliverySourceName": unknown, "deliveryDestinationArn": "arn"}), "deliverySourceName", src)
	return []policyx.AnalyzerResource{d, src, del}
}

func dataLake() policyx.AnalyzerResource {
	return res("aws:s3/bucketV2:BucketV2", "cats-datalake-bucket", map[string]any{"bucket": "cats-data-lake-prod"})
}

func dataEvents(values ...any) map[string]any {
	return map[string]any{"eventSelectors": []any{map[string]any{"readWriteType": "All", "includeManagementEvents": true,
		"dataResources": []any{map[string]any{"type": "AWS::S3::Object", "values": values}}}}}
}

func trailTo(b policyx.AnalyzerResource) policyx.AnalyzerResource {
	t := trail(map[string]any{"s3BucketName": unknown})
	return dependsOn(t, "s3BucketName", b)
}

func bucketLogging(b policyx.AnalyzerResource, target any) policyx.AnalyzerResource {
	return dependsOn(res(bucketLoggingV2Type, b.Name+"-logging", map[string]any{"bucket": unknown, "targetBucket": target}), "bucket", b)
}

func accountPAB(flags map[string]any) policyx.AnalyzerResource {
	p := map[string]any{"blockPublicAcls": true, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true}
	for k, v := range flags {
		p[k] = v
	}
	return res(accountPABType, "account-pab", p)
}

func lambdaFunction(name string, props map[string]any) policyx.AnalyzerResource {
	p := map[string]any{"name": name}
	for k, v := range props {
		p[k] = v
	}
	return res(lambdaFunctionType, name, p)
}

func logGroup(name string) policyx.AnalyzerResource {
	return res(logGroupType, name, map[string]any{"name": name, "kmsKeyId": key, "retentionInDays": 365})
}

func methodSettings(level any) policyx.AnalyzerResource {
	return res(methodSettingsType, "settings", map[string]any{"restApi": "api123", "stageName": "v1", "methodPath": "*/*",
		"settings": map[string]any{"loggingLevel": level, "metricsEnabled": true}})
}

var advisory = policyx.EnforcementLevelAdvisory

var controlCases = map[string][]ruleCase{
	"lambda-permission-restricted": {
		c("service principal with sourceArn", compliant, false, "", lambdaPermission(map[string]any{"principal": "apigateway.amazonaws.com", "sourceArn": "arn:aws:execute-api:ap-northeast-1:123456789012:api123/*"})),
		c("service principal with sourceAccount", compliant, false, "", lambdaPermission(map[string]any{"principal": "s3.amazonaws.com", "sourceAccount": "123456789012"})),
		c("account principal", compliant, false, "", lambdaPermission(map[string]any{"principal": "123456789012"})),
		c("sourceArn from another resource, unknown in preview", compliant, false, "",
			dependsOn(lambdaPermission(map[string]any{"principal": "apigateway.amazonaws.com", "sourceArn": unknown}), "sourceArn", stage())),
		c("everyone", violation, true, `principal "*"`, lambdaPermission(map[string]any{"principal": "*"})),
		c("service principal without source", violation, true, "needs sourceArn or sourceAccount", lambdaPermission(map[string]any{"principal": "apigateway.amazonaws.com"})),
		c("unknown principal", unknowns, true, "unknown", lambdaPermission(map[string]any{"principal": unknown})),
		c("exempted permission", override, false, "", lambdaPermission(map[string]any{"principal": "*"})).with(map[string]any{"exemptResources": []any{"invoke"}}),
		c("advisory by pack config", override, true, "lets anyone", lambdaPermission(map[string]any{"principal": "*"})).at(advisory),
	},
	"kms-key-policy-not-public": {
		c("account and service principals", compliant, false, "", keyWithPolicy(ownAccountKeyPolicy)),
		c("everyone narrowed to the account through S3", compliant, false, "", keyWithPolicy(everyoneNarrowed)),
		c("default key policy", compliant, false, "", res(kmsKeyType, "k", nil)),
		c("separate key policy, narrowed", compliant, false, "", res(kmsKeyPolicyType, "kp", map[string]any{"keyId": "k", "policy": everyoneNarrowed})),
		c("Principal * on the key", violation, true, "allows every principal", keyWithPolicy(everyoneOpen)),
		c(`{"AWS": "*"} on a separate key policy`, violation, true, `statement "Open" allows every principal`,
			res(kmsKeyPolicyType, "kp", map[string]any{"keyId": "k", "policy": `{"Statement":[{"Sid":"Open","Effect":"Allow","Principal":{"AWS":["*"]},"Action":"kms:*","Resource":"*"}]}`})),
		c("a condition that narrows nothing", violation, true, "allows every principal",
			keyWithPolicy(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`)),
		c("lockout safety check bypassed", violation, true, "bypassPolicyLockoutSafetyCheck", res(kmsKeyPolicyType, "kp", map[string]any{"keyId": "k", "policy": ownAccountKeyPolicy, "bypassPolicyLockoutSafetyCheck": true})),
		c("policy that is not JSON", violation, true, "not a JSON policy document", keyWithPolicy("{")),
		c("unknown policy", unknowns, true, "unknown", keyWithPolicy(unknown)),
		c("exempted key", override, false, "", keyWithPolicy(everyoneOpen)).with(map[string]any{"exemptResources": []any{"k"}}),
	},
	"imdsv2-required": {
		c("launch template with tokens required", compliant, false, "", template(map[string]any{"metadataOptions": map[string]any{"httpEndpoint": "enabled", "httpTokens": "required"}})),
		c("instance with the endpoint off", compliant, false, "", res(instanceType, "i", map[string]any{"metadataOptions": map[string]any{"httpEndpoint": "disabled"}})),
		c("launch template without metadata options", violation, true, "httpTokens", template(nil)),
		c("instance with optional tokens", violation, true, `httpTokens is "optional"`, res(instanceType, "i", map[string]any{"metadataOptions": map[string]any{"httpTokens": "optional"}})),
		c("unknown tokens", unknowns, true, "unknown", template(map[string]any{"metadataOptions": map[string]any{"httpTokens": unknown}})),
		c("exempted template", override, false, "", template(nil)).with(map[string]any{"exemptResources": []any{"lt"}}),
	},
	"ecs-no-privileged-containers": {
		c("unprivileged container", compliant, false, "", taskDef(`[{"name":"app","image":"nginx","readonlyRootFilesystem":true}]`)),
		c("privileged container", violation, true, "container app is privileged", taskDef(`[{"name":"app","privileged":true}]`)),
		c("definitions that are not JSON", violation, true, "not a JSON array", taskDef(`{`)),
		c("unknown definitions", unknowns, true, "unknown", res(taskDefinitionType, "task", map[string]any{"containerDefinitions": unknown})),
		c("exempted task", override, false, "", taskDef(`[{"name":"app","privileged":true}]`)).with(map[string]any{"exemptResources": []any{"task"}}),
	},
	"ecs-readonly-root-filesystem": {
		c("read-only root", compliant, false, "", taskDef(`[{"name":"app","readonlyRootFilesystem":true},{"name":"sidecar","readonlyRootFilesystem":true}]`)),
		c("writable root", violation, true, "container app needs readonlyRootFilesystem", taskDef(`[{"name":"app"}]`)),
		c("one writable sidecar", violation, true, "container sidecar", taskDef(`[{"name":"app","readonlyRootFilesystem":true},{"name":"sidecar","readonlyRootFilesystem":false}]`)),
		c("unknown definitions", unknowns, true, "unknown", res(taskDefinitionType, "task", map[string]any{"containerDefinitions": unknown})),
		c("exempted task", override, false, "", taskDef(`[{"name":"app"}]`)).with(map[string]any{"exemptResources": []any{"task"}}),
	},
	"nacl-no-admin-ingress": {
		c("ephemeral ranges that skip 22 and 3389", compliant, false, "", nacl(aclEntry("tcp", 1024, 3388, "0.0.0.0/0"), aclEntry("tcp", 3390, 65535, "0.0.0.0/0"), aclEntry("tcp", 22, 22, "10.0.0.0/16"))),
		c("ICMP from the internet", compliant, false, "", nacl(aclEntry("icmp", -1, -1, "0.0.0.0/0"))),
		c("deny entry", compliant, false, "", nacl(map[string]any{"ruleNo": 90, "action": "deny", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlock": "0.0.0.0/0"})),
		c("egress rule resource", compliant, false, "", res(networkACLRuleType, "out", map[string]any{"egress": true, "ruleAction": "allow", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlock": "0.0.0.0/0"})),
		c("all traffic from the internet", violation, true, "every protocol, including port 22", nacl(aclEntry("-1", 0, 0, "0.0.0.0/0"))),
		c("ephemeral range over 3389", violation, true, "TCP port 3389", nacl(aclEntry("tcp", 1024, 65535, "0.0.0.0/0"))),
		c("SSH from IPv6", violation, true, "port 22", nacl(map[string]any{"ruleNo": 100, "action": "allow", "protocol": "6", "fromPort": 22, "toPort": 22, "ipv6CidrBlock": "::/0"})),
		c("two halves of the internet", violation, true, "port 22", nacl(aclEntry("tcp", 22, 22, "0.0.0.0/1"), aclEntry("tcp", 22, 22, "128.0.0.0/1"))),
		c("rule resource for RDP over UDP", violation, true, "UDP port 3389", res(networkACLRuleType, "rdp", map[string]any{"egress": false, "ruleAction": "allow", "protocol": "udp", "fromPort": 3389, "toPort": 3389, "cidrBlock": "0.0.0.0/0"})),
		c("managed default ACL open", violation, true, "port 22", res(defaultNetworkACLType, "default-acl", map[string]any{"ingress": []any{aclEntry("all", 0, 0, "0.0.0.0/0")}})),
		c("unknown CIDR", unknowns, true, "unknown", nacl(map[string]any{"ruleNo": 100, "action": "allow", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlock": unknown})),
		c("SSH only as an admin port", override, false, "", nacl(aclEntry("tcp", 1024, 65535, "0.0.0.0/0"))).with(map[string]any{"adminPorts": []any{22.0}}),
		c("exempted ACL", override, false, "", nacl(aclEntry("-1", 0, 0, "0.0.0.0/0"))).with(map[string]any{"exemptResources": []any{"private-nacl"}}),
	},
	"default-security-group-closed": {
		c("VPC with its default group locked", compliant, false, "", awsxVPC(), defaultSG(nil)),
		c("awsx's VPC and the aws VPC it creates, as the engine shows them", compliant, false, "", awsxVPC(), func() policyx.AnalyzerResource {
			child := res("aws:ec2/vpc:Vpc", "vpc", map[string]any{"cidrBlock": "10.0.0.0/16"})
			child.Parent = awsxVPC().URN
			return child
		}(), defaultSG(nil)),
		c("VPC whose default group is unmanaged", violation, true, "not managed by the stack", awsxVPC()),
		c("plain VPC whose default group is unmanaged", violation, true, "not managed by the stack", res("aws:ec2/vpc:Vpc", "plain", map[string]any{"cidrBlock": "10.1.0.0/16"})),
		c("default group with an ingress rule", violation, true, "ingress has 1 rule", awsxVPC(), defaultSG(map[string]any{"ingress": []any{map[string]any{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": true}}})),
		c("default group with egress", violation, true, "egress has 1 rule", awsxVPC(), defaultSG(map[string]any{"egress": []any{map[string]any{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": []any{"0.0.0.0/0"}}}})),
		c("a rule resource on the default group", violation, true, "adds a rule to the default security group", awsxVPC(), defaultSG(nil),
			dependsOn(res(ingressRuleType, "sneaky", map[string]any{"securityGroupId": unknown, "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "10.0.0.0/8"}), "securityGroupId", defaultSG(nil))),
		c("unknown rules", unknowns, true, "unknown", awsxVPC(), defaultSG(map[string]any{"ingress": unknown})),
		c("exempted VPC", override, false, "", awsxVPC()).with(map[string]any{"exemptResources": []any{"vpc"}}),
	},
	"no-open-ingress": {
		c("UDP 443 open on a public ALB's group", violation, true, "opens UDP", sg("alb-sg", map[string]any{"protocol": "udp", "fromPort": 443, "toPort": 443, "cidrBlocks": []any{"0.0.0.0/0"}}),
			dependsOn(alb("alb", map[string]any{"securityGroups": []any{unknown}}), "securityGroups", sg("alb-sg"))),
		c("ICMP from the internet", violation, true, "opens ICMP", sg("app-sg", map[string]any{"protocol": "icmp", "fromPort": -1, "toPort": -1, "cidrBlocks": []any{"0.0.0.0/0"}})),
		c("protocol number 6 is TCP", violation, true, "opens port 22", sg("app-sg", map[string]any{"protocol": "6", "fromPort": 22, "toPort": 22, "cidrBlocks": []any{"0.0.0.0/0"}})),
		c("two halves of the internet in one rule", violation, true, "opens port 22", sg("app-sg", map[string]any{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": []any{"0.0.0.0/1", "128.0.0.0/1"}})),
		c("two halves of the internet in two rules", violation, true, "opens port 3389", sg("app-sg", ingress(3389, "0.0.0.0/1"), ingress(3389, "128.0.0.0/1"))),
		c("IPv6 halves", violation, true, "opens port 22", res(ingressRuleType, "a", map[string]any{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv6": "::/1", "securityGroupId": "sg-123"}),
			res(ingressRuleType, "b", map[string]any{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv6": "8000::/1", "securityGroupId": "sg-123"})),
		c("vpc rule with all protocols", violation, true, "all protocols", res(ingressRuleType, "all", map[string]any{"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"})),
		c("default group opened to HTTPS", violation, true, "default security group", res(defaultSecurityGroupType, "default-sg", map[string]any{"ingress": []any{ingress(443, "0.0.0.0/0")}})),
		c("most of the internet is not all of it", compliant, false, "", sg("app-sg", ingress(22, "0.0.0.0/1"), ingress(22, "128.0.0.0/2"))),
		c("advisory by pack config", override, true, "opens port 22", sg("app-sg", ingress(22, "0.0.0.0/0"))).at(advisory),
	},
	"waf-web-acl-rules": {
		c("managed group without override and a blocking rate rule", compliant, false, "", webACL(
			wafRule("common", nil, map[string]any{"none": empty}), wafRule("rate", map[string]any{"block": empty}, nil))),
		c("no rules", violation, true, "no rule blocks", webACL()),
		c("every rule counts", violation, true, "no rule blocks", webACL(wafRule("common", nil, map[string]any{"count": empty}), wafRule("rate", map[string]any{"count": empty}, nil))),
		c("rule without metrics", violation, true, "rules[0].visibilityConfig.cloudwatchMetricsEnabled must be true", webACL(func() map[string]any {
			r := wafRule("rate", map[string]any{"block": empty}, nil)
			r["visibilityConfig"] = map[string]any{"cloudwatchMetricsEnabled": false, "metricName": "rate", "sampledRequestsEnabled": true}
			return r
		}())),
		c("unknown rules", unknowns, true, "unknown", res(webACLType, "waf", map[string]any{"rules": unknown})),
		c("exempted ACL", override, false, "", webACL()).with(map[string]any{"exemptResources": []any{"waf"}}),
	},
	"waf-logging": {
		c("logging configuration by dependency", compliant, false, "", webACL(), dependsOn(res(webACLLoggingType, "waf-logging", map[string]any{"resourceArn": unknown, "logDestinationConfigs": []any{"arn"}}), "resourceArn", webACL())),
		c("no logging", violation, true, "no logging configuration", webACL()),
		c("unknown target", unknowns, true, "unknown", webACL(), res(webACLLoggingType, "waf-logging", map[string]any{"resourceArn": unknown})),
		c("mandatory by pack config", override, true, "no logging configuration", webACL()).at(policyx.EnforcementLevelMandatory),
	},
	"cloudfront-waf": {
		c("ACL of the stack, CLOUDFRONT scope", compliant, false, "", func() []policyx.AnalyzerResource {
			acl := webACL(wafRule("rate", map[string]any{"block": empty}, nil))
			acl.Properties = acl.Properties.Set("scope", toValue("CLOUDFRONT"))
			return []policyx.AnalyzerResource{acl, dependsOn(distribution(map[string]any{"webAclId": unknown}), "webAclId", acl)}
		}()...),
		c("ACL of the stack with REGIONAL scope", violation, true, "has scope REGIONAL", func() []policyx.AnalyzerResource {
			acl := webACL(wafRule("rate", map[string]any{"block": empty}, nil))
			return []policyx.AnalyzerResource{acl, dependsOn(distribution(map[string]any{"webAclId": unknown}), "webAclId", acl)}
		}()...),
		c("a regional ARN", violation, true, "not a WAFv2 web ACL of CLOUDFRONT scope", distribution(map[string]any{"webAclId": regionalACL})),
		c("a dependency on the ACL but no value", violation, true, "webAclId must name", func() []policyx.AnalyzerResource {
			acl := webACL(wafRule("rate", map[string]any{"block": empty}, nil))
			acl.Properties = acl.Properties.Set("scope", toValue("CLOUDFRONT"))
			return []policyx.AnalyzerResource{acl, dependsOn(distribution(nil), "webAclId", acl)}
		}()...),
	},
	"apigateway-stage-waf": {
		c("stage of a deployment, associated by ARN", compliant, false, "", res("aws:apigateway/deployment:Deployment", "d", map[string]any{"restApi": "api123", "stageName": "v1"}),
			res(webACLAssociationType, "a", map[string]any{"resourceArn": "arn:aws:apigateway:ap-northeast-1::/restapis/api123/stages/v1", "webAclArn": regionalACL})),
		c("stage of a deployment without WAF", violation, true, `stage "v1" created by deployment`, res("aws:apigateway/deployment:Deployment", "d", map[string]any{"restApi": "api123", "stageName": "v1"})),
		c("associated with a web ACL that only counts", violation, true, "has no rule that blocks", func() []policyx.AnalyzerResource {
			acl := webACL(wafRule("common", nil, map[string]any{"count": empty}))
			a := dependsOn(association(stage(), unknown), "webAclArn", acl)
			return []policyx.AnalyzerResource{stage(), acl, a}
		}()...),
		c("associated with something that is not a web ACL", violation, true, "not a regional WAFv2 web ACL ARN", stage(), association(stage(), "arn:aws:waf::123456789012:webacl/classic")),
		c("unknown stage name of a deployment", unknowns, true, "unknown", res("aws:apigateway/deployment:Deployment", "d", map[string]any{"restApi": "api123", "stageName": unknown})),
	},
	"alb-tls-policy": {
		c("TLS 1.3 policy", compliant, false, "", httpsListener("ELBSecurityPolicy-TLS13-1-2-2021-06")),
		c("HTTP redirect listener", compliant, false, "", httpListener()),
		c("awsx ALB with a TLS 1.2 policy", compliant, false, "", res(awsxALBType, "alb", map[string]any{"listener": map[string]any{"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-TLS-1-2-Ext-2018-06"}})),
		c("default policy", violation, true, "ELBSecurityPolicy-2016-08", httpsListener(nil)),
		c("TLS 1.1 policy", violation, true, "allows TLS older than 1.2", httpsListener("ELBSecurityPolicy-TLS-1-1-2017-01")),
		c("unknown policy", unknowns, true, "unknown", httpsListener(unknown)),
		c("exempted listener", override, false, "", httpsListener(nil)).with(map[string]any{"exemptResources": []any{"https"}}),
	},
	"alb-drop-invalid-headers": {
		c("headers dropped", compliant, false, "", alb("alb", map[string]any{"dropInvalidHeaderFields": true})),
		c("network load balancer", compliant, false, "", alb("nlb", map[string]any{"loadBalancerType": "network"})),
		c("headers kept", violation, true, "dropInvalidHeaderFields", alb("alb", nil)),
		c("awsx ALB keeping headers", violation, true, "dropInvalidHeaderFields", res(awsxALBType, "alb", map[string]any{"dropInvalidHeaderFields": false})),
		c("unknown flag", unknowns, true, "unknown", alb("alb", map[string]any{"dropInvalidHeaderFields": unknown})),
		c("exempted ALB", override, false, "", alb("alb", nil)).with(map[string]any{"exemptResources": []any{"alb"}}),
	},
	"alb-http-listener-rules": {
		c("redirect rule on the HTTP listener", compliant, false, "", httpListener(), listenerRule(httpListener(), "redirect")),
		c("forward rule on the HTTPS listener", compliant, false, "", httpsListener("ELBSecurityPolicy-TLS13-1-2-2021-06"), listenerRule(httpsListener(nil), "forward")),
		c("forward rule on the HTTP listener", violation, true, `its "forward" action serves plain HTTP`, httpListener(), listenerRule(httpListener(), "forward")),
		c("fixed response on the HTTP listener", violation, true, `"fixed-response"`, httpListener(), listenerRule(httpListener(), "fixed-response")),
		c("unknown listener", unknowns, true, "unknown", httpListener(), res(listenerRuleType, "rule", map[string]any{"listenerArn": unknown, "actions": []any{map[string]any{"type": "forward"}}})),
		c("exempted rule", override, false, "", httpListener(), listenerRule(httpListener(), "forward")).with(map[string]any{"exemptResources": []any{"rule"}}),
	},
	"cloudfront-tls": {
		c("custom certificate at TLSv1.2_2021, TLSv1.2 origin", compliant, false, "", distribution(map[string]any{"viewerCertificate": customCert("TLSv1.2_2021"), "origins": []any{customOrigin("TLSv1.2")}})),
		c("default certificate", compliant, false, "", distribution(map[string]any{"viewerCertificate": map[string]any{"cloudfrontDefaultCertificate": true}})),
		c("custom certificate at TLSv1.1_2016", violation, true, "must be TLSv1.2_2021 or newer", distribution(map[string]any{"viewerCertificate": customCert("TLSv1.1_2016")})),
		c("custom certificate at TLSv1.2_2019", violation, true, `"TLSv1.2_2019"`, distribution(map[string]any{"viewerCertificate": customCert("TLSv1.2_2019")})),
		c("origin allowing TLSv1", violation, true, "includes TLSv1", distribution(map[string]any{"origins": []any{customOrigin("TLSv1", "TLSv1.2")}})),
		c("origin allowing SSLv3", violation, true, "includes SSLv3", distribution(map[string]any{"origins": []any{customOrigin("SSLv3")}})),
		c("unknown version", unknowns, true, "unknown", distribution(map[string]any{"viewerCertificate": customCert(unknown)})),
		c("exempted distribution", override, false, "", distribution(map[string]any{"viewerCertificate": customCert("TLSv1")})).with(map[string]any{"exemptResources": []any{"cdn"}}),
	},
	"cloudfront-logging": {
		c("standard logging v2", compliant, false, "", accessLogDelivery(distribution(nil))...),
		c("legacy logging", compliant, false, "", distribution(map[string]any{"loggingConfig": map[string]any{"bucket": "logs.s3.amazonaws.com"}})),
		c("no logging", violation, true, "no access log delivery", distribution(nil)),
		c("source without delivery", violation, true, "no access log delivery", accessLogDelivery(distribution(nil))[:2]...),
		c("unknown source target", unknowns, true, "unknown", distribution(nil), res(logDeliverySource, "src", map[string]any{"name": "src", "logType": "ACCESS_LOGS", "resourceArn": unknown})),
		c("mandatory by pack config", override, true, "no access log delivery", distribution(nil)).at(policyx.EnforcementLevelMandatory),
	},
	"cloudtrail-s3-data-events": {
		c("all buckets' object events", compliant, false, "", dataLake(), trail(dataEvents("arn:aws:s3"))),
		c("the data lake's object events", compliant, false, "", dataLake(), trail(dataEvents("arn:aws:s3:::cats-data-lake-prod/"))),
		c("advanced selector for S3 objects", compliant, false, "", dataLake(), trail(map[string]any{"advancedEventSelectors": []any{
			map[string]any{"fieldSelectors": []any{map[string]any{"field": "eventCategory", "equals": []any{"Management"}}}},
			map[string]any{"fieldSelectors": []any{map[string]any{"field": "eventCategory", "equals": []any{"Data"}},
				map[string]any{"field": "resources.type", "equals": []any{"AWS::S3::Object"}},
				map[string]any{"field": "resources.ARN", "startsWiths": []any{"arn:aws:s3:::cats-data-lake-prod/"}}}}}})),
		c("shared municipality: the environment's trail", compliant, false, "", dataLake()),
		c("no data events", violation, true, "object-level write events (S3.22)", dataLake(), trail(nil)),
		c("another bucket's events", violation, true, "S3.22", dataLake(), trail(dataEvents("arn:aws:s3:::other/"))),
		c("write events only", violation, true, "read events (S3.23)", dataLake(), trail(map[string]any{"eventSelectors": []any{map[string]any{"readWriteType": "WriteOnly",
			"dataResources": []any{map[string]any{"type": "AWS::S3::Object", "values": []any{"arn:aws:s3"}}}}}})),
		c("unknown selectors", unknowns, true, "unknown", dataLake(), trail(map[string]any{"eventSelectors": unknown})),
		c("unknown name of a data lake", unknowns, true, "unknown", res("aws:s3/bucketV2:BucketV2", "cats-data-lake-prod", map[string]any{"bucket": unknown}), trail(dataEvents("arn:aws:s3"))),
		c("the access-log bucket is not the data lake", compliant, false, "", res("aws:s3/bucketV2:BucketV2", "cats-datalake-access-logs", map[string]any{"bucket": "cats-data-lake-logs-prod"}), trail(nil)),
		c("a municipality's data lake by its physical name", violation, true, "S3.22", res("aws:s3/bucketV2:BucketV2", "cats-datalake-bucket", map[string]any{"bucket": "cats-data-lake-131016-prod"}), trail(nil)),
		c("other bucket names", override, false, "", dataLake(), trail(nil)).with(map[string]any{"dataBucketPattern": "^cats-raw-"}),
		c("a pattern that is not a regular expression", override, true, "dataBucketPattern", dataLake(), trail(nil)).with(map[string]any{"dataBucketPattern": "("}),
	},
	"cloudtrail-bucket-access-logging": {
		c("trail bucket logged", compliant, false, "", bucket("trail-bucket"), trailTo(bucket("trail-bucket")), bucketLogging(bucket("trail-bucket"), "access-logs")),
		c("trail bucket outside the stack", compliant, false, "", trail(map[string]any{"s3BucketName": "org-trail"})),
		c("trail bucket not logged", violation, true, "no server access logging", bucket("trail-bucket"), trailTo(bucket("trail-bucket"))),
		c("logging of another bucket", violation, true, "no server access logging", bucket("trail-bucket"), trailTo(bucket("trail-bucket")), bucketLogging(bucket("other"), "access-logs")),
		c("unknown trail bucket", unknowns, true, "unknown", bucket("trail-bucket"), trail(map[string]any{"s3BucketName": unknown})),
		c("exempted bucket", override, false, "", bucket("trail-bucket"), trailTo(bucket("trail-bucket"))).with(map[string]any{"exemptResources": []any{"trail-bucket"}}),
	},
	"s3-account-public-access-block": {
		c("environment stack with the account block", compliant, false, "", trail(nil), accountPAB(nil)).on("prod"),
		c("shared municipality", compliant, false, "", bucket("b")).on("131016-prod"),
		c("environment stack without it", violation, true, "sets no account-level S3 public access block", bucket("b")).on("prod"),
		c("account-tenancy municipality (a trail) without it", violation, true, "sets no account-level", trail(nil)).on("131016-prod"),
		c("one flag off", violation, true, "ignorePublicAcls must be true", trail(nil), accountPAB(map[string]any{"ignorePublicAcls": false})),
		c("unknown flag", unknowns, true, "unknown", trail(nil), accountPAB(map[string]any{"blockPublicAcls": unknown})),
		c("advisory by pack config", override, true, "sets no account-level", trail(nil)).at(advisory),
	},
	"log-group-retention": {
		c("365 days in prod", compliant, false, "", res(logGroupType, "lg", map[string]any{"retentionInDays": 365})).on("prod"),
		c("30 days in a municipality's dev stack", compliant, false, "", res(logGroupType, "lg", map[string]any{"retentionInDays": 30})).on("131016-dev"),
		c("30 days in prod", violation, true, "below the minimum of 365 for a prod stack", res(logGroupType, "lg", map[string]any{"retentionInDays": 30})).on("prod"),
		c("90 days in a municipality's prod stack", violation, true, "below the minimum of 365", res(logGroupType, "lg", map[string]any{"retentionInDays": 90})).on("131016-prod"),
		c("prod minimum lowered to 90", override, false, "", res(logGroupType, "lg", map[string]any{"retentionInDays": 90})).on("prod").with(map[string]any{"prodMinimumRetentionDays": 90.0}),
		c("advisory by pack config", override, true, "forever", res(logGroupType, "lg", nil)).at(advisory),
	},
	"service-log-groups-declared": {
		c("function with its log group", compliant, false, "", lambdaFunction("cats-data-analysis", nil), logGroup("/aws/lambda/cats-data-analysis")),
		c("function with a custom log group by dependency", compliant, false, "", logGroup("/cats/functions"),
			dependsOn(lambdaFunction("cats-api-write", map[string]any{"loggingConfig": map[string]any{"logFormat": "JSON", "logGroup": unknown}}), "loggingConfig", logGroup("/cats/functions"))),
		c("execution logs declared", compliant, false, "", methodSettings("INFO"), logGroup("API-Gateway-Execution-Logs_api123/v1")),
		c("execution logging off", compliant, false, "", methodSettings("OFF")),
		c("function without its log group", violation, true, "declare it", lambdaFunction("cats-data-analysis", nil)),
		c("function with another function's log group", violation, true, "/aws/lambda/cats-api-write", lambdaFunction("cats-api-write", nil), logGroup("/aws/lambda/cats-data-analysis")),
		c("execution logs not declared", violation, true, "API-Gateway-Execution-Logs_api123/v1 is not declared", methodSettings("ERROR")),
		c("unknown function name", unknowns, true, "unknown", res(lambdaFunctionType, "f", map[string]any{"name": unknown})),
		c("exempted function", override, false, "", lambdaFunction("cats-data-analysis", nil)).with(map[string]any{"exemptResources": []any{"cats-data-analysis"}}),
	},
	"s3-bucket-encryption": {
		c("BucketV2's inline configuration", compliant, false, "", res("aws:s3/bucketV2:BucketV2", "lake", map[string]any{"bucket": "lake",
			"serverSideEncryptionConfigurations": []any{map[string]any{"rules": []any{map[string]any{
				"applyServerSideEncryptionByDefaults": []any{map[string]any{"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key}}}}}}})),
		c("BucketV2's inline configuration with an unsupported algorithm", violation, true, "no server-side encryption configuration", res("aws:s3/bucketV2:BucketV2", "lake", map[string]any{"bucket": "lake",
			"serverSideEncryptionConfigurations": []any{map[string]any{"rules": []any{map[string]any{
				"applyServerSideEncryptionByDefaults": []any{map[string]any{"sseAlgorithm": "none"}}}}}}})),
	},
	"s3-tls-only": {
		c("deny on the objects only", violation, true, "not the bucket itself", b1, bucketPolicy(b1, strings.ReplaceAll(tlsOnlyPolicy, `"arn:aws:s3:::data-lake-physical",`, ""))),
		c("deny on the bucket only", violation, true, "not its objects", b1, bucketPolicy(b1, strings.ReplaceAll(tlsOnlyPolicy, `,"arn:aws:s3:::data-lake-physical/*"`, ""))),
		c("deny on another bucket", violation, true, "not the bucket itself", b1, bucketPolicy(b1, strings.ReplaceAll(tlsOnlyPolicy, `"arn:aws:s3:::data-lake-physical",`, `"arn:aws:s3:::other",`))),
		c("deny on every resource", compliant, false, "", b1, bucketPolicy(b1, `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`)),
		c("two policies on one bucket", violation, true, "only the last one applied takes effect", b1, bucketPolicy(b1, tlsOnlyPolicy), func() policyx.AnalyzerResource {
			p := bucketPolicy(b1, `{"Statement":[]}`)
			p.Name, p.URN = "second", p.URN+"-second"
			return p
		}()),
		c("an inline policy without the deny", violation, true, "inline policy", res("aws:s3/bucketV2:BucketV2", "data-lake", map[string]any{"bucket": "data-lake-physical", "policy": `{"Statement":[]}`})),
	},
	"ebs-encryption": {
		c("data volume encrypted, root volume from the AMI", violation, true, "no block device mapping covers the root volume", template(map[string]any{
			"blockDeviceMappings": []any{map[string]any{"deviceName": "/dev/xvdb", "ebs": map[string]any{"encrypted": "true"}}}})),
		c("Ubuntu root device", override, false, "", template(map[string]any{
			"blockDeviceMappings": []any{map[string]any{"deviceName": "/dev/nvme0n1", "ebs": map[string]any{"encrypted": "true"}}}})).with(map[string]any{"rootDeviceNames": []any{"/dev/nvme0n1"}}),
	},
}

// cisPatterns are the CIS benchmark's filter patterns, one per monitored
// change (abridged to the event names the rule looks for).
var cisPatterns = map[string]string{
	"unauthorized-api-calls":      `{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }`,
	"console-signin-without-mfa":  `{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }`,
	"root-usage":                  `{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }`,
	"iam-policy-changes":          `{ ($.eventName=PutUserPolicy) || ($.eventName=DeletePolicy) || ($.eventName=AttachRolePolicy) }`,
	"cloudtrail-changes":          `{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || ($.eventName = StopLogging) }`,
	"kms-key-disable-or-deletion": `{ ($.eventSource = kms.amazonaws.com) && (($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion)) }`,
	"s3-bucket-policy-changes":    `{ ($.eventName = PutBucketPolicy) || ($.eventName = DeleteBucketPolicy) }`,
	"config-changes":              `{ ($.eventName = StopConfigurationRecorder) || ($.eventName = DeleteDeliveryChannel) }`,
	"security-group-changes":      `{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupIngress) || ($.eventName = CreateSecurityGroup) }`,
	"nacl-changes":                `{ ($.eventName = CreateNetworkAclEntry) || ($.eventName = DeleteNetworkAcl) || ($.eventName = ReplaceNetworkAclAssociation) }`,
	"network-gateway-changes":     `{ ($.eventName = CreateCustomerGateway) || ($.eventName = AttachInternetGateway) || ($.eventName = DeleteInternetGateway) }`,
	"route-table-changes":         `{ ($.eventName = CreateRoute) || ($.eventName = ReplaceRoute) || ($.eventName = DeleteRouteTable) }`,
	"vpc-changes":                 `{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) }`,
}

// monitoredTrail is a trail, its log group, and a filter and an alarm per
// monitored change, except those left out; alarmless leaves the alarms out.
func monitoredTrail(leaveOut string, alarmless bool) []policyx.AnalyzerResource {
	group := res(logGroupType, "trail-logs", map[string]any{"name": "cats-trail-logs", "kmsKeyId": key, "retentionInDays": 365})
	t := dependsOn(trail(map[string]any{"cloudWatchLogsGroupArn": unknown}), "cloudWatchLogsGroupArn", group)
	out := []policyx.AnalyzerResource{group, t}
	for name, pattern := range cisPatterns {
		if name == leaveOut {
			continue
		}
		out = append(out, dependsOn(res(metricFilterType, name, map[string]any{"logGroupName": unknown, "pattern": pattern,
			"metricTransformation": map[string]any{"name": name, "namespace": "CISBenchmark", "value": "1"}}), "logGroupName", group))
		if !alarmless {
			out = append(out, res(metricAlarmType, name+"-alarm", map[string]any{"metricName": name, "namespace": "CISBenchmark",
				"alarmActions": []any{"arn:aws:sns:ap-northeast-1:123456789012:cats-alarms"}}))
		}
	}
	return out
}

func init() {
	ruleCases["cloudtrail-metric-alarms"] = []ruleCase{
		c("every CIS 4.x filter with an alarm", compliant, false, "", monitoredTrail("", false)...),
		c("trail without CloudWatch Logs (cloudtrail-enabled's concern)", compliant, false, "", trail(map[string]any{"cloudWatchLogsGroupArn": nil})),
		c("no root usage filter", violation, true, "no metric filter for root-usage (CloudWatch.1, CIS 4.3)", monitoredTrail("root-usage", false)...),
		c("no VPC changes filter", violation, true, "vpc-changes (CloudWatch.14, CIS 4.14)", monitoredTrail("vpc-changes", false)...),
		c("filters without alarms", violation, true, "no alarm with an action watches", monitoredTrail("", true)...),
		c("unknown pattern", unknowns, true, "unknown", func() []policyx.AnalyzerResource {
			rs := monitoredTrail("", false)
			for i := range rs {
				if rs[i].Type == metricFilterType {
					rs[i].Properties = rs[i].Properties.Set("pattern", unknown)
					break
				}
			}
			return rs
		}()...),
		c("VPC changes not required", override, false, "", monitoredTrail("vpc-changes", false)...).with(map[string]any{"requiredFilters": []any{"root-usage", "unauthorized-api-calls"}}),
	}
	ruleCases["lambda-xray-tracing"] = []ruleCase{
		c("active tracing", compliant, false, "", lambdaFunction("f", map[string]any{"tracingConfig": map[string]any{"mode": "Active"}})),
		c("no tracing", violation, true, "must be Active", lambdaFunction("f", nil)),
		c("pass-through tracing", violation, true, `"PassThrough"`, lambdaFunction("f", map[string]any{"tracingConfig": map[string]any{"mode": "PassThrough"}})),
		c("unknown mode", unknowns, true, "unknown", lambdaFunction("f", map[string]any{"tracingConfig": map[string]any{"mode": unknown}})),
		c("exempted function", override, false, "", lambdaFunction("f", nil)).with(map[string]any{"exemptResources": []any{"f"}}),
	}
}
