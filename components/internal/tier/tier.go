// Package tier is what every tier component does the same way: check its
// arguments before anything is registered, register itself, and register its
// outputs from one list, the component's `pulumi:"…"` fields.
package tier

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Check collects every problem of a tier's arguments, so that one error
// names them all and the caller fixes them in one go.
type Check struct {
	tier string
	errs []error
}

// NewCheck starts the check of a tier's arguments; tier prefixes its messages.
func NewCheck(tier string) *Check { return &Check{tier: tier} }

// NewAccountCheck starts the check of a tier that names its resources and
// builds ARNs: it requires the namer and the account and region.
func NewAccountCheck(tier string, namer, accountID, region any) *Check {
	c := NewCheck(tier)
	c.Require("Namer", namer)
	c.Require("AccountID and Region", accountID, region)
	return c
}

// Require records "<tier>: <names> is required" ("are", for several values)
// unless every value is set: not nil and not its type's zero value ("", a
// zero naming.Namer, an output never assigned).
func (c *Check) Require(names string, values ...any) {
	for _, v := range values {
		if missing(v) {
			verb := "is"
			if len(values) > 1 {
				verb = "are"
			}
			c.errs = append(c.errs, fmt.Errorf("%s: %s %s required", c.tier, names, verb))
			return
		}
	}
}

// Expect records "<tier>: <problem>" unless ok.
func (c *Check) Expect(ok bool, problem string) {
	if !ok {
		c.errs = append(c.errs, fmt.Errorf("%s: %s", c.tier, problem))
	}
}

// ExpectConfig records problem as it is unless ok: it starts with the
// config key the user fixes (e.g. "cats:domain: …"), not with the tier.
func (c *Check) ExpectConfig(ok bool, problem string) {
	if !ok {
		c.errs = append(c.errs, errors.New(problem))
	}
}

// Err is every problem recorded, or nil.
func (c *Check) Err() error { return errors.Join(c.errs...) }

func missing(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return rv.IsZero()
}

// Register runs check, which may default the arguments it checks (pass the
// method value of the tier's *Args), and registers the component under its
// type token, so a bad argument fails before anything is registered.
func Register(ctx *pulumi.Context, token, name string, component pulumi.ComponentResource, check func() error, opts ...pulumi.ResourceOption) error {
	if err := check(); err != nil {
		return err
	}
	if err := ctx.RegisterComponentResource(token, name, component, opts...); err != nil {
		return fmt.Errorf("register %s: %w", name, err)
	}
	return nil
}

// Outputs are a component's outputs by name: its exported fields tagged
// `pulumi:"name"`, outputs as they are and strings (known at plan time) as
// plain values. The tags are the one list of a component's outputs.
func Outputs(component any) (pulumi.Map, error) {
	v := reflect.ValueOf(component)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("outputs of %T: want a pointer to a component struct", component)
	}
	v = v.Elem()
	outputs := pulumi.Map{}
	for i := 0; i < v.NumField(); i++ {
		field := v.Type().Field(i)
		name := field.Tag.Get("pulumi")
		if name == "" || !field.IsExported() {
			continue
		}
		switch value := v.Field(i).Interface().(type) {
		case pulumi.Output:
			outputs[name] = value.(pulumi.Input)
		case string:
			outputs[name] = pulumi.String(value)
		default:
			return nil, fmt.Errorf("outputs of %T: field %s (%s) is neither an output nor a string", component, field.Name, field.Type)
		}
	}
	return outputs, nil
}

// RegisterOutputs registers a component's Outputs. Without it the component
// stays "creating" forever in the engine's eyes.
func RegisterOutputs(ctx *pulumi.Context, name string, component pulumi.ComponentResource) error {
	outputs, err := Outputs(component)
	if err == nil {
		err = ctx.RegisterResourceOutputs(component, outputs)
	}
	if err != nil {
		return fmt.Errorf("register %s outputs: %w", name, err)
	}
	return nil
}
