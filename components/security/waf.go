package security

import "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/wafv2"

// Short names for the deeply nested WAFv2 argument types, so the web ACL reads
// as the rule list it is.
type (
	wafWebACL         = wafv2.WebAcl
	wafWebACLArgs     = wafv2.WebAclArgs
	wafRules          = wafv2.WebAclRuleArray
	wafRule           = wafv2.WebAclRuleArgs
	wafAction         = wafv2.WebAclRuleActionArgs
	wafBlock          = wafv2.WebAclRuleActionBlockArgs
	wafOverride       = wafv2.WebAclRuleOverrideActionArgs
	wafOverrideNone   = wafv2.WebAclRuleOverrideActionNoneArgs
	wafStatement      = wafv2.WebAclRuleStatementArgs
	wafManaged        = wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs
	wafRate           = wafv2.WebAclRuleStatementRateBasedStatementArgs
	wafRuleVisibility = wafv2.WebAclRuleVisibilityConfigArgs
	wafVisibility     = wafv2.WebAclVisibilityConfigArgs
	wafDefault        = wafv2.WebAclDefaultActionArgs
	wafAllow          = wafv2.WebAclDefaultActionAllowArgs
)
