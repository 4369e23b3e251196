package rules

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Public access (seed §8; DESIGN.md deviation 4: only CloudFront, through an
// origin access control, reads the published prefix).

func bucketRules() []Rule {
	return []Rule{{
		Name: "s3-public-access-block",
		Description: "Every S3 bucket has a public access block with all four settings on " +
			"(residents' reports must never become public by a policy or ACL mistake).",
		Control: "FSBP S3.8",
		Level:   policyx.EnforcementLevelMandatory,
		Stack: func(c *Check, rs []policyx.AnalyzerResource) {
			flags := []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"}
			bucketsWith(c, rs, []string{"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"}, nil,
				func(pab policyx.AnalyzerResource) (string, *val) {
					var off []string
					for _, f := range flags {
						v := get(pab.Properties, f)
						if v.unknown {
							return "", &v
						}
						if !v.isTrue() {
							off = append(off, f)
						}
					}
					if len(off) > 0 {
						return strings.Join(off, ", ") + " must be true", nil
					}
					return "", nil
				},
				"no public access block refers to it")
		},
	}}
}
