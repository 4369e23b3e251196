package plan

import "github.com/pulumi/pulumi/sdk/v3/go/common/resource"

// Input returns an input by its (camelCase) property name, or a null value.
func (r Resource) Input(name string) resource.PropertyValue {
	return r.Inputs[resource.PropertyKey(name)]
}

// Str returns a string input, "" when absent or not a string.
func (r Resource) Str(name string) string {
	if v := r.Input(name); v.IsString() {
		return v.StringValue()
	}
	return ""
}
