// Package packs embeds the built-in scaffold packs used by `coordinator init`.
//
// Layout of the embedded tree (adding a pack = adding a folder, nothing else):
//
//	<id>/pack.json                  the pack definition (see [Pack])
//	<id>/templates/<scope>/...      optional templates overriding the shared set
//	templates/<template_set>/<scope>/...   shared Go text/template files
//
// Template files end in ".tmpl" (the suffix is removed when rendering; it
// also keeps Go templates out of this module's build). The first path
// segment under a template set is the scope: "workspace" (workspace root),
// "challenge" (crunch-<name>/) or "node" (crunch-node-<name>/).
package packs

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/crunch-coordinator/coordinator/extend/factoryname"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/schedule"
	"github.com/crunch-coordinator/coordinator/sdk"
)

//go:embed all:*
var embedded embed.FS

// FS returns the embedded pack tree (read-only).
func FS() fs.FS { return embedded }

// Callable wiring values in pack.json, spec files and config/callables.env
// (the same values internal/config parses).
const (
	// WiringChallenge means the hook is served by the challenge plugin, whose
	// Describe must list the callable.
	WiringChallenge = config.RouteChallenge
	// WiringDefault means the coordinator's built-in default is used.
	WiringDefault = config.RouteDefault
)

// Hook is one callable hook: its env var name in callables.env and the SDK
// callable name (defined once, in internal/config).
type Hook = config.Hook

// Hooks lists the ten hooks in canonical order.
var Hooks = config.Hooks

// HookEnvNames returns the hook env var names, sorted, for error messages.
func HookEnvNames() []string {
	out := make([]string, len(Hooks))
	for i, h := range Hooks {
		out[i] = h.EnvVar
	}
	sort.Strings(out)
	return out
}

// IsHook reports whether env is one of the ten hook env var names.
func IsHook(env string) bool {
	for _, h := range Hooks {
		if h.EnvVar == env {
			return true
		}
	}
	return false
}

// ValidateWiring checks one hook wiring value: "challenge" or "default".
// Required callables (sdk.RequiredCallables) must be "challenge".
func ValidateWiring(env, value string) error {
	if !IsHook(env) {
		return fmt.Errorf("unknown callable key %q (allowed: %s)", env, strings.Join(HookEnvNames(), ", "))
	}
	switch value {
	case WiringChallenge:
		return nil
	case WiringDefault:
		for _, h := range Hooks {
			if h.EnvVar == env {
				for _, req := range sdk.RequiredCallables {
					if req == h.Callable {
						return fmt.Errorf("%s: %s has no coordinator default; expected %q, found %q", env, h.Callable, WiringChallenge, value)
					}
				}
			}
		}
		return nil
	default:
		return fmt.Errorf("%s: expected %q or %q, found %q", env, WiringChallenge, WiringDefault, value)
	}
}

// Pack is one parsed pack.json.
type Pack struct {
	// ID is the pack id (the folder name; lowercase slug).
	ID string
	// Description is printed by `coordinator init --list-packs`.
	Description string
	// TemplateSet names templates/<TemplateSet>/ (default "default").
	TemplateSet string
	// CheckpointIntervalSeconds is the CHECKPOINT_INTERVAL_SECONDS value (> 0).
	CheckpointIntervalSeconds int
	// Callables maps each of the ten hook env vars to "challenge" or "default".
	Callables map[string]string
	// ScheduledPredictionConfigs is the schedule list as written in pack.json
	// (validated with internal/schedule.Parse).
	ScheduledPredictionConfigs json.RawMessage
	// FlatMoves is the pack's ground-truth rule for a horizon whose price
	// did not move ("flat_moves": down, half or exclude; default half): the
	// challenge's default and the FLAT_MOVES line of the node's .local.env.
	// The pack's README says why it chose it.
	FlatMoves sdk.FlatMoves
}

var packKeys = map[string]bool{"id": true, "description": true, "template_set": true, "checkpoint_interval_seconds": true, "callables": true, "scheduled_prediction_configs": true, "flat_moves": true}

// Parse parses and validates one pack.json strictly. dir is the pack's
// folder name, which must equal the id. Errors name the file and field.
func Parse(dir string, b []byte) (Pack, error) {
	file := dir + "/pack.json"
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return Pack{}, fmt.Errorf("%s: expected a JSON object: %v", file, err)
	}
	for k := range raw {
		if !packKeys[k] {
			return Pack{}, fmt.Errorf("%s: unknown key %q (allowed: callables, checkpoint_interval_seconds, description, flat_moves, id, scheduled_prediction_configs, template_set)", file, k)
		}
	}
	p := Pack{TemplateSet: "default", CheckpointIntervalSeconds: 60, FlatMoves: sdk.FlatHalf}
	if err := field(raw, "id", &p.ID); err != nil {
		return Pack{}, fmt.Errorf("%s: %w", file, err)
	}
	if p.ID == "" || p.ID != dir {
		return Pack{}, fmt.Errorf("%s: id: expected the folder name %q, found %q", file, dir, p.ID)
	}
	if err := field(raw, "description", &p.Description); err != nil {
		return Pack{}, fmt.Errorf("%s: %w", file, err)
	}
	if err := field(raw, "template_set", &p.TemplateSet); err != nil {
		return Pack{}, fmt.Errorf("%s: %w", file, err)
	}
	if p.TemplateSet == "" || strings.ContainsAny(p.TemplateSet, `/\.`) {
		return Pack{}, fmt.Errorf("%s: template_set: expected a folder name under templates/, found %q", file, p.TemplateSet)
	}
	if err := field(raw, "checkpoint_interval_seconds", &p.CheckpointIntervalSeconds); err != nil {
		return Pack{}, fmt.Errorf("%s: %w", file, err)
	}
	if p.CheckpointIntervalSeconds <= 0 {
		return Pack{}, fmt.Errorf("%s: checkpoint_interval_seconds: expected an integer > 0, found %d", file, p.CheckpointIntervalSeconds)
	}
	if err := field(raw, "callables", &p.Callables); err != nil {
		return Pack{}, fmt.Errorf("%s: %w", file, err)
	}
	for _, h := range Hooks {
		v, ok := p.Callables[h.EnvVar]
		if !ok {
			return Pack{}, fmt.Errorf("%s: callables: missing required key %s (all ten hooks must be wired)", file, h.EnvVar)
		}
		if err := ValidateWiring(h.EnvVar, v); err != nil {
			return Pack{}, fmt.Errorf("%s: callables.%w", file, err)
		}
	}
	for k := range p.Callables {
		if !IsHook(k) {
			return Pack{}, fmt.Errorf("%s: callables: unknown key %q (allowed: %s)", file, k, strings.Join(HookEnvNames(), ", "))
		}
	}
	var flat string
	if err := field(raw, "flat_moves", &flat); err != nil {
		return Pack{}, fmt.Errorf("%s: %w", file, err)
	}
	if flat != "" {
		f, err := sdk.ParseFlatMoves(flat)
		if err != nil {
			_, msg, _ := strings.Cut(err.Error(), ": ")
			return Pack{}, fmt.Errorf("%s: flat_moves: %s", file, msg)
		}
		p.FlatMoves = f
	}
	sched, ok := raw["scheduled_prediction_configs"]
	if !ok {
		return Pack{}, fmt.Errorf("%s: scheduled_prediction_configs: required non-empty list", file)
	}
	if _, err := schedule.Parse(sched); err != nil {
		return Pack{}, fmt.Errorf("%s: scheduled_prediction_configs: %w", file, err)
	}
	p.ScheduledPredictionConfigs = sched
	return p, nil
}

func field(raw map[string]json.RawMessage, key string, dst any) error {
	v, ok := raw[key]
	if !ok || string(v) == "null" {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("%s: expected %s: %v", key, typeName(dst), err)
	}
	return nil
}

func typeName(dst any) string {
	switch dst.(type) {
	case *string:
		return "a string"
	case *int:
		return "an integer"
	case *map[string]string:
		return "an object of strings"
	}
	return fmt.Sprintf("%T", dst)
}

// Load discovers every <dir>/pack.json in fsys, parses it and checks that
// its template set exists. The result is sorted by id. Any invalid pack is
// an error naming its file.
func Load(fsys fs.FS) ([]Pack, error) {
	matches, err := fs.Glob(fsys, "*/pack.json")
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	sort.Strings(matches)
	out := make([]Pack, 0, len(matches))
	for _, m := range matches {
		b, err := fs.ReadFile(fsys, m)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", m, err)
		}
		p, err := Parse(path.Dir(m), b)
		if err != nil {
			return nil, err
		}
		if st, err := fs.Stat(fsys, path.Join("templates", p.TemplateSet)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%s: template_set: templates/%s/ not found", m, p.TemplateSet)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no packs found (expected <id>/pack.json folders)")
	}
	return out, nil
}

// Builtin loads the embedded packs.
func Builtin() ([]Pack, error) { return Load(embedded) }

// Find returns the pack with id from list, or an error listing the allowed
// ids.
func Find(list []Pack, id string) (Pack, error) {
	ids := make([]string, 0, len(list))
	for _, p := range list {
		if p.ID == id {
			return p, nil
		}
		ids = append(ids, p.ID)
	}
	return Pack{}, fmt.Errorf("unknown pack %q (allowed packs: %s)", id, strings.Join(ids, ", "))
}

// TemplateFiles returns the templates of pack p in fsys: every *.tmpl file
// under templates/<template_set>/, overlaid by the pack's own <id>/templates/.
// Keys are slash paths relative to the set (scope first, ".tmpl" kept);
// values are the template texts.
func TemplateFiles(fsys fs.FS, p Pack) (map[string]string, error) {
	out := map[string]string{}
	for _, root := range []string{path.Join("templates", p.TemplateSet), path.Join(p.ID, "templates")} {
		if _, err := fs.Stat(fsys, root); err != nil {
			continue // the pack's own override folder is optional
		}
		if err := readTemplates(fsys, root, out); err != nil {
			return nil, fmt.Errorf("read templates of pack %s under %s: %w", p.ID, root, err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("pack %s: no *.tmpl files under templates/%s/", p.ID, p.TemplateSet)
	}
	return out, nil
}

// Extension is an example node extension `coordinator init
// --with-extension <id>` adds: the templates under extensions/<id>/ (same
// scopes as a template set) and the factory variable it sets in the node's
// config/callables.env.
type Extension struct {
	ID      string
	Var     string // PREDICT_SERVICE_FACTORY, SCORE_SERVICE_FACTORY or REPORT_APP_FACTORY
	Factory string // the name its code registers
	Summary string
}

// Extensions lists the example extensions, by id.
var Extensions = []Extension{
	{"custom-report", factoryname.ReportAppVar, "custom-report", "a report app adding GET /reports/summary and wrapping the built-in report API"},
	{"tournament-rounds", factoryname.PredictServiceVar, "tournament-rounds", "a predict service whose rounds start on an authenticated POST /tournament/rounds"},
}

// FindExtension returns the example extension id, or an error listing the
// ids.
func FindExtension(id string) (Extension, error) {
	var ids []string
	for _, e := range Extensions {
		if e.ID == id {
			return e, nil
		}
		ids = append(ids, e.ID)
	}
	return Extension{}, fmt.Errorf("unknown extension %q (expected one of: %s)", id, strings.Join(ids, ", "))
}

// ExtensionFiles returns the templates of extension id (paths relative to
// extensions/<id>/, starting with their scope).
func ExtensionFiles(fsys fs.FS, id string) (map[string]string, error) {
	out := map[string]string{}
	if err := readTemplates(fsys, path.Join("extensions", id), out); err != nil {
		return nil, fmt.Errorf("read the templates of extension %s: %w", id, err)
	}
	return out, nil
}

// readTemplates adds every *.tmpl file under root to out, keyed by its
// slash path relative to root.
func readTemplates(fsys fs.FS, root string, out map[string]string) error {
	return fs.WalkDir(fsys, root, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(name, ".tmpl") {
			return nil
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(name, root+"/")] = string(b)
		return nil
	})
}
