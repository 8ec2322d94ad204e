package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/scaffold"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// replayLiveSpan is how much of the CSV TestE2EReplayMatchesLive runs.
const replayLiveSpan = 100 * time.Minute

// TestE2EReplayMatchesLive: a full-speed replay (node.Replay: scoring
// every 15 simulated minutes, leaderboard hourly) stores exactly the
// predictions and scores that the live path stores over the same candles:
// each candle stored when it closes, the predict worker's cycle at that
// moment, the score worker's cycle every SCORE_INTERVAL_SECONDS. The
// generated baseline workspace with its Go example models, real plugin
// subprocesses, SQLite (and PostgreSQL when TEST_DATABASE_URL is set).
func TestE2EReplayMatchesLive(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end replay with real plugins (slow); run without -short")
	}
	root := testutil.RepoRoot(t)
	csvPath := filepath.Join(filepath.Dir(root), "shared", "data", e2eCSV)
	rp, err := replay.Open(csvPath, "BTC")
	if err != nil {
		t.Fatal(err)
	}
	nodeDir, challengeBin, bins := buildBaselineGoWorkspace(t, root)
	from := rp.First().Add(3 * time.Hour)
	until := from.Add(replayLiveSpan - rp.Step())
	backends := map[string]func(t *testing.T, name string) store.Store{
		"sqlite": func(t *testing.T, name string) store.Store {
			return openStore(t, "sqlite://"+filepath.Join(t.TempDir(), name+".db"))
		},
		"postgres": func(t *testing.T, name string) store.Store {
			base := os.Getenv("TEST_DATABASE_URL")
			if base == "" {
				t.Skip("TEST_DATABASE_URL is unset; skipping the PostgreSQL case")
			}
			return openStore(t, testutil.ScratchDatabaseAt(t, base, "coordinator_"+name))
		},
	}
	// The bad case: a feed record whose values do not parse, stored at
	// from+40m (after its close at from+31m30s): from then on every
	// cycle's ProvideRawInput fails (the baseline's window holds it), in
	// the middle of a block. The replay stores it before it starts, with
	// its ingestion time; the live path when its clock reaches that time.
	first, _ := rp.Iter(from, from).Next()
	bad := first
	bad.TsEvent, bad.TsIngested = from.Add(30*time.Minute+30*time.Second), from.Add(40*time.Minute)
	bad.Values = json.RawMessage(`{"open":"not a number","high":1,"low":1,"close":1,"volume":1}`)
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, withBad := range []bool{false, true} {
			name := backend
			if withBad {
				name += "/unparsable_record_mid_block"
			}
			t.Run(name, func(t *testing.T) {
				replayLiveCase(t, backends[backend], nodeDir, challengeBin, bins, rp, from, until, withBad, bad)
			})
		}
	}
}

// replayLiveCase is one case of TestE2EReplayMatchesLive: a replay and the
// live path over the same candles on fresh stores of one backend, with the
// record bad stored at its ingestion time when withBad is set.
func replayLiveCase(t *testing.T, open func(t *testing.T, name string) store.Store, nodeDir, challengeBin string, bins map[string]string,
	rp *replay.Replay, from, until time.Time, withBad bool, bad store.MarketRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	suffix := ""
	if withBad {
		suffix = "_bad"
	}
	replayed := open(t, "replayed"+suffix)
	live := open(t, "live"+suffix)
	if withBad {
		if _, err := replayed.UpsertMarketRecords(ctx, []store.MarketRecord{bad}); err != nil {
			t.Fatal(err)
		}
	}

	n, sim := startBaselineNode(t, ctx, nodeDir, challengeBin, bins, rp, replayed, from)
	prog, err := n.Replay(ctx, rp, sim, node.ReplayOptions{From: from, Until: until})
	if err != nil || prog.CycleErrors > 0 != withBad || prog.Cycles == 0 {
		t.Fatalf("replay: %+v, %v", prog, err)
	}
	// Every cycle's model calls went in a block's batch (the example
	// models and the challenge are built with this SDK), and its
	// inference input was made with the rest of its block
	// (BuildInferenceInputs, the candles stored ahead).
	if prog.Batched != prog.Cycles {
		t.Fatalf("replay: %d of %d predict cycles answered from a batch stream, want all", prog.Batched, prog.Cycles)
	}
	if prog.InputsAhead != prog.Cycles {
		t.Fatalf("replay: %d of %d predict cycles had their input made ahead, want all", prog.InputsAhead, prog.Cycles)
	}
	// The baseline's ValidateInferenceOutput is the challenge's, which
	// could read the feed while a block's models are called: no block is
	// staged meanwhile (the feed view stays at the simulated time).
	if prog.StagedAlongside != 0 {
		t.Fatalf("replay: %d blocks staged alongside the previous block's model calls, want none", prog.StagedAlongside)
	}
	_ = n.Close()

	// The live path, one candle at a time.
	ln, lsim := startBaselineNode(t, ctx, nodeDir, challengeBin, bins, rp, live, from)
	w, err := config.LoadWorkspace(nodeDir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	scoreEvery := w.Settings.ScoreInterval
	var nextScore time.Time
	liveErrors := 0
	for it := rp.Iter(from, until); ; {
		rec, ok := it.Next()
		if !ok {
			break
		}
		at := rec.TsEvent.Add(rp.Step())
		rec.TsIngested = at
		recs := []store.MarketRecord{rec}
		if withBad && at.Equal(bad.TsIngested) {
			recs = append(recs, bad)
		}
		if _, err := live.UpsertMarketRecords(ctx, recs); err != nil {
			t.Fatal(err)
		}
		lsim.Set(at)
		if _, err := ln.PredictOnce(ctx); err != nil {
			if !withBad {
				t.Fatalf("live predict cycle at %s: %v", at, err)
			}
			liveErrors++
		}
		if !at.Before(nextScore) {
			if _, err := ln.ScoreOnce(ctx); err != nil {
				t.Fatalf("live score cycle at %s: %v", at, err)
			}
			nextScore = at.Add(scoreEvery)
		}
	}
	if _, err := ln.ScoreOnce(ctx); err != nil {
		t.Fatalf("live final score cycle: %v", err)
	}
	_ = ln.Close()
	if liveErrors != prog.CycleErrors {
		t.Errorf("failed predict cycles: replay %d, live %d", prog.CycleErrors, liveErrors)
	}

	want, got := listPredictions(t, ctx, live), listPredictions(t, ctx, replayed)
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("replay stored %d predictions, the live path %d", len(got), len(want))
	}
	scored := 0
	for i := range want {
		if d := predictionDiff(got[i], want[i]); d != "" {
			t.Errorf("prediction %d (%s): replay and live differ: %s", i, want[i].ID, d)
		}
		if want[i].Score != nil {
			scored++
		}
	}
	if scored < len(want)*8/10 {
		t.Errorf("only %d of %d predictions scored: the comparison would say little", scored, len(want))
	}
	t.Logf("%d predictions (%d scored) identical in the replay and the live path; %d failed cycles in each", len(want), scored, liveErrors)
}

// predictionDiff describes how two stored predictions differ in what a
// replay must reproduce: identity, status, input, output, ground truth and
// score (not the execution time or the moment it was scored).
func predictionDiff(a, b store.Prediction) string {
	switch {
	case a.ID != b.ID || a.ModelID != b.ModelID || !a.PerformedAt.Equal(b.PerformedAt) || !a.ResolvableAt.Equal(b.ResolvableAt):
		return fmt.Sprintf("identity %s %s %s, %s %s %s", a.ID, a.ModelID, a.PerformedAt, b.ID, b.ModelID, b.PerformedAt)
	case a.Status != b.Status:
		return fmt.Sprintf("status %s, live %s", a.Status, b.Status)
	case a.InputID != b.InputID || !bytes.Equal(a.InferenceInput, b.InferenceInput):
		return fmt.Sprintf("inference input %s, live %s", a.InputID, b.InputID)
	case !bytes.Equal(a.InferenceOutput, b.InferenceOutput):
		return fmt.Sprintf("output %s, live %s", a.InferenceOutput, b.InferenceOutput)
	case !bytes.Equal(a.GroundTruth, b.GroundTruth):
		return fmt.Sprintf("ground truth %s, live %s", a.GroundTruth, b.GroundTruth)
	case (a.Score == nil) != (b.Score == nil):
		return fmt.Sprintf("scored %v, live %v", a.Score != nil, b.Score != nil)
	case a.Score != nil && (a.Score.Success != b.Score.Success || a.Score.FailedReason != b.Score.FailedReason || ptrString(a.Score.Value) != ptrString(b.Score.Value)):
		return fmt.Sprintf("score %+v %s, live %+v %s", *a.Score, ptrString(a.Score.Value), *b.Score, ptrString(b.Score.Value))
	}
	return ""
}

// startBaselineNode starts a node (all roles) of the workspace on st with
// a simulated clock at from.
func startBaselineNode(t *testing.T, ctx context.Context, nodeDir, challengeBin string, bins map[string]string, rp *replay.Replay, st store.Store, from time.Time) (*node.Node, *clock.Simulated) {
	t.Helper()
	w, err := config.LoadWorkspace(nodeDir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	sim := clock.NewSimulated(from)
	n, err := node.Start(ctx, node.Config{Workspace: w, Store: st, Clock: sim, Logger: fairLogger(t),
		ChallengeBinary: challengeBin, ModelBinaries: bins,
		Feed: feed.Config{Provider: replay.Name, Assets: []string{"BTC"}, Kind: feed.KindCandle, Granularity: rp.Granularity()}})
	if err != nil {
		t.Fatalf("node.Start: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n, sim
}

// buildBaselineGoWorkspace generates the baseline pack's workspace with
// its Go example models and builds its plugins.
func buildBaselineGoWorkspace(t *testing.T, root string) (nodeDir, challengeBin string, bins map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res := scaffoldBaseline(t, ctx, root, scaffold.ModelsGo)
	w, err := config.LoadWorkspace(res.NodeDir, func(string) string { return "" })
	if err != nil {
		t.Fatalf("load workspace: %v", err)
	}
	challengeBin, bins = buildWorkspacePlugins(t, ctx, root, res, w)
	if len(bins) == 0 {
		t.Fatal("the baseline workspace has no Go example model")
	}
	return res.NodeDir, challengeBin, bins
}
