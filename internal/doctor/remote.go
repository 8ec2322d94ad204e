package doctor

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
)

// remoteModels checks the workspace's remote models (models.json
// "address"): the MODEL_RUNNER_* security settings load, and each address
// answers the health check (SERVING) within the connect timeout, over the
// configured transport. Setup is not called: it would instantiate the
// participant's model outside a run.
func remoteModels(ctx context.Context, ws *config.Workspace) []Result {
	var models []config.ModelConfig
	for _, m := range ws.Models {
		if m.Runtime == config.RuntimeRemote {
			models = append(models, m)
		}
	}
	if len(models) == 0 {
		return nil
	}
	envFile := filepath.Join(ws.NodeDir, config.LocalEnvFile)
	sec, err := modelrunner.LoadSecurity(ws.Settings.Env)
	if err != nil {
		return []Result{{Group: groupPlugins, Check: "remote models", Status: Fail, Where: envFile,
			Message: fmt.Sprintf("%d remote models: %v", len(models), err),
			Fix:     "set " + modelrunner.EnvSecurity + " to plain, secure or gateway with the files its mode needs (README: Remote models)"}}
	}
	out := []Result{{Group: groupPlugins, Check: "remote models", Status: Pass, Where: envFile, Message: sec.String()}}
	for _, m := range models {
		where := fmt.Sprintf("%s %s", config.ModelsFile, m.ID)
		c, err := modelrunner.Dial(m.Address, sec.DialOptions(m.ID, m.Address)...)
		if err != nil {
			out = append(out, Result{Group: groupPlugins, Check: "model " + m.ID, Status: Fail, Where: where, Message: err.Error(), Fix: "fix the address (host:port)"})
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, sec.ConnectTimeout)
		err = c.WaitHealthy(hctx)
		cancel()
		_ = c.Close()
		if err != nil {
			out = append(out, Result{Group: groupPlugins, Check: "model " + m.ID, Status: Warn, Where: where,
				Message: fmt.Sprintf("remote model runner %s is not SERVING: %v (the node starts anyway; the model answers ABSENT until it is reachable)", m.Address, err),
				Fix:     "start the model runner at " + m.Address + ", or check " + modelrunner.EnvSecurity + " and the TLS files"})
			continue
		}
		out = append(out, Result{Group: groupPlugins, Check: "model " + m.ID, Status: Pass, Where: where, Message: "remote model runner " + m.Address + " is SERVING"})
	}
	return out
}
