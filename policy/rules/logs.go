package rules

import (
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

const (
	logGroupType       = "aws:cloudwatch/logGroup:LogGroup"
	lambdaFunctionType = "aws:lambda/function:Function"
	methodSettingsType = "aws:apigateway/methodSettings:MethodSettings"
)

func logRules() []Rule {
	return []Rule{
		{
			Name: "log-group-retention",
			Description: "CloudWatch Logs groups keep their logs for a bounded period of at least minimumRetentionDays, and at " +
				"least prodMinimumRetentionDays in a prod stack (seed §6 監視; cats:logRetentionDays: 30 days in dev, 365 in prod).",
			Control: "FSBP CloudWatch.16",
			Level:   policyx.EnforcementLevelMandatory,
			Properties: map[string]map[string]any{
				"minimumRetentionDays": {"type": "integer", "minimum": 1, "default": 30,
					"description": "Shortest acceptable retention in days in every stack."},
				"prodMinimumRetentionDays": {"type": "integer", "minimum": 1, "default": 365,
					"description": "Shortest acceptable retention in days in a prod stack (prod or <code>-prod; FSBP's own default)."},
				"allowNeverExpire": {"type": "boolean", "default": false,
					"description": "Accept log groups that never expire (no retentionInDays)."},
			},
			Types: []string{logGroupType},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				days := get(r.Properties, "retentionInDays")
				if days.unknown {
					c.Unknown(r.URN, days, "log group "+display(r))
					return
				}
				n, ok := days.number()
				if !ok || n == 0 {
					if !c.Config.Bool("allowNeverExpire") {
						c.Fail(r.URN, "log group %s: retentionInDays is not set, so logs are kept (and paid for) forever", display(r))
					}
					return
				}
				min, where := c.Config.Int("minimumRetentionDays"), ""
				if prod := c.Config.Int("prodMinimumRetentionDays"); environmentOfURN(c, r.URN) == "prod" && prod > min {
					min, where = prod, " for a prod stack"
				}
				if int(n) < min {
					c.Fail(r.URN, "log group %s: retentionInDays %d is below the minimum of %d%s", display(r), int(n), min, where)
				}
			},
		},
		{
			Name: "service-log-groups-declared",
			Description: "The log groups AWS services create on their own are declared by the stack, so the encryption and " +
				"retention rules see them: /aws/lambda/<function> for every Lambda function (or its loggingConfig.logGroup), " +
				"and API-Gateway-Execution-Logs_<api>/<stage> for every stage with execution logging on.",
			Control: "FSBP CloudWatch.16 and AWS Config CLOUDWATCH_LOG_GROUP_ENCRYPTED, for the groups services create",
			Level:   policyx.EnforcementLevelMandatory,
			Stack:   serviceLogGroups,
		},
	}
}

// environmentOfURN is the environment of the stack a URN belongs to
// (urn:pulumi:<stack>::…): dev, prod, or the env of <code>-<env>.
func environmentOfURN(c *Check, urn string) string {
	if c.stack != nil && c.stack.Environment != "" {
		return c.stack.Environment
	}
	stack, _, _ := strings.Cut(strings.TrimPrefix(urn, "urn:pulumi:"), "::")
	if stack == "dev" || stack == "prod" {
		return stack
	}
	if m := municipalityStack.FindStringSubmatch(stack); m != nil {
		return m[1]
	}
	return ""
}

func serviceLogGroups(c *Check, rs []policyx.AnalyzerResource) {
	declared := map[string]bool{}
	var groups []policyx.AnalyzerResource
	for _, r := range rs {
		if r.Type != logGroupType {
			continue
		}
		groups = append(groups, r)
		if n, ok := get(r.Properties, "name").str(); ok {
			declared[n] = true
		}
	}
	hasGroup := func(owner policyx.AnalyzerResource, prop, name string) bool {
		if declared[name] {
			return true
		}
		for _, g := range groups {
			if yes, _ := refers(owner, prop, g); yes {
				return true
			}
		}
		return false
	}
	for _, f := range rs {
		if f.Type != lambdaFunctionType {
			continue
		}
		custom := get(f.Properties, "loggingConfig", "logGroup")
		name := get(f.Properties, "name")
		switch {
		case custom.unknown:
			if len(f.PropertyDependencies["loggingConfig"]) == 0 {
				c.Unknown(f.URN, custom, "function "+display(f))
			}
		case custom.nonEmpty():
			s, _ := custom.str()
			if !hasGroup(f, "loggingConfig", s) {
				c.Fail(f.URN, "function %s: its log group %s is not declared by the stack", display(f), s)
			}
		case name.unknown:
			c.Unknown(f.URN, name, "function "+display(f))
		default:
			s, _ := name.str()
			if s == "" || !declared["/aws/lambda/"+s] {
				c.Fail(f.URN, "function %s: Lambda creates /aws/lambda/%s unencrypted and kept forever; declare it (or set loggingConfig.logGroup)", display(f), orStar(s))
			}
		}
	}
	for _, m := range rs {
		if m.Type != methodSettingsType {
			continue
		}
		level := get(m.Properties, "settings", "loggingLevel")
		if level.unknown {
			c.Unknown(m.URN, level, "method settings "+display(m))
			continue
		}
		if l, _ := level.str(); l == "" || strings.EqualFold(l, "OFF") {
			continue
		}
		api, stage := get(m.Properties, "restApi"), get(m.Properties, "stageName")
		a, aok := api.str()
		s, sok := stage.str()
		if !aok || !sok || a == "" || s == "" {
			// The API id is not known before it exists (a preview, an
			// unplanned id): a group whose name is built from it counts.
			if slices.ContainsFunc(groups, func(g policyx.AnalyzerResource) bool {
				n, ok := get(g.Properties, "name").str()
				return (ok && strings.HasPrefix(n, "API-Gateway-Execution-Logs_")) || get(g.Properties, "name").unknown
			}) {
				continue
			}
			c.Fail(m.URN, "method settings %s: execution logging is on but no API-Gateway-Execution-Logs_<api>/<stage> log group is declared", display(m))
			continue
		}
		if !declared["API-Gateway-Execution-Logs_"+a+"/"+s] {
			c.Fail(m.URN, "method settings %s: execution logging is on but API-Gateway-Execution-Logs_%s/%s is not declared, so API Gateway creates it unencrypted and kept forever", display(m), a, s)
		}
	}
}
