package config

import (
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
		if m.Runtime != RuntimePython {
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

// LoadWorkspace loads every configuration file of the node workspace in
// nodeDir, with process variables (getenv) overriding .local.env. A missing
// .local.env falls back to .local.env.example. All problems found are
// returned together.
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
	env := MergeEnv(fileEnv, getenv)
	w.Settings, err = ParseSettings(env, envPath)
	if err != nil {
		errs = append(errs, err)
	}
	callPath := filepath.Join(nodeDir, CallablesFile)
	callEnv, err := ReadEnvFile(callPath)
	if err != nil {
		errs = append(errs, fmt.Errorf("read %s: %w", callPath, err))
	} else {
		w.Callables, err = ParseCallables(callEnv, callPath, nodeDir)
		if err != nil {
			errs = append(errs, err)
		}
	}
	w.Models, err = ParseModels(filepath.Join(nodeDir, ModelsFile), nodeDir)
	if err != nil {
		errs = append(errs, err)
	}
	if err == nil && w.Callables.ModelBaseClass == "" {
		for _, m := range w.Models {
			if m.Runtime == RuntimePython {
				errs = append(errs, &VarError{callPath, ModelBaseClassVar, fmt.Sprintf("required: model %s has \"runtime\": \"python\"; set the challenge's Python base class, e.g. tracker.TrackerBase", m.ID)})
				break
			}
		}
	}
	w.Schedules, err = schedule.LoadFile(filepath.Join(nodeDir, SchedulesFile))
	if err != nil {
		errs = append(errs, err)
	}
	return w, errors.Join(errs...)
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
