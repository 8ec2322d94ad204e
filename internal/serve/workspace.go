package serve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/node"
)

// EnvWorkspace names the node workspace when --workspace is not given.
const EnvWorkspace = "COORDINATOR_WORKSPACE"

// ErrConfig is wrapped by configuration errors (a bad variable or config
// file, no workspace found): bad input rather than a runtime failure.
// It is node.ErrConfig, so the node's feed errors classify the same way.
var ErrConfig = node.ErrConfig

// FindNodeDir returns the node workspace directory: flagValue (--workspace)
// when set, else $COORDINATOR_WORKSPACE, else workDir; relative paths
// resolve against workDir, and the result is the nearest node workspace at
// or above that directory (config.FindNodeDir). Errors wrap ErrConfig.
func FindNodeDir(flagValue, workDir string, getenv func(string) string) (string, error) {
	start, from := flagValue, "--workspace"
	if start == "" {
		start, from = strings.TrimSpace(getenv(EnvWorkspace)), EnvWorkspace
	}
	if start == "" {
		start, from = workDir, "the current directory"
	}
	if !filepath.IsAbs(start) {
		start = filepath.Join(workDir, start)
	}
	dir, err := config.FindNodeDir(start)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrConfig, from, err)
	}
	return dir, nil
}

// LoadWorkspace loads the node workspace in nodeDir the way production
// workers see it: settings come from the process environment only (getenv;
// .local.env is NOT read, docker compose's env_file puts it in the
// environment), config/callables.env, config/models.json and
// config/scheduled_prediction_configs.json from nodeDir. All problems are
// returned together, wrapping ErrConfig.
func LoadWorkspace(nodeDir string, getenv func(string) string) (*config.Workspace, error) {
	w := &config.Workspace{NodeDir: nodeDir}
	var errs []error
	var err error
	w.Settings, err = config.ParseSettings(config.MergeEnv(map[string]string{}, getenv), "environment")
	if err != nil {
		errs = append(errs, err)
	}
	if err := w.LoadFiles(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return w, fmt.Errorf("%w: node workspace %s:\n%w", ErrConfig, nodeDir, errors.Join(errs...))
	}
	return w, nil
}

// LocalEnvNote returns a warning when nodeDir's .local.env sets
// DATABASE_URL but the process environment does not: serve and migrate
// read the environment only, so they would use another database than dev.
// It returns "" otherwise.
func LocalEnvNote(nodeDir string, getenv func(string) string) string {
	if strings.TrimSpace(getenv("DATABASE_URL")) != "" {
		return ""
	}
	path := filepath.Join(nodeDir, config.LocalEnvFile)
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	env, err := config.ReadEnvFile(path)
	if err != nil || strings.TrimSpace(env["DATABASE_URL"]) == "" {
		return ""
	}
	return fmt.Sprintf("%s sets DATABASE_URL, but serve and migrate read the process environment only (export it, e.g. `set -a; . %s; set +a`, or pass --db)", path, path)
}
