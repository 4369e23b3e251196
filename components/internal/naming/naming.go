// Package naming is the one place that turns the seed's base names into physical
// AWS names, and the one tagging rule every taggable resource gets.
package naming

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Project is the Pulumi project name and the value of the project tag.
const Project = "cats-analytics"

// Tag keys every taggable resource carries.
const (
	TagProject      = "project"
	TagEnvironment  = "environment"
	TagMunicipality = "municipality-code"
	TagManagedBy    = "managed-by"
)

// SharedTenant is the municipality tag of an environment stack's default tenant.
const SharedTenant = "shared"

var stackPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Name budgets. The stack's name is part of every physical name, and the
// tightest AWS limit on a per-stack name is 32 characters, for load
// balancers and target groups (cats-alb-<stack>, cats-app-<stack>). S3
// bucket names are at most 63: a base of up to 20 characters, the stack and
// cats:globalSuffix.
const (
	MaxStackLength        = 32 - len("cats-alb-")
	MaxGlobalBaseLength   = 20
	MaxGlobalSuffixLength = 63 - MaxGlobalBaseLength - 1 - MaxStackLength - 1
)

// Namer derives physical names for one stack.
type Namer struct {
	stack  string
	suffix string // appended to globally unique names, from cats:globalSuffix
}

// NewNamer returns the namer of a stack. The stack name is part of every
// physical name, so it must be lower-case letters, digits and hyphens, and
// short enough for every name it becomes part of.
func NewNamer(stack, globalSuffix string) (Namer, error) {
	if !stackPattern.MatchString(stack) {
		return Namer{}, fmt.Errorf("stack name %q must be lower-case letters, digits and hyphens (e.g. dev, 131016-prod): it becomes part of AWS resource names", stack)
	}
	if len(stack) > MaxStackLength {
		return Namer{}, fmt.Errorf("stack name %q is %d characters; use at most %d: it becomes part of load balancer names, which AWS limits to 32", stack, len(stack), MaxStackLength)
	}
	if globalSuffix != "" && !stackPattern.MatchString(globalSuffix) {
		return Namer{}, fmt.Errorf("cats:globalSuffix %q must be lower-case letters, digits and hyphens", globalSuffix)
	}
	if len(globalSuffix) > MaxGlobalSuffixLength {
		return Namer{}, fmt.Errorf("cats:globalSuffix %q is %d characters; use at most %d: it becomes part of S3 bucket names, which AWS limits to 63", globalSuffix, len(globalSuffix), MaxGlobalSuffixLength)
	}
	return Namer{stack: stack, suffix: globalSuffix}, nil
}

// Stack returns the stack the namer belongs to.
func (n Namer) Stack() string { return n.stack }

// PerStack returns the seed's base name with the stack appended, for names that
// are unique per account and region (DynamoDB tables, Lambda functions, IAM roles,
// log groups): several stacks share an account. A base name with underscores
// (Glue, Athena) keeps underscores: cats_data → cats_data_131016_prod.
func (n Namer) PerStack(base string) string {
	if strings.Contains(base, "_") {
		return base + "_" + strings.ReplaceAll(n.stack, "-", "_")
	}
	return base + "-" + n.stack
}

// Global returns a name unique across all AWS accounts (S3 buckets): the
// per-stack name plus cats:globalSuffix when set. DESIGN.md deviation 3.
// NewNamer keeps the stack and the suffix within their budgets, so only a
// base longer than MaxGlobalBaseLength can make the name too long.
func (n Namer) Global(base string) (string, error) {
	if len(base) > MaxGlobalBaseLength {
		return "", fmt.Errorf("global base name %q is %d characters; the naming budget allows %d (S3 allows 63 in all)", base, len(base), MaxGlobalBaseLength)
	}
	name := n.PerStack(base)
	if n.suffix != "" {
		name += "-" + n.suffix
	}
	return name, nil
}

// Tags returns the standard tags of a stack.
func Tags(environment, municipalityCode string) map[string]string {
	if municipalityCode == "" {
		municipalityCode = SharedTenant
	}
	return map[string]string{
		TagProject:      Project,
		TagEnvironment:  environment,
		TagMunicipality: municipalityCode,
		TagManagedBy:    "pulumi",
	}
}

var stringMapInputType = reflect.TypeOf((*pulumi.StringMapInput)(nil)).Elem()

// TagTransformation is the tagging rule: every resource whose arguments have a
// `Tags pulumi.StringMapInput` field gets the standard tags, merged under any
// tags the resource sets itself (the standard keys always win, so no resource
// can mislabel its environment or municipality). Set it on the platform
// component; children inherit transformations from their parent.
func TagTransformation(tags map[string]string) pulumi.ResourceTransformation {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return func(args *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
		props := reflect.ValueOf(args.Props)
		if props.Kind() != reflect.Pointer || props.IsNil() || props.Elem().Kind() != reflect.Struct {
			return nil
		}
		field := props.Elem().FieldByName("Tags")
		if !field.IsValid() || !field.CanSet() || field.Type() != stringMapInputType {
			return nil
		}
		var merged pulumi.StringMapInput
		switch own := field.Interface().(type) {
		case nil:
			m := pulumi.StringMap{}
			for _, k := range keys {
				m[k] = pulumi.String(tags[k])
			}
			merged = m
		case pulumi.StringMap:
			m := pulumi.StringMap{}
			for k, v := range own {
				m[k] = v
			}
			for _, k := range keys {
				m[k] = pulumi.String(tags[k])
			}
			merged = m
		default:
			merged = own.(pulumi.StringMapInput).ToStringMapOutput().ApplyT(func(own map[string]string) map[string]string {
				m := make(map[string]string, len(own)+len(tags))
				for k, v := range own {
					m[k] = v
				}
				for k, v := range tags {
					m[k] = v
				}
				return m
			}).(pulumi.StringMapOutput)
		}
		field.Set(reflect.ValueOf(&merged).Elem())
		return &pulumi.ResourceTransformationResult{Props: args.Props, Opts: args.Opts}
	}
}
