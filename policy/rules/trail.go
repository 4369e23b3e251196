package rules

import (
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// The account's audit trail (seed §8 監査ログ; DESIGN.md Stack model): an
// environment stack (or a municipality in its own account) owns a trail; a
// shared-tenancy municipality stack references its environment's.

const (
	trailType           = "aws:cloudtrail/trail:Trail"
	stackReferenceType  = "pulumi:pulumi:StackReference"
	stackType           = "pulumi:pulumi:Stack"
	configRecorderType  = "aws:cfg/recorder:Recorder"
	accountPABType      = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
	bucketLoggingV2Type = "aws:s3/bucketLoggingV2:BucketLoggingV2"
	bucketLoggingType   = "aws:s3/bucketLogging:BucketLogging"
)

func trailRules() []Rule {
	return []Rule{
		{
			Name: "cloudtrail-enabled",
			Description: "A stack that owns its account's baseline has a logging, multi-region CloudTrail trail with log file " +
				"validation, KMS encryption, CloudWatch Logs delivery and read and write management events (eventSelectors or " +
				"advancedEventSelectors); a shared-tenancy municipality stack instead references this project's environment stack " +
				"of its own environment, which owns the trail (never in cats:tenancy account).",
			Control: "FSBP CloudTrail.1 / CloudTrail.2 / CloudTrail.4 / CloudTrail.5, CIS 3.1 / 3.2 / 3.5",
			Level:   policyx.EnforcementLevelMandatory,
			Properties: map[string]map[string]any{
				"requireCloudWatchLogs": {"type": "boolean", "default": true,
					"description": "Require the trail to deliver to CloudWatch Logs (CloudTrail.5)."},
			},
			Stack: cloudtrailEnabled,
		},
		{
			Name: "cloudtrail-s3-data-events",
			Description: "In a stack with a trail, a trail records S3 object-level write and read data events for every data " +
				"lake bucket of the stack (a selector for all buckets counts).",
			Control: "FSBP S3.22 / S3.23, CIS 3.8 / 3.9",
			Level:   policyx.EnforcementLevelMandatory,
			Properties: map[string]map[string]any{
				"dataBucketPattern": {"type": "string", "default": `^cats-data-lake-(\d{6}-)?(dev|prod)(-|$)`,
					"description": "Regular expression on a bucket's name (physical or logical): the buckets whose object-level events must be recorded (the data lake, not its access-log bucket)."},
			},
			Stack: trailDataEvents,
		},
		{
			Name:        "cloudtrail-bucket-access-logging",
			Description: "The S3 bucket a trail of the stack delivers to has server access logging (aws:s3/bucketLoggingV2 or inline logging).",
			Control:     "FSBP CloudTrail.7, CIS 3.4",
			Level:       policyx.EnforcementLevelMandatory,
			Stack:       trailBucketLogging,
		},
		{
			Name: "s3-account-public-access-block",
			Description: "A stack that owns its account's baseline sets the account-level S3 public access block with all four " +
				"settings on (aws:s3/accountPublicAccessBlock).",
			Control: "FSBP S3.1, CIS 2.1.4",
			Level:   policyx.EnforcementLevelMandatory,
			Stack:   accountPublicAccessBlock,
		},
	}
}

// stackFacts is what the rules know of the stack under analysis.
type stackFacts struct {
	urn                                string // the root stack's URN, for stack-wide findings
	organization, project, name, env   string
	ownsBaseline, environmentStack, ok bool
}

var municipalityStack = regexp.MustCompile(`^\d{6}-([a-z]+)$`)

// factsOf reads the stack's identity from the configuration when the pack
// has it (Evaluator.StackContext), else from the resources: the root stack's URN
// (urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::…) and, for the
// baseline, a trail or an AWS Config recorder (one per account and region,
// so only the stack that owns the account creates one).
func factsOf(c *Check, rs []policyx.AnalyzerResource) stackFacts {
	var f stackFacts
	for _, r := range rs {
		switch r.Type {
		case stackType:
			f.urn = r.URN
			rest := strings.TrimPrefix(r.URN, "urn:pulumi:")
			if parts := strings.Split(rest, "::"); len(parts) >= 2 {
				f.name, f.project, f.ok = parts[0], parts[1], true
			}
		case trailType, configRecorderType:
			f.ownsBaseline = true
		}
	}
	if c.stack != nil {
		f.organization, f.project, f.name, f.env, f.ok = c.stack.Organization, c.stack.Project, c.stack.Stack, c.stack.Environment, true
		f.ownsBaseline = c.stack.OwnsBaseline
	}
	switch m := municipalityStack.FindStringSubmatch(f.name); {
	case f.name == "dev" || f.name == "prod":
		f.env, f.environmentStack, f.ownsBaseline = f.name, true, true
	case m != nil && f.env == "":
		f.env = m[1]
	}
	return f
}

// isOwnEnvironmentStack reports whether a stack reference names this
// project's environment stack of the stack's own environment: <env>,
// <project>/<env> or <org>/<project>/<env> (the organization must match
// when the configuration says which it is).
func (f stackFacts) isOwnEnvironmentStack(ref string) bool {
	if !f.ok || f.env == "" || f.environmentStack {
		return false
	}
	parts := strings.Split(ref, "/")
	switch len(parts) {
	case 1:
		return parts[0] == f.env
	case 2:
		return parts[0] == f.project && parts[1] == f.env
	case 3:
		return (f.organization == "" || parts[0] == f.organization) && parts[1] == f.project && parts[2] == f.env
	}
	return false
}

func cloudtrailEnabled(c *Check, rs []policyx.AnalyzerResource) {
	facts := factsOf(c, rs)
	var trails, refs []policyx.AnalyzerResource
	for _, r := range rs {
		switch r.Type {
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
	if len(failures) > 0 {
		for _, f := range failures {
			f()
		}
		return
	}
	if facts.ownsBaseline {
		c.Fail(facts.urn, "the stack owns its account's baseline (an environment stack or cats:tenancy account) but has no CloudTrail trail; a stack reference does not count here")
		return
	}
	var rejected []string
	for _, ref := range refs {
		name := get(ref.Properties, "name")
		if name.unknown {
			c.Unknown(ref.URN, name, "stack reference "+display(ref))
			return
		}
		s, _ := name.str()
		if !facts.isOwnEnvironmentStack(s) {
			rejected = append(rejected, s)
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
		c.Fail(ref.URN, "stack reference %s: environment stack %s exports no trailArn", display(ref), s)
		return
	}
	if len(refs) == 0 {
		// The engine does not show the analyzer a stack's references; the
		// stack's configuration names the one the program reads.
		for _, name := range c.references {
			if facts.isOwnEnvironmentStack(name) {
				return
			}
			rejected = append(rejected, name)
		}
	}
	why := ""
	if len(rejected) > 0 {
		why = " (" + strings.Join(rejected, ", ") + " is not it)"
	}
	c.Fail(facts.urn, "the stack has no CloudTrail trail and does not reference %s/%s, the environment stack of %s that owns the trail%s",
		orStar(facts.project), orStar(facts.env), orStar(facts.name), why)
}

func orStar(s string) string {
	if s == "" {
		return "?"
	}
	return s
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
	read, write, unknown := trailRecords(t, "Management", nil)
	if unknown != nil {
		return nil, unknown
	}
	if !read || !write {
		problems = append(problems, "the event selectors must record read and write management events (CloudTrail.1)")
	}
	return problems, nil
}

// trailRecords reports whether a trail records read and write events of a
// category (Management, or Data for the resources match accepts), through
// its eventSelectors or advancedEventSelectors. A trail with neither records
// every management event and no data event.
func trailRecords(t policyx.AnalyzerResource, category string, match func(typ string, values []string, prefix bool) bool) (read, write bool, unknown *val) {
	basic, unk := get(t.Properties, "eventSelectors").items()
	if unk {
		v := get(t.Properties, "eventSelectors")
		return false, false, &v
	}
	advanced, unk := get(t.Properties, "advancedEventSelectors").items()
	if unk {
		v := get(t.Properties, "advancedEventSelectors")
		return false, false, &v
	}
	if len(basic) == 0 && len(advanced) == 0 {
		return category == "Management", category == "Management", nil
	}
	mark := func(mode string) {
		switch mode {
		case "ReadOnly":
			read = true
		case "WriteOnly":
			write = true
		default:
			read, write = true, true
		}
	}
	for _, s := range basic {
		mode := s.at("readWriteType")
		if mode.unknown {
			return false, false, &mode
		}
		m, _ := mode.str()
		if category == "Management" {
			inc := s.at("includeManagementEvents")
			if inc.unknown {
				return false, false, &inc
			}
			if !inc.present() || inc.isTrue() {
				mark(m)
			}
			continue
		}
		resources, unk := s.at("dataResources").items()
		if unk {
			v := s.at("dataResources")
			return false, false, &v
		}
		for _, d := range resources {
			typ, _ := d.at("type").str()
			values, unk := d.at("values").strings()
			if unk {
				v := d.at("values")
				return false, false, &v
			}
			if match(typ, values, true) {
				mark(m)
			}
		}
	}
	for _, s := range advanced {
		fields, unk := s.at("fieldSelectors").items()
		if unk {
			v := s.at("fieldSelectors")
			return false, false, &v
		}
		categoryOK, mode := false, ""
		typ := ""
		var arns []string
		arnRestricted, other := false, false
		for _, f := range fields {
			name, _ := f.at("field").str()
			equals, u1 := f.at("equals").strings()
			starts, u2 := f.at("startsWiths").strings()
			if u1 || u2 {
				v := f.at("equals")
				return false, false, &v
			}
			switch name {
			case "eventCategory":
				categoryOK = slices.Contains(equals, category)
			case "readOnly":
				switch {
				case slices.Contains(equals, "true") && !slices.Contains(equals, "false"):
					mode = "ReadOnly"
				case slices.Contains(equals, "false") && !slices.Contains(equals, "true"):
					mode = "WriteOnly"
				}
			case "resources.type":
				if len(equals) > 0 {
					typ = equals[0]
				}
			case "resources.ARN":
				arnRestricted = true
				arns = append(arns, equals...)
				arns = append(arns, starts...)
			default:
				other = true // eventName, eventSource…: a subset of the category
			}
		}
		if !categoryOK || other {
			continue
		}
		if category == "Management" {
			mark(mode)
			continue
		}
		if !arnRestricted {
			arns = []string{"arn:aws:s3"}
		}
		if match(typ, arns, true) {
			mark(mode)
		}
	}
	return read, write, nil
}

// dataBucket reports whether a bucket is one whose object events must be
// recorded: its physical or logical name matches.
func dataBucket(b policyx.AnalyzerResource, pattern *regexp.Regexp) bool {
	name, _ := get(b.Properties, "bucket").str()
	return pattern.MatchString(name) || pattern.MatchString(b.Name)
}

func trailDataEvents(c *Check, rs []policyx.AnalyzerResource) {
	var trails []policyx.AnalyzerResource
	for _, r := range rs {
		if r.Type == trailType {
			trails = append(trails, r)
		}
	}
	if len(trails) == 0 {
		return // the environment's trail: checked in the environment stack
	}
	pattern, err := regexp.Compile(c.Config.String("dataBucketPattern"))
	if err != nil {
		c.Fail(trails[0].URN, "dataBucketPattern: %v; set it to a Go regular expression", err)
		return
	}
	for _, b := range rs {
		if !typeIs(b, bucketTypes...) {
			continue
		}
		name := get(b.Properties, "bucket")
		if name.unknown {
			if pattern.MatchString(b.Name) {
				c.Unknown(b.URN, name, "bucket "+display(b))
			}
			continue
		}
		if !dataBucket(b, pattern) {
			continue
		}
		bucketName, _ := name.str()
		match := func(typ string, values []string, _ bool) bool {
			if typ != "AWS::S3::Object" {
				return false
			}
			for _, v := range values {
				switch {
				case v == "arn:aws:s3" || v == "arn:aws:s3:::":
					return true
				case bucketName != "" && (v == "arn:aws:s3:::"+bucketName || v == "arn:aws:s3:::"+bucketName+"/"):
					return true
				}
			}
			return false
		}
		read, write := false, false
		for _, t := range trails {
			r, w, unknown := trailRecords(t, "Data", match)
			if unknown != nil {
				c.Unknown(b.URN, *unknown, "bucket "+display(b)+" (the trail's data event selectors)")
				return
			}
			read, write = read || r, write || w
		}
		switch {
		case !write:
			c.Fail(b.URN, "bucket %s: no trail records its object-level write events (S3.22)", display(b))
		case !read:
			c.Fail(b.URN, "bucket %s: no trail records its object-level read events (S3.23)", display(b))
		}
	}
}

func trailBucketLogging(c *Check, rs []policyx.AnalyzerResource) {
	for _, t := range rs {
		if t.Type != trailType {
			continue
		}
		for _, b := range rs {
			if !typeIs(b, bucketTypes...) {
				continue
			}
			yes, unknown := refers(t, "s3BucketName", b, bucketIDs(b)...)
			if unknown {
				c.Unknown(t.URN, get(t.Properties, "s3BucketName"), "trail "+display(t))
				return
			}
			if !yes {
				continue
			}
			if inline, _ := get(b.Properties, "loggings").items(); len(inline) > 0 {
				continue
			}
			if get(b.Properties, "logging", "targetBucket").nonEmpty() {
				continue
			}
			logged, unknownLink := false, false
			for _, l := range rs {
				if !typeIs(l, bucketLoggingV2Type, bucketLoggingType) {
					continue
				}
				y, u := refers(l, "bucket", b, bucketIDs(b)...)
				if y && (get(l.Properties, "targetBucket").nonEmpty() || get(l.Properties, "targetBucket").unknown) {
					logged = true
				}
				unknownLink = unknownLink || u
			}
			switch {
			case logged:
			case unknownLink:
				c.Unknown(b.URN, get(b.Properties, "bucket"), "trail bucket "+display(b)+" (which bucket a logging configuration applies to)")
			default:
				c.Fail(b.URN, "bucket %s: trail %s delivers to it but it has no server access logging", display(b), display(t))
			}
		}
	}
}

func accountPublicAccessBlock(c *Check, rs []policyx.AnalyzerResource) {
	facts := factsOf(c, rs)
	if !facts.ownsBaseline {
		return // the environment stack owns the account's settings
	}
	flags := []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"}
	found := false
	for _, r := range rs {
		if r.Type != accountPABType {
			continue
		}
		found = true
		var off []string
		for _, f := range flags {
			v := get(r.Properties, f)
			if v.unknown {
				c.Unknown(r.URN, v, "account public access block "+display(r))
				return
			}
			if !v.isTrue() {
				off = append(off, f)
			}
		}
		if len(off) > 0 {
			c.Fail(r.URN, "account public access block %s: %s must be true", display(r), strings.Join(off, ", "))
		}
	}
	if !found {
		c.Fail(facts.urn, "the stack owns its account's baseline but sets no account-level S3 public access block (aws:s3/accountPublicAccessBlock)")
	}
}
