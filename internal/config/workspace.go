package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/schedule"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Workspace is a fully loaded node workspace.
type Workspace struct {
	NodeDir   string
	Settings  Settings
	Callables Callables
	Models    []ModelConfig
	Schedules []sdk.ScheduleConfig
}

// Factories returns the selected service factories: the environment's and
// .local.env's names (Settings) over config/callables.env's.
func (w *Workspace) Factories() Factories {
	return w.Callables.Factories.Over(w.Settings.Factories)
}

// GoModels returns the models built as Go plugins, in config order.
func (w *Workspace) GoModels() []ModelConfig {
	var out []ModelConfig
	for _, m := range w.Models {
		if m.Runtime == RuntimeGo {
			out = append(out, m)
		}
	}
	return out
}

// DatabaseURL returns the configured database URL, or the workspace's
// default SQLite file.
func (w *Workspace) DatabaseURL() string {
	if w.Settings.DatabaseURL != "" {
		return w.Settings.DatabaseURL
	}
	return "sqlite://" + layout.Of(w.NodeDir).Database()
}

// ErrInvalid is matched (errors.Is) by every configuration error of
// LoadWorkspace and LoadFiles: a bad or unknown variable, a bad config
// file. Commands exit with code 2 on it.
var ErrInvalid = errors.New("configuration error")

// Errors are the problems found in a workspace's configuration, all of
// them (one per line). It matches ErrInvalid.
type Errors []error

func (e Errors) Error() string { return errors.Join(e...).Error() }

// Unwrap returns the problems.
func (e Errors) Unwrap() []error { return e }

// Is reports ErrInvalid.
func (e Errors) Is(target error) bool { return target == ErrInvalid }

func errorsOrNil(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return Errors(errs)
}

// LoadWorkspace loads every configuration file of the node workspace in
// nodeDir, with process variables (getenv) overriding .local.env. A missing
// .local.env falls back to .local.env.example. Every variable of the file
// must be a known setting (CheckVarNames); the process environment is not
// checked (it holds every other program's variables too) and only known
// settings are read from it. All problems found are returned together as
// Errors (matching ErrInvalid).
func LoadWorkspace(nodeDir string, getenv func(string) string) (*Workspace, error) {
	w := &Workspace{NodeDir: nodeDir}
	var errs []error
	envPath := filepath.Join(nodeDir, LocalEnvFile)
	if _, err := os.Stat(envPath); errors.Is(err, os.ErrNotExist) {
		envPath = filepath.Join(nodeDir, LocalEnvExample)
	}
	fileEnv, err := ReadEnvFile(envPath)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		fileEnv = map[string]string{}
	}
	errs = append(errs, CheckVarNames(fileEnv, envPath)...)
	env := MergeEnv(fileEnv, getenv)
	w.Settings, err = ParseSettings(env, envPath)
	if err != nil {
		errs = append(errs, err)
	}
	if err := w.LoadFiles(); err != nil {
		errs = append(errs, err.(Errors)...)
	}
	return w, errorsOrNil(errs)
}

// LoadFiles loads w.NodeDir's config/callables.env, config/models.json and
// config/scheduled_prediction_configs.json into w. When both
// PREDICTION_SCOPE_BUILDER and PREDICT_CALL_BUILDER are the built-in
// defaults, every schedule row's scope template is also run through them
// (sdk.Defaults, the code every predict cycle runs), so a horizon or step
// the cycle would reject fails here. Problems are returned as Errors.
func (w *Workspace) LoadFiles() error {
	var errs []error
	nodeDir := w.NodeDir
	callPath := filepath.Join(nodeDir, CallablesFile)
	callEnv, err := ReadEnvFile(callPath)
	if err != nil {
		errs = append(errs, fmt.Errorf("read %s: %w", callPath, err))
	} else if w.Callables, err = ParseCallables(callEnv, callPath, nodeDir); err != nil {
		errs = append(errs, err)
	}
	if w.Models, err = ParseModels(filepath.Join(nodeDir, ModelsFile), nodeDir); err != nil {
		if !errors.Is(err, ErrNoModels) || w.Settings.Env[OrchestratorHostVar] == "" {
			errs = append(errs, err)
		}
	} else if w.Callables.ModelBaseClass == "" {
		for _, m := range w.Models {
			if m.Runtime == RuntimePython || m.Runtime == RuntimeRemote {
				errs = append(errs, &VarError{Source: callPath, Var: ModelBaseClassVar, Msg: fmt.Sprintf("required: model %s has \"runtime\": %q; set the challenge's Python base class, e.g. tracker.TrackerBase", m.ID, m.Runtime)})
				break
			}
		}
	}
	schedPath := filepath.Join(nodeDir, SchedulesFile)
	if w.Schedules, err = schedule.LoadFile(schedPath); err != nil {
		errs = append(errs, err)
	} else if len(errs) == 0 {
		errs = append(errs, checkDefaultScopes(w.Callables, w.Schedules, schedPath)...)
	}
	return errorsOrNil(errs)
}

// checkDefaultScopes runs the built-in scope and predict-call builders on
// every schedule row when the callables route both to the defaults.
func checkDefaultScopes(c Callables, rows []sdk.ScheduleConfig, path string) []error {
	if c.Routes[sdk.CallableBuildPredictionScope] != RouteDefault || c.Routes[sdk.CallableBuildPredictCall] != RouteDefault {
		return nil
	}
	var errs []error
	ctx := context.Background()
	for _, r := range rows {
		scope, err := sdk.Defaults{}.BuildPredictionScope(ctx, r, nil)
		if err == nil {
			_, err = sdk.Defaults{}.BuildPredictCall(ctx, r, nil, scope)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: schedule %q: scope_template: %w (checked by the default PREDICTION_SCOPE_BUILDER and PREDICT_CALL_BUILDER, as every predict cycle would)", path, r.ID, err))
		}
	}
	return errs
}

// SplitList splits a comma-separated list, trimming spaces and dropping
// empty parts.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
