package runner

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"sort"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Drift is the drift check: `pulumi refresh --preview-only`, which reads
// every resource from the cloud and reports what differs from the stack's
// state without writing anything. It reports drift more truly than
// `preview --expect-no-changes`, which compares the program with the state
// and never asks the cloud.
const Drift = "drift"

// DriftedResource is a resource whose cloud state differs from the stack's
// state: Change is update (the properties that differ) or delete (it is gone).
type DriftedResource struct {
	URN        string   `json:"urn"`
	Type       string   `json:"type"`
	Name       string   `json:"name"`
	Change     string   `json:"change"`
	Properties []string `json:"properties,omitempty"`
}

// driftCollector reads a refresh preview's step events for the resources
// that drifted.
type driftCollector struct {
	mu      sync.Mutex
	drifted map[string]DriftedResource
}

func (d *driftCollector) observe(e events.EngineEvent) {
	var m *apitype.StepEventMetadata
	switch {
	case e.ResourcePreEvent != nil:
		m = &e.ResourcePreEvent.Metadata
	case e.ResOutputsEvent != nil:
		m = &e.ResOutputsEvent.Metadata
	default:
		return
	}
	if !isResource(m.URN) || m.Op == apitype.OpSame || m.Op == apitype.OpRead {
		return
	}
	if (m.Old != nil && !m.Old.Custom) || (m.New != nil && !m.New.Custom) {
		return // a component has nothing in the cloud
	}
	props := map[string]bool{}
	for _, k := range m.Diffs {
		props[k] = true
	}
	for k := range m.DetailedDiff {
		props[topLevel(k)] = true
	}
	change := "update"
	switch {
	case m.Op == apitype.OpDelete || (m.Op == apitype.OpRefresh && m.Old != nil && m.New == nil):
		change = "delete"
	case m.Old != nil && m.New != nil:
		for _, k := range differingKeys(m.Old.Outputs, m.New.Outputs) {
			props[k] = true
		}
	}
	if change == "update" && len(props) == 0 {
		return // read back as it was
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.drifted == nil {
		d.drifted = map[string]DriftedResource{}
	}
	prev := d.drifted[m.URN]
	for _, k := range prev.Properties {
		props[k] = true
	}
	names := slices.Sorted(maps.Keys(props))
	if change == "delete" {
		names = nil
	}
	u := resource.URN(m.URN)
	d.drifted[m.URN] = DriftedResource{URN: m.URN, Type: string(u.Type()), Name: u.Name(), Change: change, Properties: names}
}

// resources returns the drifted resources by URN, never nil.
func (d *driftCollector) resources() []DriftedResource {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DriftedResource, 0, len(d.drifted))
	for _, r := range d.drifted {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URN < out[j].URN })
	return out
}

// topLevel is a property path's first element: "tags.env" → "tags".
func topLevel(path string) string {
	for i, c := range path {
		if c == '.' || c == '[' {
			return path[:i]
		}
	}
	return path
}

// differingKeys are the keys whose values differ between two property maps;
// the engine's internal keys (__meta and the like) are left out.
func differingKeys(old, new map[string]any) []string {
	var keys []string
	for k, v := range old {
		if w, ok := new[k]; (!ok || !reflect.DeepEqual(v, w)) && !internalKey(k) {
			keys = append(keys, k)
		}
	}
	for k := range new {
		if _, ok := old[k]; !ok && !internalKey(k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func internalKey(k string) bool { return len(k) > 1 && k[0] == '_' && k[1] == '_' }

// drift runs the drift check: a refresh preview, streamed as any operation,
// its step events also read by found.
func (st *Stacks) drift(ctx context.Context, s auto.Stack, emit func(json.RawMessage), seen *observer, found *driftCollector) (auto.PreviewResult, error) {
	var out auto.PreviewResult
	err := st.stream(emit, seen, func(ch chan<- events.EngineEvent) error {
		tee := make(chan events.EngineEvent)
		go func() {
			// The SDK closes tee once it has read the whole event log; when
			// the CLI fails before writing one it never does, and stream
			// stops waiting after its drain timeout, as for any operation.
			defer close(ch)
			for ev := range tee {
				found.observe(ev)
				ch <- ev
			}
		}()
		var err error
		out, err = s.PreviewRefresh(ctx, optrefresh.EventStreams(tee))
		return err
	})
	return out, err
}
