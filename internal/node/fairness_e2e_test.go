package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/checkpoint"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/scaffold"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// fairStart and fairRun bound the fairness replay: three hours of the
// shared candles (180 slots).
var (
	fairStart = time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	fairRun   = 3 * time.Hour
)

// fairModelSource is a test model of the generated challenge: behaviour
// decides its answer from the open time of the newest candle it was ticked
// (minutes since fairStart).
const fairModelSource = `// Command %[1]s is a test model of the fairness end-to-end replay.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	challenge "crunch-btc-up"

	"github.com/crunch-coordinator/coordinator/sdk"
)

type model struct{}

var start = time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)

func (model) PredictUp(_ context.Context, _ challenge.Question, candles []challenge.Candle) (float64, error) {
	minute := 0
	if len(candles) > 0 {
		minute = int(candles[len(candles)-1].TS.Sub(start) / time.Minute)
	}
	_, _ = errors.New, minute
	%[2]s
}

// everyOther answers {"p_up": 7}, an output the validator refuses, on
// every second Predict when on.
type everyOther struct {
	sdk.Model
	on bool
	n  int
}

func (e *everyOther) Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error) {
	e.n++
	if e.on && e.n%%2 == 0 {
		return json.RawMessage(` + "`" + `{"p_up": 7}` + "`" + `), nil
	}
	return e.Model.Predict(ctx, args, kwargs)
}

func main() {
	sdk.ServeModel(&everyOther{Model: challenge.NewAdapter(model{}), on: %[3]v}, sdk.ModelInfo{Name: "%[1]s", Version: "0.1.0"})
}
`

// fairModels are the models of the fairness replay besides the examples
// constant and mean-reversion (the honest model): id → PredictUp body.
var fairModels = map[string]string{
	// Twins: the same code under two ids.
	"twin-a": `if len(candles) > 1 && candles[len(candles)-1].Close < candles[len(candles)-2].Close { return 0.52, nil }; return 0.48, nil`,
	"twin-b": `if len(candles) > 1 && candles[len(candles)-1].Close < candles[len(candles)-2].Close { return 0.52, nil }; return 0.48, nil`,
	// Answers 0.5, but every second output is invalid ({"p_up": 7}, see
	// everyOther).
	"half-abstainer": `return 0.5, nil`,
	// Answers for the first third of the run, then only fails.
	"quitter": `if minute >= 60 { return 0, errors.New("gave up") }; return 0.5, nil`,
	// Fails from minute 30 to 60, then answers again.
	"recovering": `if minute >= 30 && minute < 60 { return 0, errors.New("temporary outage") }; return 0.5, nil`,
}

// TestE2EFairScoring replays three hours of real candles through real
// plugin subprocesses with an honest model, the constant 0.5 model, two
// identical twins, a model returning invalid output on half the slots, a
// model that stops after a third of the run and one that fails for a while
// then recovers (issue 13): twins share a rank and an equal reward, the
// half-abstainer and the quitter rank below the constant, the recovering
// model is re-admitted and its coverage counted, shares sum to 1e9.
func TestE2EFairScoring(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end replay with real plugins (slow); run without -short")
	}
	root := testutil.RepoRoot(t)
	csvPath := filepath.Join(filepath.Dir(root), "shared", "data", e2eCSV)
	nodeDir, challengeBin, models := buildFairWorkspace(t, root)
	t.Run("sqlite", func(t *testing.T) {
		runFair(t, nodeDir, challengeBin, models, csvPath, openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "fair.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("TEST_DATABASE_URL")
		if base == "" {
			t.Skip("TEST_DATABASE_URL is unset; skipping the PostgreSQL fairness replay")
		}
		runFair(t, nodeDir, challengeBin, models, csvPath, openStore(t, testutil.ScratchDatabaseAt(t, base, "coordinator_fair")))
	})
}

func buildFairWorkspace(t *testing.T, root string) (nodeDir, challengeBin string, bins map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res := scaffoldBaseline(t, ctx, root, scaffold.ModelsGo)
	var rows []config.ModelConfig
	rows = append(rows,
		config.ModelConfig{ID: "constant", Path: "../crunch-btc-up/examples/constant", Name: "constant", PlayerID: "p0", PlayerName: "e2e"},
		config.ModelConfig{ID: "honest", Path: "../crunch-btc-up/examples/mean_reversion", Name: "honest", PlayerID: "p1", PlayerName: "e2e"})
	for id, body := range fairModels {
		dir := filepath.Join(res.ChallengeDir, "examples", "fair_"+id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(fmt.Sprintf(fairModelSource, id, body, id == "half-abstainer")), 0o644); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, config.ModelConfig{ID: id, Path: "../crunch-btc-up/examples/fair_" + id, Name: id, PlayerID: "p-" + id, PlayerName: "e2e"})
	}
	raw, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(res.NodeDir, config.ModelsFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := config.LoadWorkspace(res.NodeDir, func(string) string { return "" })
	if err != nil {
		t.Fatalf("load workspace: %v", err)
	}
	challengeBin, bins = buildWorkspacePlugins(t, ctx, root, res, w)
	if len(bins) != 7 {
		t.Fatalf("expected 7 Go models, found %d", len(bins))
	}
	return res.NodeDir, challengeBin, bins
}

func runFair(t *testing.T, nodeDir, challengeBin string, bins map[string]string, csvPath string, st store.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w, err := config.LoadWorkspace(nodeDir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	// Short cool-downs so the recovering model is re-admitted within the run.
	w.Settings.ModelCooldownMin, w.Settings.ModelCooldownMax = 300*time.Millisecond, 600*time.Millisecond
	rp, err := replay.Open(csvPath, "BTC")
	if err != nil {
		t.Fatal(err)
	}
	sim := clock.NewSimulated(fairStart)
	n, err := node.Start(ctx, node.Config{Workspace: w, Store: st, Clock: sim, Logger: fairLogger(t),
		ChallengeBinary: challengeBin, ModelBinaries: bins,
		Feed: feed.Config{Provider: replay.Name, Assets: []string{"BTC"}, Kind: feed.KindCandle, Granularity: rp.Granularity()}})
	if err != nil {
		t.Fatalf("node.Start: %v", err)
	}
	defer n.Close()
	// Paced so that a wall-clock cool-down spans a few slots, not the run.
	prog, err := n.Replay(ctx, rp, sim, node.ReplayOptions{Until: fairStart.Add(fairRun - rp.Step()), Speed: 600, Last: true})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	t.Logf("%s: %d candles, %d predictions, %d scored, %d unresolved", st.Backend(), prog.Candles, prog.Predictions, prog.Scored, prog.Unresolved)

	preds := listPredictions(t, ctx, st)
	for _, p := range preds {
		if p.Status == store.StatusSuccess && p.Score == nil {
			t.Errorf("prediction %s is SUCCESS without a score after the replay", p.ID)
		}
	}
	lb, err := st.LatestLeaderboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows []lbRow
	if err := json.Unmarshal(lb.Entries, &rows); err != nil {
		t.Fatal(err)
	}
	byID := map[string]lbRow{}
	for _, r := range rows {
		byID[r.ModelID] = r
		v := r.Score.Ranking.Value
		t.Logf("rank %d %-15s anchor %v coverage %v", r.Rank, r.ModelID, deref(v), deref(r.Score.Metrics["coverage_anchor"]))
	}
	rank := func(id string) int {
		r, ok := byID[id]
		if !ok || r.Rank == 0 {
			t.Fatalf("model %s has no rank on the leaderboard: %s", id, lb.Entries)
		}
		return r.Rank
	}
	if rank("twin-a") != rank("twin-b") {
		t.Errorf("twins ranked %d and %d, expected a shared rank", rank("twin-a"), rank("twin-b"))
	}
	for _, id := range []string{"half-abstainer", "quitter"} {
		if rank(id) <= rank("constant") {
			t.Errorf("%s ranked %d, expected below the constant model (rank %d)", id, rank(id), rank("constant"))
		}
	}
	// Invalid outputs are non-answers: the half-abstainer answered about
	// half of its slots.
	if c := byID["half-abstainer"].Score.Metrics["coverage_anchor"]; c == nil || *c < 0.45 || *c > 0.55 {
		t.Errorf("half-abstainer: coverage_anchor %v, expected about 0.5", deref(c))
	}
	// The recovering model was taken out, re-admitted and answered again;
	// its coverage counts its answers against every expected slot.
	var answeredAfter, answered, expected int
	for _, p := range preds {
		if p.ModelID != "recovering" || p.Status == store.StatusUnresolved {
			continue
		}
		expected++
		if p.Status == store.StatusSuccess && p.Score != nil && p.Score.Success {
			answered++
			if p.PerformedAt.After(fairStart.Add(70 * time.Minute)) {
				answeredAfter++
			}
		}
	}
	if answeredAfter == 0 {
		t.Errorf("recovering model: no answer after its outage: it was not re-admitted")
	}
	cov := byID["recovering"].Score.Metrics["coverage_anchor"]
	if cov == nil || expected == 0 || math.Abs(*cov-float64(answered)/float64(expected)) > 1e-9 || *cov >= 1 {
		t.Errorf("recovering model: coverage_anchor %v, expected %d answered / %d expected (< 1)", deref(cov), answered, expected)
	}
	// The emission checkpoint: twins paid equally, shares sum to 1e9.
	cp, err := st.LatestCheckpoint(ctx, checkpoint.Kind)
	if err != nil || cp.Emission == nil {
		t.Fatalf("latest emission checkpoint: %+v %v", cp, err)
	}
	var pay checkpoint.Payload
	if err := json.Unmarshal(cp.Emission.Payload, &pay); err != nil {
		t.Fatal(err)
	}
	var sum uint64
	share := map[string]uint64{}
	for _, r := range pay.CruncherRewards {
		sum += r.RewardPct
		share[r.ModelID] = r.RewardPct
	}
	if sum+pay.Undistributed != 1_000_000_000 || sum != 1_000_000_000 {
		t.Errorf("emission shares sum to %d (undistributed %d), expected 1e9", sum, pay.Undistributed)
	}
	if share["twin-a"] != share["twin-b"] || share["twin-a"] == 0 {
		t.Errorf("twins paid %d and %d, expected equal non-zero shares", share["twin-a"], share["twin-b"])
	}
}

// fairLogger keeps the node's log and prints its tail when t fails.
func fairLogger(t *testing.T) hclog.Logger {
	logs := &testutil.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node log (last 40 lines):\n%s", tailLines(logs.String(), 40))
		}
	})
	return hclog.New(&hclog.LoggerOptions{Name: "fair", Level: hclog.Info, Output: logs})
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}
