package standin

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The knob files a test writes into the stand-in's directory. The plugins
// read them at every operation, so a change takes effect at once.
const (
	// DriftFile changes what Read returns, so refresh and preview see drift:
	// a JSON object from a resource's URN or id to either the string
	// "deleted" (the resource is gone) or an object of property overrides
	// (a null removes the property), e.g.
	//
	//	{"urn:pulumi:131016-prod::cats-analytics::…::cats-flow-logs": {"retentionInDays": 7},
	//	 "cats-data-lake-131016-prod": "deleted"}
	DriftFile = "drift.json"
	// FailuresFile makes operations fail: a JSON array of Failure.
	FailuresFile = "failures.json"
)

// Deleted is the drift value of a resource that is gone.
const Deleted = "deleted"

// Operations a Failure can name.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
)

// Failure makes an operation fail on the resources it selects: every
// selector given (URN, Type, Name) must match, and at least one is required.
type Failure struct {
	Operation string `json:"operation"`      // create, update or delete
	URN       string `json:"urn,omitempty"`  // the resource's URN
	Type      string `json:"type,omitempty"` // e.g. aws:s3/bucketV2:BucketV2
	Name      string `json:"name,omitempty"` // the resource's name in the program
	Message   string `json:"message"`        // what the error says after the resource
}

func (f Failure) check() error {
	if f.URN == "" && f.Type == "" && f.Name == "" {
		return Errorf("%s: a failure must select a resource by urn, type or name: %+v", FailuresFile, f)
	}
	if f.Operation != OpCreate && f.Operation != OpUpdate && f.Operation != OpDelete {
		return Errorf("%s: a failure's operation is %s, %s or %s, not %q", FailuresFile, OpCreate, OpUpdate, OpDelete, f.Operation)
	}
	return nil
}

func (f Failure) matches(op, urn, typ, name string) bool {
	return f.Operation == op && (f.URN == "" || f.URN == urn) && (f.Type == "" || f.Type == typ) && (f.Name == "" || f.Name == name)
}

// InjectedFailure returns the error a failure knob injects into the
// operation on the resource, or nil. The error names the resource, so the
// engine's message says which one failed.
func (s *Store) InjectedFailure(op, urn string) error {
	var failures []Failure
	if err := readKnob(filepath.Join(s.dir, FailuresFile), &failures); err != nil {
		return err
	}
	u := resource.URN(urn)
	typ, name := string(u.Type()), u.Name()
	for _, f := range failures {
		if err := f.check(); err != nil {
			return err
		}
		if f.matches(op, urn, typ, name) {
			verb := map[string]string{OpCreate: "creating", OpUpdate: "updating", OpDelete: "deleting"}[op]
			return Errorf("injected failure %s %s %q: %s", verb, typ, name, f.Message)
		}
	}
	return nil
}

// Drift returns how a resource drifted: gone, or properties overridden.
func (s *Store) Drift(urn, id string) (deleted bool, overrides map[string]any, err error) {
	var drift map[string]any
	if err := readKnob(filepath.Join(s.dir, DriftFile), &drift); err != nil {
		return false, nil, err
	}
	for _, key := range []string{urn, id} {
		switch d := drift[key].(type) {
		case nil:
			continue
		case string:
			if d != Deleted {
				return false, nil, Errorf("%s: %q: the drift of a resource is %q or an object of properties, not %q", DriftFile, key, Deleted, d)
			}
			return true, nil, nil
		case map[string]any:
			return false, d, nil
		default:
			return false, nil, Errorf("%s: %q: the drift of a resource is %q or an object of properties", DriftFile, key, Deleted)
		}
	}
	return false, nil, nil
}

// ApplyDrift returns props with the overrides applied: a null removes a
// property, any other value replaces it.
func ApplyDrift(props resource.PropertyMap, overrides map[string]any) resource.PropertyMap {
	out := props.Copy()
	for k, v := range overrides {
		if v == nil {
			delete(out, resource.PropertyKey(k))
			continue
		}
		out[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
	}
	return out
}

func readKnob(path string, into any) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return Errorf("read the knob %s: %w", path, err)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return Errorf("read the knob %s: %w", path, err)
	}
	return nil
}

// WriteDrift writes the drift knob of the stand-in in dir (nil removes it).
func WriteDrift(dir string, drift map[string]any) error {
	if drift == nil {
		return writeKnob(filepath.Join(dir, DriftFile), nil)
	}
	return writeKnob(filepath.Join(dir, DriftFile), drift)
}

// WriteFailures writes the failure knob of the stand-in in dir (nil removes it).
func WriteFailures(dir string, failures []Failure) error {
	for _, f := range failures {
		if err := f.check(); err != nil {
			return err
		}
	}
	if failures == nil {
		return writeKnob(filepath.Join(dir, FailuresFile), nil)
	}
	return writeKnob(filepath.Join(dir, FailuresFile), failures)
}

func writeKnob(path string, v any) error {
	if v == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Errorf("remove the knob %s: %w", path, err)
		}
		return nil
	}
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return Errorf("encode the knob %s: %w", path, err)
	}
	return writeAtomic(path, raw)
}
