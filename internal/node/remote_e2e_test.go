package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// pyRunner is the real Python model runner (sdk/python coordinator_runner)
// serving one model directory on a fixed loopback port: a remote model
// as an orchestrator's container would serve it.
type pyRunner struct {
	t      *testing.T
	args   []string
	env    []string
	dir    string
	cmd    *exec.Cmd
	stderr *testutil.SyncBuffer
	exited chan struct{}
	addr   string
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (r *pyRunner) start() {
	r.t.Helper()
	cmd := exec.Command("/usr/bin/python3", r.args...)
	cmd.Env, cmd.Dir = r.env, r.dir
	r.stderr = &testutil.SyncBuffer{}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.cmd, r.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(r.exited) }()
}

// kill ends the runner with SIGKILL (a container that died).
func (r *pyRunner) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// killedModel is the remote model killed and restarted mid-run.
const killedModel = "py-trend-following"

// TestRemoteModelsReplay: a node whose models.json holds only remote model
// addresses (the baseline pack's Python examples, each served by the
// real Python model runner on its own port) predicts, scores and ranks
// them over a short replay; one runner is killed mid-run and restarted on
// the same port: the other two lose no rows, the killed one has
// non-answer rows only while it was down and answers again after.
func TestRemoteModelsReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end replay with a built challenge plugin and Python runners (slow); run without -short")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b := newBaselineNode(t, ctx, nil)
	runnerDir, err := modelrunner.RunnerDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Serve each Python example remotely and point models.json at them.
	runners := map[string]*pyRunner{}
	var entries []config.ModelConfig
	for _, m := range b.w.Models {
		if m.Runtime != config.RuntimePython {
			continue
		}
		addr := freePort(t)
		args := []string{"-m", "coordinator_runner", "--code", m.Path, "--listen", addr}
		if b.w.Callables.ModelBasePath != "" {
			args = append(args, "--path", b.w.Callables.ModelBasePath)
		}
		r := &pyRunner{t: t, args: args, dir: m.Path, addr: addr,
			env: []string{"PATH=" + os.Getenv("PATH"), "PYTHONPATH=" + runnerDir, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"}}
		r.start()
		t.Cleanup(r.kill)
		runners[m.ID] = r
		entries = append(entries, config.ModelConfig{ID: m.ID, Address: addr, Name: m.Name, PlayerID: "remote-" + m.ID, PlayerName: "remote"})
	}
	if len(entries) < 3 || runners[killedModel] == nil {
		t.Fatalf("expected the baseline pack's Python examples (at least 3, with %s), found %d", killedModel, len(entries))
	}
	b.setModels(t, entries)
	for _, m := range b.w.Models {
		if m.Runtime != config.RuntimeRemote {
			t.Fatalf("model %s: expected runtime remote, found %q", m.ID, m.Runtime)
		}
	}
	// A down model must not be taken out for a cool-down in this run.
	b.w.Settings.MaxConsecutiveFailures, b.w.Settings.MaxConsecutiveTimeouts = 1000, 1000
	st := openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "remote.db"))
	n := b.start(t, ctx, st, "remote-e2e", nil)
	for id := range runners {
		n.waitRunning(t, id, true)
	}
	const killed = killedModel
	first := n.rp.First()
	t1, t2, t3 := first.Add(2*time.Hour), first.Add(3*time.Hour), first.Add(6*time.Hour)
	n.replayTo(t, ctx, first, t1)
	runners[killed].kill()
	n.waitRunning(t, killed, false)
	n.replayTo(t, ctx, t1, t2)
	runners[killed].start()
	n.waitRunning(t, killed, true)
	n.replayTo(t, ctx, t2, t3)

	preds := listPredictions(t, ctx, st)
	byModel := map[string][]store.Prediction{}
	for _, p := range preds {
		byModel[p.ModelID] = append(byModel[p.ModelID], p)
	}
	if len(byModel) != len(entries) {
		t.Fatalf("expected rows of %d remote models, found %d", len(entries), len(byModel))
	}
	slots := len(byModel[killed])
	for id, ps := range byModel {
		if len(ps) != slots || slots < 300 {
			t.Errorf("model %s: %d rows, expected one per slot (%d, at least 300)", id, len(ps), slots)
		}
		var down, downOutside int
		for _, p := range ps {
			if p.Status == store.StatusSuccess {
				continue
			}
			if id != killed {
				t.Errorf("model %s lost a row at %s: %s", id, p.PerformedAt, p.Status)
				continue
			}
			down++
			if p.PerformedAt.Before(t1) || p.PerformedAt.After(t2.Add(5*time.Minute)) {
				downOutside++
			}
		}
		if id == killed && (down == 0 || downOutside > 0) {
			t.Errorf("killed model: expected non-answers only while it was down (%s..%s), found %d (%d outside)", t1, t2, down, downOutside)
		}
	}
	scored := 0
	for _, p := range preds {
		if p.Score != nil && p.Score.Value != nil {
			scored++
		}
	}
	if scored == 0 {
		t.Fatal("no prediction of a remote model was scored")
	}
	lb, err := st.LatestLeaderboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows []lbRow
	if err := json.Unmarshal(lb.Entries, &rows); err != nil {
		t.Fatal(err)
	}
	var ranked []string
	for _, r := range rows {
		if r.Rank > 0 {
			ranked = append(ranked, fmt.Sprintf("%s#%d", r.ModelID, r.Rank))
		}
	}
	if len(ranked) != len(entries) {
		t.Fatalf("expected the %d remote models ranked, found %v (%s)", len(entries), ranked, lb.Entries)
	}
	t.Logf("%d rows, %d scored, leaderboard %s", len(preds), scored, strings.Join(ranked, " "))
	models, err := st.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range models {
		if !strings.HasPrefix(m.DeploymentID, "remote:127.0.0.1:") {
			t.Errorf("model %s: deployment %q, expected remote:<address>", m.ID, m.DeploymentID)
		}
	}
}
