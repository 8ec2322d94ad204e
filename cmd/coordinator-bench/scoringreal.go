package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// realScoringName names the rows of scoring through the generated btc-up
// challenge.
const realScoringName = "Score %d predictions through the generated btc-up challenge (ground truth via HostData), batch %d (score.DefaultBatchSize)"

// replayWS generates and builds the baseline workspace once per harness
// run (the real-challenge scoring rows and the replay rows share it).
func (h *harness) replayWS(ctx context.Context) (*replayWorkspace, error) {
	if h.rw == nil && h.rwErr == nil {
		progress("generating and building the baseline workspace")
		h.rw, h.rwErr = prepareReplay(ctx, h.root, filepath.Join(h.tmp, "replay"), h.cfg.csv)
	}
	return h.rw, h.rwErr
}

// scoringReal measures the score worker through the generated btc-up
// challenge plugin on each backend: its ResolveGroundTruth reads the
// candles of the shared CSV from the store through HostData (the node's
// StoreHostData over the go-plugin broker), its ScorePredictions computes
// Brier scores. The predictions carry the real inference input the
// challenge builds for their slot (about 13 KB, stored once per slot).
func (h *harness) scoringReal(ctx context.Context) {
	name := fmt.Sprintf(realScoringName, h.sz.scoreCount, score.DefaultBatchSize)
	rw, err := h.replayWS(ctx)
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secScoring, Name: name, Err: err})
		return
	}
	for _, b := range h.backends() {
		progress("scoring through the generated challenge, %s", b)
		if err := h.scoringRealOn(ctx, rw, b, name); err != nil {
			h.rep.Results = append(h.rep.Results, &Result{Section: secScoring, Name: name, Backend: b, Err: err})
		}
	}
}

func (h *harness) scoringRealOn(ctx context.Context, rw *replayWorkspace, backend, name string) error {
	st, err := h.openStore(ctx, backend, "scorereal")
	if err != nil {
		return err
	}
	defer st.Close()
	if err := seedStore(ctx, st, scoringModels); err != nil {
		return err
	}
	recs := make([]store.MarketRecord, 0, h.rp.Len())
	for i := range h.rp.Len() {
		r := h.rp.Record(i)
		r.Provider = rw.feed.Provider
		recs = append(recs, r)
	}
	for i := 0; i < len(recs); i += 5000 {
		if _, err := st.UpsertMarketRecords(ctx, recs[i:min(i+5000, len(recs))]); err != nil {
			return fmt.Errorf("store the CSV candles: %w", err)
		}
	}
	data := node.StoreHostData{Market: st, Defaults: node.FeedDefaults{Provider: rw.feed.Provider, Kind: rw.feed.Kind, Granularity: rw.feed.Granularity}}
	ch, err := host.StartChallenge(ctx, host.PluginSpec{ID: "challenge", Path: rw.challenge}, data, hostOptions(h.log))
	if err != nil {
		return fmt.Errorf("start the generated challenge plugin: %w", err)
	}
	defer ch.Close()
	r := h.repeat(secScoring, name, backend, func(run int) ([]Metric, error) {
		rate, err := scoreRealRun(ctx, st, ch, h.rp.First(), h.sz.scoreCount, run)
		if err != nil {
			return nil, err
		}
		return []Metric{one("throughput", "predictions/s", rate)}, nil
	})
	r.Batch = score.DefaultBatchSize
	return nil
}

// scoreRealRun stores count SUCCESS predictions of scoringModels models
// on consecutive one-minute slots of the CSV (run r takes its own slots),
// each with the inference input the challenge builds for its slot (not
// timed), then runs one scoring cycle and returns predictions scored and
// persisted per second.
func scoreRealRun(ctx context.Context, st store.Store, ch sdk.Challenge, first time.Time, count, run int) (float64, error) {
	slots := count / scoringModels
	base := first.Add(3 * time.Hour).Add(time.Duration(run*slots) * time.Minute)
	scope := json.RawMessage(`{"asset":"BTC","horizon_seconds":60,"step_seconds":60}`)
	var preds []store.Prediction
	for k := range slots {
		slot := base.Add(time.Duration(k) * time.Minute)
		raw, err := ch.ProvideRawInput(ctx, slot, nil)
		if err != nil {
			return 0, fmt.Errorf("ProvideRawInput at %s: %w", slot.Format(time.RFC3339), err)
		}
		in, err := ch.BuildInferenceInput(ctx, raw)
		if err != nil {
			return 0, fmt.Errorf("BuildInferenceInput at %s: %w", slot.Format(time.RFC3339), err)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(in, &obj); err != nil {
			return 0, fmt.Errorf("inference input at %s: %w", slot.Format(time.RFC3339), err)
		}
		obj["_scope"] = json.RawMessage(`{"scope_key":"default","scope":` + string(scope) + `}`)
		input, _ := json.Marshal(obj)
		for _, p := range cyclePredictions("CFG_baseline", scoringModels, slot, func(i int) float64 { return float64((k*scoringModels+i)%101) / 100 }) {
			p.InferenceInput = input
			preds = append(preds, p)
		}
		if len(preds) >= 5000 || k == slots-1 {
			if _, err := st.SavePredictCycle(ctx, nil, preds); err != nil {
				return 0, fmt.Errorf("store %d due predictions: %w", len(preds), err)
			}
			preds = preds[:0]
		}
	}
	now := base.Add(time.Duration(slots+10) * time.Minute)
	w, err := score.New(score.Config{Challenge: ch, Store: st, Clock: clock.NewSimulated(now),
		GroundTruthMaxWait: 365 * 24 * time.Hour, UseDefaultAggregation: true, UseDefaultRanking: true})
	if err != nil {
		return 0, fmt.Errorf("scoring: %w", err)
	}
	t := time.Now()
	res, err := w.Score(ctx)
	d := time.Since(t)
	if err != nil {
		return 0, fmt.Errorf("scoring (%s): %w", st.Backend(), err)
	}
	// Flat moves are UNRESOLVED under the baseline's flat-move rule; every
	// other prediction must be scored successfully.
	if res.Scored+res.Unresolved != slots*scoringModels || res.ScoreFailed != 0 || res.Scored == 0 {
		return 0, fmt.Errorf("scoring (%s): expected %d predictions scored or unresolved (flat), found %d scored (%d failed, %d unresolved, %d waiting)",
			st.Backend(), slots*scoringModels, res.Scored, res.ScoreFailed, res.Unresolved, res.Waiting)
	}
	return float64(res.Scored+res.Unresolved) / d.Seconds(), nil
}
