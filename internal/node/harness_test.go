package node_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
	"github.com/crunch-coordinator/coordinator/internal/scaffold"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// baselineNode is the baseline pack scaffolded for a node test (this
// checkout as SDK) with its challenge plugin built: the shared set-up of
// the replay tests whose models are not the pack's Go plugins (remote
// models, Python models, an orchestrator's models).
type baselineNode struct {
	root      string // repository root
	csv       string // the shared BTC 1-minute CSV
	res       scaffold.Result
	w         *config.Workspace
	challenge string // built challenge plugin
	env       map[string]string
}

// newBaselineNode scaffolds the baseline pack into a temporary directory,
// loads its workspace (env is the process environment LoadWorkspace sees,
// nil for none) and builds its challenge plugin.
func newBaselineNode(t *testing.T, ctx context.Context, env map[string]string) *baselineNode {
	t.Helper()
	root := testutil.RepoRoot(t)
	b := &baselineNode{root: root, csv: filepath.Join(filepath.Dir(root), "shared", "data", e2eCSV), env: env}
	b.res = scaffoldBaseline(t, ctx, root, "")
	b.reload(t)
	b.challenge = filepath.Join(t.TempDir(), "challenge")
	if err := pluginbuild.Build(ctx, []pluginbuild.Target{{Name: "challenge", Dir: b.w.Callables.ChallengePlugin, Out: b.challenge}}, workspaceBuild(root, b.res)); err != nil {
		t.Fatalf("build the challenge plugin: %v", err)
	}
	return b
}

func (b *baselineNode) reload(t *testing.T) {
	t.Helper()
	w, err := config.LoadWorkspace(b.res.NodeDir, func(k string) string { return b.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	b.w = w
}

// setModels replaces config/models.json with entries and reloads the
// workspace.
func (b *baselineNode) setModels(t *testing.T, entries []config.ModelConfig) {
	t.Helper()
	if entries == nil {
		entries = []config.ModelConfig{}
	}
	raw, _ := json.MarshalIndent(entries, "", "  ")
	if err := os.WriteFile(filepath.Join(b.res.NodeDir, config.ModelsFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	b.reload(t)
}

// replayNode is a started node that replays the shared CSV on its own
// simulated clock.
type replayNode struct {
	*node.Node
	rp   *replay.Replay
	sim  *clock.Simulated
	logs *testutil.SyncBuffer
}

// start starts a node of the workspace (roles nil: every role) on st,
// logging into a buffer shown when the test fails; the node closes when
// the test ends.
func (b *baselineNode) start(t *testing.T, ctx context.Context, st store.Store, name string, roles []node.Role) *replayNode {
	t.Helper()
	rp, err := replay.Open(b.csv, "BTC")
	if err != nil {
		t.Fatal(err)
	}
	r := &replayNode{rp: rp, sim: clock.NewSimulated(rp.First()), logs: &testutil.SyncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s node log (last 40 lines):\n%s", name, tailLines(r.logs.String(), 40))
		}
	})
	r.Node, err = node.Start(ctx, node.Config{
		Workspace: b.w, Store: st, Clock: r.sim, Logger: hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Info, Output: r.logs}),
		ChallengeBinary: b.challenge, Roles: roles,
		Feed: feed.Config{Provider: replay.Name, Assets: []string{"BTC"}, Kind: feed.KindCandle, Granularity: rp.Granularity()},
	})
	if err != nil {
		t.Fatalf("%s: node.Start: %v", name, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// replayTo replays the candles of [from, until) with no failed cycle.
func (r *replayNode) replayTo(t *testing.T, ctx context.Context, from, until time.Time) {
	t.Helper()
	prog, err := r.Replay(ctx, r.rp, r.sim, node.ReplayOptions{From: from, Until: until.Add(-r.rp.Step())})
	if err != nil || prog.CycleErrors != 0 {
		t.Fatalf("replay %s..%s: %v (%d failed cycles)", from, until, err, prog.CycleErrors)
	}
}

// waitRunning waits up to 60 s until model id's running state is running
// (a model the node does not hold counts as not running).
func (r *replayNode) waitRunning(t *testing.T, id string, running bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		found := false
		for _, s := range r.Models() {
			if s.ID == id {
				found = found || s.Running
			}
		}
		if found == running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("model %s: running=%v not reached: %+v", id, running, r.Models())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scaffoldBaseline renders the baseline pack into a temporary directory
// with the example model set models (scaffold.ModelsGo, ..., "" for
// both), this checkout as its SDK.
func scaffoldBaseline(t *testing.T, ctx context.Context, root, models string) scaffold.Result {
	t.Helper()
	res, err := scaffold.Init(ctx, scaffold.Options{
		Request:   scaffold.Request{Name: "btc-up", Pack: "baseline", Models: models},
		OutputDir: t.TempDir(),
		SDK:       scaffold.SDKSource{SourceDir: root, Version: "e2e-test"},
	})
	if err != nil {
		t.Fatalf("scaffold.Init: %v", err)
	}
	return res
}

// workspaceBuild is how a scaffolded workspace's plugins are built: in its
// go.work, with this checkout as a module root.
func workspaceBuild(root string, res scaffold.Result) pluginbuild.Options {
	return pluginbuild.Options{
		WorkDir: res.Workspace, Roots: []string{res.Workspace, root},
		Env: []string{"GOFLAGS=-buildvcs=false", "GOWORK=" + filepath.Join(res.Workspace, "go.work")},
	}
}

// buildWorkspacePlugins builds w's challenge plugin and every Go model
// plugin into a temporary directory; bins maps model id to binary.
func buildWorkspacePlugins(t *testing.T, ctx context.Context, root string, res scaffold.Result, w *config.Workspace) (challengeBin string, bins map[string]string) {
	t.Helper()
	binDir := filepath.Join(t.TempDir(), "bin")
	challengeBin = filepath.Join(binDir, "challenge")
	bins = map[string]string{}
	targets := []pluginbuild.Target{{Name: "challenge", Dir: w.Callables.ChallengePlugin, Out: challengeBin}}
	for _, m := range w.GoModels() {
		bins[m.ID] = filepath.Join(binDir, "models", m.ID)
		targets = append(targets, pluginbuild.Target{Name: "model " + m.ID, Dir: m.Path, Out: bins[m.ID]})
	}
	if err := pluginbuild.Build(ctx, targets, workspaceBuild(root, res)); err != nil {
		t.Fatalf("build plugins: %v", err)
	}
	return challengeBin, bins
}
