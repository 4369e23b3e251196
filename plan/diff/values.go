package diff

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cats-analytics/cats-analytics/plan"
)

// PathChange is one input that changes: its path (memorySize,
// environment.variables.WINDOW_SECONDS, rules[4].statement, and inside a
// JSON document held in a string, policy.Statement[1].Action), its old and
// new values in the state file's form (a secret is "[secret]"), and whether
// the resource's type cannot change that property in place.
type PathChange struct {
	Path string `json:"path"`
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
	// OldAbsent and NewAbsent tell a missing value from a null one.
	OldAbsent bool `json:"oldAbsent,omitempty"`
	NewAbsent bool `json:"newAbsent,omitempty"`
	// ForcesReplacement: AWS replaces the resource to make this change.
	ForcesReplacement bool `json:"forcesReplacement,omitempty"`
}

// Property is the top-level input the path belongs to.
func (p PathChange) Property() string {
	if i := strings.IndexAny(p.Path, ".["); i >= 0 {
		return p.Path[:i]
	}
	return p.Path
}

// diffInputs lists the input paths that differ between two resources'
// inputs, sorted.
func diffInputs(old, new map[string]any) []PathChange {
	var out []PathChange
	diffObjects("", old, new, &out)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func diffObjects(prefix string, old, new map[string]any, out *[]PathChange) {
	keys := make([]string, 0, len(old)+len(new))
	for k := range old {
		keys = append(keys, k)
	}
	for k := range new {
		if _, ok := old[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		o, inOld := old[k]
		n, inNew := new[k]
		path := joinKey(prefix, k)
		switch {
		case !inOld:
			*out = append(*out, PathChange{Path: path, New: n, OldAbsent: true})
		case !inNew:
			*out = append(*out, PathChange{Path: path, Old: o, NewAbsent: true})
		default:
			diffValues(path, o, n, out)
		}
	}
}

func diffValues(path string, old, new any, out *[]PathChange) {
	if equal(old, new) {
		return
	}
	switch o := old.(type) {
	case map[string]any:
		if n, ok := new.(map[string]any); ok {
			diffObjects(path, o, n, out)
			return
		}
	case []any:
		// Element by element when only elements change; a list that grows or
		// shrinks is shown whole (its indexes would all shift).
		if n, ok := new.([]any); ok && len(n) == len(o) {
			for i := range o {
				diffValues(fmt.Sprintf("%s[%d]", path, i), o[i], n[i], out)
			}
			return
		}
	case string:
		// Policies, dashboards and container definitions are JSON documents
		// in a string: show what changes inside them.
		if n, ok := new.(string); ok {
			if od, nd, ok := jsonDocuments(o, n); ok {
				diffValues(path, od, nd, out)
				return
			}
		}
	}
	*out = append(*out, PathChange{Path: path, Old: old, New: new})
}

func jsonDocuments(a, b string) (any, any, bool) {
	if !looksLikeJSON(a) || !looksLikeJSON(b) {
		return nil, nil, false
	}
	var da, db any
	if json.Unmarshal([]byte(a), &da) != nil || json.Unmarshal([]byte(b), &db) != nil {
		return nil, nil, false
	}
	return da, db, true
}

func looksLikeJSON(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) > 1 && (s[0] == '{' && s[len(s)-1] == '}' || s[0] == '[' && s[len(s)-1] == ']')
}

var plainKey = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$-]*$`)

func joinKey(prefix, key string) string {
	if !plainKey.MatchString(key) {
		key = strconv.Quote(key)
		return prefix + "[" + key + "]"
	}
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// equal compares values in the state file's form; numbers compare by value
// whatever their Go type.
func equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case nil:
		return b == nil
	}
	if fa, ok := toFloat(a); ok {
		fb, ok := toFloat(b)
		return ok && fa == fb
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// maxValueRunes is the longest value a report prints whole.
const maxValueRunes = 60

// Show renders a value for a reader: JSON, a secret as [secret], a long value
// abbreviated with its length, an absent one as (none).
func Show(v any, absent bool) string {
	if absent {
		return "(none)"
	}
	if s, ok := v.(string); ok && s == plan.RedactedSecret {
		return plan.RedactedSecret
	}
	raw, err := json.Marshal(v)
	if err != nil {
		raw = []byte(fmt.Sprint(v))
	}
	s := string(raw)
	if n := utf8.RuneCountInString(s); n > maxValueRunes {
		runes := []rune(s)
		s = string(runes[:maxValueRunes-20]) + "…" + string(runes[n-8:]) + fmt.Sprintf(" (%d chars)", n)
	}
	return s
}

// normalizer replaces a stack's own names in values by placeholders, so the
// same change in two stacks reads the same: cats-data-analysis-131016-prod
// becomes cats-data-analysis-{stack}, the municipality-code tag {code}.
type normalizer struct {
	stack, code *regexp.Regexp
}

var municipalityStack = regexp.MustCompile(`^(\d{6})-([a-z0-9]+)$`)

func newNormalizer(stack string) normalizer {
	n := normalizer{stack: regexp.MustCompile(`(^|[^A-Za-z0-9])` + regexp.QuoteMeta(stack) + `($|[^A-Za-z0-9])`)}
	if m := municipalityStack.FindStringSubmatch(stack); m != nil {
		n.code = regexp.MustCompile(`(^|[^0-9])` + m[1] + `($|[^0-9])`)
	}
	return n
}

func (n normalizer) string(s string) string {
	s = replaceAll(n.stack, s, "{stack}")
	if n.code != nil {
		s = replaceAll(n.code, s, "{code}")
	}
	return s
}

// replaceAll replaces the middle of each match (the delimiters around it
// stay); it repeats because adjacent matches share a delimiter.
func replaceAll(re *regexp.Regexp, s, with string) string {
	for {
		out := re.ReplaceAllString(s, "${1}"+with+"${2}")
		if out == s {
			return out
		}
		s = out
	}
}

func (n normalizer) value(v any) any {
	switch x := v.(type) {
	case string:
		return n.string(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = n.value(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = n.value(e)
		}
		return out
	}
	return v
}
