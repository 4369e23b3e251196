package rules

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Who may call what (seed §8 IAM): functions, keys, instance metadata and
// containers.

const (
	lambdaPermissionType = "aws:lambda/permission:Permission"
	kmsKeyType           = "aws:kms/key:Key"
	kmsKeyPolicyType     = "aws:kms/keyPolicy:KeyPolicy"
	launchTemplateType   = "aws:ec2/launchTemplate:LaunchTemplate"
	instanceType         = "aws:ec2/instance:Instance"
	taskDefinitionType   = "aws:ecs/taskDefinition:TaskDefinition"
)

// narrowingConditionKeys are the condition keys that narrow a statement for
// every principal to one account, organization, service or source.
var narrowingConditionKeys = []string{
	"aws:sourcearn", "aws:sourceaccount", "aws:sourceowner", "aws:principalaccount", "aws:principalorgid",
	"aws:principalarn", "aws:sourcevpce", "aws:sourcevpc", "aws:principalorgpaths", "aws:sourceorgid",
	"kms:calleraccount", "kms:viaservice", "aws:userid", "aws:username",
}

func accessRules() []Rule {
	return []Rule{
		{
			Name: "lambda-permission-restricted",
			Description: "No Lambda permission grants invocation to every principal (\"*\"), and a grant to an AWS service " +
				"principal names the calling resource (sourceArn) or account (sourceAccount).",
			Control: "FSBP Lambda.1",
			Level:   policyx.EnforcementLevelMandatory,
			Types:   []string{lambdaPermissionType},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				principal := get(r.Properties, "principal")
				if principal.unknown {
					c.Unknown(r.URN, principal, "permission "+display(r))
					return
				}
				p, _ := principal.str()
				switch {
				case p == "*" || strings.Contains(p, "*"):
					c.Fail(r.URN, "permission %s: principal %s lets anyone invoke the function", display(r), quote(p))
				case strings.HasSuffix(p, ".amazonaws.com") || strings.HasSuffix(p, ".amazonaws.com.cn"):
					arn, account := get(r.Properties, "sourceArn"), get(r.Properties, "sourceAccount")
					if arn.nonEmpty() || account.nonEmpty() || (arn.unknown && len(r.PropertyDependencies["sourceArn"]) > 0) {
						return
					}
					if arn.unknown || account.unknown {
						c.Unknown(r.URN, arn, "permission "+display(r))
						return
					}
					c.Fail(r.URN, "permission %s: service principal %s needs sourceArn or sourceAccount, or any account's %s could invoke the function", display(r), p, p)
				}
			},
		},
		{
			Name: "kms-key-policy-not-public",
			Description: "No KMS key policy (kms.Key policy or a separate kms.KeyPolicy) allows Principal \"*\" (or {\"AWS\": \"*\"}) " +
				"without a condition that narrows it to an account, organization, service or source, and none bypasses the policy lockout safety check.",
			Control: "FSBP KMS.5",
			Level:   policyx.EnforcementLevelMandatory,
			Types:   []string{kmsKeyType, kmsKeyPolicyType},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				what := "key " + display(r)
				if r.Type == kmsKeyPolicyType {
					what = "key policy " + display(r)
				}
				bypass := get(r.Properties, "bypassPolicyLockoutSafetyCheck")
				switch {
				case bypass.unknown:
					c.Unknown(r.URN, bypass, what)
				case bypass.isTrue():
					c.Fail(r.URN, "%s: bypassPolicyLockoutSafetyCheck must not be true (the key could become unmanageable)", what)
				}
				doc := get(r.Properties, "policy")
				if doc.unknown {
					c.Unknown(r.URN, doc, what)
					return
				}
				if !doc.present() {
					return // AWS's default key policy: the account only
				}
				statements, err := policyStatements(doc)
				if err != nil {
					c.Fail(r.URN, "%s: the policy is not a JSON policy document: %v", what, err)
					return
				}
				for i, st := range statements {
					if st["Effect"] != "Allow" || !everyone(st["Principal"]) {
						continue
					}
					if !narrowed(st["Condition"]) {
						c.Fail(r.URN, "%s: statement %s allows every principal without a narrowing condition (%s)",
							what, statementName(st, i), strings.Join(narrowingConditionKeys[:5], ", ")+", …")
					}
				}
			},
		},
		{
			Name: "imdsv2-required",
			Description: "EC2 instances and launch templates require IMDSv2 session tokens " +
				"(metadataOptions.httpTokens required), or turn the metadata endpoint off.",
			Control: "FSBP EC2.8 / EC2.170, CIS 5.6",
			Level:   policyx.EnforcementLevelMandatory,
			Types:   []string{launchTemplateType, instanceType},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				what := "instance " + display(r)
				if r.Type == launchTemplateType {
					what = "launch template " + display(r)
				}
				endpoint, tokens := get(r.Properties, "metadataOptions", "httpEndpoint"), get(r.Properties, "metadataOptions", "httpTokens")
				switch {
				case endpoint.unknown:
					c.Unknown(r.URN, endpoint, what)
				case strEq(endpoint, "disabled"):
				case tokens.unknown:
					c.Unknown(r.URN, tokens, what)
				case !strEq(tokens, "required"):
					s, _ := tokens.str()
					c.Fail(r.URN, "%s: metadataOptions.httpTokens is %s; it must be \"required\" (IMDSv1 lets SSRF read the role's credentials)", what, quote(s))
				}
			},
		},
		{
			Name:        "ecs-no-privileged-containers",
			Description: "No container of an ECS task definition runs privileged.",
			Control:     "FSBP ECS.4",
			Level:       policyx.EnforcementLevelMandatory,
			Types:       []string{taskDefinitionType},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				containers(c, r, func(name string, def map[string]any) {
					if def["privileged"] == true {
						c.Fail(r.URN, "task definition %s: container %s is privileged", display(r), name)
					}
				})
			},
		},
		{
			Name:        "ecs-readonly-root-filesystem",
			Description: "Every container of an ECS task definition has a read-only root filesystem (writable paths are volumes).",
			Control:     "FSBP ECS.5",
			Level:       policyx.EnforcementLevelMandatory,
			Types:       []string{taskDefinitionType},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				containers(c, r, func(name string, def map[string]any) {
					if def["readonlyRootFilesystem"] != true {
						c.Fail(r.URN, "task definition %s: container %s needs readonlyRootFilesystem true", display(r), name)
					}
				})
			},
		},
	}
}

// containers calls each for every container definition of a task
// definition (containerDefinitions is a JSON array in a string).
func containers(c *Check, r policyx.AnalyzerResource, each func(name string, def map[string]any)) {
	v := get(r.Properties, "containerDefinitions")
	if v.unknown {
		c.Unknown(r.URN, v, "task definition "+display(r))
		return
	}
	var defs []map[string]any
	if s, ok := v.str(); ok {
		if err := json.Unmarshal([]byte(s), &defs); err != nil {
			c.Fail(r.URN, "task definition %s: containerDefinitions is not a JSON array of containers: %v", display(r), err)
			return
		}
	} else if v.present() {
		raw, _ := json.Marshal(toGo(v.v))
		if err := json.Unmarshal(raw, &defs); err != nil {
			c.Fail(r.URN, "task definition %s: containerDefinitions is not an array of containers", display(r))
			return
		}
	}
	for i, d := range defs {
		name, _ := d["name"].(string)
		if name == "" {
			name = fmt.Sprintf("#%d", i)
		}
		each(name, d)
	}
}

// policyStatements parses an IAM policy document (a JSON string or an
// object) into its statements.
func policyStatements(doc val) ([]map[string]any, error) {
	var parsed map[string]any
	switch {
	case doc.v.IsString():
		if err := json.Unmarshal([]byte(doc.v.AsString()), &parsed); err != nil {
			return nil, err
		}
	case doc.v.IsMap():
		raw, err := json.Marshal(toGo(doc.v))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &parsed); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s is neither a string nor an object", doc.path)
	}
	var out []map[string]any
	switch st := parsed["Statement"].(type) {
	case []any:
		for _, s := range st {
			if m, ok := s.(map[string]any); ok {
				out = append(out, m)
			}
		}
	case map[string]any:
		out = append(out, st)
	}
	return out, nil
}

// narrowed reports whether a statement's condition limits it with one of
// the narrowing keys.
func narrowed(cond any) bool {
	operators, _ := cond.(map[string]any)
	for _, keys := range operators {
		m, _ := keys.(map[string]any)
		for k := range m {
			for _, n := range narrowingConditionKeys {
				if strings.EqualFold(k, n) {
					return true
				}
			}
		}
	}
	return false
}

func statementName(st map[string]any, i int) string {
	if sid, ok := st["Sid"].(string); ok && sid != "" {
		return quote(sid)
	}
	return fmt.Sprintf("#%d", i)
}

func tracingRules() []Rule {
	return []Rule{{
		Name:        "lambda-xray-tracing",
		Description: "Lambda functions have AWS X-Ray active tracing (tracingConfig.mode Active).",
		Control:     "FSBP Lambda.7",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       []string{lambdaFunctionType},
		Resource: func(c *Check, r policyx.AnalyzerResource) {
			mode := get(r.Properties, "tracingConfig", "mode")
			switch {
			case mode.unknown:
				c.Unknown(r.URN, mode, "function "+display(r))
			case !strEq(mode, "Active"):
				s, _ := mode.str()
				c.Fail(r.URN, "function %s: tracingConfig.mode is %s; it must be Active", display(r), quote(s))
			}
		},
	}}
}
