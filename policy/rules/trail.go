package rules

import (
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// The account's audit trail (seed §8 監査ログ; DESIGN.md Stack model): an
// environment stack (or a municipality in its own account) owns a trail; a
// shared-tenancy municipality stack references its environment's.

const (
	trailType          = "aws:cloudtrail/trail:Trail"
	stackReferenceType = "pulumi:pulumi:StackReference"
	stackType          = "pulumi:pulumi:Stack"
)

func trailRules() []Rule {
	return []Rule{{
		Name: "cloudtrail-enabled",
		Description: "The stack has a logging, multi-region CloudTrail trail with log file validation and KMS " +
			"encryption, or references its environment stack, which owns the account's trail.",
		Control: "FSBP CloudTrail.1 / CloudTrail.2 / CloudTrail.4 / CloudTrail.5",
		Level:   policyx.EnforcementLevelMandatory,
		Properties: map[string]map[string]any{
			"environmentStackPattern": {"type": "string", "default": `^([^/]+/[^/]+/)?(dev|prod)$`,
				"description": "Regular expression a StackReference name must match to count as the environment stack that owns the trail."},
			"requireCloudWatchLogs": {"type": "boolean", "default": true,
				"description": "Require the trail to deliver to CloudWatch Logs (CloudTrail.5)."},
		},
		Stack: func(c *Check, rs []policyx.AnalyzerResource) {
			stackURN := ""
			var trails, refs []policyx.AnalyzerResource
			for _, r := range rs {
				switch r.Type {
				case stackType:
					stackURN = r.URN
				case trailType:
					trails = append(trails, r)
				case stackReferenceType:
					refs = append(refs, r)
				}
			}
			var failures []func()
			for _, t := range trails {
				problems, unknown := trailProblems(t, c.Config.Bool("requireCloudWatchLogs"))
				if unknown != nil {
					c.Unknown(t.URN, *unknown, "trail "+display(t))
					return
				}
				if len(problems) == 0 {
					return
				}
				failures = append(failures, func() {
					c.Fail(t.URN, "trail %s: %s", display(t), strings.Join(problems, "; "))
				})
			}
			if len(trails) == 0 {
				pattern, err := regexp.Compile(c.Config.String("environmentStackPattern"))
				if err != nil {
					c.Fail(stackURN, "environmentStackPattern: %v", err)
					return
				}
				for _, ref := range refs {
					name := get(ref.Properties, "name")
					if name.unknown {
						c.Unknown(ref.URN, name, "stack reference "+display(ref))
						return
					}
					s, _ := name.str()
					if !pattern.MatchString(s) {
						continue
					}
					outputs := get(ref.Properties, "outputs")
					if !outputs.present() || outputs.unknown {
						return // inputs only: the reference itself is what the rule asks for
					}
					arn := outputs.at("trailArn")
					if arn.unknown || arn.nonEmpty() || (arn.present() && arn.v.Secret()) {
						return
					}
					failures = append(failures, func() {
						c.Fail(ref.URN, "stack reference %s: environment stack %s exports no trailArn", display(ref), s)
					})
				}
			}
			if len(failures) > 0 {
				for _, f := range failures {
					f()
				}
				return
			}
			if len(trails) == 0 && len(refs) == 0 {
				// The engine does not show the analyzer a stack's references;
				// the stack's configuration names the one the program reads.
				pattern, _ := regexp.Compile(c.Config.String("environmentStackPattern"))
				for _, name := range c.references {
					if pattern != nil && pattern.MatchString(name) {
						return
					}
				}
			}
			c.Fail(stackURN, "the stack has no CloudTrail trail and references no environment stack (pattern %s) that owns one",
				c.Config.String("environmentStackPattern"))
		},
	}}
}

func trailProblems(t policyx.AnalyzerResource, requireLogs bool) ([]string, *val) {
	var problems []string
	for _, check := range []struct {
		prop string
		ok   func(val) bool
		why  string
	}{
		{"isMultiRegionTrail", val.isTrue, "isMultiRegionTrail must be true (CloudTrail.1)"},
		{"enableLogFileValidation", val.isTrue, "enableLogFileValidation must be true (CloudTrail.4)"},
		{"kmsKeyId", val.nonEmpty, "kmsKeyId must name a KMS key (CloudTrail.2)"},
		{"enableLogging", func(v val) bool { return !v.present() || v.isTrue() }, "enableLogging must not be false"},
		{"cloudWatchLogsGroupArn", func(v val) bool { return !requireLogs || v.nonEmpty() }, "cloudWatchLogsGroupArn must be set (CloudTrail.5)"},
	} {
		v := get(t.Properties, check.prop)
		if v.unknown {
			return nil, &v
		}
		if !check.ok(v) {
			problems = append(problems, check.why)
		}
	}
	return problems, nil
}
