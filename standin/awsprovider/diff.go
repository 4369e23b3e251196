package awsprovider

import (
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/cats-analytics/cats-analytics/internal/awsmodel"
)

// diff compares what the program asks for (news) with what the stand-in
// holds (olds: the outputs in the state, so drift read by a refresh shows as
// a change) as the AWS provider would: the changed input properties, a
// replacement when one of them cannot change in place, and delete before
// replace while the resource has a fixed physical name (AWS refuses two
// resources with one name).
func diff(typ string, olds, news, oldInputs resource.PropertyMap, ignore []string) *pulumirpc.DiffResponse {
	detailed := map[string]*pulumirpc.PropertyDiff{}
	var changed, replaces []string
	note := func(k string, kind pulumirpc.PropertyDiff_Kind) {
		if slices.Contains(ignore, k) {
			return
		}
		if awsmodel.ForcesReplacement(typ, k) {
			replaces = append(replaces, k)
			kind = replaceKind[kind]
		}
		changed = append(changed, k)
		detailed[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	for _, k := range news.StableKeys() {
		nv, ov := news[k], olds[k]
		switch {
		case nv.IsNull() && ov.IsNull():
		case ov.IsNull():
			note(string(k), pulumirpc.PropertyDiff_ADD)
		case nv.IsNull():
			note(string(k), pulumirpc.PropertyDiff_DELETE)
		case nv.ContainsUnknowns() || !equal(nv, ov):
			note(string(k), pulumirpc.PropertyDiff_UPDATE)
		}
	}
	// An input the program no longer sets is removed.
	for _, k := range oldInputs.StableKeys() {
		if _, still := news[k]; !still && !olds[k].IsNull() {
			note(string(k), pulumirpc.PropertyDiff_DELETE)
		}
	}
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		Diffs:           changed,
		Replaces:        replaces,
		DetailedDiff:    detailed,
		HasDetailedDiff: true,
	}
	if len(changed) > 0 {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	if len(replaces) > 0 {
		name := news[resource.PropertyKey(awsmodel.PhysicalNameProperty(typ))]
		resp.DeleteBeforeReplace = name.IsString() || name.IsSecret()
	}
	return resp
}

var replaceKind = map[pulumirpc.PropertyDiff_Kind]pulumirpc.PropertyDiff_Kind{
	pulumirpc.PropertyDiff_ADD:    pulumirpc.PropertyDiff_ADD_REPLACE,
	pulumirpc.PropertyDiff_DELETE: pulumirpc.PropertyDiff_DELETE_REPLACE,
	pulumirpc.PropertyDiff_UPDATE: pulumirpc.PropertyDiff_UPDATE_REPLACE,
}

// equal compares two values as AWS would: a secret equals its plain value
// (secret-ness is Pulumi's, not the cloud's).
func equal(a, b resource.PropertyValue) bool {
	return reveal(a).DeepEquals(reveal(b))
}

func reveal(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return reveal(v.SecretValue().Element)
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]resource.PropertyValue, len(arr))
		for i, e := range arr {
			out[i] = reveal(e)
		}
		return resource.NewArrayProperty(out)
	case v.IsObject():
		obj := v.ObjectValue()
		out := make(resource.PropertyMap, len(obj))
		for k, e := range obj {
			out[k] = reveal(e)
		}
		return resource.NewObjectProperty(out)
	}
	return v
}
