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
	var err error
	b.res, err = scaffold.Init(ctx, scaffold.Options{
		Request: scaffold.Request{Name: "btc-up", Pack: "baseline"}, OutputDir: t.TempDir(),
		SDK: scaffold.SDKSource{SourceDir: root, Version: "e2e-test"},
	})
	if err != nil {
		t.Fatalf("scaffold.Init: %v", err)
	}
	b.reload(t)
	b.challenge = filepath.Join(t.TempDir(), "challenge")
	if err := pluginbuild.Build(ctx, []pluginbuild.Target{{Name: "challenge", Dir: b.w.Callables.ChallengePlugin, Out: b.challenge}}, pluginbuild.Options{
		WorkDir: b.res.Workspace, Roots: []string{b.res.Workspace, root},
		Env: []string{"GOFLAGS=-buildvcs=false", "GOWORK=" + filepath.Join(b.res.Workspace, "go.work")},
	}); err != nil {
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
