package rules

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

func logRules() []Rule {
	return []Rule{{
		Name: "log-group-retention",
		Description: "CloudWatch Logs groups keep their logs for a bounded period of at least minimumRetentionDays " +
			"(seed §6 監視; cats:logRetentionDays: 30 days in dev, 365 in prod).",
		Control: "FSBP CloudWatch.16",
		Level:   policyx.EnforcementLevelAdvisory,
		Properties: map[string]map[string]any{
			"minimumRetentionDays": {"type": "integer", "minimum": 1, "default": 30,
				"description": "Shortest acceptable retention in days (FSBP's own default is 365; set it for prod)."},
			"allowNeverExpire": {"type": "boolean", "default": false,
				"description": "Accept log groups that never expire (no retentionInDays)."},
		},
		Types: []string{"aws:cloudwatch/logGroup:LogGroup"},
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
			if min := c.Config.Int("minimumRetentionDays"); int(n) < min {
				c.Fail(r.URN, "log group %s: retentionInDays %d is below the minimum of %d", display(r), int(n), min)
			}
		},
	}}
}
