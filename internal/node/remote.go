package node

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/internal/orchestrator"
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

// orchestratorConfig returns the model orchestrator's settings when
// MODEL_RUNNER_NODE_HOST and MODEL_RUNNER_NODE_PORT are set (nil when not):
// its models are remote models with the workspace's security settings.
func orchestratorConfig(w *config.Workspace, sec **modelrunner.Security) (*orchestrator.Config, error) {
	h, p, crunch, on, err := orchestrator.FromEnv(w.Settings.Env)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !on {
		return nil, nil
	}
	if *sec == nil {
		s, err := modelrunner.LoadSecurity(w.Settings.Env)
		if err != nil {
			return nil, fmt.Errorf("%w: model orchestrator: %w", ErrConfig, err)
		}
		*sec = s
	}
	if w.Callables.ModelBaseClass == "" {
		return nil, fmt.Errorf("%w: the model orchestrator's models need %s in %s (the challenge's base class sent in Setup)", ErrConfig, config.ModelBaseClassVar, config.CallablesFile)
	}
	return &orchestrator.Config{Host: h, Port: p, CrunchID: crunch, BaseClass: w.Callables.ModelBaseClass, Security: *sec}, nil
}

// followOrchestrator starts following the orchestrator's websocket into
// the node's model set; Close stops it (before the models close).
func (n *Node) followOrchestrator(cfg orchestrator.Config, hook *atomic.Pointer[orchestrator.Client]) error {
	cfg.Fleet, cfg.Logger = n.models, n.log
	c, err := orchestrator.New(cfg)
	if err != nil {
		return err
	}
	hook.Store(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	n.orchStop = func() {
		cancel()
		<-done
	}
	n.log.Info("following the model orchestrator", "url", c.URL())
	return nil
}
