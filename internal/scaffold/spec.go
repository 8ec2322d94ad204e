package scaffold

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/crunch-coordinator/coordinator/internal/jsonx"
	"github.com/crunch-coordinator/coordinator/internal/schedule"
	"github.com/crunch-coordinator/coordinator/packs"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// SpecVersion is the only spec_version init accepts (as "1" or 1).
const SpecVersion = "1"

// DefaultPack is used when neither --pack nor the spec/answers name one.
const DefaultPack = "baseline"

// specKeys are the keys a spec or answers file may hold.
var specKeys = []string{"callables", "checkpoint_interval_seconds", "crunch_id", "name", "pack", "scheduled_prediction_configs", "spec_version"}

var crunchIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Request is what the user asked init for, before resolution.
type Request struct {
	// Name is the positional <name> ("" when absent).
	Name string
	// Pack is --pack ("" when absent).
	Pack string
	// SpecPath is --spec: a JSON object file ("" when absent); spec_version
	// "1" is then required (in the spec or the answers).
	SpecPath string
	// AnswersPath is --answers: JSON when the extension is .json, else YAML.
	AnswersPath string
	// Models is --models: which example models config/models.json registers,
	// ModelsGo, ModelsPython or ModelsBoth ("" means ModelsBoth).
	Models string
	// Extension is --with-extension: an example node extension
	// (packs.Extensions) to add, "" for none.
	Extension string
}

// Example model sets of --models.
const (
	ModelsGo     = "go"
	ModelsPython = "python"
	ModelsBoth   = "both"
)

// Config is the resolved configuration a workspace is rendered from.
type Config struct {
	Name string
	// Extension is the example node extension to add (Request.Extension).
	Extension                 string
	Pack                      packs.Pack
	CrunchID                  string
	CheckpointIntervalSeconds int
	// Callables maps every hook env var to "challenge" or "default".
	Callables map[string]string
	// Schedules is the schedule list (JSON array, as given) and Rows its
	// strict parse (internal/schedule).
	Schedules json.RawMessage
	Rows      []sdk.ScheduleConfig
	// Spec is the normalised merged spec written to spec.json; nil when
	// --spec was not given.
	Spec map[string]json.RawMessage
	// Models is the example model set registered in config/models.json
	// (ModelsGo, ModelsPython or ModelsBoth).
	Models string
}

// origin tells where a merged key came from, for error messages.
type origin map[string]string

// LoadSpecFile reads a spec file: a JSON object. Errors name the file.
func LoadSpecFile(path string) (map[string]json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--spec %s: %w", path, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		if err == nil {
			err = fmt.Errorf("found null")
		}
		return nil, fmt.Errorf("--spec %s: expected a JSON object: %w", path, err)
	}
	return m, nil
}

// LoadAnswersFile reads an answers file: JSON when the extension is .json
// (any case), otherwise YAML; an empty file means {}. The root must be an
// object with string keys. Errors name the file.
func LoadAnswersFile(path string) (map[string]json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--answers %s: %w", path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	if strings.EqualFold(fileExt(path), ".json") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil || m == nil {
			if err == nil {
				err = fmt.Errorf("found null")
			}
			return nil, fmt.Errorf("--answers %s: expected a JSON object: %w", path, err)
		}
		return m, nil
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("--answers %s: expected YAML: %w", path, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("--answers %s: expected a mapping at the root, found %T", path, v)
	}
	m := make(map[string]json.RawMessage, len(obj))
	for k, val := range obj {
		enc, err := json.Marshal(val)
		if err != nil {
			return nil, fmt.Errorf("--answers %s: %s: expected JSON-compatible values (string keys only): %w", path, k, err)
		}
		m[k] = enc
	}
	return m, nil
}

func fileExt(p string) string {
	i := strings.LastIndexByte(p, '.')
	if i < 0 || strings.ContainsAny(p[i:], `/\`) {
		return ""
	}
	return p[i:]
}

// Resolve loads the answers then the spec, merges them shallowly (answers <
// spec < flags), checks every key and returns the configuration. Every
// error is an *InputError naming the file, flag or field.
func Resolve(req Request, packList []packs.Pack) (Config, error) {
	switch req.Models {
	case "":
		req.Models = ModelsBoth
	case ModelsGo, ModelsPython, ModelsBoth:
	default:
		return Config{}, inputErr(fmt.Errorf("--models: expected %q, %q or %q, found %q", ModelsGo, ModelsPython, ModelsBoth, req.Models))
	}
	merged := map[string]json.RawMessage{}
	from := origin{}
	if req.AnswersPath != "" {
		a, err := LoadAnswersFile(req.AnswersPath)
		if err != nil {
			return Config{}, inputErr(err)
		}
		for k, v := range a {
			merged[k], from[k] = v, "--answers "+req.AnswersPath
		}
	}
	if req.SpecPath != "" {
		s, err := LoadSpecFile(req.SpecPath)
		if err != nil {
			return Config{}, inputErr(err)
		}
		for k, v := range s {
			merged[k], from[k] = v, "--spec "+req.SpecPath
		}
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !containsStr(specKeys, k) {
			return Config{}, fieldErr(from[k], "", k, fmt.Errorf("unknown key %q (allowed: %s)", k, strings.Join(specKeys, ", ")))
		}
	}
	fail := func(key string, format string, args ...any) (Config, error) {
		return Config{}, fieldErr(from[key], key, "", fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if req.SpecPath != "" {
		v, ok := merged["spec_version"]
		if !ok {
			return Config{}, fieldErr("--spec "+req.SpecPath, "spec_version", "", fmt.Errorf("spec_version: required (expected %q)", SpecVersion))
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			s = string(bytes.TrimSpace(v))
		}
		if s != SpecVersion {
			return fail("spec_version", "expected %q, found %s", SpecVersion, v)
		}
	}

	var cfg Config
	cfg.Models = req.Models
	// Name: positional argument and merged name must agree.
	if v, ok := merged["name"]; ok {
		if err := json.Unmarshal(v, &cfg.Name); err != nil {
			return fail("name", "expected a string, found %s", v)
		}
		if err := ValidateName(cfg.Name); err != nil {
			return Config{}, fieldErr(from["name"], "name", "", err)
		}
	}
	if req.Name != "" {
		if err := ValidateName(req.Name); err != nil {
			return Config{}, fieldErr("<name> argument", "name", "", err)
		}
		if cfg.Name != "" && cfg.Name != req.Name {
			return Config{}, fieldErr("", "name", "", fmt.Errorf("name mismatch: <name> argument is %q but %s has name %q", req.Name, from["name"], cfg.Name))
		}
		cfg.Name = req.Name
	}
	if cfg.Name == "" {
		return Config{}, fieldErr("", "name", "", ValidateName(""))
	}

	// Pack: --pack > merged pack > baseline.
	packID := DefaultPack
	if v, ok := merged["pack"]; ok {
		if err := json.Unmarshal(v, &packID); err != nil || packID == "" {
			return fail("pack", "expected a non-empty pack id, found %s", v)
		}
	}
	packFrom := from["pack"]
	if req.Pack != "" {
		packID, packFrom = req.Pack, "--pack"
	}
	p, err := packs.Find(packList, packID)
	if err != nil {
		if packFrom == "" {
			packFrom = "default pack"
		}
		return Config{}, fieldErr(packFrom, "pack", "", err)
	}
	cfg.Pack = p

	cfg.CrunchID = cfg.Name
	if v, ok := merged["crunch_id"]; ok {
		if err := json.Unmarshal(v, &cfg.CrunchID); err != nil || !crunchIDRe.MatchString(cfg.CrunchID) {
			return fail("crunch_id", "expected 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit, found %s", v)
		}
	}

	cfg.CheckpointIntervalSeconds = p.CheckpointIntervalSeconds
	if v, ok := merged["checkpoint_interval_seconds"]; ok {
		var n int
		if err := json.Unmarshal(v, &n); err != nil || n <= 0 {
			return fail("checkpoint_interval_seconds", "expected an integer > 0, found %s", v)
		}
		cfg.CheckpointIntervalSeconds = n
	}

	cfg.Callables = map[string]string{}
	for k, v := range p.Callables {
		cfg.Callables[k] = v
	}
	if v, ok := merged["callables"]; ok {
		var over map[string]json.RawMessage
		if err := json.Unmarshal(v, &over); err != nil || over == nil {
			return fail("callables", "expected an object of hook name → \"challenge\" or \"default\", found %s", jsonx.Abbreviate(v))
		}
		hooks := make([]string, 0, len(over))
		for k := range over {
			hooks = append(hooks, k)
		}
		sort.Strings(hooks)
		for _, k := range hooks {
			var s string
			if err := json.Unmarshal(over[k], &s); err != nil {
				return fail("callables", "%s: expected \"challenge\" or \"default\", found %s", k, over[k])
			}
			if err := packs.ValidateWiring(k, s); err != nil {
				return fail("callables", "%v", err)
			}
			cfg.Callables[k] = s
		}
	}

	cfg.Schedules = p.ScheduledPredictionConfigs
	if v, ok := merged["scheduled_prediction_configs"]; ok && string(bytes.TrimSpace(v)) != "null" {
		cfg.Schedules = v
	}
	rows, err := schedule.Parse(cfg.Schedules)
	if err != nil {
		where := from["scheduled_prediction_configs"]
		if where == "" {
			where = "pack " + p.ID
		}
		return Config{}, fieldErr(where, "scheduled_prediction_configs", "", fmt.Errorf("scheduled_prediction_configs: %w", err))
	}
	cfg.Rows = rows

	if req.SpecPath != "" {
		cfg.Spec = map[string]json.RawMessage{}
		for k, v := range merged {
			cfg.Spec[k] = v
		}
		cfg.Spec["name"], _ = json.Marshal(cfg.Name)
		cfg.Spec["pack"], _ = json.Marshal(cfg.Pack.ID)
		cfg.Spec["spec_version"], _ = json.Marshal(SpecVersion)
	}
	return cfg, nil
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
