package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
	"github.com/crunch-coordinator/coordinator/internal/scaffold"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// replayWorkspace is a generated baseline workspace with built plugins.
type replayWorkspace struct {
	ws        *config.Workspace
	feed      feed.Config
	challenge string
	models    map[string]string
}

// replayEnv is the node environment of the replay: the CSV feed.
var replayEnv = map[string]string{"FEED_PROVIDER": "replay", "FEED_ASSETS": "BTC", "FEED_KIND": "candle", "FEED_GRANULARITY": "1m"}

// prepareReplay generates the baseline pack's workspace (`coordinator init
// btc-up --pack baseline --models go`, using this checkout as the SDK
// module), loads its node configuration with the replay feed, and builds
// its challenge plugin and Go example model plugins. Issue 16 measures the
// replay with the pack's example models in Go (three when it was written,
// four since the constant reference); their Python twins run the same
// strategies through the Python model runner, whose cost is measured
// separately (section 7).
func prepareReplay(ctx context.Context, root, dir, csv string) (*replayWorkspace, error) {
	res, err := scaffold.Init(ctx, scaffold.Options{Request: scaffold.Request{Name: "btc-up", Pack: "baseline", Models: scaffold.ModelsGo},
		OutputDir: dir, SDK: scaffold.SDKSource{SourceDir: root}})
	if err != nil {
		return nil, fmt.Errorf("replay: generate the baseline workspace in %s: %w", dir, err)
	}
	getenv := func(k string) string {
		if k == "FEED_REPLAY_FILE" {
			return csv
		}
		return replayEnv[k]
	}
	ws, err := config.LoadWorkspace(res.NodeDir, getenv)
	if err != nil {
		return nil, fmt.Errorf("replay: load the generated node configuration %s: %w", res.NodeDir, err)
	}
	fc, err := feed.ConfigFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("replay: feed configuration %v: %w", replayEnv, err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	rw := &replayWorkspace{ws: ws, feed: fc, challenge: filepath.Join(bin, "challenge"), models: map[string]string{}}
	targets := []pluginbuild.Target{{Name: "challenge", Dir: ws.Callables.ChallengePlugin, Out: rw.challenge}}
	for _, m := range ws.GoModels() {
		out := filepath.Join(bin, "model-"+m.ID)
		rw.models[m.ID] = out
		targets = append(targets, pluginbuild.Target{Name: m.ID, Dir: m.Path, Out: out})
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := pluginbuild.Build(bctx, targets, pluginbuild.Options{WorkDir: res.Workspace, Roots: []string{res.Workspace, root}}); err != nil {
		return nil, fmt.Errorf("replay: build the baseline plugins: %w", err)
	}
	return rw, nil
}

// replayOutcome is one replay run.
type replayOutcome struct {
	Wall      time.Duration
	SimDays   float64
	Progress  node.ReplayProgress
	Models    int
	StartTime time.Duration
	// CPU used during the replay by the host process, the node's plugin
	// processes and the PostgreSQL server processes.
	HostCPU, PluginCPU, PGCPU time.Duration
}

// replayRun starts a node on st (all roles) and replays the candles with
// open time in [from, until] at full speed. The node's start-up is not
// part of Wall.
func replayRun(ctx context.Context, rw *replayWorkspace, rp *replay.Replay, st store.Store, from, until time.Time) (replayOutcome, error) {
	sim := clock.NewSimulated(from)
	t := time.Now()
	n, err := node.Start(ctx, node.Config{Workspace: rw.ws, Store: st, Clock: sim, ChallengeBinary: rw.challenge,
		ModelBinaries: rw.models, Feed: rw.feed, Logger: nil})
	if err != nil {
		return replayOutcome{}, fmt.Errorf("replay: start the node: %w", err)
	}
	defer n.Close()
	out := replayOutcome{StartTime: time.Since(t), Models: len(rw.ws.Models)}
	h0, pl0, pg0 := cpuSnapshot()
	t = time.Now()
	// Each simulated day of a longer replay logs where its wall time went
	// (a cost growing with the stored days shows there).
	var last node.ReplayProgress
	day := func(p node.ReplayProgress) {
		if p.Candles%1440 != 0 || p.Candles == last.Candles {
			return
		}
		d := func(a, b time.Duration) string { return fmt.Sprintf("%.3f", ms(a-b)/float64(p.Candles-last.Candles)) }
		progress("replay: day %d, ms per candle: predict %s (inputs %s, models %s, validate %s, persist %s), score %s, leaderboard %s, candles %s",
			p.Candles/1440, d(p.Time.Predict, last.Time.Predict), d(p.Time.RawInput, last.Time.RawInput), d(p.Time.ModelCalls, last.Time.ModelCalls),
			d(p.Time.Validate, last.Time.Validate), d(p.Time.Persist, last.Time.Persist), d(p.Time.Score, last.Time.Score),
			d(p.Time.Leaderboard, last.Time.Leaderboard), d(p.Time.Candles, last.Time.Candles))
		last = p
	}
	p, err := n.Replay(ctx, rp, sim, node.ReplayOptions{From: from, Until: until, Progress: day})
	out.Wall = time.Since(t)
	h1, pl1, pg1 := cpuSnapshot()
	out.HostCPU, out.PluginCPU, out.PGCPU = h1-h0, pl1-pl0, pg1-pg0
	out.Progress = p
	if err != nil {
		return out, fmt.Errorf("replay %s..%s: %w", from.Format(time.RFC3339), until.Format(time.RFC3339), err)
	}
	if p.CycleErrors > 0 || p.Predictions == 0 || p.Scored == 0 {
		return out, fmt.Errorf("replay %s..%s: expected predictions, scores and no failed cycle, found %d candles, %d cycles, %d predictions, %d scored, %d failed cycles",
			from.Format(time.RFC3339), until.Format(time.RFC3339), p.Candles, p.Cycles, p.Predictions, p.Scored, p.CycleErrors)
	}
	out.SimDays = p.SimTime.Sub(from).Hours() / 24
	return out, nil
}

// replay measures node.Replay of the baseline pack with its 3 example
// models over the shared BTC CSV on SQLite (the workspace default): a
// one-day window -runs times (simulated days per wall-clock second), then
// the full 21 days once per run budget (wall time).
func (h *harness) replay(ctx context.Context) {
	rw, err := h.replayWS(ctx)
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secReplay, Name: "Replay, baseline pack", Err: err})
		return
	}
	h.rep.ReplayModels = len(rw.ws.Models)
	window := 6 * time.Hour
	if h.cfg.quick {
		window = time.Hour
	}
	from := h.rp.First()
	name := fmt.Sprintf("Replay of the first %.0f h of candles (baseline pack, %d models, fresh store per run)", window.Hours(), len(rw.ws.Models))
	var daysPerSec float64
	blockCycles := 0 // mean predict cycles per block of the window runs
	for _, b := range h.backends() {
		progress("replay: %.0f h windows, %s", window.Hours(), b)
		r := h.repeat(secReplay, name, b, func(run int) ([]Metric, error) {
			st, err := h.openStore(ctx, b, fmt.Sprintf("replay%d", run))
			if err != nil {
				return nil, err
			}
			defer st.Close()
			o, err := replayRun(ctx, rw, h.rp, st, from, from.Add(window-time.Minute))
			if err != nil {
				return nil, err
			}
			if o.Progress.Blocks > 0 {
				blockCycles = int(math.Round(float64(o.Progress.Cycles) / float64(o.Progress.Blocks)))
			}
			return append([]Metric{one("simulated days per second", "days/s", o.SimDays/o.Wall.Seconds()), one("wall time", "s", o.Wall.Seconds())},
				stageMetrics(o)...), nil
		})
		if b == "sqlite" && r.Err == nil {
			daysPerSec = r.median("simulated days per second")
		}
	}
	if daysPerSec > 0 && !h.cfg.quick {
		progress("replay: profiling one more %s window (sqlite)", window)
		st, err := h.openStore(ctx, "sqlite", "replayprof")
		if err == nil {
			h.rep.ReplayProfile, err = profileTop(ctx, h.profileDir(), "replay", func() error {
				_, err := replayRun(ctx, rw, h.rp, st, from, from.Add(window-time.Minute))
				return err
			})
			_ = st.Close()
		}
		if err != nil {
			h.rep.ReplayProfile = "profile failed: " + err.Error()
		}
	}
	fullDays := h.rp.Last().Add(h.rp.Step()).Sub(from).Hours() / 24
	if h.cfg.replayDays > 0 {
		fullDays = min(fullDays, h.cfg.replayDays)
	}
	// One predict cycle per one-minute candle (the baseline's 60 s slots).
	if blockCycles > 0 {
		h.lockstepFloor(ctx, len(rw.ws.Models), blockCycles, math.Round(fullDays*24*60))
	}
	projected := fullDays / daysPerSec
	if daysPerSec <= 0 || h.cfg.quick || projected > maxFullReplay.Seconds() {
		h.rep.ReplayProjected = projected
		h.rep.Results = append(h.rep.Results, &Result{Section: secReplay, Name: fullReplayName(len(rw.ws.Models)), Backend: "sqlite",
			Err: fmt.Errorf("not run in full: projected from the window runs at %s days/s: %.0f s for %.1f days, over this harness's %s budget for it", num(daysPerSec), projected, fullDays, maxFullReplay)})
		return
	}
	progress("replay: full %.1f days, sqlite (projected %.0f s)", fullDays, projected)
	h.repeat(secReplay, fullReplayName(len(rw.ws.Models)), "sqlite", func(run int) ([]Metric, error) {
		if run > 0 {
			return nil, nil // one full replay per harness run (see the Method notes)
		}
		st, err := h.openStore(ctx, "sqlite", "replayfull")
		if err != nil {
			return nil, err
		}
		defer st.Close()
		until := time.Time{}
		if h.cfg.replayDays > 0 {
			until = from.Add(time.Duration(h.cfg.replayDays*24*float64(time.Hour)) - time.Minute)
		}
		o, err := replayRun(ctx, rw, h.rp, st, from, until)
		if err != nil {
			return nil, err
		}
		return append([]Metric{one("wall time", "s", o.Wall.Seconds()), one("simulated days per second", "days/s", o.SimDays/o.Wall.Seconds())},
			stageMetrics(o)...), nil
	})
}

// stageMetrics are the rows of a replay run after its wall time: where
// the wall time went per replayed candle (node.ReplayTime), the rows
// written and the CPU of each process kind per simulated hour.
func stageMetrics(o replayOutcome) []Metric {
	hours := o.SimDays * 24
	perCandle := func(d time.Duration) float64 { return ms(d) / float64(o.Progress.Candles) }
	tm := o.Progress.Time
	return []Metric{one("wall per candle: total", "ms", ms(o.Wall)/float64(o.Progress.Candles)),
		one("wall per candle: store the candles (one transaction per block)", "ms", perCandle(tm.Candles)),
		one("wall per candle: predict cycle", "ms", perCandle(tm.Predict)),
		one("wall per candle: predict, raw + inference inputs (one BuildInferenceInputs call per block, feed read via HostData)", "ms", perCandle(tm.RawInput)),
		one("wall per candle: predict, inference input decode (+ BuildInferenceInput of cycles made one by one)", "ms", perCandle(tm.InferenceInput)),
		one("wall per candle: predict, scope/call builders + model Tick/Predict (one batch stream per model per block)", "ms", perCandle(tm.ModelCalls)),
		one("wall per candle: predict, ValidateInferenceOutput", "ms", perCandle(tm.Validate)),
		one("wall per candle: predict, persist (one store transaction per block)", "ms", perCandle(tm.Persist)),
		one("wall per candle: score cycles (every 15 sim-min)", "ms", perCandle(tm.Score)),
		one("wall per candle: leaderboard + checkpoint (hourly)", "ms", perCandle(tm.Leaderboard)),
		one("predictions", "rows", float64(o.Progress.Predictions)), one("scored", "rows", float64(o.Progress.Scored)),
		one("CPU, host process, per simulated hour", "ms", ms(o.HostCPU)/hours),
		one("CPU, plugin processes, per simulated hour", "ms", ms(o.PluginCPU)/hours),
		one("CPU, PostgreSQL server, per simulated hour", "ms", ms(o.PGCPU)/hours)}
}

// maxFullReplay is the longest full replay the harness runs; beyond it the
// full-replay wall time is projected from the window runs (and says so).
const maxFullReplay = 2 * time.Minute

// fullReplayName names the full 21-day replay result of the baseline pack
// with models example models.
func fullReplayName(models int) string {
	return fmt.Sprintf("Full replay of the shared BTC CSV (21 days, baseline pack, %d models)", models)
}
