package doctor

import (
	"errors"
	"fmt"
	"github.com/crunch-coordinator/coordinator/internal/slug"
	"os"
	"path/filepath"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/fileerr"
)

// WorkspaceInfo is what the workspace checks learned, for later checks.
type WorkspaceInfo struct {
	NodeDir   string
	Workspace *config.Workspace // nil when the configuration does not load
	// Loaded is what did load, even with configuration errors: Callables
	// and Models may be partial or empty (the plugin checks use what is
	// there).
	Loaded      *config.Workspace
	DatabaseURL string
	APIAddr     string
}

var requiredFiles = []struct{ path, fix string }{
	{config.CallablesFile, "restore it from the pack: re-run `coordinator init <name> --force` in a scratch directory and copy the file"},
	{config.ModelsFile, "list the model plugins: [{\"id\":\"m1\",\"path\":\"../crunch-<name>/examples/<model>\"}]"},
	{config.SchedulesFile, "add at least one schedule row: [{\"scope_key\":\"default\",\"scope_template\":{\"asset\":\"BTC\",\"horizon_seconds\":60},\"schedule\":{\"every_seconds\":60}}]"},
}

func checkWorkspace(opts Options) (*WorkspaceInfo, []Result) {
	var out []Result
	node := opts.NodeDir
	missing := false
	for _, f := range requiredFiles {
		p := filepath.Join(node, f.path)
		if _, err := os.Stat(p); err != nil {
			out = append(out, Result{Group: "workspace", Check: "file " + f.path, Status: Fail, Message: "missing", Where: p, Fix: f.fix})
			missing = true
			continue
		}
		out = append(out, Result{Group: "workspace", Check: "file " + f.path, Status: Pass, Message: "present", Where: p})
	}
	envFile := filepath.Join(node, config.LocalEnvFile)
	if _, err := os.Stat(envFile); err != nil {
		out = append(out, Result{Group: "workspace", Check: "file " + config.LocalEnvFile, Status: Warn,
			Message: "missing; using " + config.LocalEnvExample + " and defaults", Where: envFile,
			Fix: "cp " + config.LocalEnvExample + " " + config.LocalEnvFile})
	} else {
		out = append(out, Result{Group: "workspace", Check: "file " + config.LocalEnvFile, Status: Pass, Message: "present", Where: envFile})
	}
	if missing {
		return nil, out
	}
	w, err := config.LoadWorkspace(node, opts.Getenv)
	if err != nil {
		out = append(out, configErrors(err)...)
	} else {
		out = append(out, Result{Group: "workspace", Check: "configuration", Status: Pass,
			Message: fmt.Sprintf("%d models, %d schedules, %d callables from the challenge plugin", len(w.Models), len(w.Schedules), len(w.Callables.FromPlugin()))})
	}
	info := &WorkspaceInfo{NodeDir: node, APIAddr: w.Settings.APIAddr, Loaded: w}
	if info.APIAddr == "" {
		info.APIAddr = "127.0.0.1:8000"
	}
	if err == nil {
		info.Workspace = w
	}
	info.DatabaseURL = w.DatabaseURL()
	return info, out
}

// CodeUnsafeName is the Result.Code of a name (model id, plugin name) that
// is not a slug (internal/slug): it could escape the state directory, so
// doctor exits 2 on it as dev and serve do (see Refused).
const CodeUnsafeName = "unsafe_name"

// Refused reports whether rs holds a result that makes the node refuse
// to start before any check matters (CodeUnsafeName).
func Refused(rs []Result) bool {
	for _, r := range rs {
		if r.Code == CodeUnsafeName {
			return true
		}
	}
	return false
}

// configErrors turns joined configuration errors into one failing result
// each, with the variable or file named.
func configErrors(err error) []Result {
	var out []Result
	for _, e := range flatten(err) {
		var ve *config.VarError
		if errors.As(e, &ve) {
			fix := ve.Fix
			if fix == "" {
				fix = fmt.Sprintf("edit %s and set %s", ve.Source, ve.Var)
			}
			out = append(out, Result{Group: "workspace", Check: "variable " + ve.Var, Status: Fail, Message: ve.Msg, Where: ve.Source, Fix: fix})
			continue
		}
		msg, where := e.Error(), ""
		var fe *fileerr.Error
		if errors.As(e, &fe) {
			where, msg = fe.File, fe.Err.Error()
		}
		r := Result{Group: "workspace", Check: "configuration", Status: Fail, Message: msg, Where: where,
			Fix: "correct the file named; `coordinator doctor` re-checks it"}
		if errors.Is(e, slug.ErrInvalid) {
			r.Code = CodeUnsafeName
			r.Fix = "rename the entry to a slug (lowercase letters, digits and single hyphens); dev and serve refuse it too"
		}
		out = append(out, r)
	}
	return out
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
