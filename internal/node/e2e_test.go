package node_test

// End-to-end test of a node (issue 4): the real baseline workspace, built by
// scaffold.Init against this checkout, with the real challenge plugin, the
// three example model plugins and a fourth model that panics on every
// Predict, replaying real BTC candles on a simulated clock against SQLite
// and PostgreSQL. Every expected value is computed independently of the
// node: ticks from the replay window, Brier scores and window means from
// the CSV itself.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

const (
	e2eCSV = "binance-us-BTCUSDT-1m-2023-03-01..21.csv"
	// panickerID is the fourth model: it panics on every Predict.
	panickerID = "panicker"
	// groundTruthStaleness is the generated challenge's MaxStaleness
	// (crunch-btc-up/challenge.go: New).
	groundTruthStaleness = 120 * time.Second
	// scoreTolerance bounds float differences between our independent
	// computation and the node's stored values (same formula, same inputs).
	scoreTolerance = 1e-9
)

// exampleModels are the baseline pack's example models (config/models.json
// of the generated node): four Go plugins (the constant 0.5 reference
// and three calibrated models) and their Python twins, run by the model
// runner (issue 14) in the same model set.
var exampleModels = []string{"constant", "mean-reversion", "trend-following", "volatility-regime",
	"py-constant", "py-mean-reversion", "py-trend-following", "py-volatility-regime"}

// pythonTwins maps each Python example to the Go example it mirrors: both
// must answer the same p_up at every tick.
var pythonTwins = map[string]string{
	"py-constant": "constant", "py-mean-reversion": "mean-reversion", "py-trend-following": "trend-following", "py-volatility-regime": "volatility-regime",
}

const panickerSource = `// Command panicker is a model plugin for the end-to-end test: it panics on
// every Predict, so its process dies mid-call (CRASHED).
package main

import (
	"context"

	challenge "crunch-btc-up"

	"github.com/crunch-coordinator/coordinator/sdk"
)

type panicker struct{}

func (panicker) PredictUp(context.Context, challenge.Question, []challenge.Candle) (float64, error) {
	panic("panicker: this model panics on every Predict")
}

func main() {
	sdk.ServeModel(challenge.NewAdapter(panicker{}), sdk.ModelInfo{Name: "panicker", Version: "0.0.1"})
}
`

// e2eWorkspace is the generated, built workspace shared by the subtests.
type e2eWorkspace struct {
	nodeDir   string
	binDir    string
	challenge string
	models    map[string]string
	csvPath   string
}

// TestE2EReplay is issue 4's end-to-end test; see the file comment.
func TestE2EReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end replay with real plugins (slow); run without -short")
	}
	root := testutil.RepoRoot(t)
	csvPath := filepath.Join(filepath.Dir(root), "shared", "data", e2eCSV)
	prices := loadPrices(t, csvPath)
	ws := buildE2EWorkspace(t, root, csvPath)

	t.Run("sqlite", func(t *testing.T) {
		st := openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "e2e.db"))
		// SQLite then replays on to 26 h, so recent (24 h) holds other
		// predictions than steady and anchor.
		runE2E(t, ws, st, prices, e2eFirstSpan, 26*time.Hour)
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("TEST_DATABASE_URL")
		if base == "" {
			t.Skip("TEST_DATABASE_URL is unset; skipping the PostgreSQL end-to-end replay")
		}
		st := openStore(t, testutil.ScratchDatabaseAt(t, base, "coordinator_e2e"))
		runE2E(t, ws, st, prices, e2eFirstSpan, 0)
	})
}

// e2eFirstSpan is the first replay of each backend: shorter than the
// shortest ranking window (24 h), so every window holds the same
// predictions, and long enough for every model state to settle. (The whole
// test runs under -race in CI, where a cycle of nine models costs about a
// tenth of a second.)
const e2eFirstSpan = 6 * time.Hour

// runE2E replays the first firstSpan through a fresh node on st and checks
// everything issue 4 lists; extendTo > 24 h continues the same node up to
// that much replayed time and checks the windows.
func runE2E(t *testing.T, ws *e2eWorkspace, st store.Store, prices priceSeries, firstSpan, extendTo time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	w, err := config.LoadWorkspace(ws.nodeDir, func(string) string { return "" })
	if err != nil {
		t.Fatalf("load workspace: %v", err)
	}
	rp, err := replay.Open(ws.csvPath, "BTC")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			// The panicker's stack traces are left out.
			var kept []string
			for _, l := range strings.Split(logs.String(), "\n") {
				if !strings.Contains(l, "host.model.panicker:") {
					kept = append(kept, l)
				}
			}
			t.Logf("node log (last 40 lines, panicker stderr left out):\n%s", tailLines(strings.Join(kept, "\n"), 40))
		}
	})
	logger := hclog.New(&hclog.LoggerOptions{Name: "e2e", Level: hclog.Info, Output: logs})
	var evMu sync.Mutex
	var events []host.Event
	first := rp.First()
	sim := clock.NewSimulated(first)
	// The panicker's cool-down outlasts the run (wall time), so its state at
	// the end is known: taken out, ABSENT every slot.
	w.Settings.ModelCooldownMin, w.Settings.ModelCooldownMax = time.Hour, time.Hour
	n, err := node.Start(ctx, node.Config{
		Workspace: w, Store: st, Clock: sim, Logger: logger,
		ChallengeBinary: ws.challenge, ModelBinaries: ws.models,
		Feed: feed.Config{Provider: replay.Name, Assets: []string{"BTC"}, Kind: feed.KindCandle, Granularity: rp.Granularity()},
		HostEvents: func(e host.Event) {
			evMu.Lock()
			events = append(events, e)
			evMu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("node.Start: %v", err)
	}
	closed := false
	defer func() {
		if !closed {
			n.Close()
		}
	}()

	// The first span.
	dayEnd := first.Add(firstSpan)
	start := time.Now()
	prog, err := n.Replay(ctx, rp, sim, node.ReplayOptions{Until: dayEnd.Add(-rp.Step())})
	if err != nil {
		t.Fatalf("replay day 1: %v", err)
	}
	if wantCandles := int(firstSpan / rp.Step()); prog.Candles != wantCandles || prog.CycleErrors != 0 || !sim.Now().Equal(dayEnd) {
		t.Fatalf("replay of the first %s: expected %d candles, 0 failed cycles, clock at %s; found %d candles, %d failed cycles, clock at %s",
			firstSpan, wantCandles, dayEnd, prog.Candles, prog.CycleErrors, sim.Now())
	}
	t.Logf("%s: replayed %s (%d candles, %d predictions, %d scored) in %s", st.Backend(), firstSpan, prog.Candles, prog.Predictions, prog.Scored, time.Since(start).Round(time.Millisecond))
	preds := listPredictions(t, ctx, st)
	checkRows(t, preds, first, dayEnd, w.Settings.MaxConsecutiveFailures)
	checkScored(t, preds, prices, dayEnd)
	checkModelStates(t, n.Models(), w.Settings.MaxConsecutiveFailures)
	want := windowMeans(preds, dayEnd)
	lb := checkLeaderboard(t, ctx, st, want)
	// Within 24 h every window holds the same predictions.
	for _, id := range exampleModels {
		m := want[id]
		if m.recent != m.anchor || m.steady != m.anchor {
			t.Errorf("model %s after %s: expected recent = steady = anchor, found %v %v %v", id, firstSpan, m.recent, m.steady, m.anchor)
		}
	}
	checkReportAPI(t, n.Handler(), lb, preds, first)
	stats, err := n.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Predictions != int64(len(preds)) || stats.Healthy != len(exampleModels) || len(stats.Failed) != 1 || stats.Failed[0] != "panicker (MULTIPLE_FAILED)" {
		t.Errorf("node.Stats: expected %d predictions, %d healthy, failed [panicker (MULTIPLE_FAILED)]; found %+v", len(preds), len(exampleModels), stats)
	}
	evMu.Lock()
	checkEvents(t, events)
	evMu.Unlock()

	if extendTo > 24*time.Hour {
		// Continue the same node: the windows now cover different data.
		end := first.Add(extendTo)
		start := time.Now()
		prog, err := n.Replay(ctx, rp, sim, node.ReplayOptions{From: dayEnd, Until: end.Add(-rp.Step())})
		if err != nil {
			t.Fatalf("replay to %s: %v", end, err)
		}
		if prog.CycleErrors != 0 || !sim.Now().Equal(end) {
			t.Fatalf("replay to %s: %d failed cycles, clock at %s", end, prog.CycleErrors, sim.Now())
		}
		t.Logf("%s: replayed on to %s (%d candles) in %s", st.Backend(), end, prog.Candles, time.Since(start).Round(time.Millisecond))
		preds := listPredictions(t, ctx, st)
		checkRows(t, preds, first, end, w.Settings.MaxConsecutiveFailures)
		checkScored(t, preds, prices, end)
		want := windowMeans(preds, end)
		checkLeaderboard(t, ctx, st, want)
		differ := false
		for _, id := range exampleModels {
			m := want[id]
			// Over 24 h (and under 72 h) replayed: steady (72 h) and anchor
			// (7 d) hold the same predictions, recent (24 h) only the last
			// 24 h of them.
			if m.nRecent >= m.nAnchor || m.nSteady != m.nAnchor || m.steady != m.anchor {
				t.Errorf("model %s after %s: expected recent ⊂ steady = anchor; found %d, %d, %d scored predictions, means %v, %v, %v",
					id, extendTo, m.nRecent, m.nSteady, m.nAnchor, m.recent, m.steady, m.anchor)
			}
			if math.Abs(m.recent-m.anchor) > 1e-6 {
				differ = true
			}
		}
		if !differ {
			t.Errorf("after %s recent equals anchor for every model: the windows do not differ", extendTo)
		}
	}

	if err := n.Close(); err != nil {
		t.Errorf("node.Close: %v", err)
	}
	closed = true
	checkNoPluginProcesses(t, ws.binDir)
}

// buildE2EWorkspace renders the baseline pack into a temp dir (go.work
// uses this checkout), adds the panicker model, builds every plugin and
// returns the binaries.
func buildE2EWorkspace(t *testing.T, root, csvPath string) *e2eWorkspace {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res := scaffoldBaseline(t, ctx, root, "")
	dir := filepath.Join(res.ChallengeDir, "examples", "panicker")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(panickerSource), 0o644); err != nil {
		t.Fatal(err)
	}
	modelsFile := filepath.Join(res.NodeDir, config.ModelsFile)
	raw, err := os.ReadFile(modelsFile)
	if err != nil {
		t.Fatal(err)
	}
	var models []map[string]any
	if err := json.Unmarshal(raw, &models); err != nil {
		t.Fatalf("%s: %v", modelsFile, err)
	}
	var ids []string
	for _, m := range models {
		ids = append(ids, fmt.Sprint(m["id"]))
	}
	if strings.Join(ids, ",") != strings.Join(exampleModels, ",") {
		t.Fatalf("%s: expected models %v, found %v", modelsFile, exampleModels, ids)
	}
	models = append(models, map[string]any{"id": panickerID, "path": "../crunch-btc-up/examples/panicker", "name": panickerID, "player_id": "local-0002", "player_name": "e2e"})
	raw, err = json.MarshalIndent(models, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(modelsFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	w, err := config.LoadWorkspace(res.NodeDir, func(string) string { return "" })
	if err != nil {
		t.Fatalf("load generated workspace: %v", err)
	}
	ws := &e2eWorkspace{nodeDir: res.NodeDir, binDir: filepath.Join(t.TempDir(), "bin"), models: map[string]string{}, csvPath: csvPath}
	ws.challenge = filepath.Join(ws.binDir, "challenge")
	targets := []pluginbuild.Target{{Name: "challenge", Dir: w.Callables.ChallengePlugin, Out: ws.challenge}}
	for _, m := range w.GoModels() {
		ws.models[m.ID] = filepath.Join(ws.binDir, "models", m.ID)
		targets = append(targets, pluginbuild.Target{Name: "model " + m.ID, Dir: m.Path, Out: ws.models[m.ID]})
	}
	if len(ws.models) != 5 || len(w.Models) != 9 {
		t.Fatalf("expected 9 models in the workspace (5 Go plugins), found %d (%d Go plugins)", len(w.Models), len(ws.models))
	}
	start := time.Now()
	err = pluginbuild.Build(ctx, targets, workspaceBuild(root, res))
	if err != nil {
		t.Fatalf("build plugins: %v", err)
	}
	t.Logf("built %d plugins in %s", len(targets), time.Since(start).Round(time.Millisecond))
	return ws
}

// checkPythonTwins checks that every Python example answered the same p_up
// as its Go twin at every tick: same formulas, same ticked candles, same
// predict args, through the model-runner protocol instead of go-plugin.
func checkPythonTwins(t *testing.T, byModel map[string][]store.Prediction) {
	t.Helper()
	pUp := func(p store.Prediction) (float64, bool) {
		var out struct {
			PUp *float64 `json:"p_up"`
		}
		if json.Unmarshal(p.InferenceOutput, &out) != nil || out.PUp == nil {
			return 0, false
		}
		return *out.PUp, true
	}
	for py, goID := range pythonTwins {
		goAt := map[time.Time]float64{}
		for _, p := range byModel[goID] {
			if v, ok := pUp(p); ok && p.Status == "SUCCESS" {
				goAt[p.PerformedAt.UTC()] = v
			}
		}
		compared := 0
		for _, p := range byModel[py] {
			v, ok := pUp(p)
			if !ok || p.Status != "SUCCESS" {
				t.Errorf("python model %s: prediction at %s is %s with output %s", py, p.PerformedAt.UTC(), p.Status, p.InferenceOutput)
				continue
			}
			want, ok := goAt[p.PerformedAt.UTC()]
			if !ok {
				continue
			}
			compared++
			if math.Abs(v-want) > scoreTolerance {
				t.Errorf("python model %s at %s: p_up %v, its Go twin %s answered %v", py, p.PerformedAt.UTC(), v, goID, want)
			}
		}
		// Both answer (nearly) every slot: a gap would hide a divergence.
		if n := len(byModel[py]); compared == 0 || compared < n*9/10 {
			t.Errorf("python model %s: only %d of its %d predictions compared with %s", py, compared, n, goID)
		}
	}
}

// checkRows checks one prediction per model per schedule tick over the
// replayed span (first, end]: every candle close is a tick; the three
// example models have exactly one SUCCESS row per tick, performed at the
// tick (no missing or delayed rows); the panicker has CRASHED rows (more
// than the failure threshold), ABSENT rows while restarting and after its
// stop for at most the ABSENT grace, and never two rows for one tick.
func checkRows(t *testing.T, preds []store.Prediction, first, end time.Time, maxFailures int) {
	t.Helper()
	var ticks []time.Time
	for at := first.Add(time.Minute); !at.After(end); at = at.Add(time.Minute) {
		ticks = append(ticks, at)
	}
	isTick := map[time.Time]bool{}
	for _, at := range ticks {
		isTick[at] = true
	}
	byModel := map[string][]store.Prediction{}
	for _, p := range preds {
		byModel[p.ModelID] = append(byModel[p.ModelID], p)
	}
	if len(byModel) != len(exampleModels)+1 {
		t.Errorf("expected predictions of %d models, found %d", len(exampleModels)+1, len(byModel))
	}
	checkPythonTwins(t, byModel)
	for _, id := range exampleModels {
		rows := byModel[id]
		seen := map[time.Time]bool{}
		bad := 0
		for _, p := range rows {
			at := p.PerformedAt.UTC()
			switch {
			case !isTick[at]:
				t.Errorf("model %s: prediction %s performed at %s, which is no schedule tick (delayed?)", id, p.ID, at)
			case seen[at]:
				t.Errorf("model %s: two predictions at tick %s", id, at)
			case p.Status != store.StatusSuccess:
				if bad++; bad <= 3 {
					t.Errorf("model %s: prediction at %s has status %s (meta %s), expected SUCCESS", id, at, p.Status, p.Meta)
				}
			}
			seen[at] = true
			if !p.ResolvableAt.Equal(p.PerformedAt.Add(time.Minute)) {
				t.Errorf("model %s: prediction at %s: resolvable_at %s, expected performed_at + 60 s", id, at, p.ResolvableAt)
			}
		}
		if len(rows) != len(ticks) || bad > 0 {
			t.Errorf("model %s: expected %d SUCCESS predictions (one per tick from %s to %s), found %d rows, %d not SUCCESS",
				id, len(ticks), ticks[0], end, len(rows), bad)
		}
	}

	rows := byModel[panickerID]
	seen := map[time.Time]bool{}
	counts := map[string]int{}
	for _, p := range rows {
		at := p.PerformedAt.UTC()
		if !isTick[at] || seen[at] {
			t.Errorf("panicker: prediction at %s is off the tick grid or a duplicate", at)
		}
		seen[at] = true
		counts[p.Status]++
		if p.Score != nil {
			t.Errorf("panicker: %s prediction at %s was scored", p.Status, at)
		}
	}
	if counts[store.StatusCrashed] <= maxFailures || counts[store.StatusSuccess] != 0 || counts[store.StatusCrashed]+counts[store.StatusAbsent] != len(rows) {
		t.Errorf("panicker: expected more than %d CRASHED rows, the rest ABSENT, no SUCCESS; found %v", maxFailures, counts)
	}
	// Taken out for a cool-down, it is still expected every slot: one row
	// per tick, each a non-answer.
	if len(rows) != len(ticks) {
		t.Errorf("panicker: %d rows for %d ticks, expected one per tick (ABSENT while cooling down)", len(rows), len(ticks))
	}
}

// checkScored checks that every SUCCESS prediction whose resolvable_at has
// passed (is before now) is scored successfully and no other is, and that
// every score equals the Brier score computed here from the CSV.
func checkScored(t *testing.T, preds []store.Prediction, prices priceSeries, now time.Time) {
	t.Helper()
	checked, ups, downs := 0, 0, 0
	for _, p := range preds {
		if p.Status != store.StatusSuccess {
			continue
		}
		// A prediction resolves once the candle closing at its resolvable_at
		// is stored: the replay stores it when the clock reaches its close.
		due := !p.ResolvableAt.After(now)
		if !due {
			if p.Score != nil {
				t.Errorf("model %s: prediction at %s (resolvable_at %s, now %s) is scored before its ground truth exists", p.ModelID, p.PerformedAt, p.ResolvableAt, now)
			}
			continue
		}
		if p.Score == nil || !p.Score.Success || p.Score.Value == nil {
			t.Errorf("model %s: prediction at %s (resolvable_at %s < now %s) is not scored successfully: %+v", p.ModelID, p.PerformedAt, p.ResolvableAt, now, p.Score)
			continue
		}
		var out struct {
			PUp *float64 `json:"p_up"`
		}
		if err := json.Unmarshal(p.InferenceOutput, &out); err != nil || out.PUp == nil {
			t.Errorf("model %s: prediction at %s: output %s: expected {\"p_up\": x}", p.ModelID, p.PerformedAt, p.InferenceOutput)
			continue
		}
		entry, err := prices.at(p.PerformedAt)
		if err != nil {
			t.Fatal(err)
		}
		resolved, err := prices.at(p.ResolvableAt)
		if err != nil {
			t.Fatal(err)
		}
		y := 0.0 // the baseline pack scores a flat move (resolved = entry) against y = 0.5
		switch {
		case resolved > entry:
			y = 1
			ups++
		case resolved == entry:
			y = 0.5
		default:
			downs++
		}
		// The stored ground truth states the same prices and outcome.
		var gt struct {
			Entry    float64  `json:"entry_price"`
			Resolved float64  `json:"resolved_price"`
			Y        *float64 `json:"y"`
		}
		if err := json.Unmarshal(p.GroundTruth, &gt); err != nil || gt.Y == nil || *gt.Y != y || gt.Entry != entry || gt.Resolved != resolved {
			t.Errorf("model %s: prediction at %s: stored ground truth %s, expected entry %v, resolved %v, y %v", p.ModelID, p.PerformedAt, p.GroundTruth, entry, resolved, y)
		}
		want := 1 - (*out.PUp-y)*(*out.PUp-y)
		if math.Abs(*p.Score.Value-want) > scoreTolerance {
			t.Errorf("model %s: prediction at %s: p_up %v, price %v -> %v: expected Brier %v, stored %v",
				p.ModelID, p.PerformedAt, *out.PUp, entry, resolved, want, *p.Score.Value)
		}
		checked++
	}
	if checked == 0 || ups == 0 || downs == 0 {
		t.Errorf("expected scored predictions with both outcomes, found %d checked (%d up, %d not up)", checked, ups, downs)
	}
	t.Logf("checked %d Brier scores against the CSV (%d up, %d not up)", checked, ups, downs)
}

// means are one model's expected window means (resolvable_at in
// [now-length, now], successful scores only) and counts.
type means struct {
	recent, steady, anchor    float64
	nRecent, nSteady, nAnchor int
}

// windowMeans computes the expected recent (24 h), steady (72 h) and
// anchor (7 d) means from the stored scored predictions.
func windowMeans(preds []store.Prediction, now time.Time) map[string]means {
	type acc struct {
		sum [3]float64
		n   [3]int
	}
	lengths := [3]time.Duration{24 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour}
	accs := map[string]*acc{}
	for _, p := range preds {
		if p.Score == nil || !p.Score.Success || p.Score.Value == nil {
			continue
		}
		a := accs[p.ModelID]
		if a == nil {
			a = &acc{}
			accs[p.ModelID] = a
		}
		for i, l := range lengths {
			if !p.ResolvableAt.Before(now.Add(-l)) && !p.ResolvableAt.After(now) {
				a.sum[i] += *p.Score.Value
				a.n[i]++
			}
		}
	}
	out := map[string]means{}
	for id, a := range accs {
		out[id] = means{
			recent: a.sum[0] / float64(a.n[0]), steady: a.sum[1] / float64(a.n[1]), anchor: a.sum[2] / float64(a.n[2]),
			nRecent: a.n[0], nSteady: a.n[1], nAnchor: a.n[2],
		}
	}
	return out
}

// lbRow is one parsed stored leaderboard entry.
type lbRow struct {
	ModelID string `json:"model_id"`
	Rank    int    `json:"rank"`
	Score   struct {
		Metrics map[string]*float64 `json:"metrics"`
		Ranking struct {
			Key   string   `json:"key"`
			Value *float64 `json:"value"`
		} `json:"ranking"`
	} `json:"score"`
}

// checkLeaderboard checks the latest leaderboard: the three example models
// ranked 1-3 by anchor (descending) with the expected window means, the
// panicker last without a score.
func checkLeaderboard(t *testing.T, ctx context.Context, st store.Store, want map[string]means) []lbRow {
	t.Helper()
	lb, err := st.LatestLeaderboard(ctx)
	if err != nil {
		t.Fatalf("latest leaderboard: %v", err)
	}
	var rows []lbRow
	if err := json.Unmarshal(lb.Entries, &rows); err != nil {
		t.Fatalf("leaderboard entries %s: %v", lb.Entries, err)
	}
	if len(rows) != len(exampleModels)+1 {
		t.Fatalf("leaderboard: expected %d entries, found %d: %s", len(exampleModels)+1, len(rows), lb.Entries)
	}
	// Scored models come first by descending anchor; exactly equal anchors
	// (a Python twin and its Go model may agree to the last bit) share the
	// rank of the first; the panicker (no score, no rank) is last.
	seen := map[string]bool{}
	for i, r := range rows {
		seen[r.ModelID] = true
		if r.ModelID == panickerID {
			if i != len(rows)-1 || r.Rank != 0 {
				t.Errorf("leaderboard entry %d: panicker with rank %d, expected last without a rank", i, r.Rank)
			}
		} else if r.Score.Ranking.Value != nil {
			wantRank := 1
			for _, o := range rows {
				if o.Score.Ranking.Value != nil && *o.Score.Ranking.Value > *r.Score.Ranking.Value {
					wantRank++
				}
			}
			if r.Rank != wantRank {
				t.Errorf("leaderboard entry %d (%s): expected rank %d, found %d", i, r.ModelID, wantRank, r.Rank)
			}
			if i > 0 && rows[i-1].Score.Ranking.Value != nil && *rows[i-1].Score.Ranking.Value < *r.Score.Ranking.Value {
				t.Errorf("leaderboard entry %d (%s): not in descending anchor order", i, r.ModelID)
			}
		}
	}
	for _, id := range append(append([]string(nil), exampleModels...), panickerID) {
		if !seen[id] {
			t.Errorf("leaderboard: model %s missing", id)
		}
	}
	for _, r := range rows {
		if r.ModelID == panickerID {
			// Only non-answers: no window score (so no rank), coverage 0.
			cov := r.Score.Metrics["coverage_anchor"]
			if r.Score.Ranking.Value != nil || r.Score.Metrics["anchor"] != nil || cov == nil || *cov != 0 {
				t.Errorf("leaderboard: panicker: expected no score and coverage_anchor 0, found %+v", r.Score)
			}
			continue
		}
		for _, name := range []string{"coverage_recent", "coverage_steady", "coverage_anchor"} {
			if c := r.Score.Metrics[name]; c == nil || *c != 1 {
				t.Errorf("leaderboard %s: %s = %s, expected 1 (it answered every slot)", r.ModelID, name, ptrString(c))
			}
		}
		m, ok := want[r.ModelID]
		if !ok {
			t.Errorf("leaderboard: unexpected model %s", r.ModelID)
			continue
		}
		for name, v := range map[string]float64{"recent": m.recent, "steady": m.steady, "anchor": m.anchor} {
			got := r.Score.Metrics[name]
			if got == nil || math.Abs(*got-v) > scoreTolerance {
				t.Errorf("leaderboard %s: metric %s: expected %v (mean of its scored predictions in the window), found %v", r.ModelID, name, v, ptrString(got))
			}
		}
		if r.Score.Ranking.Key != "anchor" || r.Score.Ranking.Value == nil || math.Abs(*r.Score.Ranking.Value-m.anchor) > scoreTolerance {
			t.Errorf("leaderboard %s: expected ranking key anchor = %v, found %s = %v", r.ModelID, m.anchor, r.Score.Ranking.Key, ptrString(r.Score.Ranking.Value))
		}
	}
	return rows
}

// checkModelStates checks the supervisor: the panicker was restarted and
// then taken out for a cool-down with MULTIPLE_FAILED; the three others
// never failed.
func checkModelStates(t *testing.T, states []host.ModelState, maxFailures int) {
	t.Helper()
	for _, s := range states {
		if s.ID == panickerID {
			if s.Stopped || !s.CoolingDown || s.Reason != host.StopMultipleFailed || s.Restarts < 1 || s.ConsecutiveFailures <= maxFailures {
				t.Errorf("panicker: expected restarted then cooling down after %s (more than %d consecutive failures); found %+v", host.StopMultipleFailed, maxFailures, s)
			}
			continue
		}
		if !s.Running || s.Stopped || s.Restarts != 0 || s.ConsecutiveFailures != 0 || s.ConsecutiveTimeouts != 0 {
			t.Errorf("model %s: expected running, never restarted or failing; found %+v", s.ID, s)
		}
	}
	if len(states) != len(exampleModels)+1 {
		t.Errorf("expected %d model states, found %d", len(exampleModels)+1, len(states))
	}
}

// checkEvents checks the host's lifecycle events: the panicker was
// restarted after CRASHED calls and taken out (cool-down) with
// MULTIPLE_FAILED; no other
// plugin exited, failed to start, was restarted or stopped.
func checkEvents(t *testing.T, events []host.Event) {
	t.Helper()
	restarts, stopped := 0, false
	for _, e := range events {
		switch {
		case e.PluginID == panickerID && e.Kind == host.EventRestart && e.Status == host.StatusCrashed:
			restarts++
		case e.PluginID == panickerID && e.Kind == host.EventCooldown && e.Reason == host.StopMultipleFailed:
			stopped = true
		case e.PluginID != panickerID && e.Kind != host.EventStarted:
			t.Errorf("host event %s of plugin %s (status %s, reason %s, error %v): only the panicker should have lifecycle trouble",
				e.Kind, e.PluginID, e.Status, e.Reason, e.Err)
		}
	}
	if restarts == 0 || !stopped {
		t.Errorf("host events: expected the panicker restarted after CRASHED calls and stopped with %s; found %d restarts, stopped %v (%d events)",
			host.StopMultipleFailed, restarts, stopped, len(events))
	}
}

// checkReportAPI queries the report API in-process and checks it serves
// the leaderboard, the models and the predictions.
func checkReportAPI(t *testing.T, h http.Handler, lb []lbRow, preds []store.Prediction, first time.Time) {
	t.Helper()
	get := func(path string, v any) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", path, rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, rec.Body)
		}
	}

	var board []map[string]any
	get("/reports/leaderboard", &board)
	if len(board) != len(lb) {
		t.Fatalf("/reports/leaderboard: expected %d rows, found %d", len(lb), len(board))
	}
	for i, row := range board {
		var wantRank any = float64(lb[i].Rank)
		if lb[i].Rank == 0 {
			wantRank = nil
		}
		if row["model_id"] != lb[i].ModelID || row["rank"] != wantRank {
			t.Errorf("/reports/leaderboard row %d: expected rank %d %s, found %v %v", i, lb[i].Rank, lb[i].ModelID, row["rank"], row["model_id"])
		}
		if lb[i].ModelID == panickerID {
			continue
		}
		for _, name := range []string{"recent", "steady", "anchor"} {
			v, ok := row["score_"+name].(float64)
			if want := lb[i].Score.Metrics[name]; !ok || want == nil || math.Abs(v-*want) > scoreTolerance {
				t.Errorf("/reports/leaderboard %s: score_%s = %v, expected %v", lb[i].ModelID, name, row["score_"+name], ptrString(lb[i].Score.Metrics[name]))
			}
		}
		if row["status"] != "active" {
			t.Errorf("/reports/leaderboard %s: status %v, expected active", lb[i].ModelID, row["status"])
		}
	}

	var models []map[string]any
	get("/reports/models", &models)
	byID := map[string]map[string]any{}
	for _, m := range models {
		byID[fmt.Sprint(m["model_id"])] = m
	}
	if len(models) != len(exampleModels)+1 {
		t.Errorf("/reports/models: expected %d models, found %d", len(exampleModels)+1, len(models))
	}
	for _, id := range exampleModels {
		if m := byID[id]; m == nil || m["status"] != "running" || m["active"] != true {
			t.Errorf("/reports/models %s: expected running and active, found %v", id, m)
		}
	}
	if m := byID[panickerID]; m == nil || m["status"] != "cooling_down" || m["stop_reason"] != string(host.StopMultipleFailed) || m["active"] != false ||
		m["state_since"] == nil || m["next_retry_at"] == nil {
		t.Errorf("/reports/models panicker: expected cooling_down with stop_reason %s, state_since and next_retry_at, found %v", host.StopMultipleFailed, m)
	}

	// The first hour of predictions of the example models, page by page.
	q := url.Values{
		"projectIds": {strings.Join(exampleModels, ",")},
		"start":      {first.Format(time.RFC3339)},
		"end":        {first.Add(time.Hour).Format(time.RFC3339)},
		"limit":      {"100"},
	}
	var all []map[string]any
	for offset := 0; ; offset += 100 {
		q.Set("offset", strconv.Itoa(offset))
		var page []map[string]any
		get("/reports/predictions?"+q.Encode(), &page)
		all = append(all, page...)
		if len(page) < 100 {
			break
		}
	}
	if len(all) != len(exampleModels)*60 {
		t.Errorf("/reports/predictions: expected %d predictions of the example models in the first hour (60 ticks each), found %d", len(exampleModels)*60, len(all))
	}
	stored := map[string]store.Prediction{}
	for _, p := range preds {
		stored[p.ID] = p
	}
	for _, row := range all {
		p, ok := stored[fmt.Sprint(row["id"])]
		if !ok || row["status"] != store.StatusSuccess || row["scored"] != true || p.Score == nil || p.Score.Value == nil {
			t.Errorf("/reports/predictions: row %v does not match a scored SUCCESS prediction", row)
			continue
		}
		if v, ok := row["score_value"].(float64); !ok || v != *p.Score.Value {
			t.Errorf("/reports/predictions %s: score_value %v, stored %v", p.ID, row["score_value"], *p.Score.Value)
		}
	}
}

// checkNoPluginProcesses fails when any process of the OS process table
// runs a binary from binDir (Linux /proc).
func checkNoPluginProcesses(t *testing.T, binDir string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Logf("process table check skipped on %s", runtime.GOOS)
		return
	}
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		left = processesUnder(t, binDir)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("plugin processes still running after node.Close:\n%s", strings.Join(left, "\n"))
	}
}

// processesUnder lists "pid exe" of every process whose executable lies
// under dir.
func processesUnder(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read the process table: %v", err)
	}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			// Zombies and other users' processes have no readable exe;
			// fall back to the command line.
			b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			exe, _, _ = strings.Cut(string(b), "\x00")
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		if exe != "" && strings.HasPrefix(exe, dir+string(filepath.Separator)) {
			out = append(out, fmt.Sprintf("pid %d %s", pid, exe))
		}
	}
	return out
}

// priceSeries holds the CSV's candle closes by close time (open + 1 m).
type priceSeries struct {
	closeAt map[time.Time]float64
}

// at returns the price at t the way the generated challenge defines it
// (crunch-btc-up/groundtruth.go PriceAt): the close of the newest candle
// that closed at or before t, no older than the staleness limit.
func (s priceSeries) at(t time.Time) (float64, error) {
	t = t.UTC()
	for closed := t.Truncate(time.Minute); t.Sub(closed) <= groundTruthStaleness; closed = closed.Add(-time.Minute) {
		if p, ok := s.closeAt[closed]; ok {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no candle of the CSV closed within %s before %s", groundTruthStaleness, t)
}

// loadPrices reads the CSV with encoding/csv, independently of the replay
// package.
func loadPrices(t *testing.T, path string) priceSeries {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the shared candles %s: %v", path, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	s := priceSeries{closeAt: map[time.Time]float64{}}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		open, err := time.Parse("2006-01-02 15:04:05-07:00", rec[col["open_time"]])
		if err != nil {
			t.Fatalf("%s: open_time %q: %v", path, rec[col["open_time"]], err)
		}
		c, err := strconv.ParseFloat(rec[col["close"]], 64)
		if err != nil {
			t.Fatalf("%s: close %q: %v", path, rec[col["close"]], err)
		}
		s.closeAt[open.UTC().Add(time.Minute)] = c
	}
	return s
}

// listPredictions returns every stored prediction.
func listPredictions(t *testing.T, ctx context.Context, st store.Store) []store.Prediction {
	t.Helper()
	var out []store.Prediction
	const page = 5000
	for offset := 0; ; offset += page {
		ps, err := st.ListPredictions(ctx, store.PredictionQuery{Limit: page, Offset: offset})
		if err != nil {
			t.Fatalf("list predictions: %v", err)
		}
		out = append(out, ps...)
		if len(ps) < page {
			return out
		}
	}
}

// openStore opens and migrates the store at rawURL and closes it when the
// test ends.
func openStore(t *testing.T, rawURL string) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := dburl.Open(ctx, rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", dburl.Redact(rawURL), err)
	}
	return st
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func ptrString(v *float64) string {
	if v == nil {
		return "null"
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}
