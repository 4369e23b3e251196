package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/contract"
)

// RedactedSecret replaces secret values in the state file and in --json
// output: the offline plan never writes a secret in plain text.
const RedactedSecret = "[secret]"

// Deployment is the planned graph in the format `pulumi stack export` writes
// (deployment schema version 3), which `pulumi policy analyze --file` reads.
func (r *Result) Deployment() (*apitype.UntypedDeployment, error) {
	now := time.Now().UTC()
	d := apitype.DeploymentV3{
		Manifest: apitype.ManifestV1{Time: now, Magic: "", Version: "cats-analytics offline plan"},
	}
	for _, res := range r.Resources {
		deps := make([]resource.URN, len(res.Dependencies))
		for i, u := range res.Dependencies {
			deps[i] = resource.URN(u)
		}
		var propDeps map[resource.PropertyKey][]resource.URN
		if len(res.PropertyDependencies) > 0 {
			propDeps = map[resource.PropertyKey][]resource.URN{}
			for k, urns := range res.PropertyDependencies {
				for _, u := range urns {
					propDeps[resource.PropertyKey(k)] = append(propDeps[resource.PropertyKey(k)], resource.URN(u))
				}
			}
		}
		d.Resources = append(d.Resources, apitype.ResourceV3{
			URN:                  resource.URN(res.URN),
			Custom:               res.Custom,
			ID:                   resource.ID(res.ID),
			Type:                 tokens.Type(res.Type),
			Inputs:               PlainMap(res.Inputs),
			Outputs:              PlainMap(res.Outputs),
			Parent:               resource.URN(res.Parent),
			Dependencies:         deps,
			Provider:             res.Provider,
			PropertyDependencies: propDeps,
			RetainOnDelete:       res.RetainOnDelete,
			Created:              &now,
			Modified:             &now,
		})
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode the state of %s: %w", r.Stack, err)
	}
	return &apitype.UntypedDeployment{Version: apitype.DeploymentSchemaVersionCurrent, Deployment: raw}, nil
}

// WriteState writes the state file.
func (r *Result) WriteState(w io.Writer) error {
	d, err := r.Deployment()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	return enc.Encode(d)
}

// PlainMap converts properties to the JSON values the state file holds:
// secrets redacted, unknowns as the engine's unknown marker, resource
// references, assets and archives in their signature form.
func PlainMap(m resource.PropertyMap) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		out[k] = plain(m[resource.PropertyKey(k)])
	}
	return out
}

func plain(v resource.PropertyValue) any {
	switch {
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = plain(e)
		}
		return out
	case v.IsObject():
		return PlainMap(v.ObjectValue())
	case v.IsSecret():
		return RedactedSecret
	case v.IsComputed():
		return sig.UnknownStringValue
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret {
			return RedactedSecret
		}
		if !o.Known {
			return sig.UnknownStringValue
		}
		return plain(o.Element)
	case v.IsResourceReference():
		ref := v.ResourceReferenceValue()
		m := map[string]any{sig.Key: sig.ResourceReference, "urn": string(ref.URN)}
		if id, ok := ref.IDString(); ok {
			m["id"] = id
		}
		if ref.PackageVersion != "" {
			m["packageVersion"] = ref.PackageVersion
		}
		return m
	case v.IsAsset():
		return v.AssetValue().Serialize()
	case v.IsArchive():
		return v.ArchiveValue().Serialize()
	}
	contract.Failf("plan: unexpected property value %v", v)
	return nil
}

// jsonString encodes a structured config value as the CLI passes it.
func jsonString(v any) (string, error) {
	raw, err := json.Marshal(normalizeYAML(v))
	if err != nil {
		return "", err
	}
	return string(raw), nil
}

// normalizeYAML turns yaml.v3's map[string]any trees into JSON-encodable values.
func normalizeYAML(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = normalizeYAML(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalizeYAML(e)
		}
		return out
	}
	return v
}

// Tier is the tier a resource belongs to: the <tier> of its nearest cats:
// ancestor component (cats:<tier>:<Type>), "platform" for the platform's own
// children, "stack" for the root and the default providers.
func (r *Result) Tier(res Resource) string {
	byURN := make(map[string]Resource, len(r.Resources))
	for _, x := range r.Resources {
		byURN[x.URN] = x
	}
	return tierOf(byURN, res)
}

func tierOf(byURN map[string]Resource, res Resource) string {
	for cur, ok := res, true; ok; cur, ok = byURN[cur.Parent] {
		if strings.HasPrefix(cur.Type, "cats:") {
			parts := strings.Split(cur.Type, ":")
			if len(parts) == 3 {
				return parts[1]
			}
		}
	}
	return "stack"
}

// Tiers groups the resources by tier, tiers in order of first appearance.
func (r *Result) Tiers() (order []string, byTier map[string][]Resource) {
	byURN := make(map[string]Resource, len(r.Resources))
	for _, x := range r.Resources {
		byURN[x.URN] = x
	}
	byTier = map[string][]Resource{}
	for _, res := range r.Resources {
		t := tierOf(byURN, res)
		if _, seen := byTier[t]; !seen {
			order = append(order, t)
		}
		byTier[t] = append(byTier[t], res)
	}
	return order, byTier
}
