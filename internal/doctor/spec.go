package doctor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/scaffold"
	"github.com/crunch-coordinator/coordinator/packs"
)

const groupSpec = "spec"

// specFields are the spec keys doctor reports, in the order
// scaffold.Resolve checks them.
var specFields = []string{"spec_version", "name", "pack", "crunch_id", "checkpoint_interval_seconds", "callables", "scheduled_prediction_configs"}

var specFixes = map[string]string{
	"spec_version":                 `set "spec_version": "1"`,
	"name":                         `set "name" to a lowercase slug of 2-40 letters, digits and single hyphens, e.g. "btc-up"`,
	"pack":                         "use a pack listed by `coordinator init --list-packs` (in \"pack\" or --pack)",
	"crunch_id":                    `set "crunch_id" to 1-64 letters, digits, '.', '_' or '-' (or drop it: it defaults to the name)`,
	"checkpoint_interval_seconds":  `set "checkpoint_interval_seconds" to a positive whole number of seconds (or drop it: the pack's value applies)`,
	"callables":                    `map each hook variable to "challenge" or "default"; INFERENCE_INPUT_BUILDER and SCORING_FUNCTION must be "challenge"`,
	"scheduled_prediction_configs": `fix the schedule row named: positive integer every_seconds / resolve_after_seconds and a scope_template (see the pack's pack.json for a valid list)`,
}

// CheckSpec is check 1: it validates an init spec file (specFile, a JSON
// object with spec_version "1") and/or a pack id (pack, as --pack would
// override the spec's) with the scaffolder's own resolution
// (scaffold.Resolve over the built-in packs), so `init` and `doctor` accept
// and reject the same specs. One result per field: spec_version, name,
// pack, crunch_id, checkpoint_interval_seconds, callables,
// scheduled_prediction_configs, plus one per unknown key. Every failing
// field is reported, not only the first: a failing field is neutralised
// (set to its default or dropped) and resolution re-run. With specFile
// empty only the pack is checked.
func CheckSpec(specFile, pack string) []Result {
	list, err := packs.Builtin()
	if err != nil {
		return []Result{{Group: groupSpec, Check: "packs", Status: Fail, Message: "built-in packs do not load: " + err.Error(), Fix: "rebuild the coordinator binary"}}
	}
	if specFile == "" {
		p, err := packs.Find(list, pack)
		if err != nil {
			return []Result{{Group: groupSpec, Check: "pack", Status: Fail, Where: "--pack", Message: err.Error(), Fix: specFixes["pack"]}}
		}
		return []Result{{Group: groupSpec, Check: "pack", Status: Pass, Where: "--pack", Message: fmt.Sprintf("%s known: %s", p.ID, p.Description)}}
	}
	spec, err := scaffold.LoadSpecFile(specFile)
	if err != nil {
		return []Result{{Group: groupSpec, Check: "spec file", Status: Fail, Where: specFile, Message: err.Error(),
			Fix: `write a JSON object, e.g. {"spec_version": "1", "name": "btc-up", "pack": "baseline"}`}}
	}
	tmp, err := os.CreateTemp("", "doctor-spec-*.json")
	if err != nil {
		return []Result{{Group: groupSpec, Check: "spec file", Status: Fail, Where: specFile, Message: "cannot stage the spec for checking: " + err.Error(), Fix: "make the temporary directory writable (TMPDIR)"}}
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath)

	req := scaffold.Request{SpecPath: tmpPath, Pack: pack}
	failed := map[string]Result{}
	var unknown []Result
	var cfg scaffold.Config
	resolved := false
	for attempt := 0; attempt <= len(spec)+len(specFields); attempt++ {
		b, _ := json.Marshal(spec)
		if err := os.WriteFile(tmpPath, b, 0o600); err != nil {
			break
		}
		cfg, err = scaffold.Resolve(req, list)
		if err == nil {
			resolved = true
			break
		}
		f := specFault(err, tmpPath, specFile)
		switch {
		case f.unknownKey != "":
			delete(spec, f.unknownKey)
			unknown = append(unknown, Result{Group: groupSpec, Check: "key " + f.unknownKey, Status: Fail, Where: specFile + " " + f.unknownKey, Message: f.text,
				Fix: "remove the key or correct its spelling"})
			continue
		case f.field == "":
			failed["spec"] = Result{Group: groupSpec, Check: "spec", Status: Fail, Where: specFile, Message: f.text, Fix: "correct the spec file"}
		default:
			if _, dup := failed[f.field]; dup {
				break
			}
			where := specFile + " " + f.field
			if f.field == "pack" && f.fromFlag {
				where = "--pack"
			}
			failed[f.field] = Result{Group: groupSpec, Check: f.field, Status: Fail, Where: where, Message: f.text, Fix: specFixes[f.field]}
			neutralise(spec, &req, f.field, f.fromFlag)
			continue
		}
		break
	}
	out := unknown
	if r, ok := failed["spec"]; ok {
		out = append(out, r)
	}
	for _, f := range specFields {
		if r, ok := failed[f]; ok {
			out = append(out, r)
			continue
		}
		if !resolved {
			out = append(out, Result{Group: groupSpec, Check: f, Status: Skip, Where: specFile, Message: "not checked: fix the failures above first"})
			continue
		}
		out = append(out, Result{Group: groupSpec, Check: f, Status: Pass, Where: specFile, Message: specValue(f, cfg, spec, pack)})
	}
	return out
}

// fault is what a scaffold.Resolve error says about the spec, from the
// facts of its *scaffold.InputError.
type fault struct {
	field      string // spec key at fault, "" when none
	unknownKey string // an unknown key, "" otherwise
	fromFlag   bool   // the value came from --pack
	text       string // the message to show
}

// specFault reads the fault of a Resolve error on the spec written to
// tmpPath, renamed specFile in the message. The message drops the source
// when it is the spec file or the pack flag (the result names them).
func specFault(err error, tmpPath, specFile string) fault {
	var ie *scaffold.InputError
	if !errors.As(err, &ie) {
		return fault{text: strings.ReplaceAll(err.Error(), tmpPath, specFile)}
	}
	f := fault{field: ie.Field, unknownKey: ie.UnknownKey, fromFlag: ie.Source == "--pack", text: ie.Error()}
	switch ie.Source {
	case "--spec " + tmpPath, "--pack", "default pack":
		f.text = ie.Reason
	}
	f.text = strings.ReplaceAll(f.text, tmpPath, specFile)
	return f
}

// neutralise replaces a failing field with a value that passes, so the
// next resolution reaches the later fields.
func neutralise(spec map[string]json.RawMessage, req *scaffold.Request, key string, fromFlag bool) {
	switch key {
	case "spec_version":
		spec[key] = json.RawMessage(`"1"`)
	case "name":
		delete(spec, key)
		req.Name = "doctor-check"
	case "pack":
		if fromFlag {
			req.Pack = ""
		} else {
			delete(spec, key)
		}
	default:
		delete(spec, key)
	}
}

func specValue(f string, cfg scaffold.Config, spec map[string]json.RawMessage, pack string) string {
	switch f {
	case "spec_version":
		return fmt.Sprintf("%q", scaffold.SpecVersion)
	case "name":
		return fmt.Sprintf("%q is a valid name", cfg.Name)
	case "pack":
		from := "spec"
		if pack != "" {
			from = "--pack"
		} else if _, ok := spec["pack"]; !ok {
			from = "default"
		}
		return fmt.Sprintf("%s known (from %s)", cfg.Pack.ID, from)
	case "crunch_id":
		return fmt.Sprintf("%q", cfg.CrunchID)
	case "checkpoint_interval_seconds":
		return fmt.Sprintf("%d s", cfg.CheckpointIntervalSeconds)
	case "callables":
		var ch []string
		for _, h := range config.Hooks {
			if cfg.Callables[h.EnvVar] == config.RouteChallenge {
				ch = append(ch, h.EnvVar)
			}
		}
		return fmt.Sprintf("%d hooks routed to the challenge (%s), %d to coordinator defaults", len(ch), strings.Join(ch, ", "), len(config.Hooks)-len(ch))
	case "scheduled_prediction_configs":
		return fmt.Sprintf("%d schedules valid", len(cfg.Rows))
	}
	return "ok"
}
