package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/fileerr"
	"github.com/crunch-coordinator/coordinator/internal/jsonx"
	"github.com/crunch-coordinator/coordinator/internal/slug"
	"github.com/crunch-coordinator/coordinator/internal/suggest"
)

// ModelConfig is one entry of config/models.json.
type ModelConfig struct {
	ID string `json:"id"`
	// Path is the Go main package dir, or for a Python model the directory
	// of its .py files; absolute after ParseModels.
	Path string `json:"path"`
	// Runtime is RuntimeGo (default), RuntimePython, or RuntimeRemote
	// (set by Address).
	Runtime string `json:"runtime,omitempty"`
	// Address is a remote model's model-runner endpoint, host:port (no
	// scheme): the model runs elsewhere (a container, another machine) and
	// is called over the model-runner protocol (reference-system.md §6),
	// with the security mode of the MODEL_RUNNER_SECURITY settings
	// (internal/modelrunner.LoadSecurity). Exclusive with Path.
	Address    string `json:"address,omitempty"`
	Name       string `json:"name"`
	PlayerID   string `json:"player_id"`
	PlayerName string `json:"player_name"`
	// SHA256 pins the model (lowercase hex, 64 digits): the SHA-256 of
	// its plugin binary (Go) or of its code (Python: host.PythonCodeSHA256).
	// A model whose binary or code differs never starts. Empty: a Go
	// model is checked against the checksum recorded when it was built.
	SHA256 string `json:"sha256,omitempty"`
}

// modelKeys maps each JSON key of ModelConfig to its field index: the keys
// models.json accepts come from the struct tags, so a field added to
// ModelConfig is accepted (and type-checked) with no other change.
var modelKeys = func() map[string]int {
	out := map[string]int{}
	t := reflect.TypeOf(ModelConfig{})
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
}()

// ErrNoModels: config/models.json is an empty list. A node that follows a
// model orchestrator (MODEL_RUNNER_NODE_HOST) may have no models of its
// own; LoadFiles accepts it then.
var ErrNoModels = errors.New("expected at least one model, found an empty list (or set MODEL_RUNNER_NODE_HOST to take the models from a model orchestrator)")

// ParseModels reads config/models.json: a non-empty array of models with
// unique ids that are slugs (internal/slug) and non-empty paths; relative paths resolve against nodeDir.
// Every problem of the file is reported (errors.Join), each naming
// models[i].key: an unknown key (with a "did you mean" when one is close),
// a value of the wrong type, a missing id or path, a duplicate id.
func ParseModels(path, nodeDir string) ([]ModelConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range modelKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fileerr.In(path, fmt.Errorf("expected a JSON array of {%s}: %w", strings.Join(keys, ", "), err))
	}
	if len(raw) == 0 {
		return nil, fileerr.In(path, ErrNoModels)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fileerr.In(path, fmt.Errorf(format, args...))) }
	models := make([]ModelConfig, len(raw))
	seen := map[string]int{}
	for i, r := range raw {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(r, &fields); err != nil || fields == nil {
			bad("models[%d]: expected a JSON object, found %s", i, jsonx.Abbreviate(r))
			continue
		}
		m := &models[i]
		v := reflect.ValueOf(m).Elem()
		var names []string
		for k := range fields {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			idx, ok := modelKeys[k]
			if !ok {
				msg := fmt.Sprintf("models[%d].%s: unknown key", i, k)
				if s := suggest.Nearest(k, keys); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				bad("%s; allowed: %s", msg, strings.Join(keys, ", "))
				continue
			}
			if err := json.Unmarshal(fields[k], v.Field(idx).Addr().Interface()); err != nil {
				bad("models[%d].%s: expected a JSON %s, found %s", i, k, jsonKindOf(v.Field(idx).Type()), jsonx.Abbreviate(fields[k]))
			}
		}
		if m.ID == "" {
			bad("models[%d].id: required", i)
		} else if err := slug.Check("id", m.ID); err != nil {
			// The id names the model's binary under .coordinator/bin/models/
			// and its rows: it must stay one safe path segment.
			bad("models[%d].%w", i, err)
		} else if j, dup := seen[m.ID]; dup {
			bad("models[%d].id: duplicate id %q (also models[%d])", i, m.ID, j)
		} else {
			seen[m.ID] = i
		}
		if pin, err := NormalizeSHA256(m.SHA256); err != nil {
			bad("models[%d].sha256: %v", i, err)
		} else {
			m.SHA256 = pin
		}
		if m.Address != "" || m.Runtime == RuntimeRemote {
			switch {
			case m.Runtime != "" && m.Runtime != RuntimeRemote:
				bad("models[%d].runtime: %q cannot have an address (a remote model runs elsewhere); remove runtime or set it to %q", i, m.Runtime, RuntimeRemote)
			case m.Path != "":
				bad("models[%d]: has both path and address; expected one (path: a local model, address: a remote model runner host:port)", i)
			case m.SHA256 != "":
				bad("models[%d].sha256: a remote model has no local binary or code to pin; remove sha256", i)
			default:
				if err := checkAddress(m.Address); err != nil {
					bad("models[%d].address: %v", i, err)
				}
			}
			m.Runtime = RuntimeRemote
			defaultModelNames(m)
			continue
		}
		switch m.Runtime {
		case "", RuntimeGo:
			m.Runtime = RuntimeGo
		case RuntimePython:
		default:
			bad("models[%d].runtime: expected %q, %q or %q, found %q", i, RuntimeGo, RuntimePython, RuntimeRemote, m.Runtime)
		}
		if m.Path == "" {
			bad("models[%d].path: required (the model plugin's Go main package directory, or the Python model's directory; or an address host:port for a remote model)", i)
			continue
		}
		if !filepath.IsAbs(m.Path) {
			m.Path = filepath.Join(nodeDir, m.Path)
		}
		m.Path = filepath.Clean(m.Path)
		defaultModelNames(m)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return models, nil
}

// defaultModelNames fills an entry's empty name (its id) and player
// fields ("local").
func defaultModelNames(m *ModelConfig) {
	if m.Name == "" {
		m.Name = m.ID
	}
	if m.PlayerID == "" {
		m.PlayerID = "local"
	}
	if m.PlayerName == "" {
		m.PlayerName = "local"
	}
}

// checkAddress checks a remote model's address: host:port with a
// non-empty host and a port in 1..65535, no scheme.
func checkAddress(a string) error {
	if a == "" {
		return errors.New("required for a remote model: the model runner's host:port")
	}
	if strings.Contains(a, "://") {
		return fmt.Errorf("expected host:port without a scheme, found %q", a)
	}
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("expected host:port, found %q: %w", a, err)
	}
	n, err := strconv.Atoi(p)
	if h == "" || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("expected host:port with a host and a port 1-65535, found %q", a)
	}
	return nil
}

// jsonKindOf names the JSON type a Go field decodes from.
func jsonKindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "object"
	}
}
