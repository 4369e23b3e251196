package rules

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// The helpers below read resource properties without ever calling an As*
// accessor on a computed value: in sdk v3.274.1, property.Value.AsString (and
// its siblings) panic on an unknown value, which crashes the whole pack during
// `pulumi preview`. Every rule reads properties through them.

// val is a property looked up along a path.
type val struct {
	v       property.Value
	path    string
	unknown bool // the value, or a map on its path, is not known until deployment
}

// get follows a path of map keys from m.
func get(m property.Map, path ...string) val {
	cur := property.New(m)
	for _, key := range path {
		if cur.IsComputed() {
			return val{path: strings.Join(path, "."), unknown: true}
		}
		if !cur.IsMap() {
			return val{path: strings.Join(path, ".")}
		}
		cur = cur.AsMap().Get(key)
	}
	return val{v: cur, path: strings.Join(path, "."), unknown: cur.IsComputed()}
}

// at reads a key of the value when it is a map.
func (x val) at(path ...string) val {
	if x.unknown {
		return val{path: x.path + "." + strings.Join(path, "."), unknown: true}
	}
	if !x.v.IsMap() {
		return val{path: x.path + "." + strings.Join(path, ".")}
	}
	inner := get(x.v.AsMap(), path...)
	inner.path = x.path + "." + inner.path
	return inner
}

// present reports whether the value is set (not null). Unknown values are not
// "present": callers check unknown first.
func (x val) present() bool { return !x.unknown && !x.v.IsNull() }

// str returns the value as a string and whether it is one.
func (x val) str() (string, bool) {
	if x.unknown || !x.v.IsString() {
		return "", false
	}
	return x.v.AsString(), true
}

// nonEmpty reports a known, non-empty string.
func (x val) nonEmpty() bool {
	s, ok := x.str()
	return ok && s != ""
}

// boolean returns the value as a bool. Strings "true"/"false" count: some
// providers (launch template block devices) type booleans as strings.
func (x val) boolean() (value, ok bool) {
	if x.unknown {
		return false, false
	}
	switch {
	case x.v.IsBool():
		return x.v.AsBool(), true
	case x.v.IsString():
		switch strings.ToLower(x.v.AsString()) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// isTrue reports a known true.
func (x val) isTrue() bool {
	b, ok := x.boolean()
	return ok && b
}

// number returns the value as a float64.
func (x val) number() (float64, bool) {
	if x.unknown || !x.v.IsNumber() {
		return 0, false
	}
	return x.v.AsNumber(), true
}

// items returns the elements of an array value (a single map counts as one
// element: pulumi-aws flattens some MaxItems=1 blocks), and whether the array
// itself is unknown.
func (x val) items() (elems []val, unknown bool) {
	if x.unknown {
		return nil, true
	}
	switch {
	case x.v.IsArray():
		for i, e := range x.v.AsArray().AsSlice() {
			elems = append(elems, val{v: e, path: fmt.Sprintf("%s[%d]", x.path, i), unknown: e.IsComputed()})
		}
	case x.v.IsMap():
		elems = []val{x}
	}
	return elems, false
}

// strings returns the string elements of an array (or a single string), and
// whether any element is unknown.
func (x val) strings() (out []string, unknown bool) {
	if s, ok := x.str(); ok {
		return []string{s}, false
	}
	elems, unknown := x.items()
	for _, e := range elems {
		if e.unknown {
			unknown = true
			continue
		}
		if s, ok := e.str(); ok {
			out = append(out, s)
		}
	}
	return out, unknown
}

// propertyOf is a resource's properties as one map value.
func propertyOf(r policyx.AnalyzerResource) property.Value { return property.New(r.Properties) }

// toGo converts a known property value to plain Go values (for JSON).
func toGo(v property.Value) any {
	switch {
	case v.IsMap():
		out := map[string]any{}
		for k, e := range v.AsMap().All {
			out[k] = toGo(e)
		}
		return out
	case v.IsArray():
		var out []any
		for _, e := range v.AsArray().All {
			out = append(out, toGo(e))
		}
		return out
	case v.IsString():
		return v.AsString()
	case v.IsNumber():
		return v.AsNumber()
	case v.IsBool():
		return v.AsBool()
	}
	return nil
}
