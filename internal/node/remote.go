package node

import (
	"fmt"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
)

// remoteSpec is the host spec of remote model m (models.json "address"):
// the model-runner protocol to m.Address with the workspace's security
// settings (loaded once into *sec), the challenge's base class in Setup and
// MODEL_RUNNER_CONNECT_TIMEOUT_SECONDS per connect attempt.
func remoteSpec(w *config.Workspace, m config.ModelConfig, sec **modelrunner.Security) (host.PluginSpec, error) {
	if *sec == nil {
		s, err := modelrunner.LoadSecurity(w.Settings.Env)
		if err != nil {
			return host.PluginSpec{}, fmt.Errorf("%w: model %s (address %s): %w", ErrConfig, m.ID, m.Address, err)
		}
		*sec = s
	}
	s := *sec
	return host.PluginSpec{ID: m.ID, StartTimeout: s.ConnectTimeout, Remote: &host.RemoteSpec{
		Address: m.Address, BaseClass: w.Callables.ModelBaseClass, DialOptions: s.DialOptions(m.ID, m.Address),
	}}, nil
}
