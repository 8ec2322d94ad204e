// Package pymodel assembles the host specs of a workspace's Python models
// ("runtime": "python" in config/models.json): the interpreter, the
// embedded model runner and the challenge's base class. Used by the node
// (dev, serve) and by doctor, so both start Python models the same way.
package pymodel

import (
	"context"
	"fmt"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
)

// StartTimeout bounds a Python model's start (interpreter start,
// imports, serve, health, Setup): imports of scientific packages are slow.
const StartTimeout = 60 * time.Second

// Runtime is what every Python model of a workspace shares: the
// interpreter (with grpcio and protobuf) and the runner directory.
type Runtime struct {
	Python    modelrunner.PythonInfo
	RunnerDir string
}

// FindRuntime picks the interpreter (Settings.Python, else
// modelrunner.DefaultPythons) and writes the embedded runner under the
// node's .coordinator/python. Only called when a model is Python.
func FindRuntime(ctx context.Context, ws *config.Workspace) (Runtime, error) {
	py, err := modelrunner.FindPython(ctx, ws.Settings.Python)
	if err != nil {
		return Runtime{}, fmt.Errorf("python models: %w", err)
	}
	dir, err := modelrunner.RunnerDir(layout.Of(ws.NodeDir).PythonRunnerCache())
	if err != nil {
		return Runtime{}, fmt.Errorf("python models: %w", err)
	}
	return Runtime{Python: py, RunnerDir: dir}, nil
}

// Spec is the host spec of Python model m: the model runner
// serving m's directory, with the challenge's base class and its module
// directory on sys.path.
func Spec(ws *config.Workspace, m config.ModelConfig, rt Runtime, env []string) host.PluginSpec {
	var paths []string
	if ws.Callables.ModelBasePath != "" {
		paths = append(paths, ws.Callables.ModelBasePath)
	}
	return host.PluginSpec{ID: m.ID, Env: env, StartTimeout: StartTimeout, Runner: &host.RunnerSpec{
		Python: rt.Python.Path, RunnerDir: rt.RunnerDir, CodeDir: m.Path,
		BaseClass: ws.Callables.ModelBaseClass, Paths: paths,
	}}
}
