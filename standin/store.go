package standin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Object is one resource the stand-in has created.
type Object struct {
	URN    string
	Type   string
	Name   string
	ID     string
	Region string
	// Inputs are what the engine asked for; Outputs what the stand-in
	// answered (the inputs plus the computed attributes).
	Inputs  resource.PropertyMap
	Outputs resource.PropertyMap
}

// objectFile is an Object on disk. Properties are kept in the protocol's own
// encoding, so secrets stay marked as secrets and assets keep their hashes.
type objectFile struct {
	URN     string          `json:"urn"`
	Type    string          `json:"type"`
	Name    string          `json:"name"`
	ID      string          `json:"id"`
	Region  string          `json:"region,omitempty"`
	Inputs  json.RawMessage `json:"inputs"`
	Outputs json.RawMessage `json:"outputs"`
}

// Store is the stand-in's cloud: a directory with one file per resource,
// each written atomically (a new file renamed into place), so concurrent
// operations of the engine's parallel steps never see half a resource.
type Store struct {
	dir string
}

// OpenStore opens (and creates) the store in dir.
func OpenStore(dir string) (*Store, error) {
	s := &Store{dir: dir}
	if err := os.MkdirAll(s.objects(), 0o700); err != nil {
		return nil, Errorf("create the stand-in's object directory: %w", err)
	}
	return s, nil
}

// Dir is the directory the store lives in (where the knob files go).
func (s *Store) Dir() string { return s.dir }

func (s *Store) objects() string { return filepath.Join(s.dir, "objects") }

// path is the file of the resource with this URN and id. A URN alone is not
// enough: while a resource is replaced, the old and the new one share it.
func (s *Store) path(urn, id string) string {
	sum := sha256.Sum256([]byte(urn + "\x00" + id))
	name := resource.URN(urn).Name()
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, name)
	if len(safe) > 80 {
		safe = safe[:80]
	}
	return filepath.Join(s.objects(), safe+"."+hex.EncodeToString(sum[:8])+".json")
}

var marshalOptions = plugin.MarshalOptions{KeepSecrets: true, KeepResources: true, KeepUnknowns: true}

func encodeProperties(m resource.PropertyMap) (json.RawMessage, error) {
	st, err := plugin.MarshalProperties(m, marshalOptions)
	if err != nil {
		return nil, err
	}
	return protojson.Marshal(st)
}

func decodeProperties(raw json.RawMessage) (resource.PropertyMap, error) {
	if len(raw) == 0 {
		return resource.PropertyMap{}, nil
	}
	var st structpb.Struct
	if err := protojson.Unmarshal(raw, &st); err != nil {
		return nil, err
	}
	return plugin.UnmarshalProperties(&st, marshalOptions)
}

// Put writes a resource, replacing what the store held for its URN and id.
func (s *Store) Put(o Object) error {
	in, err := encodeProperties(o.Inputs)
	if err != nil {
		return Errorf("encode the inputs of %s: %w", o.URN, err)
	}
	out, err := encodeProperties(o.Outputs)
	if err != nil {
		return Errorf("encode the outputs of %s: %w", o.URN, err)
	}
	raw, err := json.MarshalIndent(objectFile{URN: o.URN, Type: o.Type, Name: o.Name, ID: o.ID, Region: o.Region,
		Inputs: in, Outputs: out}, "", "  ")
	if err != nil {
		return Errorf("encode %s: %w", o.URN, err)
	}
	return writeAtomic(s.path(o.URN, o.ID), raw)
}

// writeAtomic writes a file so that readers see the old or the new content,
// never a part: the values may be secrets, so only the owner may read it.
func writeAtomic(path string, raw []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		os.Remove(f.Name())
		return Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return Errorf("write %s: %w", path, err)
	}
	return nil
}

// Get reads the resource with this URN and id; ok is false when the store
// has none.
func (s *Store) Get(urn, id string) (o Object, ok bool, err error) {
	raw, err := os.ReadFile(s.path(urn, id))
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, false, nil
	}
	if err != nil {
		return Object{}, false, Errorf("read %s: %w", urn, err)
	}
	o, err = decodeObject(raw)
	if err != nil {
		return Object{}, false, Errorf("read %s: %w", urn, err)
	}
	return o, true, nil
}

func decodeObject(raw []byte) (Object, error) {
	var f objectFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return Object{}, err
	}
	in, err := decodeProperties(f.Inputs)
	if err != nil {
		return Object{}, err
	}
	out, err := decodeProperties(f.Outputs)
	if err != nil {
		return Object{}, err
	}
	return Object{URN: f.URN, Type: f.Type, Name: f.Name, ID: f.ID, Region: f.Region, Inputs: in, Outputs: out}, nil
}

// Delete removes a resource; removing one the store does not hold is not an
// error (AWS providers treat "not found" on delete as deleted).
func (s *Store) Delete(urn, id string) error {
	if err := os.Remove(s.path(urn, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Errorf("delete %s: %w", urn, err)
	}
	return nil
}

// List returns every resource in the store, by URN.
func (s *Store) List() ([]Object, error) {
	entries, err := os.ReadDir(s.objects())
	if err != nil {
		return nil, Errorf("list the stand-in's objects: %w", err)
	}
	var out []Object
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(s.objects(), e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while we listed
		}
		if err != nil {
			return nil, Errorf("read %s: %w", e.Name(), err)
		}
		o, err := decodeObject(raw)
		if err != nil {
			return nil, Errorf("read %s: %w", e.Name(), err)
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].URN < out[j].URN || out[i].URN == out[j].URN && out[i].ID < out[j].ID
	})
	return out, nil
}
