package rules

import (
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// refers reports whether resource r's property prop refers to target: the
// engine records the dependency (PropertyDependencies, known even while the
// value itself is unknown in a preview), or the value equals one of the
// target's identifiers. unknown is set when the value is unknown and no
// dependency says where it comes from.
func refers(r policyx.AnalyzerResource, prop string, target policyx.AnalyzerResource, ids ...string) (yes, unknown bool) {
	if slices.Contains(r.PropertyDependencies[prop], target.URN) {
		return true, false
	}
	v := get(r.Properties, prop)
	if v.unknown {
		return false, len(r.PropertyDependencies[prop]) == 0
	}
	values, someUnknown := v.strings()
	for _, s := range values {
		if s != "" && slices.Contains(ids, s) {
			return true, false
		}
	}
	return false, someUnknown && len(r.PropertyDependencies[prop]) == 0
}

// bucketIDs are the values a configuration resource's "bucket" takes for a
// bucket: its name (which is also its id).
func bucketIDs(b policyx.AnalyzerResource) []string {
	var ids []string
	for _, k := range []string{"bucket", "id"} {
		if s, ok := get(b.Properties, k).str(); ok && s != "" {
			ids = append(ids, s)
		}
	}
	return ids
}

// Bucket types: pulumi-aws v6 BucketV2 and the deprecated Bucket.
var bucketTypes = []string{"aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket"}

// bucketsWith checks, for every bucket of the stack, the configuration
// resources of the given types that refer to it. check returns "" when one
// configuration satisfies the rule, or why the bucket fails.
func bucketsWith(c *Check, rs []policyx.AnalyzerResource, configTypes []string,
	inline func(b policyx.AnalyzerResource) (ok bool, unknown *val),
	check func(cfg policyx.AnalyzerResource) (problem string, unknown *val), missing string,
) {
	for _, b := range rs {
		if !typeIs(b, bucketTypes...) {
			continue
		}
		if inline != nil {
			ok, unk := inline(b)
			if ok {
				continue
			}
			if unk != nil {
				c.Unknown(b.URN, *unk, "bucket "+display(b))
				continue
			}
		}
		ids := bucketIDs(b)
		var problems []string
		var unknownLink, unknownValue *val
		satisfied := false
		for _, cfg := range rs {
			if !typeIs(cfg, configTypes...) {
				continue
			}
			yes, unk := refers(cfg, "bucket", b, ids...)
			if unk {
				v := get(cfg.Properties, "bucket")
				unknownLink = &v
			}
			if !yes {
				continue
			}
			problem, unkVal := check(cfg)
			switch {
			case unkVal != nil:
				unknownValue = unkVal
			case problem == "":
				satisfied = true
			default:
				problems = append(problems, display(cfg)+": "+problem)
			}
		}
		switch {
		case satisfied:
		case unknownValue != nil:
			c.Unknown(b.URN, *unknownValue, "bucket "+display(b))
		case len(problems) > 0:
			for _, p := range problems {
				c.Fail(b.URN, "bucket %s: %s", display(b), p)
			}
		case unknownLink != nil:
			c.Unknown(b.URN, *unknownLink, "bucket "+display(b)+" (which bucket a configuration applies to)")
		default:
			c.Fail(b.URN, "bucket %s: %s", display(b), missing)
		}
	}
}
