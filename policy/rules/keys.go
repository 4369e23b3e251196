package rules

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

func keyRules() []Rule {
	return []Rule{{
		Name: "kms-key-rotation",
		Description: "Customer managed symmetric KMS keys rotate their key material yearly " +
			"(asymmetric and HMAC keys cannot rotate and are skipped).",
		Control: "FSBP KMS.4, CIS 3.6",
		Level:   policyx.EnforcementLevelMandatory,
		Types:   []string{"aws:kms/key:Key"},
		Resource: func(c *Check, r policyx.AnalyzerResource) {
			for _, prop := range []string{"keySpec", "customerMasterKeySpec"} {
				spec := get(r.Properties, prop)
				if spec.unknown {
					c.Unknown(r.URN, spec, "key "+display(r))
					return
				}
				if s, ok := spec.str(); ok && s != "" && s != "SYMMETRIC_DEFAULT" {
					return
				}
			}
			rotation := get(r.Properties, "enableKeyRotation")
			switch {
			case rotation.unknown:
				c.Unknown(r.URN, rotation, "key "+display(r))
			case !rotation.isTrue():
				c.Fail(r.URN, "key %s: enableKeyRotation must be true", display(r))
			}
		},
	}}
}
